/*
 * unix_misc: unix socket state beyond data: shutdown states, closed peers,
 * credentials, descriptors in flight, the peek offset, and a datagram
 * socket connected to a logger outside the tree.
 *
 *   unix_misc READY RESULT
 *
 * Before the checkpoint the root (one process) sets up, then checks after
 * restore:
 *   shut-wr    stream pair, one end wrote "last" and shut down writing:
 *              the other end reads "last" then end of file; writing on the
 *              shut end fails with EPIPE; the other way still works;
 *   shut-rd    stream pair, one end shut down reading: it reads end of
 *              file at once, and its peer's writes fail with EPIPE;
 *   shut-rdwr  seqpacket pair, one end shut down both ways;
 *   closed     stream pair whose writer closed after writing: the bytes,
 *              then end of file; datagram pair whose peer closed: the
 *              datagram, then ECONNREFUSED on send;
 *   creds      datagram pair with SO_PASSCRED: a datagram with the
 *              sender's own credentials and one sent with uid 1234 gid
 *              5678 come back with those uid and gid;
 *   rights     descriptors in flight only (their senders closed them): in a
 *              stream, a pipe's read end (with data), a file at offset 5
 *              and a socket (with data, its peer kept); in a datagram, an
 *              eventfd (count 7), and in another a POSIX message queue
 *              with one message; all usable after restore;
 *   peek       a datagram socket with SO_PEEK_OFF, the program has peeked
 *              at the first datagram: the next peek gives the second one;
 *   log        a datagram socket connected to a logger outside the tree
 *              (a daemon bound to an abstract name, writing what it gets to
 *              DIR/um-log.txt): after restore it is connected to the
 *              logger again, which gets "log-after".
 */
#include "unixwl.h"
#include <libgen.h>
#include <mqueue.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>

static char dir[2048], logfile[2200], filepath[2200], logname[64];
static int shwr[2], shrd[2], shb[2], cl_s[2], cl_d[2], cr[2], rt[2], rd[2], keep_peer, pk[2], lg;

static int send_fds(int fd, const char *data, const int *fds, int n, const struct ucred *creds)
{
	char ctl[CMSG_SPACE(sizeof(int) * 8) + CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { (void *)data, strlen(data) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = 0 };
	struct cmsghdr *c;

	memset(ctl, 0, sizeof(ctl));
	if (n)
		mh.msg_controllen += CMSG_SPACE(sizeof(int) * (size_t)n);
	if (creds)
		mh.msg_controllen += CMSG_SPACE(sizeof(*creds));
	c = CMSG_FIRSTHDR(&mh);
	if (n) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
		c = CMSG_NXTHDR(&mh, c);
	}
	if (creds) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(*creds));
		memcpy(CMSG_DATA(c), creds, sizeof(*creds));
	}
	if (!mh.msg_controllen)
		mh.msg_control = NULL;
	return sendmsg(fd, &mh, 0) == (ssize_t)strlen(data) ? 0 : -1;
}

/* Receives one message: its data (NUL-terminated), descriptors and credentials. */
static ssize_t recv_fds(int fd, char *buf, size_t len, int *fds, int *nfds, struct ucred *creds)
{
	char ctl[CMSG_SPACE(sizeof(int) * 8) + CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { buf, len - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	*nfds = 0;
	buf[n > 0 ? n : 0] = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n >= 0 && c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_type == SCM_RIGHTS) {
			*nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)*nfds);
		} else if (c->cmsg_type == SCM_CREDENTIALS && creds) {
			memcpy(creds, CMSG_DATA(c), sizeof(*creds));
		}
	}
	return n;
}

static void expect(int fd, const char *want, const char *what)
{
	char buf[64] = "";
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n < 0 || strcmp(buf, want))
		wl_fail("%s: got '%s' (%zd, %s), want '%s'", what, buf, n, n < 0 ? strerror(errno) : "", want);
}

static void expect_eof(int fd, const char *what)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

	WL_CHECK(n == 0, "%s: want end of file, recv gave %zd (%s)", what, n, n < 0 ? strerror(errno) : "data");
}

static void expect_send_err(int fd, int err, const char *what)
{
	ssize_t n = send(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);

	WL_CHECK(n < 0 && errno == err, "%s: send gave %zd (%s), want %s", what, n, n < 0 ? strerror(errno) : "sent",
		 strerror(err));
}

static int setup_shutdown(void)
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, shwr) || socketpair(AF_UNIX, SOCK_STREAM, 0, shrd) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, shb))
		return -1;
	if (send(shwr[0], "last", 4, 0) != 4 || shutdown(shwr[0], SHUT_WR) < 0)
		return -1;
	if (shutdown(shrd[0], SHUT_RD) < 0 || shutdown(shb[0], SHUT_RDWR) < 0)
		return -1;
	return 0;
}

static void check_shutdown(void)
{
	expect(shwr[1], "last", "shut-wr");
	expect_eof(shwr[1], "shut-wr reader");
	expect_send_err(shwr[0], EPIPE, "shut-wr writer");
	if (send(shwr[1], "back", 4, 0) != 4)
		wl_fail("shut-wr: the other way: %s", strerror(errno));
	expect(shwr[0], "back", "shut-wr the other way");
	expect_eof(shrd[0], "shut-rd");
	expect_send_err(shrd[1], EPIPE, "shut-rd peer");
	expect_eof(shb[1], "shut-rdwr peer");
	expect_send_err(shb[1], EPIPE, "shut-rdwr peer");
	expect_send_err(shb[0], EPIPE, "shut-rdwr");
}

static int setup_closed(void)
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, cl_s) || socketpair(AF_UNIX, SOCK_DGRAM, 0, cl_d))
		return -1;
	if (send(cl_s[1], "orphan-data", 11, 0) != 11 || send(cl_d[1], "dgram-orphan", 12, 0) != 12)
		return -1;
	close(cl_s[1]);
	close(cl_d[1]);
	return 0;
}

static void check_closed(void)
{
	expect(cl_s[0], "orphan-data", "closed stream");
	expect_eof(cl_s[0], "closed stream");
	expect_send_err(cl_s[0], EPIPE, "closed stream");
	expect(cl_d[0], "dgram-orphan", "closed dgram");
	expect_send_err(cl_d[0], ECONNREFUSED, "closed dgram");
}

static int setup_creds(void)
{
	struct ucred other = { getpid(), 1234, 5678 };

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, cr) || setsockopt(cr[0], SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)))
		return -1;
	if (send(cr[1], "own-creds", 9, 0) != 9 || send_fds(cr[1], "other-creds", NULL, 0, &other) < 0)
		return -1;
	return 0;
}

static void check_creds(void)
{
	static const char *const want[2] = { "own-creds", "other-creds" };
	static const unsigned ids[2][2] = { { 0, 0 }, { 1234, 5678 } };
	int fds[8], n;

	for (int i = 0; i < 2; i++) {
		struct ucred c = { -1, 99, 99 };
		char buf[64];

		if (i == 0) {
			c.uid = 99;
		}
		if (recv_fds(cr[0], buf, sizeof(buf), fds, &n, &c) < 0 || strcmp(buf, want[i]))
			wl_fail("creds: got '%s', want '%s'", buf, want[i]);
		else if (c.uid != (i ? ids[1][0] : getuid()) || c.gid != (i ? ids[1][1] : getgid()))
			wl_fail("creds: '%s' came with uid %u gid %u", want[i], c.uid, c.gid);
		(void)ids;
	}
	WL_CHECK(uw_sockopt(cr[0], SO_PASSCRED) == 1, "creds: SO_PASSCRED lost");
}

static char mq_name[64];

static int setup_rights(void)
{
	int p[2], s[2], f, e, q;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, rt) || socketpair(AF_UNIX, SOCK_DGRAM, 0, rd) || pipe(p) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, s))
		return -1;
	if (write(p[1], "pipe-data", 9) != 9)
		return -1;
	close(p[1]);
	f = open(filepath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f < 0 || write(f, "0123456789", 10) != 10 || lseek(f, 5, SEEK_SET) != 5)
		return -1;
	if (send(s[1], "inflight-sock", 13, 0) != 13)
		return -1;
	keep_peer = s[1];
	/* Bytes before the descriptors, in their own write: they must not take the descriptors along. */
	if (send(rt[1], "head:", 5, 0) != 5 || send_fds(rt[1], "fds", (int[]){ p[0], f, s[0] }, 3, NULL) < 0)
		return -1;
	e = eventfd(7, EFD_CLOEXEC);
	if (e < 0 || send_fds(rd[1], "evfd", &e, 1, NULL) < 0)
		return -1;
	/* A POSIX message queue descriptor, one message in the queue. */
	snprintf(mq_name, sizeof(mq_name), "/wl-um-%d", (int)getpid());
	mq_unlink(mq_name);
	q = mq_open(mq_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, NULL);
	if (q < 0 || mq_send(q, "mq-msg", 6, 3) < 0 || send_fds(rd[1], "mq", &q, 1, NULL) < 0)
		return -1;
	/* In flight only now. */
	close(p[0]), close(f), close(s[0]), close(e), close(q);
	return 0;
}

static void check_rights(void)
{
	int fds[8] = { -1, -1, -1 }, n = 0;
	char buf[64] = "";
	uint64_t count = 0;

	if (recv(rt[0], buf, 5, MSG_DONTWAIT) != 5 || strcmp(buf, "head:"))
		wl_fail("rights: the bytes before the descriptors: '%s'", buf);
	if (recv_fds(rt[0], buf, sizeof(buf), fds, &n, NULL) < 0 || strcmp(buf, "fds") || n != 3) {
		wl_fail("rights: stream: got '%s' with %d descriptors, want 'fds' with 3", buf, n);
		return;
	}
	memset(buf, 0, sizeof(buf));
	WL_CHECK(read(fds[0], buf, sizeof(buf)) == 9 && !strcmp(buf, "pipe-data"), "rights: pipe: '%s'", buf);
	WL_CHECK(lseek(fds[1], 0, SEEK_CUR) == 5, "rights: file offset %lld, want 5", (long long)lseek(fds[1], 0, SEEK_CUR));
	memset(buf, 0, sizeof(buf));
	WL_CHECK(read(fds[1], buf, 5) == 5 && !strcmp(buf, "56789"), "rights: file: '%s'", buf);
	expect(fds[2], "inflight-sock", "rights: socket in flight");
	if (send(fds[2], "sock-back", 9, 0) != 9)
		wl_fail("rights: socket in flight: send: %s", strerror(errno));
	expect(keep_peer, "sock-back", "rights: peer of the socket in flight");
	for (int i = 0; i < n; i++)
		close(fds[i]);
	if (recv_fds(rd[0], buf, sizeof(buf), fds, &n, NULL) < 0 || strcmp(buf, "evfd") || n != 1) {
		wl_fail("rights: datagram: got '%s' with %d descriptors, want 'evfd' with 1", buf, n);
		return;
	}
	WL_CHECK(read(fds[0], &count, 8) == 8 && count == 7, "rights: eventfd count %llu, want 7", (unsigned long long)count);
	close(fds[0]);
	if (recv_fds(rd[0], buf, sizeof(buf), fds, &n, NULL) < 0 || strcmp(buf, "mq") || n != 1) {
		wl_fail("rights: datagram: got '%s' with %d descriptors, want 'mq' with 1", buf, n);
		return;
	}
	{
		char msg[8192] = "";
		unsigned prio = 0;
		ssize_t got = mq_receive(fds[0], msg, sizeof(msg), &prio);

		WL_CHECK(got == 6 && !memcmp(msg, "mq-msg", 6) && prio == 3,
			 "rights: message queue in flight: got %zd bytes '%.*s' priority %u (%s)", got,
			 got > 0 ? (int)got : 0, msg, prio, got < 0 ? strerror(errno) : "");
	}
	close(fds[0]);
	mq_unlink(mq_name);
}

static int setup_peek(void)
{
	char buf[16];

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, pk) || send(pk[1], "first", 5, 0) != 5 || send(pk[1], "second", 6, 0) != 6)
		return -1;
	if (setsockopt(pk[0], SOL_SOCKET, SO_PEEK_OFF, &(int){ 0 }, sizeof(int)) ||
	    recv(pk[0], buf, sizeof(buf), MSG_PEEK) != 5)
		return -1;
	return 0;
}

static void check_peek(void)
{
	char buf[16] = "";

	WL_CHECK(uw_sockopt(pk[0], SO_PEEK_OFF) == 5, "peek: SO_PEEK_OFF %d, want 5", uw_sockopt(pk[0], SO_PEEK_OFF));
	WL_CHECK(recv(pk[0], buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT) == 6 && !strcmp(buf, "second"),
		 "peek: the next peek gave '%s', want 'second'", buf);
	memset(buf, 0, sizeof(buf));
	WL_CHECK(recv(pk[0], buf, sizeof(buf), MSG_DONTWAIT) == 5 && !strcmp(buf, "first"), "peek: read '%s'", buf);
}

/* The logger: a daemon outside the tree (its parent exits at once). */
static int setup_log(void)
{
	struct sockaddr_un a;
	socklen_t len = uw_addr(&a, logname);
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	pid_t p;

	if (s < 0 || bind(s, (struct sockaddr *)&a, len) < 0)
		return -1;
	p = fork();
	if (p == 0) {
		if (fork() == 0) {
			char buf[64];
			ssize_t n;

			setsid(); /* its group and session must not keep the tree's pids in use */
			while ((n = recv(s, buf, sizeof(buf) - 1, 0)) > 0) {
				FILE *f;

				buf[n] = 0;
				if (!strcmp(buf, "quit"))
					break;
				f = fopen(logfile, "a");
				if (f) {
					fprintf(f, "%s\n", buf);
					fclose(f);
				}
			}
			_exit(0);
		}
		_exit(0);
	}
	if (p < 0 || waitpid(p, NULL, 0) != p)
		return -1;
	close(s);
	lg = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (lg < 0 || connect(lg, (struct sockaddr *)&a, len) < 0)
		return -1;
	if (send(lg, "log-before", 10, 0) != 10)
		return -1;
	for (int i = 0; i < 500; i++) {
		struct stat st;

		if (stat(logfile, &st) == 0 && st.st_size == 11)
			return 0;
		wl_msleep(10);
	}
	return -1;
}

static void check_log(void)
{
	char text[64] = "";
	FILE *f;

	if (send(lg, "log-after", 9, 0) != 9)
		wl_fail("log: send after restore: %s", strerror(errno));
	for (int i = 0; i < 500; i++) {
		f = fopen(logfile, "r");
		if (f) {
			size_t n = fread(text, 1, sizeof(text) - 1, f);

			text[n] = 0;
			fclose(f);
		}
		if (!strcmp(text, "log-before\nlog-after\n"))
			break;
		wl_msleep(10);
	}
	WL_CHECK(!strcmp(text, "log-before\nlog-after\n"), "log: the logger got '%s'", text);
	send(lg, "quit", 4, 0);
}

int main(int argc, char **argv)
{
	char tmp[2048];

	wl_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmp, sizeof(tmp), "%s", argv[2]);
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(logfile, sizeof(logfile), "%s/um-log.txt", dir);
	snprintf(filepath, sizeof(filepath), "%s/um-file", dir);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)tmp);
	snprintf(logname, sizeof(logname), "@ckpt-um-log-%08lx", random());
	unlink(logfile);
	if (setup_shutdown() < 0 || setup_closed() < 0 || setup_creds() < 0 || setup_rights() < 0 ||
	    setup_peek() < 0 || setup_log() < 0) {
		fprintf(stderr, "setup: %s\n", strerror(errno));
		return 2;
	}
	wl_ready();
	wl_wait();
	check_shutdown();
	check_closed();
	check_creds();
	check_rights();
	check_peek();
	check_log();
	return wl_finish();
}
