/*
 * locks: file locks held by two processes of the tree.
 *
 *   locks READY RESULT
 *
 * Files locks.data, locks.excl and locks.lease next to RESULT.
 *  A (root):  flock LOCK_SH on data (description da); POSIX F_WRLCK 0-99
 *             and F_RDLCK 200-299 on data; OFD F_WRLCK 400-499 on data
 *             (description do); a read lease on lease, with F_SETSIG.
 *  B (child): flock LOCK_SH on data (its own description); POSIX F_RDLCK
 *             200-299 and F_WRLCK 300-399 on data; OFD F_RDLCK 600 to the
 *             end on data (description bo); flock LOCK_EX on excl.
 * After restore (SIGUSR1 to A), checked from inside with F_GETLK and
 * F_OFD_GETLK from the other process, and with LOCK_NB attempts from a new
 * child (a process's POSIX locks go with any close of the file, so probes
 * that open the file run apart): each lock is held, by the right process
 * or description, and nothing else is.
 */
#include "wl.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>

struct files {
	char data[4200], excl[4200], lease[4200];
};

static int setlk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };

	return fcntl(fd, cmd, &fl);
}

/* F_GETLK (or F_OFD_GETLK) for a write lock on the range: who conflicts. */
static void expect_holder(int fd, int cmd, off_t start, off_t len, short type, pid_t pid, const char *what)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len };

	if (fcntl(fd, cmd, &fl) < 0) {
		wl_fail("%s: GETLK: %s", what, strerror(errno));
		return;
	}
	WL_CHECK(fl.l_type == type && (type == F_UNLCK || fl.l_pid == pid),
		 "%s: GETLK says type %d pid %d, want type %d pid %d", what, fl.l_type, fl.l_pid, type, pid);
}

static void report(int fd, const char *who)
{
	char line[2200];

	snprintf(line, sizeof(line), "%s %s\n", who, wl_why[0] ? wl_why : "ok");
	if (write(fd, line, strlen(line)) < 0)
		_exit(3);
}

/* B's view after restore: A's locks. */
static void check_from_b(int fd, pid_t a)
{
	expect_holder(fd, F_GETLK, 0, 100, F_WRLCK, a, "B on 0-99");
	expect_holder(fd, F_GETLK, 200, 100, F_RDLCK, a, "B on 200-299");
	expect_holder(fd, F_GETLK, 400, 100, F_WRLCK, -1, "B on 400-499 (A's OFD lock)");
	expect_holder(fd, F_GETLK, 100, 100, F_UNLCK, 0, "B on 100-199");
}

static void run_b(const struct files *fs, int rd, int wr)
{
	int fd = open(fs->data, O_RDWR), bo = open(fs->data, O_RDWR), ex = open(fs->excl, O_RDWR);
	char c;

	if (fd < 0 || bo < 0 || ex < 0 || flock(fd, LOCK_SH | LOCK_NB) || flock(ex, LOCK_EX | LOCK_NB) ||
	    setlk(fd, F_SETLK, F_RDLCK, 200, 100) || setlk(fd, F_SETLK, F_WRLCK, 300, 100) ||
	    setlk(bo, F_OFD_SETLK, F_RDLCK, 600, 0))
		_exit(3);
	if (write(wr, "r", 1) != 1 || read(rd, &c, 1) != 1)
		_exit(3);
	check_from_b(fd, getppid());
	report(wr, "B");
	/* Holding the locks until A is done with its probe. */
	while (read(rd, &c, 1) > 0)
		;
	_exit(0);
}

/* A new process, apart: LOCK_NB attempts and F_GETLK from outside both. */
static void probe(const struct files *fs, pid_t a, pid_t b, int wr)
{
	int d = open(fs->data, O_RDWR), e = open(fs->excl, O_RDWR), l = open(fs->lease, O_RDWR | O_NONBLOCK);

	WL_CHECK(d >= 0 && e >= 0, "probe: open: %s", strerror(errno));
	WL_CHECK(flock(d, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK, "probe: LOCK_EX on data was granted");
	WL_CHECK(flock(d, LOCK_SH | LOCK_NB) == 0, "probe: LOCK_SH on data refused: %s", strerror(errno));
	WL_CHECK(flock(e, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK, "probe: LOCK_SH on excl was granted");
	expect_holder(d, F_GETLK, 300, 100, F_WRLCK, b, "probe on 300-399");
	expect_holder(d, F_GETLK, 0, 100, F_WRLCK, a, "probe on 0-99");
	expect_holder(d, F_OFD_GETLK, 400, 100, F_WRLCK, -1, "probe OFD on 400-499");
	expect_holder(d, F_OFD_GETLK, 600, 1000, F_RDLCK, -1, "probe OFD on 600-1599");
	expect_holder(d, F_OFD_GETLK, 500, 100, F_UNLCK, 0, "probe OFD on 500-599");
	/* Opening the leased file for writing breaks A's read lease: not blocking, EWOULDBLOCK. */
	WL_CHECK(l < 0 && errno == EWOULDBLOCK, "probe: opening the leased file for writing: %s",
		 l < 0 ? strerror(errno) : "no lease in the way");
	report(wr, "P");
	_exit(0);
}

static void paths(struct files *fs, const char *result)
{
	char dir[4096], *slash;

	snprintf(dir, sizeof(dir), "%s", result);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	snprintf(fs->data, sizeof(fs->data), "%s/locks.data", dir);
	snprintf(fs->excl, sizeof(fs->excl), "%s/locks.excl", dir);
	snprintf(fs->lease, sizeof(fs->lease), "%s/locks.lease", dir);
}

static void collect(int rd, int want)
{
	char buf[8192];
	size_t len = 0;
	int lines = 0;

	while (lines < want && len < sizeof(buf) - 1) {
		ssize_t n = read(rd, buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			lines += buf[len + (size_t)i] == '\n';
		len += (size_t)n;
	}
	buf[len] = 0;
	WL_CHECK(lines == want, "%d reports of %d: %s", lines, want, buf);
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
		WL_CHECK(!strcmp(l + 1, " ok"), "%s", l);
}

int main(int argc, char **argv)
{
	int to_b[2], from[2], da, dop, ls, fd;
	struct files fs;
	siginfo_t si = { 0 };
	sigset_t brk;
	pid_t b, p;
	char c;

	wl_init(argc, argv);
	paths(&fs, argv[2]);
	for (int i = 0; i < 3; i++) {
		const char *name = i == 0 ? fs.data : i == 1 ? fs.excl : fs.lease;

		fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || ftruncate(fd, 4096) < 0)
			return 2;
		close(fd);
	}
	da = open(fs.data, O_RDWR);
	dop = open(fs.data, O_RDWR);
	ls = open(fs.lease, O_RDONLY);
	if (da < 0 || dop < 0 || ls < 0 || pipe(to_b) || pipe(from))
		return 2;
	if (flock(da, LOCK_SH) || setlk(da, F_SETLK, F_WRLCK, 0, 100) || setlk(da, F_SETLK, F_RDLCK, 200, 100) ||
	    setlk(dop, F_OFD_SETLK, F_WRLCK, 400, 100) || fcntl(ls, F_SETSIG, SIGRTMIN + 2) ||
	    fcntl(ls, F_SETLEASE, F_RDLCK))
		return 2;
	b = fork();
	if (b == 0) {
		close(to_b[1]);
		close(from[0]);
		run_b(&fs, to_b[0], from[1]);
	}
	if (read(from[0], &c, 1) != 1)
		return 2;
	wl_ready();
	wl_wait();

	WL_CHECK(fcntl(ls, F_GETLEASE) == F_RDLCK, "lease: F_GETLEASE %d", fcntl(ls, F_GETLEASE));
	WL_CHECK(fcntl(ls, F_GETSIG) == SIGRTMIN + 2, "lease: F_GETSIG %d", fcntl(ls, F_GETSIG));
	expect_holder(da, F_GETLK, 300, 100, F_WRLCK, b, "A on 300-399");
	expect_holder(da, F_GETLK, 200, 100, F_RDLCK, b, "A on 200-299 (B reads it too)");
	expect_holder(da, F_GETLK, 100, 100, F_UNLCK, 0, "A on 100-199");
	expect_holder(da, F_OFD_GETLK, 650, 10, F_RDLCK, -1, "A OFD on 650-659");
	if (write(to_b[1], "c", 1) != 1)
		wl_fail("cannot tell B to check");
	sigemptyset(&brk);
	sigaddset(&brk, SIGRTMIN + 2);
	sigprocmask(SIG_BLOCK, &brk, NULL);
	p = fork();
	if (p == 0)
		probe(&fs, getppid(), b, from[1]);
	collect(from[0], 2);
	/* The probe's open for writing broke the lease: its signal comes to us, naming the fd. */
	WL_CHECK(sigtimedwait(&brk, &si, &(struct timespec){ 5, 0 }) == SIGRTMIN + 2 && si.si_fd == ls,
		 "no lease break signal for fd %d (si_fd %d)", ls, si.si_fd);
	fcntl(ls, F_SETLEASE, F_UNLCK);
	close(to_b[1]);
	waitpid(b, NULL, 0);
	waitpid(p, NULL, 0);
	return wl_finish();
}
