/*
 * Descriptor table workload: files, directories and memory devices, with
 * descriptions shared within a process and between processes.
 *
 *   fds READY_FILE RESULT_FILE [DIR]
 *
 * Files A, B and C are made in DIR (default: the directory of RESULT_FILE).
 * The parent's table (no other descriptors but what it inherited):
 *     10  A  O_RDWR at offset 123
 *     11  B  O_WRONLY|O_APPEND, FD_CLOEXEC
 *     12  A  O_RDONLY at offset 7 (its own description), FD_CLOEXEC
 *     13  DIR  O_RDONLY|O_DIRECTORY
 *     14  /dev/null O_RDWR, FD_CLOEXEC
 *     15  /dev/zero O_RDONLY
 *     16  /dev/urandom O_RDONLY|O_NONBLOCK
 *     17  /dev/random O_RDONLY, FD_CLOEXEC
 *     20  dup of 10 (same description), FD_CLOEXEC although 10 has none
 *     30  C  O_RDWR at offset 10, inherited by the child
 *     40  A  O_PATH
 *    700  A  O_RDONLY|O_NONBLOCK|O_NOATIME at offset 1000
 * The child inherits all of it, then closes 700 and puts a new description
 * of /dev/null (O_WRONLY) at 16.
 *
 * Each process records, for every descriptor in /proc/self/fd: its number,
 * readlink target, F_GETFD, F_GETFL, offset, and st_dev, st_ino, st_mode,
 * st_rdev. On SIGUSR1 the parent compares its table (reading only), then
 * wakes the child, which compares its own, checks that it shares fd 10's
 * offset and writes 5 bytes to fd 30; then the parent checks that fd 30's
 * offset moved from 10 to 15 (shared across processes), that lseek on fd 20
 * moves fd 10 but not fd 12, that O_APPEND appends, that the directory fd
 * works with openat, and that the devices read and write as they should.
 * Results: "PASS" or "FAIL: why" in RESULT_FILE (child: RESULT_FILE.child).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

static volatile sig_atomic_t verify_requested;

static void on_usr1(int sig) { (void)sig; verify_requested = 1; }

/* ---- table snapshots ---- */

#define MAX_FDS 64

struct fd_snap {
	int fd;
	char link[512];
	int fdflags, flflags;
	long long pos; /* or -errno */
	dev_t dev, rdev;
	ino_t ino;
	mode_t mode;
};

struct table {
	int n;
	struct fd_snap v[MAX_FDS];
};

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static int take(struct table *t)
{
	char buf[8192];
	int nums[MAX_FDS], n = 0;
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long got;

	if (dfd < 0)
		return -1;
	while ((got = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < got;) {
			struct dirent64 *de = (struct dirent64 *)(buf + off);

			off += de->d_reclen;
			if (de->d_name[0] == '.')
				continue;
			if (atoi(de->d_name) == dfd)
				continue;
			if (n == MAX_FDS) {
				close(dfd);
				return -1;
			}
			nums[n++] = atoi(de->d_name);
		}
	}
	close(dfd);
	qsort(nums, (size_t)n, sizeof(int), cmp_int);
	t->n = n;
	for (int i = 0; i < n; i++) {
		struct fd_snap *s = &t->v[i];
		char path[64];
		struct stat st;
		ssize_t l;
		off_t pos;

		memset(s, 0, sizeof(*s));
		s->fd = nums[i];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", s->fd);
		l = readlink(path, s->link, sizeof(s->link) - 1);
		if (l < 0)
			return -1;
		s->link[l] = 0;
		s->fdflags = fcntl(s->fd, F_GETFD);
		s->flflags = fcntl(s->fd, F_GETFL);
		pos = lseek(s->fd, 0, SEEK_CUR);
		s->pos = pos < 0 ? -errno : (long long)pos;
		if (fstat(s->fd, &st) < 0)
			return -1;
		s->dev = st.st_dev;
		s->rdev = st.st_rdev;
		s->ino = st.st_ino;
		s->mode = st.st_mode;
	}
	return 0;
}

static void compare(const struct table *b, const struct table *a)
{
	int i;

	for (i = 0; i < a->n && i < b->n; i++) {
		const struct fd_snap *x = &b->v[i], *y = &a->v[i];

		if (x->fd != y->fd) {
			FAILF("fd %d %s, fd %d %s", y->fd < x->fd ? y->fd : x->fd,
			      y->fd < x->fd ? "is new" : "is gone", y->fd < x->fd ? x->fd : y->fd,
			      "follows");
			return;
		}
		if (strcmp(x->link, y->link))
			FAILF("fd %d is %s, was %s", x->fd, y->link, x->link);
		if (x->fdflags != y->fdflags)
			FAILF("fd %d: F_GETFD %#x, was %#x", x->fd, y->fdflags, x->fdflags);
		if (x->flflags != y->flflags)
			FAILF("fd %d (%s): F_GETFL %#o, was %#o", x->fd, x->link, y->flflags, x->flflags);
		if (x->pos != y->pos)
			FAILF("fd %d (%s): offset %lld, was %lld", x->fd, x->link, y->pos, x->pos);
		if (x->dev != y->dev || x->ino != y->ino || x->mode != y->mode || x->rdev != y->rdev)
			FAILF("fd %d (%s): another file (dev %lx ino %lu mode %o rdev %lx, was %lx %lu %o %lx)", x->fd,
			      x->link, (unsigned long)y->dev, (unsigned long)y->ino, y->mode, (unsigned long)y->rdev,
			      (unsigned long)x->dev, (unsigned long)x->ino, x->mode, (unsigned long)x->rdev);
	}
	if (i < b->n)
		FAILF("fd %d (%s) is gone", b->v[i].fd, b->v[i].link);
	if (i < a->n)
		FAILF("fd %d (%s) is new", a->v[i].fd, a->v[i].link);
}

static struct table before, after;

/* ---- setup ---- */

static char path_a[1200], path_b[1200], path_c[1200], dir[1024];

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + i / 251); }

static int place(int fd, int want, int cloexec)
{
	if (fd < 0)
		return -1;
	if (fd != want) {
		if (dup3(fd, want, cloexec ? O_CLOEXEC : 0) != want)
			return -1;
		close(fd);
	} else if (cloexec) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	return 0;
}

static int setup(void)
{
	unsigned char buf[4096];
	int fd;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	snprintf(path_a, sizeof(path_a), "%s/wl-fds-a.%d", dir, (int)getpid());
	snprintf(path_b, sizeof(path_b), "%s/wl-fds-b.%d", dir, (int)getpid());
	snprintf(path_c, sizeof(path_c), "%s/wl-fds-c.%d", dir, (int)getpid());
	fd = open(path_a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf) || close(fd) < 0)
		return -1;
	fd = open(path_b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, 100) != 100 || close(fd) < 0)
		return -1;
	fd = open(path_c, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf) || close(fd) < 0)
		return -1;

	if (place(open(path_a, O_RDWR), 10, 0) < 0 || lseek(10, 123, SEEK_SET) != 123)
		return -1;
	if (place(open(path_b, O_WRONLY | O_APPEND), 11, 1) < 0)
		return -1;
	if (place(open(path_a, O_RDONLY), 12, 1) < 0 || lseek(12, 7, SEEK_SET) != 7)
		return -1;
	if (place(open(dir, O_RDONLY | O_DIRECTORY), 13, 0) < 0)
		return -1;
	if (place(open("/dev/null", O_RDWR), 14, 1) < 0 || place(open("/dev/zero", O_RDONLY), 15, 0) < 0 ||
	    place(open("/dev/urandom", O_RDONLY | O_NONBLOCK), 16, 0) < 0 ||
	    place(open("/dev/random", O_RDONLY), 17, 1) < 0)
		return -1;
	if (dup3(10, 20, O_CLOEXEC) != 20)
		return -1;
	if (place(open(path_c, O_RDWR), 30, 0) < 0 || lseek(30, 10, SEEK_SET) != 10)
		return -1;
	if (place(open(path_a, O_PATH), 40, 0) < 0)
		return -1;
	if (place(open(path_a, O_RDONLY | O_NONBLOCK | O_NOATIME), 700, 0) < 0 || lseek(700, 1000, SEEK_SET) != 1000)
		return -1;
	return 0;
}

static void wait_for_verify(void)
{
	sigset_t none;

	sigemptyset(&none);
	while (!verify_requested)
		sigsuspend(&none);
}

static void child_main(const char *result)
{
	char path[4200], buf[8];

	who = "child";
	snprintf(path, sizeof(path), "%s.child", result);
	close(700);
	if (place(open("/dev/null", O_WRONLY), 16, 0) < 0)
		FAILF("reopening fd 16: %s", strerror(errno));
	if (!why[0] && take(&before) < 0)
		FAILF("cannot read the fd table");
	write_text(path, "ready", NULL);
	if (why[0])
		_exit(report(path));
	wait_for_verify();
	if (take(&after) < 0)
		FAILF("cannot read the fd table after restore");
	else
		compare(&before, &after);
	if (lseek(10, 0, SEEK_CUR) != 123)
		FAILF("fd 10 offset %ld, want 123", (long)lseek(10, 0, SEEK_CUR));
	if ((fcntl(16, F_GETFL) & O_ACCMODE) != O_WRONLY || write(16, "x", 1) != 1 || read(16, buf, 1) >= 0)
		FAILF("fd 16 is not the child's own write-only /dev/null");
	if (fcntl(700, F_GETFD) >= 0 || errno != EBADF)
		FAILF("fd 700, closed in the child, is open");
	if (lseek(30, 0, SEEK_CUR) != 10)
		FAILF("fd 30 offset %ld, want 10", (long)lseek(30, 0, SEEK_CUR));
	if (write(30, "hello", 5) != 5)
		FAILF("write to fd 30: %s", strerror(errno));
	_exit(report(path));
}

static void check_semantics(void)
{
	unsigned char buf[64];
	struct stat st;
	off_t end;
	int fd;

	/* 10 and 20 are one description, 12 another. */
	if (read(10, buf, 10) != 10)
		FAILF("read fd 10: %s", strerror(errno));
	for (int i = 0; i < 10; i++)
		if (buf[i] != pattern(123 + (size_t)i)) {
			FAILF("fd 10 read wrong data at offset %d", 123 + i);
			break;
		}
	if (lseek(20, 0, SEEK_CUR) != 133)
		FAILF("reading fd 10 did not move fd 20 (offset %ld, want 133)", (long)lseek(20, 0, SEEK_CUR));
	if (lseek(20, 555, SEEK_SET) != 555 || lseek(10, 0, SEEK_CUR) != 555)
		FAILF("lseek on fd 20 did not move fd 10 (offset %ld)", (long)lseek(10, 0, SEEK_CUR));
	if (lseek(12, 0, SEEK_CUR) != 7)
		FAILF("fd 12 offset %ld moved with fd 10, want 7", (long)lseek(12, 0, SEEK_CUR));
	if (read(12, buf, 4) != 4 || buf[0] != pattern(7) || buf[3] != pattern(10))
		FAILF("fd 12 read wrong data");
	if (write(12, "x", 1) >= 0)
		FAILF("fd 12 (O_RDONLY) can be written");
	if (pwrite(10, "RW", 2, 4000) != 2)
		FAILF("fd 10 (O_RDWR) cannot be written: %s", strerror(errno));
	/* O_APPEND appends, whatever the offset. */
	if (write(11, "line\n", 5) != 5)
		FAILF("write fd 11: %s", strerror(errno));
	end = lseek(11, 0, SEEK_CUR);
	fd = open(path_b, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size != 105 || end != 105 || pread(fd, buf, 5, 100) != 5 ||
	    memcmp(buf, "line\n", 5))
		FAILF("O_APPEND write to fd 11 did not land at the end (size %ld, offset %ld)",
		      fd < 0 ? -1L : (long)st.st_size, (long)end);
	if (fd >= 0)
		close(fd);
	if (read(11, buf, 1) >= 0)
		FAILF("fd 11 (O_WRONLY) can be read");
	/* The directory. */
	if (fstat(13, &st) < 0 || !S_ISDIR(st.st_mode))
		FAILF("fd 13 is not a directory");
	fd = openat(13, strrchr(path_a, '/') + 1, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		FAILF("openat(13, A): %s", strerror(errno));
	else
		close(fd);
	/* Devices. */
	if (write(14, "abc", 3) != 3 || read(14, buf, sizeof(buf)) != 0)
		FAILF("fd 14 does not act as /dev/null");
	memset(buf, 1, sizeof(buf));
	if (read(15, buf, 16) != 16 || buf[0] || buf[15])
		FAILF("fd 15 does not read zeros");
	if (read(16, buf, 16) != 16 || read(17, buf, 16) != 16)
		FAILF("fd 16 or 17 does not read random bytes");
	/* O_PATH and the high descriptor. */
	if (!(fcntl(40, F_GETFL) & O_PATH) || read(40, buf, 1) >= 0)
		FAILF("fd 40 is not an O_PATH descriptor");
	if (lseek(700, 0, SEEK_CUR) != 1000 || read(700, buf, 2) != 2 || buf[0] != pattern(1000) ||
	    (fcntl(700, F_GETFL) & (O_NONBLOCK | O_NOATIME)) != (O_NONBLOCK | O_NOATIME))
		FAILF("fd 700 lost its offset, data or flags");
	if (fcntl(10, F_GETFD) != 0 || fcntl(20, F_GETFD) != FD_CLOEXEC)
		FAILF("close-on-exec of fds 10/20 is %d/%d, want 0/1", fcntl(10, F_GETFD), fcntl(20, F_GETFD));
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	char path[4200], line[8192] = "";
	sigset_t usr1;
	pid_t child;
	int status = 0, i;

	who = "parent";
	if (argc < 3) {
		fprintf(stderr, "usage: %s READY_FILE RESULT_FILE [DIR]\n", argv[0]);
		return 2;
	}
	if (argc > 3) {
		snprintf(dir, sizeof(dir), "%s", argv[3]);
	} else {
		snprintf(dir, sizeof(dir), "%s", argv[2]);
		if (strrchr(dir, '/'))
			*strrchr(dir, '/') = 0;
		else
			strcpy(dir, ".");
		if (!dir[0])
			strcpy(dir, "/");
	}
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);

	if (setup() < 0) {
		FAILF("setup in %s failed: %s", dir, strerror(errno));
		report(argv[2]);
		write_text(argv[1], "ready", NULL);
		return 1;
	}
	snprintf(path, sizeof(path), "%s.child", argv[2]);
	unlink(path);
	child = fork();
	if (child == 0)
		child_main(argv[2]);
	if (child < 0)
		FAILF("fork: %s", strerror(errno));
	for (i = 0; i < 2000; i++) {
		if (read_file(path, line, sizeof(line)) > 0)
			break;
		usleep(10000);
	}
	if (strncmp(line, "ready", 5))
		FAILF("child did not get ready: %s", line);
	if (!why[0] && take(&before) < 0)
		FAILF("cannot read the fd table");
	if (why[0]) {
		report(argv[2]);
		write_text(argv[1], "ready", NULL);
		return 1;
	}
	write_text(argv[1], "ready", NULL);

	wait_for_verify();

	if (take(&after) < 0)
		FAILF("cannot read the fd table after restore");
	else
		compare(&before, &after);

	kill(child, SIGUSR1);
	for (i = 0; i < 3000 && waitpid(child, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (i == 3000) {
		kill(child, SIGKILL);
		FAILF("child did not finish");
	} else {
		line[0] = 0;
		read_file(path, line, sizeof(line));
		line[strcspn(line, "\n")] = 0;
		if (strcmp(line, "PASS"))
			FAILF("%s", line);
		else if (!WIFEXITED(status) || WEXITSTATUS(status))
			FAILF("child exit status 0x%x", status);
	}
	if (lseek(30, 0, SEEK_CUR) != 15)
		FAILF("fd 30 offset %ld after the child wrote 5 bytes, want 15 (description not shared)",
		      (long)lseek(30, 0, SEEK_CUR));
	check_semantics();
	unlink(path_a);
	unlink(path_b);
	unlink(path_c);
	return report(argv[2]);
}
