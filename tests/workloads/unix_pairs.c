/*
 * unix_pairs: socketpairs of every type with data queued both ways.
 *
 *   unix_pairs READY RESULT
 *
 * The root P and its child C share three socketpairs, one per type
 * (stream, datagram, seqpacket); P also holds both ends of a fourth
 * (datagram) itself. Before the checkpoint each side sends numbered
 * messages of varied lengths (empty ones included) that the other side
 * does not read. After restore (SIGUSR1 to P) each side reads them: every
 * byte, and for datagrams and records every boundary, must be as sent, and
 * nothing more may be queued; then each pair carries a new message both
 * ways. Options set before (O_NONBLOCK, SO_SNDBUF, SO_RCVBUF, SO_PASSCRED)
 * and SO_PEERCRED's uid and gid must be the same after.
 */
#include "unixwl.h"
#include <stdbool.h>
#include <sys/wait.h>

#define NMSG 9

static const int types[3] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
static int sv[3][2], self_pair[2];

static const char *tname(int t)
{
	return t == 0 ? "stream" : t == 1 ? "dgram" : "seqpacket";
}

/* Stream s = 10 * (0 for P, 1 for C) + type index. */
static int send_all(int fd, int t, int s)
{
	for (int k = 0; k < NMSG; k++) {
		size_t len = uw_len(s, k);

		if (t != 0 && len > 30000)
			len = 30000; /* datagrams must fit the default send buffer */
		if (uw_send(fd, s, k, len) < 0)
			return -1;
	}
	return 0;
}

static void check_all(int fd, int t, int s, const char *who)
{
	char what[64];

	snprintf(what, sizeof(what), "%s %s", who, tname(t));
	for (int k = 0; k < NMSG; k++) {
		size_t len = uw_len(s, k);

		if (t != 0 && len > 30000)
			len = 30000;
		if (t == 0 ? uw_check_bytes(fd, s, k, len, what) < 0 : uw_check_msg(fd, s, k, len, what) < 0)
			return;
	}
	uw_check_empty(fd, what);
}

static void expect(int fd, const char *in, const char *what)
{
	char buf[32] = "";
	ssize_t n = -1;

	for (int i = 0; i < 500; i++) {
		n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n >= 0 || errno != EAGAIN)
			break;
		wl_msleep(10);
	}
	if (strcmp(buf, in))
		wl_fail("%s: after restore got '%s' (%zd), want '%s'", what, buf, n, in);
}

/* A new message each way, to see the pair still works: C speaks first, once its queues are checked. */
static void ping(int fd, const char *out, const char *in, const char *what, bool first)
{
	if (!first)
		expect(fd, in, what);
	if (send(fd, out, strlen(out), MSG_NOSIGNAL) != (ssize_t)strlen(out))
		wl_fail("%s: send after restore: %s", what, strerror(errno));
	if (first)
		expect(fd, in, what);
}

static void child(const char *result)
{
	char path[4096];

	for (int t = 0; t < 3; t++)
		close(sv[t][0]);
	close(self_pair[0]);
	close(self_pair[1]);
	for (int t = 0; t < 3; t++)
		if (send_all(sv[t][1], t, 10 + t) < 0)
			_exit(3);
	kill(getppid(), SIGUSR2);
	wl_wait();
	for (int t = 0; t < 3; t++)
		check_all(sv[t][1], t, t, "C");
	for (int t = 0; t < 3; t++)
		ping(sv[t][1], "from-C", "from-P", tname(t), true);
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

int main(int argc, char **argv)
{
	struct ucred before[3], after;
	socklen_t cl = sizeof(after);
	int sndbuf, rcvbuf;

	wl_init(argc, argv);
	signal(SIGUSR2, on_usr2);
	for (int t = 0; t < 3; t++)
		if (socketpair(AF_UNIX, types[t], 0, sv[t]) < 0)
			return 2;
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, self_pair) < 0)
		return 2;
	/* Options that must come back. */
	fcntl(sv[1][0], F_SETFL, O_NONBLOCK);
	setsockopt(sv[0][0], SOL_SOCKET, SO_SNDBUF, &(int){ 300000 }, sizeof(int));
	setsockopt(sv[2][0], SOL_SOCKET, SO_RCVBUF, &(int){ 50000 }, sizeof(int));
	setsockopt(self_pair[0], SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int));
	sndbuf = uw_sockopt(sv[0][0], SO_SNDBUF);
	rcvbuf = uw_sockopt(sv[2][0], SO_RCVBUF);
	for (int t = 0; t < 3; t++) {
		cl = sizeof(before[t]);
		getsockopt(sv[t][0], SOL_SOCKET, SO_PEERCRED, &before[t], &cl);
	}
	pid_t c = fork();
	if (c == 0)
		child(argv[2]);
	for (int t = 0; t < 3; t++) {
		close(sv[t][1]);
		if (send_all(sv[t][0], t, t) < 0)
			return 3;
	}
	/* Both ends in P: each way. */
	if (send_all(self_pair[0], 1, 20) < 0 || send_all(self_pair[1], 1, 21) < 0)
		return 3;
	while (!child_ready)
		wl_msleep(5);
	wl_ready();
	wl_wait();

	for (int t = 0; t < 3; t++)
		check_all(sv[t][0], t, 10 + t, "P");
	check_all(self_pair[1], 1, 20, "P self");
	check_all(self_pair[0], 1, 21, "P self back");
	WL_CHECK(fcntl(sv[1][0], F_GETFL) & O_NONBLOCK, "O_NONBLOCK lost");
	WL_CHECK(!(fcntl(sv[0][0], F_GETFL) & O_NONBLOCK), "O_NONBLOCK appeared");
	WL_CHECK(uw_sockopt(sv[0][0], SO_SNDBUF) == sndbuf, "SO_SNDBUF %d, want %d", uw_sockopt(sv[0][0], SO_SNDBUF), sndbuf);
	WL_CHECK(uw_sockopt(sv[2][0], SO_RCVBUF) == rcvbuf, "SO_RCVBUF %d, want %d", uw_sockopt(sv[2][0], SO_RCVBUF), rcvbuf);
	WL_CHECK(uw_sockopt(self_pair[0], SO_PASSCRED) == 1, "SO_PASSCRED lost");
	WL_CHECK(uw_sockopt(self_pair[1], SO_PASSCRED) == 0, "SO_PASSCRED appeared");
	for (int t = 0; t < 3; t++) {
		cl = sizeof(after);
		getsockopt(sv[t][0], SOL_SOCKET, SO_PEERCRED, &after, &cl);
		WL_CHECK(after.uid == before[t].uid && after.gid == before[t].gid, "%s: SO_PEERCRED uid/gid %u/%u, want %u/%u",
			 tname(t), after.uid, after.gid, before[t].uid, before[t].gid);
		WL_CHECK(uw_sockopt(sv[t][0], SO_TYPE) == types[t], "%s: SO_TYPE %d", tname(t), uw_sockopt(sv[t][0], SO_TYPE));
	}
	kill(c, SIGUSR1);
	for (int t = 0; t < 3; t++)
		ping(sv[t][0], "from-P", "from-C", tname(t), false);
	uw_wait_child(c, argv[2]);
	return wl_finish();
}
