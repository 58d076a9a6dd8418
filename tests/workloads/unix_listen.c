/*
 * unix_listen: listening unix sockets, by path and by abstract name, with
 * connections accepted and not accepted yet, and a named datagram socket
 * holding datagrams from senders of every kind.
 *
 *   unix_listen READY RESULT
 *
 * The root P listens on a stream socket bound to DIR/ul.sock (DIR is the
 * directory of RESULT; mode 0640, owner 1000:1000, backlog 3) and on a seqpacket socket
 * bound to an abstract name. Its child C connects twice to the stream
 * listener: P accepts the first connection (A) and leaves the second (B)
 * waiting; C connects once to the seqpacket listener (S). Requests and
 * replies wait unread both ways on A and S. P's datagram socket bound to
 * DIR/ud.sock holds datagrams from C's abstract-named socket, from C's
 * socket bound to DIR/uc.sock and from an unnamed socket of P.
 *
 * After restore P checks: the socket file's type and mode; the queued
 * datagrams with their senders' addresses; the request on A and S; the
 * names on both ends of A; SO_PEERCRED, also of a connection C made with
 * effective uid and gid 1000 (E, seqpacket); then accepts B and talks over it;
 * new clients connect by path and by abstract name; and the backlog: four
 * more connections fit in the queue, the fifth is refused (EAGAIN). C
 * checks the replies on A and S and answers on B.
 */
#include "unixwl.h"
#include <libgen.h>
#include <sys/stat.h>
#include <stdint.h>
#include <time.h>

static char dir[2048], lpath[2200], dpath[2200], cpath[2200];
static char abs_name[64], abs_client[64];
static int L, Q, D, A_srv, S_srv, E_srv;          /* P's */
static int A_cli, B_cli, S_cli, C_abs, C_path, E_cli; /* C's */

static void xsend(int fd, const char *s, const char *what)
{
	if (send(fd, s, strlen(s), MSG_NOSIGNAL) != (ssize_t)strlen(s))
		wl_fail("%s: send: %s", what, strerror(errno));
}

static void xrecv(int fd, const char *want, const char *what)
{
	char buf[128] = "";
	ssize_t n = -1;

	for (int i = 0; i < 500; i++) {
		n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n >= 0 || errno != EAGAIN)
			break;
		wl_msleep(10);
	}
	if (n < 0 || strcmp(buf, want))
		wl_fail("%s: got '%s' (%zd, %s), want '%s'", what, buf, n, n < 0 ? strerror(errno) : "", want);
}

static int connect_to(int type, const char *name, bool nonblock)
{
	struct sockaddr_un a;
	socklen_t len = uw_addr(&a, name);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, len) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int bound(int type, const char *name)
{
	struct sockaddr_un a;
	socklen_t len = uw_addr(&a, name);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	return fd < 0 || bind(fd, (struct sockaddr *)&a, len) < 0 ? -1 : fd;
}

static void child(const char *result)
{
	char path[4096];
	struct sockaddr_un a;

	close(L), close(Q), close(D);
	A_cli = connect_to(SOCK_STREAM, lpath, false);
	B_cli = connect_to(SOCK_STREAM, lpath, false);
	S_cli = connect_to(SOCK_SEQPACKET, abs_name, false);
	C_abs = bound(SOCK_DGRAM, abs_client);
	C_path = bound(SOCK_DGRAM, cpath);
	/* E: connected with effective ids 1000/1000, which the accepted end's SO_PEERCRED shows. */
	if (setresgid(-1, 1000, -1) < 0 || setresuid(-1, 1000, -1) < 0)
		_exit(3);
	E_cli = connect_to(SOCK_SEQPACKET, abs_name, false);
	if (setresuid(-1, 0, -1) < 0 || setresgid(-1, 0, -1) < 0)
		_exit(3);
	if (A_cli < 0 || B_cli < 0 || S_cli < 0 || C_abs < 0 || C_path < 0 || E_cli < 0)
		_exit(3);
	xsend(A_cli, "request-A", "C: A");
	xsend(S_cli, "record-S1", "C: S");
	xsend(S_cli, "record-S2", "C: S");
	socklen_t al = uw_addr(&a, dpath);
	sendto(C_abs, "from-abstract", 13, 0, (struct sockaddr *)&a, al);
	sendto(C_path, "from-path", 9, 0, (struct sockaddr *)&a, al);
	kill(getppid(), SIGUSR2);
	wl_wait();
	xrecv(A_cli, "reply-A", "C: A");
	xrecv(S_cli, "reply-S", "C: S");
	/* B: P accepts it after restore and speaks first. */
	xrecv(B_cli, "hello-B", "C: B");
	xsend(B_cli, "answer-B", "C: B");
	xsend(A_cli, "bye-A", "C: A");
	snprintf(path, sizeof(path), "%s.child", result);
	wl_result_path = path;
	_exit(wl_finish());
}

static volatile sig_atomic_t child_ready;
static void on_usr2(int sig)
{
	(void)sig;
	child_ready = 1;
}

static void check_name(int fd, bool peer, const char *want, const char *what)
{
	struct sockaddr_un a, w;
	socklen_t len = sizeof(a), wl = uw_addr(&w, want);

	memset(&a, 0, sizeof(a));
	if ((peer ? getpeername(fd, (struct sockaddr *)&a, &len) : getsockname(fd, (struct sockaddr *)&a, &len)) < 0)
		wl_fail("%s: %s: %s", what, peer ? "getpeername" : "getsockname", strerror(errno));
	else if (len != wl || memcmp(&a, &w, len))
		wl_fail("%s: %s is '%s' (%u bytes), want '%s'", what, peer ? "peer name" : "name",
			a.sun_path[0] ? a.sun_path : a.sun_path + 1, len, want);
}

static void check_datagram(const char *want, const char *from)
{
	struct sockaddr_un a, w;
	socklen_t len = sizeof(a), wl = from ? uw_addr(&w, from) : 0;
	char buf[64] = "";
	ssize_t n;

	memset(&a, 0, sizeof(a));
	n = recvfrom(D, buf, sizeof(buf) - 1, MSG_DONTWAIT, (struct sockaddr *)&a, &len);
	if (n < 0 || strcmp(buf, want))
		wl_fail("datagram: got '%s' (%zd), want '%s'", buf, n, want);
	else if (from ? len != wl || memcmp(&a, &w, wl) : len > offsetof(struct sockaddr_un, sun_path))
		wl_fail("datagram '%s': sender address '%s' (%u bytes), want '%s'", want,
			a.sun_path[0] ? a.sun_path : a.sun_path + 1, len, from ? from : "none");
}

static void check_backlog(void)
{
	int fds[5], n = 0;

	for (int i = 0; i < 5; i++) {
		fds[i] = connect_to(SOCK_STREAM, lpath, true);
		if (fds[i] >= 0)
			n++;
		else if (errno != EAGAIN)
			wl_fail("backlog: connect %d: %s", i, strerror(errno));
	}
	WL_CHECK(n == 4, "backlog 3: %d connections fit in the queue, want 4", n);
	for (int i = 0; i < 5; i++) {
		if (fds[i] < 0)
			continue;
		int s = accept4(L, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (s < 0)
			wl_fail("backlog: accept %d: %s", i, strerror(errno));
		else
			close(s);
		close(fds[i]);
	}
}

static void check_new_clients(void)
{
	int c = connect_to(SOCK_STREAM, lpath, false), s;

	if (c < 0 || (s = accept4(L, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		wl_fail("new client by path: %s", strerror(errno));
	} else {
		xsend(c, "new-by-path", "new client");
		xrecv(s, "new-by-path", "new client");
		close(s);
	}
	if (c >= 0)
		close(c);
	c = connect_to(SOCK_SEQPACKET, abs_name, false);
	if (c < 0 || (s = accept4(Q, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		wl_fail("new client by abstract name: %s", strerror(errno));
	} else {
		xsend(c, "new-by-abstract", "new seqpacket client");
		xrecv(s, "new-by-abstract", "new seqpacket client");
		close(s);
	}
	if (c >= 0)
		close(c);
}

int main(int argc, char **argv)
{
	struct ucred cr_before, cr;
	socklen_t cl = sizeof(cr);
	struct sockaddr_un a;
	struct stat st;
	int anon, B_srv;
	pid_t c;

	wl_init(argc, argv);
	signal(SIGUSR2, on_usr2);
	char tmp[2048];

	snprintf(tmp, sizeof(tmp), "%s", argv[2]);
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(lpath, sizeof(lpath), "%s/ul.sock", dir);
	snprintf(dpath, sizeof(dpath), "%s/ud.sock", dir);
	snprintf(cpath, sizeof(cpath), "%s/uc.sock", dir);
	/* Abstract names are shared by the whole network namespace: make them unique. */
	srandom((unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)&a);
	snprintf(abs_name, sizeof(abs_name), "@ckpt-ul-%08lx", random());
	snprintf(abs_client, sizeof(abs_client), "@ckpt-uc-%08lx", random());
	unlink(lpath), unlink(dpath), unlink(cpath);
	L = bound(SOCK_STREAM, lpath);
	Q = bound(SOCK_SEQPACKET, abs_name);
	D = bound(SOCK_DGRAM, dpath);
	if (L < 0 || Q < 0 || D < 0 || listen(L, 3) < 0 || listen(Q, 8) < 0 || chmod(lpath, 0640) < 0 ||
	    chown(lpath, 1000, 1000) < 0)
		return 2;
	c = fork();
	if (c == 0)
		child(argv[2]);
	while (!child_ready)
		wl_msleep(5);
	A_srv = accept4(L, NULL, NULL, SOCK_CLOEXEC);
	S_srv = accept4(Q, NULL, NULL, SOCK_CLOEXEC);
	E_srv = accept4(Q, NULL, NULL, SOCK_CLOEXEC);
	anon = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (A_srv < 0 || S_srv < 0 || E_srv < 0 || anon < 0)
		return 3;
	sendto(anon, "from-unnamed", 12, 0, (struct sockaddr *)&a, uw_addr(&a, dpath));
	xsend(A_srv, "reply-A", "P: A");
	xsend(S_srv, "reply-S", "P: S");
	getsockopt(A_srv, SOL_SOCKET, SO_PEERCRED, &cr_before, &cl);
	wl_ready();
	wl_wait();

	WL_CHECK(stat(lpath, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0640 && st.st_uid == 1000 &&
		 st.st_gid == 1000, "%s: mode 0%o owner %u:%u after restore, want a socket with mode 0640 owner 1000:1000",
		 lpath, st.st_mode, st.st_uid, st.st_gid);
	check_datagram("from-abstract", abs_client);
	check_datagram("from-path", cpath);
	check_datagram("from-unnamed", NULL);
	uw_check_empty(D, "datagram socket");
	xrecv(A_srv, "request-A", "P: A");
	uw_check_empty(A_srv, "P: A");
	char buf[64] = "";
	WL_CHECK(recv(S_srv, buf, sizeof(buf), MSG_DONTWAIT) == 9 && !strcmp(buf, "record-S1"), "P: S: first record '%s'", buf);
	memset(buf, 0, sizeof(buf));
	WL_CHECK(recv(S_srv, buf, sizeof(buf), MSG_DONTWAIT) == 9 && !strcmp(buf, "record-S2"), "P: S: second record '%s'", buf);
	check_name(A_srv, false, lpath, "accepted end of A");
	check_name(S_srv, false, abs_name, "accepted end of S");
	check_name(L, false, lpath, "listener");
	cl = sizeof(cr);
	getsockopt(A_srv, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
	WL_CHECK(cr.uid == cr_before.uid && cr.gid == cr_before.gid, "A: SO_PEERCRED %u/%u, want %u/%u", cr.uid, cr.gid,
		 cr_before.uid, cr_before.gid);
	cl = sizeof(cr);
	getsockopt(E_srv, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
	WL_CHECK(cr.uid == 1000 && cr.gid == 1000, "E: SO_PEERCRED %u/%u, want 1000/1000", cr.uid, cr.gid);
	WL_CHECK(uw_sockopt(L, SO_ACCEPTCONN) == 1, "the listener does not listen");
	kill(c, SIGUSR1);
	B_srv = accept4(L, NULL, NULL, SOCK_CLOEXEC);
	if (B_srv < 0) {
		wl_fail("accepting B, which waited: %s", strerror(errno));
	} else {
		xsend(B_srv, "hello-B", "P: B");
		xrecv(B_srv, "answer-B", "P: B");
	}
	xrecv(A_srv, "bye-A", "P: A");
	uw_wait_child(c, argv[2]);
	check_new_clients();
	check_backlog();
	return wl_finish();
}
