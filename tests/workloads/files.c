/*
 * files: regular files in the ways a program may hold them, across a
 * checkpoint.
 *
 *   files READY RESULT DIR TMPFS
 *
 *   10  /dev/shm/wl-files.PID, O_RDWR, offset 3
 *   11  TMPFS/wl-tmpfs.PID (a tmpfs the test mounted), O_WRONLY|O_APPEND
 *   12  O_PATH to DIR/wl-files-target.PID
 *   13  O_PATH|O_DIRECTORY to DIR
 *   14  O_PATH|O_NOFOLLOW to the symlink DIR/wl-files-link.PID itself
 *   15  the target opened through that symlink, O_RDONLY, offset 2
 *   16  DIR/wl-files-direct.PID, O_RDWR|O_DIRECT
 *   20  /proc/self/status, 10 bytes read; 26 is its dup
 *   21  /proc/CHILD/stat (the child is in the tree)
 *   22  /proc/self/cmdline, read to its end
 *   23  /proc/meminfo (names no process)
 *   24  /sys/devices/system/cpu/online
 *   25  /proc/self/task/PID/comm (the main thread's)
 *   1025, 1500, 2000: the target at offsets 5, 6, 7; everything from 27 to
 *   1024 and between them closed (RLIMIT_NOFILE raised to 4096)
 *
 * After restore it checks that each fd is what it was (link, kind, flags,
 * offset, inode) and works as it did: the symlink's fd is the target's path,
 * O_DIRECT reads aligned blocks, the /proc files describe the restored
 * processes as they are now (a name changed after the restore shows in
 * /proc/self/status read through fd 20), and the table has exactly the fds
 * it had.
 */
#include "wl.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char dir[1024], tmpfs[1024];
static char p_shm[1200], p_tmpfs[1200], p_target[1200], p_link[1200], p_direct[1200];
static char fds_before[8192], cmdline[512];
static size_t cmdline_len;
static pid_t child;

/* The fd numbers open now, as text. */
static void list_fds(char *out, size_t len)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int fds[4096], n = 0, skip = d ? dirfd(d) : -1;
	size_t k = 0;

	while (d && (de = readdir(d)) && n < 4096)
		if (de->d_name[0] != '.' && atoi(de->d_name) != skip)
			fds[n++] = atoi(de->d_name);
	if (d)
		closedir(d);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (fds[j] < fds[i]) {
				int t = fds[i];
				fds[i] = fds[j];
				fds[j] = t;
			}
	out[0] = 0;
	for (int i = 0; i < n && k < len; i++)
		k += (size_t)snprintf(out + k, len - k, "%d ", fds[i]);
}

static void check_link(int fd, const char *want)
{
	char p[64], l[1300] = "";

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	if (readlink(p, l, sizeof(l) - 1) < 0 || strcmp(l, want))
		wl_fail("fd %d is \"%s\", want \"%s\"", fd, l, want);
}

static void check_same_file(int fd, const char *path)
{
	struct stat a, b;

	if (fstat(fd, &a) < 0 || stat(path, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		wl_fail("fd %d is not %s", fd, path);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n = fd < 0 ? -1 : write(fd, text, strlen(text));

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int setup_paths(void)
{
	char buf[8192], p[64];
	int fd;

	snprintf(p_shm, sizeof(p_shm), "/dev/shm/wl-files.%d", (int)getpid());
	snprintf(p_tmpfs, sizeof(p_tmpfs), "%s/wl-tmpfs.%d", tmpfs, (int)getpid());
	snprintf(p_target, sizeof(p_target), "%s/wl-files-target.%d", dir, (int)getpid());
	snprintf(p_link, sizeof(p_link), "%s/wl-files-link.%d", dir, (int)getpid());
	snprintf(p_direct, sizeof(p_direct), "%s/wl-files-direct.%d", dir, (int)getpid());
	unlink(p_link);
	if (write_file(p_shm, "shm-content") < 0 || write_file(p_tmpfs, "tmpfs:") < 0 ||
	    write_file(p_target, "0123456789abcdef") < 0 || symlink(p_target, p_link) < 0)
		return -1;
	memset(buf, 'D', sizeof(buf));
	fd = open(p_direct, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf) || close(fd) < 0)
		return -1;
	if (wl_place(open(p_shm, O_RDWR), 10) < 0 || lseek(10, 3, SEEK_SET) != 3 ||
	    wl_place(open(p_tmpfs, O_WRONLY | O_APPEND), 11) < 0 || wl_place(open(p_target, O_PATH), 12) < 0 ||
	    wl_place(open(dir, O_PATH | O_DIRECTORY), 13) < 0 || wl_place(open(p_link, O_PATH | O_NOFOLLOW), 14) < 0 ||
	    wl_place(open(p_link, O_RDONLY), 15) < 0 || lseek(15, 2, SEEK_SET) != 2 ||
	    wl_place(open(p_direct, O_RDWR | O_DIRECT), 16) < 0)
		return -1;
	/* /proc and /sys. */
	snprintf(p, sizeof(p), "/proc/%d/stat", (int)child);
	if (wl_place(open("/proc/self/status", O_RDONLY), 20) < 0 || read(20, buf, 10) != 10 || dup2(20, 26) != 26 ||
	    wl_place(open(p, O_RDONLY), 21) < 0 || wl_place(open("/proc/self/cmdline", O_RDONLY), 22) < 0)
		return -1;
	cmdline_len = (size_t)read(22, cmdline, sizeof(cmdline));
	snprintf(p, sizeof(p), "/proc/self/task/%d/comm", (int)getpid());
	if (wl_place(open("/proc/meminfo", O_RDONLY), 23) < 0 ||
	    wl_place(open("/sys/devices/system/cpu/online", O_RDONLY), 24) < 0 || wl_place(open(p, O_RDONLY), 25) < 0)
		return -1;
	return 0;
}

static int setup_high(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < 2001)
		return -1;
	for (int fd = 27; fd < 4096; fd++)
		if (fd != 1025 && fd != 1500 && fd != 2000)
			close(fd);
	if (wl_place(open(p_target, O_RDONLY), 1025) < 0 || lseek(1025, 5, SEEK_SET) != 5 ||
	    wl_place(open(p_target, O_RDONLY), 1500) < 0 || lseek(1500, 6, SEEK_SET) != 6 ||
	    wl_place(open(p_target, O_RDONLY), 2000) < 0 || lseek(2000, 7, SEEK_SET) != 7)
		return -1;
	return 0;
}

static void check_paths(void)
{
	char buf[64] = "", l[1300] = "";
	ssize_t n;

	check_link(10, p_shm);
	check_same_file(10, p_shm);
	if (lseek(10, 0, SEEK_CUR) != 3 || read(10, buf, 4) != 4 || memcmp(buf, "-con", 4))
		wl_fail("fd 10 (/dev/shm) lost its offset or content");
	check_link(11, p_tmpfs);
	check_same_file(11, p_tmpfs);
	if (!(fcntl(11, F_GETFL) & O_APPEND) || write(11, "more", 4) != 4)
		wl_fail("fd 11 (tmpfs) is not O_APPEND or cannot be written");
	else {
		int fd = open(p_tmpfs, O_RDONLY | O_CLOEXEC);

		n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (n != 10 || memcmp(buf, "tmpfs:more", 10))
			wl_fail("fd 11 (tmpfs): the file holds \"%.*s\"", n > 0 ? (int)n : 0, buf);
		if (fd >= 0)
			close(fd);
	}
	check_link(12, p_target);
	check_same_file(12, p_target);
	if (!(fcntl(12, F_GETFL) & O_PATH) || read(12, buf, 1) >= 0)
		wl_fail("fd 12 is not O_PATH");
	check_link(13, dir);
	if (!(fcntl(13, F_GETFL) & O_PATH) || faccessat(13, strrchr(p_target, '/') + 1, R_OK, 0) < 0)
		wl_fail("fd 13 is not an O_PATH directory that finds the target");
	check_link(14, p_link);
	n = readlinkat(14, "", l, sizeof(l) - 1);
	if (!(fcntl(14, F_GETFL) & O_PATH) || n < 0 || strncmp(l, p_target, (size_t)n))
		wl_fail("fd 14 is not the symlink itself (readlinkat gives \"%s\": %s)", l, n < 0 ? strerror(errno) : "");
	/* Through a symlink, the fd is the target's. */
	check_link(15, p_target);
	check_same_file(15, p_target);
	if (lseek(15, 0, SEEK_CUR) != 2 || read(15, buf, 3) != 3 || memcmp(buf, "234", 3))
		wl_fail("fd 15 (opened through the symlink) lost its offset or content");
}

static void check_direct(void)
{
	void *blk = NULL;

	check_link(16, p_direct);
	if (!(fcntl(16, F_GETFL) & O_DIRECT))
		wl_fail("fd 16 lost O_DIRECT");
	if (posix_memalign(&blk, 4096, 4096) || pread(16, blk, 4096, 4096) != 4096 || ((char *)blk)[4095] != 'D')
		wl_fail("fd 16: aligned O_DIRECT read: %s", strerror(errno));
	free(blk);
}

/* Reads the whole of a /proc file through fd from its start. */
static ssize_t slurp(int fd, char *buf, size_t len)
{
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	n = read(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

static void check_proc(void)
{
	char buf[8192], want[256];

	if (lseek(20, 0, SEEK_CUR) != 10 || lseek(26, 0, SEEK_CUR) != 10)
		wl_fail("fds 20/26 (/proc/self/status) at %ld/%ld, want 10", (long)lseek(20, 0, SEEK_CUR),
			(long)lseek(26, 0, SEEK_CUR));
	if (lseek(26, 20, SEEK_SET) != 20 || lseek(20, 0, SEEK_CUR) != 20)
		wl_fail("fds 20 and 26 are not one description");
	/* The restored process's own status, as it is now. */
	prctl(PR_SET_NAME, "wl-files-now");
	snprintf(want, sizeof(want), "\nPid:\t%d\n", (int)getpid());
	if (slurp(20, buf, sizeof(buf)) <= 0 || strncmp(buf, "Name:\twl-files-now\n", 19) || !strstr(buf, want))
		wl_fail("fd 20 does not read this process's status now: \"%.40s\"", buf);
	prctl(PR_SET_NAME, "files");
	snprintf(want, sizeof(want), "%d (", (int)child);
	if (slurp(21, buf, sizeof(buf)) <= 0 || strncmp(buf, want, strlen(want)))
		wl_fail("fd 21 does not read the child's stat: \"%.40s\"", buf);
	if (lseek(22, 0, SEEK_CUR) != (off_t)cmdline_len || slurp(22, buf, sizeof(buf)) != (ssize_t)cmdline_len ||
	    memcmp(buf, cmdline, cmdline_len))
		wl_fail("fd 22 (/proc/self/cmdline) lost its offset or reads another command line");
	if (slurp(23, buf, sizeof(buf)) <= 0 || strncmp(buf, "MemTotal:", 9))
		wl_fail("fd 23 does not read /proc/meminfo");
	if (slurp(24, buf, sizeof(buf)) <= 0 || buf[0] < '0' || buf[0] > '9')
		wl_fail("fd 24 does not read /sys/devices/system/cpu/online: \"%s\"", buf);
	if (slurp(25, buf, sizeof(buf)) <= 0 || strcmp(buf, "files\n"))
		wl_fail("fd 25 does not read the main thread's comm: \"%s\"", buf);
	snprintf(want, sizeof(want), "/proc/%d/status", (int)getpid());
	check_link(20, want);
}

static void check_table(void)
{
	char now[8192];

	for (int fd = 1025; fd <= 2000; fd += fd == 1025 ? 475 : 500) {
		char c;

		if (read(fd, &c, 1) != 1 || c != "0123456789"[fd == 1025 ? 5 : fd == 1500 ? 6 : 7])
			wl_fail("fd %d lost its offset or content", fd);
		check_link(fd, p_target);
	}
	list_fds(now, sizeof(now));
	if (strcmp(now, fds_before))
		wl_fail("the fd table is \"%s\", was \"%s\"", now, fds_before);
}

int main(int argc, char **argv)
{
	int st = 0;

	wl_init(argc, argv);
	if (argc < 5) {
		fprintf(stderr, "usage: files READY RESULT DIR TMPFS\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[3]);
	snprintf(tmpfs, sizeof(tmpfs), "%s", argv[4]);
	child = fork();
	if (child == 0) {
		wl_wait();
		_exit(0);
	}
	if (setup_paths() < 0 || setup_high() < 0) {
		wl_fail("setup: %s", strerror(errno));
		wl_ready();
		return wl_finish();
	}
	list_fds(fds_before, sizeof(fds_before));
	wl_ready();
	wl_wait();

	check_paths();
	check_direct();
	check_proc();
	check_table();
	kill(child, SIGUSR1);
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
		wl_fail("child ended with status 0x%x", st);
	unlink(p_shm);
	unlink(p_link);
	return wl_finish();
}
