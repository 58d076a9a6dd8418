/*
 * Unsupported-object workload: holds one object of a kind ckpt cannot dump
 * yet, so that a dump must refuse it and leave the tree running.
 *
 *   unsupported READY_FILE RESULT_FILE [KIND [DIR]]
 *   unsupported --probe KIND      exit 0 if KIND can be made here, 77 if not
 *   unsupported --list            print the kinds
 *
 * Descriptor kinds put the object at fd 9 (helpers, if any, at 10 and up,
 * so fd 9 is the first unsupported descriptor of the process):
 *   pipe-rdwr socketpair unix-listen tcp udp epoll-closed signalfd timerfd
 *   inotify fanotify userfaultfd pidfd memfd io_uring fifo deleted
 * Mapping kinds hold one mapping and no descriptor for it:
 *   memfd-map deleted-map
 * KIND "none" (the default) holds nothing unusual.
 *
 * The root first forks a child that waits (so the tree has two processes;
 * the child does not hold the object), then makes the object and puts some
 * state in it (data in a pipe or socket, an eventfd count, a pending signal,
 * an inotify event, ...). On SIGUSR1 it checks that the object still works
 * and still has that state, and that the child is alive and answers; it
 * writes "PASS" or "FAIL: why" to RESULT_FILE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static volatile sig_atomic_t verify_requested;
static char why[16384];
static const char *kind = "none";
static char dir[1024];

/* Records a failure; up to 8 are kept, separated by "; ". */
#define FAILF(...) failf(__VA_ARGS__)
static void __attribute__((format(printf, 1, 2))) failf(const char *fmt, ...)
{
	static int nfail;
	size_t n = strlen(why);
	va_list ap;

	if (nfail++ >= 8 || n + 16 >= sizeof(why))
		return;
	n += (size_t)snprintf(why + n, sizeof(why) - n, "%s", n ? "; " : "");
	if (n >= sizeof(why))
		return;
	va_start(ap, fmt);
	vsnprintf(why + n, sizeof(why) - n, fmt, ap);
	va_end(ap);
}

static void on_usr1(int sig) { (void)sig; verify_requested = 1; }

static int write_text(const char *path, const char *a, const char *b)
{
	/* Written whole under a temporary name, then renamed into place. */
	static char tmp[4200], text[20000];
	int fd, n;

	n = snprintf(text, sizeof(text), "%s%s\n", a, b ? b : "");
	if (n < 0 || (size_t)n >= sizeof(text))
		n = (int)sizeof(text) - 1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, text, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	close(fd);
	return rename(tmp, path);
}

static int report(const char *path)
{
	if (why[0])
		write_text(path, "FAIL: ", why);
	else
		write_text(path, "PASS", NULL);
	return why[0] != 0;
}

/* Moves fd to want (closing the original). */
static int place(int fd, int want)
{
	if (fd < 0)
		return -1;
	if (fd == want)
		return 0;
	if (dup2(fd, want) != want)
		return -1;
	close(fd);
	return 0;
}

static char path1[1200];
static void *map;
static struct sockaddr_in inet_addr_;

/* ---- making each kind ---- */

static int make(const char *k)
{
	int fds[2], fd;

	if (!strcmp(k, "none"))
		return 0;
	if (!strcmp(k, "pipe-rdwr")) { /* a pipe reopened read-write through /proc */
		char p[64];

		if (pipe(fds) < 0 || place(fds[1], 10) < 0)
			return -1;
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fds[0]);
		if (place(open(p, O_RDWR), 9) < 0)
			return -1;
		close(fds[0]);
		return write(10, "pre", 3) == 3 ? 0 : -1;
	}
	if (!strcmp(k, "socketpair")) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0 || place(fds[0], 9) < 0 || place(fds[1], 10) < 0)
			return -1;
		return write(10, "pre", 3) == 3 ? 0 : -1;
	}
	if (!strcmp(k, "unix-listen")) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "wl-unsupported-%d", (int)getpid());
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0)
			return -1;
		return place(fd, 9);
	}
	if (!strcmp(k, "tcp") || !strcmp(k, "udp")) {
		socklen_t len = sizeof(inet_addr_);
		int udp = !strcmp(k, "udp");

		inet_addr_.sin_family = AF_INET;
		inet_addr_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&inet_addr_, sizeof(inet_addr_)) < 0 ||
		    getsockname(fd, (struct sockaddr *)&inet_addr_, &len) < 0 || (!udp && listen(fd, 4) < 0))
			return -1;
		if (place(fd, 9) < 0)
			return -1;
		/* A datagram waits in the queue. */
		if (udp && sendto(9, "pre", 3, 0, (struct sockaddr *)&inet_addr_, sizeof(inet_addr_)) != 3)
			return -1;
		return 0;
	}
	if (!strcmp(k, "epoll-closed")) {
		/* The watch stays, keyed by fd 10, after fd 10 is closed: 11 holds the file. */
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 };

		if (place(epoll_create1(0), 9) < 0 || place(eventfd(1, 0), 10) < 0 || epoll_ctl(9, EPOLL_CTL_ADD, 10, &ev))
			return -1;
		if (dup2(10, 11) != 11)
			return -1;
		return close(10);
	}
	if (!strcmp(k, "signalfd")) {
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR2);
		if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 || place(signalfd(-1, &set, 0), 9) < 0)
			return -1;
		return raise(SIGUSR2); /* pending until read through the signalfd */
	}
	if (!strcmp(k, "timerfd")) {
		struct itimerspec it = { { 0, 10000000 }, { 0, 10000000 } };

		if (place(timerfd_create(CLOCK_MONOTONIC, 0), 9) < 0)
			return -1;
		return timerfd_settime(9, 0, &it, NULL);
	}
	if (!strcmp(k, "inotify")) {
		if (place(inotify_init1(0), 9) < 0 || inotify_add_watch(9, dir, IN_CREATE) < 0)
			return -1;
		snprintf(path1, sizeof(path1), "%s/wl-inotify-pre.%d", dir, (int)getpid());
		fd = open(path1, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		return fd < 0 ? -1 : close(fd);
	}
	if (!strcmp(k, "fanotify"))
		return place(fanotify_init(FAN_CLASS_NOTIF, O_RDONLY), 9);
	if (!strcmp(k, "userfaultfd"))
		return place((int)syscall(SYS_userfaultfd, 0), 9);
	if (!strcmp(k, "pidfd"))
		return place((int)syscall(SYS_pidfd_open, getpid(), 0), 9);
	if (!strcmp(k, "memfd")) {
		if (place(memfd_create("wl-unsupported", 0), 9) < 0)
			return -1;
		return pwrite(9, "memfd-data", 10, 100) == 10 ? 0 : -1;
	}
	if (!strcmp(k, "procfile")) /* its path names our pid, not there yet at restore */
		return place(open("/proc/self/status", O_RDONLY | O_CLOEXEC), 9);
	if (!strcmp(k, "io_uring")) {
		unsigned char params[120]; /* struct io_uring_params */

		memset(params, 0, sizeof(params));
		return place((int)syscall(SYS_io_uring_setup, 4, params), 9);
	}
	if (!strcmp(k, "fifo-deleted")) {
		snprintf(path1, sizeof(path1), "%s/wl-fifo.%d", dir, (int)getpid());
		unlink(path1);
		if (mkfifo(path1, 0600) < 0 || place(open(path1, O_RDWR), 9) < 0)
			return -1;
		unlink(path1);
		return write(9, "pre", 3) == 3 ? 0 : -1;
	}
	if (!strcmp(k, "deleted")) {
		snprintf(path1, sizeof(path1), "%s/wl-deleted.%d", dir, (int)getpid());
		if (place(open(path1, O_RDWR | O_CREAT | O_TRUNC, 0644), 9) < 0 || unlink(path1) < 0)
			return -1;
		return pwrite(9, "deleted-data", 12, 0) == 12 ? 0 : -1;
	}
	if (!strcmp(k, "memfd-map")) {
		fd = memfd_create("wl-unsupported-map", 0);
		if (fd < 0 || ftruncate(fd, 8192) < 0)
			return -1;
		map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (map == MAP_FAILED)
			return -1;
		memcpy(map, "memfd-map", 9);
		return 0;
	}
	if (!strcmp(k, "deleted-map")) {
		snprintf(path1, sizeof(path1), "%s/wl-deleted-map.%d", dir, (int)getpid());
		fd = open(path1, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || ftruncate(fd, 8192) < 0)
			return -1;
		map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		unlink(path1);
		if (map == MAP_FAILED)
			return -1;
		memcpy(map, "deleted-map", 11);
		return 0;
	}
	errno = EINVAL;
	return -1;
}

/* ---- checking it ---- */

static void expect_read(int fd, const char *want, const char *what)
{
	char buf[64] = "";
	size_t n = strlen(want);
	ssize_t r = read(fd, buf, n);

	if (r != (ssize_t)n || memcmp(buf, want, n))
		FAILF("%s: read %zd bytes \"%.*s\", want \"%s\" (%s)", what, r, r > 0 ? (int)r : 0, buf, want,
		      r < 0 ? strerror(errno) : "");
}

static void check(const char *k)
{
	if (!strcmp(k, "none"))
		return;
	if (!strcmp(k, "pipe-rdwr")) {
		if (write(10, "post", 4) != 4)
			FAILF("pipe: write: %s", strerror(errno));
		expect_read(9, "prepost", "pipe");
		return;
	}
	if (!strcmp(k, "socketpair")) {
		expect_read(9, "pre", "socketpair");
		if (write(9, "back", 4) != 4)
			FAILF("socketpair: write: %s", strerror(errno));
		expect_read(10, "back", "socketpair other end");
		return;
	}
	if (!strcmp(k, "unix-listen")) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), s;

		snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "wl-unsupported-%d", (int)getpid());
		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
			FAILF("unix-listen: connect: %s", strerror(errno));
		else if ((s = accept4(9, NULL, NULL, SOCK_CLOEXEC)) < 0)
			FAILF("unix-listen: accept: %s", strerror(errno));
		else
			close(s);
		if (c >= 0)
			close(c);
		return;
	}
	if (!strcmp(k, "tcp")) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), s;

		if (c < 0 || connect(c, (struct sockaddr *)&inet_addr_, sizeof(inet_addr_)) < 0)
			FAILF("tcp: connect: %s", strerror(errno));
		else if ((s = accept4(9, NULL, NULL, SOCK_CLOEXEC)) < 0)
			FAILF("tcp: accept: %s", strerror(errno));
		else
			close(s);
		if (c >= 0)
			close(c);
		return;
	}
	if (!strcmp(k, "udp")) {
		expect_read(9, "pre", "udp queued datagram");
		return;
	}
	if (!strcmp(k, "epoll-closed")) {
		struct epoll_event ev = { 0 };
		int n = epoll_wait(9, &ev, 1, 0);

		if (n != 1 || ev.data.u64 != 42 || !(ev.events & EPOLLIN))
			FAILF("epoll: epoll_wait gave %d events (data %llu)", n, (unsigned long long)ev.data.u64);
		return;
	}
	if (!strcmp(k, "signalfd")) {
		struct signalfd_siginfo si = { 0 };
		int fl = fcntl(9, F_GETFL);

		fcntl(9, F_SETFL, fl | O_NONBLOCK);
		if (read(9, &si, sizeof(si)) != sizeof(si) || si.ssi_signo != SIGUSR2)
			FAILF("signalfd: the pending SIGUSR2 is gone (%s)", strerror(errno));
		return;
	}
	if (!strcmp(k, "timerfd")) {
		uint64_t n = 0;

		if (read(9, &n, 8) != 8 || n == 0)
			FAILF("timerfd: no expirations");
		return;
	}
	if (!strcmp(k, "inotify")) {
		char buf[4096] __attribute__((aligned(8)));
		const struct inotify_event *ev = (const void *)buf;
		int fl = fcntl(9, F_GETFL);
		ssize_t n;

		fcntl(9, F_SETFL, fl | O_NONBLOCK);
		n = read(9, buf, sizeof(buf));
		if (n < (ssize_t)sizeof(*ev) || !(ev->mask & IN_CREATE) || !ev->len || !strstr(path1, ev->name))
			FAILF("inotify: the queued IN_CREATE event is gone (%zd)", n);
		unlink(path1);
		return;
	}
	if (!strcmp(k, "fanotify") || !strcmp(k, "userfaultfd") || !strcmp(k, "io_uring")) {
		char link[256] = "";

		if (fcntl(9, F_GETFD) < 0 || readlink("/proc/self/fd/9", link, sizeof(link) - 1) < 0 ||
		    !strstr(link, strcmp(k, "io_uring") ? k : "io_uring"))
			FAILF("%s: fd 9 is %s", k, link);
		return;
	}
	if (!strcmp(k, "pidfd")) {
		if (syscall(SYS_pidfd_send_signal, 9, 0, NULL, 0) < 0)
			FAILF("pidfd: pidfd_send_signal: %s", strerror(errno));
		return;
	}
	if (!strcmp(k, "memfd") || !strcmp(k, "deleted")) {
		char buf[16] = "";
		int memfd = !strcmp(k, "memfd");

		if (pread(9, buf, memfd ? 10 : 12, memfd ? 100 : 0) != (memfd ? 10 : 12) ||
		    memcmp(buf, memfd ? "memfd-data" : "deleted-data", memfd ? 10 : 12))
			FAILF("%s: data lost", k);
		return;
	}
	if (!strcmp(k, "fifo-deleted")) {
		if (write(9, "post", 4) != 4)
			FAILF("fifo: write: %s", strerror(errno));
		expect_read(9, "prepost", "fifo");
		return;
	}
	if (!strcmp(k, "memfd-map") || !strcmp(k, "deleted-map")) {
		if (memcmp(map, k, strlen(k)))
			FAILF("%s: the mapping lost its data", k);
		return;
	}
}

static const char *kinds[] = {
	"none", "pipe-rdwr", "socketpair", "unix-listen", "tcp", "udp", "epoll-closed", "signalfd", "timerfd",
	"inotify", "fanotify", "userfaultfd", "pidfd", "memfd", "io_uring", "fifo-deleted", "deleted",
	"memfd-map", "deleted-map", "procfile",
};

static int known(const char *k)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i], k))
			return 1;
	return 0;
}

static void default_dir(const char *result)
{
	snprintf(dir, sizeof(dir), "%s", result);
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = 0;
	else
		strcpy(dir, ".");
	if (!dir[0])
		strcpy(dir, "/");
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigset_t usr1, none;
	pid_t child;
	int status = 0, i;

	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (size_t k = 1; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			printf("%s\n", kinds[k]);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--probe")) {
		char tmpl[] = "/tmp/wl-probe.XXXXXX";
		int r = 0;

		if (!known(argv[2]))
			return 2;
		if (!mkdtemp(tmpl))
			return 77;
		strcpy(dir, tmpl);
		if (make(argv[2]) < 0) {
			printf("%s: %s\n", argv[2], strerror(errno));
			r = 77;
		}
		if (path1[0])
			unlink(path1);
		rmdir(tmpl);
		return r;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: %s READY_FILE RESULT_FILE [KIND [DIR]]\n", argv[0]);
		return 2;
	}
	if (argc > 3)
		kind = argv[3];
	if (argc > 4)
		snprintf(dir, sizeof(dir), "%s", argv[4]);
	else
		default_dir(argv[2]);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &none);
	sigdelset(&none, SIGUSR1);

	child = fork();
	if (child == 0) {
		while (!verify_requested)
			sigsuspend(&none);
		_exit(0);
	}
	if (child < 0)
		FAILF("fork: %s", strerror(errno));
	if (!known(kind))
		FAILF("unknown kind %s", kind);
	else if (!why[0] && make(kind) < 0)
		FAILF("cannot make %s: %s", kind, strerror(errno));
	if (why[0]) {
		report(argv[2]);
		write_text(argv[1], "ready", NULL);
		return 1;
	}
	/* Wait with the mask as it is now (signalfd blocks SIGUSR2), less SIGUSR1. */
	sigprocmask(SIG_BLOCK, NULL, &none);
	sigdelset(&none, SIGUSR1);
	write_text(argv[1], "ready", NULL);
	while (!verify_requested)
		sigsuspend(&none);

	check(kind);
	if (kill(child, SIGUSR1) < 0)
		FAILF("child %d is gone", (int)child);
	for (i = 0; i < 2000 && waitpid(child, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (i == 2000)
		FAILF("child did not exit");
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		FAILF("child exit status 0x%x", status);
	return report(argv[2]);
}
