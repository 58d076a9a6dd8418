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
 *   pipe-rdwr unix-outside unix-oob unix-unaccepted-data raw packet
 *   netlink-queued
 *   tcp-pending epoll-closed fanotify userfaultfd pidfd io_uring fifo-deleted
 *   procfile memfd-hugetlb deleted-linked proc-mem proc-write proc-shared
 *   (fd 9 is also in a second child, which the root makes for it)
 * Mapping kinds hold one mapping and no descriptor for it:
 *   memfd-sealed-map
 * Process kinds (not in --list; t-clone-vm-refused): clone-vm, a second
 *   process in the root's memory, made with clone(CLONE_VM) and no
 *   CLONE_THREAD.
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
#include <sched.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

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
static const char *kind = "none";
static char dir[1024];

static void on_usr1(int sig) { (void)sig; verify_requested = 1; }

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

static char path1[1200], path2[1200];
static pid_t holder = -1;
static pid_t vm_sharer = -1;

/* The clone-vm child: it shares the root's memory and TLS, so it calls nothing that sets errno. */
static int vm_child(void *arg)
{
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	for (;;)
		pause();
	return 0;
}
static void *map;

/* ---- making each kind ---- */

static int make(const char *k)
{
	int fds[2], fd;

	if (!strcmp(k, "none"))
		return 0;
	if (!strcmp(k, "clone-vm")) { /* a second process in the root's address space */
		static char stack[64 << 10] __attribute__((aligned(16)));

		vm_sharer = clone(vm_child, stack + sizeof(stack), CLONE_VM | SIGCHLD, NULL);
		return vm_sharer < 0 ? -1 : 0;
	}
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
	if (!strcmp(k, "unix-outside")) {
		/* fd 9 is connected to a daemon outside the tree (its parent exits at once), which echoes. */
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		socklen_t len;
		int l;
		pid_t p;

		snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "wl-unsupported-outside-%d-%ld", (int)getpid(),
			 (long)random());
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1));
		l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (l < 0 || bind(l, (struct sockaddr *)&a, len) < 0 || listen(l, 1) < 0)
			return -1;
		p = fork();
		if (p == 0) {
			if (fork() == 0) {
				char buf[64];
				ssize_t n;
				int s;

				setsid(); /* its group and session must not keep the tree's pids in use */
				s = accept(l, NULL, NULL);
				close(l);
				while (s >= 0 && (n = read(s, buf, sizeof(buf))) > 0)
					if (write(s, buf, (size_t)n) != n)
						break;
				_exit(0);
			}
			_exit(0);
		}
		if (p < 0 || waitpid(p, NULL, 0) != p)
			return -1;
		close(l);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, len) < 0 || place(fd, 9) < 0)
			return -1;
		return write(9, "pre", 3) == 3 ? 0 : -1;
	}
	if (!strcmp(k, "unix-oob")) { /* an out-of-band byte waits in fd 9 */
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0 || place(fds[0], 9) < 0 || place(fds[1], 10) < 0)
			return -1;
		if (send(10, "x", 1, MSG_OOB) != 1)
			return -1;
		return write(10, "pre", 3) == 3 ? 0 : -1;
	}
	if (!strcmp(k, "unix-unaccepted-data")) {
		/* fd 9 waits to be accepted by fd 10 and has already sent data. */
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		socklen_t len;

		snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "wl-unsupported-l-%d-%ld", (int)getpid(), (long)random());
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1));
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, len) < 0 || listen(fd, 4) < 0 || place(fd, 10) < 0)
			return -1;
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, len) < 0 || place(fd, 9) < 0)
			return -1;
		return write(9, "pre", 3) == 3 ? 0 : -1;
	}
	if (!strcmp(k, "tcp-pending")) { /* a listening socket with a connection not accepted yet */
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(a);

		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &len) < 0 || place(fd, 9) < 0)
			return -1;
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			return -1;
		return place(fd, 10);
	}
	if (!strcmp(k, "raw")) /* an ICMP raw socket */
		return place(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), 9);
	if (!strcmp(k, "packet"))
		return place(socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)), 9);
	if (!strcmp(k, "netlink-queued")) {
		/* The answer to a RTM_GETLINK dump request waits, unread. */
		struct sockaddr_nl a = { .nl_family = AF_NETLINK };
		struct {
			struct nlmsghdr h;
			struct ifinfomsg i;
		} req = {
			.h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
			       .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 42 },
			.i = { .ifi_family = AF_UNSPEC },
		};

		fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req))
			return -1;
		return place(fd, 9);
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
	if (!strcmp(k, "fanotify"))
		return place(fanotify_init(FAN_CLASS_NOTIF, O_RDONLY), 9);
	if (!strcmp(k, "userfaultfd"))
		return place((int)syscall(SYS_userfaultfd, 0), 9);
	if (!strcmp(k, "pidfd"))
		return place((int)syscall(SYS_pidfd_open, getpid(), 0), 9);
	if (!strcmp(k, "memfd-hugetlb"))
		return place(memfd_create("wl-unsupported-huge", MFD_HUGETLB), 9);
	if (!strcmp(k, "procfile")) /* a process outside the tree: pid 1 */
		return place(open("/proc/1/status", O_RDONLY | O_CLOEXEC), 9);
	if (!strcmp(k, "proc-mem")) /* not a file that only describes the process */
		return place(open("/proc/self/mem", O_RDONLY | O_CLOEXEC), 9);
	if (!strcmp(k, "proc-shared")) { /* one description in two processes */
		if (place(open("/proc/self/status", O_RDONLY), 9) < 0)
			return -1;
		pid_t parent = getpid();

		holder = fork();
		if (holder == 0) {
			/* Gone with its parent (a --probe ends at once), also if that was before the prctl. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(0);
			for (;;)
				pause();
		}
		return holder < 0 ? -1 : 0;
	}
	if (!strcmp(k, "proc-write"))
		return place(open("/proc/self/comm", O_WRONLY | O_CLOEXEC), 9);
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
	if (!strcmp(k, "deleted-linked")) { /* unlinked, but another name is left */
		snprintf(path1, sizeof(path1), "%s/wl-linked.%d", dir, (int)getpid());
		snprintf(path2, sizeof(path2), "%s/wl-linked2.%d", dir, (int)getpid());
		if (place(open(path1, O_RDWR | O_CREAT | O_TRUNC, 0644), 9) < 0 || link(path1, path2) < 0 ||
		    unlink(path1) < 0)
			return -1;
		return pwrite(9, "deleted-data", 12, 0) == 12 ? 0 : -1;
	}
	if (!strcmp(k, "memfd-sealed-map")) { /* writable shared mapping, then F_SEAL_FUTURE_WRITE */
		fd = memfd_create("wl-unsupported-sealed", MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, 8192) < 0)
			return -1;
		map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED || fcntl(fd, F_ADD_SEALS, 0x0010 /* F_SEAL_FUTURE_WRITE */) < 0)
			return -1;
		close(fd);
		memcpy(map, "memfd-sealed-map", 16);
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
	if (!strcmp(k, "unix-outside")) {
		char buf[16] = "";
		size_t got = 0;

		if (write(9, "post", 4) != 4)
			FAILF("unix-outside: write: %s", strerror(errno));
		while (got < 7) {
			ssize_t n = read(9, buf + got, 7 - got);

			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (strcmp(buf, "prepost"))
			FAILF("unix-outside: the daemon echoed \"%s\", want \"prepost\"", buf);
		return;
	}
	if (!strcmp(k, "unix-oob")) {
		char c = 0;

		if (recv(9, &c, 1, MSG_OOB) != 1 || c != 'x')
			FAILF("unix-oob: the out-of-band byte is gone (%s)", strerror(errno));
		expect_read(9, "pre", "unix-oob");
		return;
	}
	if (!strcmp(k, "unix-unaccepted-data")) {
		int s = accept4(10, NULL, NULL, SOCK_CLOEXEC);

		if (s < 0) {
			FAILF("unix-unaccepted-data: accept: %s", strerror(errno));
			return;
		}
		expect_read(s, "pre", "unix-unaccepted-data");
		close(s);
		return;
	}
	if (!strcmp(k, "tcp-pending")) {
		int c = accept4(9, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (c < 0) {
			FAILF("tcp-pending: the connection waiting to be accepted is gone: %s", strerror(errno));
			return;
		}
		if (write(10, "x", 1) != 1)
			FAILF("tcp-pending: write: %s", strerror(errno));
		usleep(10000);
		expect_read(c, "x", "tcp-pending");
		return;
	}
	if (!strcmp(k, "netlink-queued")) {
		/* The answer is still there, whole: links, then the end of the dump. */
		static char buf[65536];
		int links = 0, done = 0;

		while (!done) {
			ssize_t n = recv(9, buf, sizeof(buf), MSG_DONTWAIT);

			if (n <= 0) {
				FAILF("netlink-queued: recv after %d links: %s", links, n ? strerror(errno) : "EOF");
				return;
			}
			for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
				if (h->nlmsg_seq != 42 || h->nlmsg_type == NLMSG_ERROR) {
					FAILF("netlink-queued: message type %d seq %u", h->nlmsg_type, h->nlmsg_seq);
					return;
				}
				links += h->nlmsg_type == RTM_NEWLINK;
				done |= h->nlmsg_type == NLMSG_DONE;
			}
		}
		if (!links)
			FAILF("netlink-queued: the RTM_GETLINK answer has no link");
		return;
	}
	if (!strcmp(k, "raw") || !strcmp(k, "packet")) {
		int type = -1, family = -1;
		socklen_t len = sizeof(type);

		getsockopt(9, SOL_SOCKET, SO_TYPE, &type, &len);
		len = sizeof(family);
		getsockopt(9, SOL_SOCKET, SO_DOMAIN, &family, &len);
		if (type != SOCK_RAW || family != (!strcmp(k, "raw") ? AF_INET : AF_PACKET))
			FAILF("%s: fd 9 is a socket of family %d, type %d", k, family, type);
		return;
	}
	if (!strcmp(k, "epoll-closed")) {
		struct epoll_event ev = { 0 };
		int n = epoll_wait(9, &ev, 1, 0);

		if (n != 1 || ev.data.u64 != 42 || !(ev.events & EPOLLIN))
			FAILF("epoll: epoll_wait gave %d events (data %llu)", n, (unsigned long long)ev.data.u64);
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
	if (!strcmp(k, "deleted-linked")) {
		char buf[16] = "";

		if (pread(9, buf, 12, 0) != 12 || memcmp(buf, "deleted-data", 12))
			FAILF("%s: data lost", k);
		unlink(path2);
		return;
	}
	if (!strcmp(k, "proc-shared")) {
		kill(holder, SIGKILL);
		waitpid(holder, NULL, 0);
	}
	if (!strcmp(k, "memfd-hugetlb") || !strcmp(k, "procfile") || !strcmp(k, "proc-mem") ||
	    !strcmp(k, "proc-write") || !strcmp(k, "proc-shared")) {
		if (fcntl(9, F_GETFD) < 0)
			FAILF("%s: fd 9 is gone", k);
		return;
	}
	if (!strcmp(k, "fifo-deleted")) {
		if (write(9, "post", 4) != 4)
			FAILF("fifo: write: %s", strerror(errno));
		expect_read(9, "prepost", "fifo");
		return;
	}
	if (!strcmp(k, "clone-vm")) {
		if (kill(vm_sharer, 0) < 0)
			FAILF("%s: the process sharing our memory is gone", k);
		return;
	}
	if (!strcmp(k, "memfd-sealed-map")) {
		if (memcmp(map, k, strlen(k)))
			FAILF("%s: the mapping lost its data", k);
		return;
	}
}

static const char *kinds[] = {
	"none", "pipe-rdwr", "unix-outside", "unix-oob", "unix-unaccepted-data", "raw", "packet", "netlink-queued",
	"tcp-pending", "epoll-closed", "fanotify", "userfaultfd", "pidfd", "io_uring", "fifo-deleted",
	"procfile", "memfd-hugetlb", "memfd-sealed-map", "deleted-linked", "proc-mem", "proc-write", "proc-shared",
};

/* Kinds with a test of their own (not listed: t-unsupported runs the listed ones). */
static const char *other_kinds[] = { "clone-vm" };

static int known(const char *k)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i], k))
			return 1;
	for (size_t i = 0; i < sizeof(other_kinds) / sizeof(other_kinds[0]); i++)
		if (!strcmp(other_kinds[i], k))
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
		/* It holds our stdout, which the caller reads to its end. */
		if (vm_sharer > 0)
			kill(vm_sharer, SIGKILL);
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
	/* Wait with the mask as it is now, less SIGUSR1. */
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
