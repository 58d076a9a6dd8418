/*
 * tcphalf: TCP connections in every half-closed state, and their data,
 * across a checkpoint. One process holds both ends of each (loopback).
 *
 *   tcphalf READY RESULT ADDR [SYNPORT]
 *
 * Before (a = the end under test, b = its peer; "stuck" means the writer
 * wrote until its send queue was full, its reader never read):
 *   1 a CLOSE-WAIT with 5 unread bytes and the FIN after them; b FIN-WAIT-2
 *   2 a FIN-WAIT-1, its FIN stuck behind its data; b established
 *   3 a LAST-ACK (b's FIN came, then a's own, stuck); b FIN-WAIT-2
 *   4 a CLOSING (its FIN stuck, b's FIN came); b FIN-WAIT-2
 *   5 a established, reading shut down by the program (shutdown SHUT_RD)
 *   6 with SYNPORT: a connecting to ADDR:SYNPORT, where a listening socket
 *     of this process waits, while the test drops the SYNs
 * After restore (SIGUSR1; the test lets the SYNs through first): every
 * state is as it was; every reader gets all its data, checked byte by
 * byte, then the end of the stream where a FIN was sent; the directions
 * still open still carry data; the connecting socket connects and its
 * listener accepts it.
 */
#include "wl.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define NCONN 5

static struct sockaddr_storage where;
static socklen_t where_len;
static int a[NCONN + 2], b[NCONN + 2], lsk, syn_lsk = -1;
static size_t stuck[NCONN + 2]; /* bytes a wrote until it was stuck */
static const char *names[] = { "", "CLOSE-WAIT", "FIN-WAIT-1", "LAST-ACK", "CLOSING", "SHUT_RD", "SYN-SENT" };

static uint8_t pat(size_t i, int conn)
{
	return (uint8_t)(i * 7 + (i >> 8) + (size_t)conn);
}

static int state(int sk)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	return getsockopt(sk, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ? -1 : ti.tcpi_state;
}

static int wait_state(int sk, int want)
{
	for (int i = 0; i < 2000 && state(sk) != want; i++)
		wl_msleep(1);
	return state(sk) == want;
}

/*
 * The writer a can queue far more than its reader b takes in: once b's
 * buffer is full, what is left stays in a's queue, and so does a FIN after
 * it, for as long as b does not read.
 */
static int pair(int i)
{
	int one = 1, big = 256 * 1024;

	/* Before the connection: the window scale both ends agree on follows the buffers. */
	a[i] = socket(where.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(a[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (connect(a[i], (struct sockaddr *)&where, where_len) < 0)
		return -1;
	b[i] = accept4(lsk, NULL, NULL, SOCK_CLOEXEC);
	if (b[i] < 0)
		return -1;
	setsockopt(a[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/* a writes its pattern until b's buffer is full and a's own holds what is left. */
static void fill(int i)
{
	uint8_t buf[4096];
	int idle = 0, unsent = 0;

	while (idle < 20 || unsent <= 0) {
		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = pat(stuck[i] + k, i);
		ssize_t n = send(a[i], buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			stuck[i] += (size_t)n;
			idle = 0;
		} else {
			idle++;
			wl_msleep(5);
		}
		ioctl(a[i], SIOCOUTQNSD, &unsent);
	}
}

static int setup(void)
{
	/* 1: b sends 5 bytes and its FIN; a does not read. */
	if (pair(1) || send(b[1], "hello", 5, 0) != 5 || shutdown(b[1], SHUT_WR) || !wait_state(a[1], TCP_CLOSE_WAIT) ||
	    !wait_state(b[1], TCP_FIN_WAIT2))
		return 1;
	/* 2: a stuck, then its FIN. */
	if (pair(2))
		return 2;
	fill(2);
	if (shutdown(a[2], SHUT_WR) || state(a[2]) != TCP_FIN_WAIT1)
		return 2;
	/* 3: b's FIN first, then a stuck, then a's FIN. */
	if (pair(3) || shutdown(b[3], SHUT_WR) || !wait_state(a[3], TCP_CLOSE_WAIT))
		return 3;
	fill(3);
	if (shutdown(a[3], SHUT_WR) || state(a[3]) != TCP_LAST_ACK)
		return 3;
	/* 4: a stuck, a's FIN, then b's FIN. */
	if (pair(4))
		return 4;
	fill(4);
	if (shutdown(a[4], SHUT_WR) || shutdown(b[4], SHUT_WR) || !wait_state(a[4], TCP_CLOSING) ||
	    !wait_state(b[4], TCP_FIN_WAIT2))
		return 4;
	/* 5: a shuts down its own reading. */
	if (pair(5) || shutdown(a[5], SHUT_RD))
		return 5;
	return 0;
}

static int setup_syn(const char *addr, int port)
{
	struct sockaddr_storage ss = where;
	int one = 1;

	((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
	(void)addr;
	syn_lsk = socket(where.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	setsockopt(syn_lsk, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(syn_lsk, (struct sockaddr *)&ss, where_len) || listen(syn_lsk, 4))
		return -1;
	a[6] = socket(where.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (connect(a[6], (struct sockaddr *)&ss, where_len) == 0 || errno != EINPROGRESS)
		return -1;
	wl_msleep(50);
	return state(a[6]) == TCP_SYN_SENT ? 0 : -1;
}

/* Reads everything from sk, checking the pattern of connection i, to the end of the stream. */
static void drain(int i, int sk, size_t want, const char *who)
{
	uint8_t buf[8192];
	size_t got = 0;
	double t0 = wl_now();

	for (;;) {
		struct pollfd p = { sk, POLLIN, 0 };
		ssize_t n;

		if (wl_now() - t0 > 20) {
			wl_fail("%s %s: %zu of %zu bytes and no end of stream in 20 s", names[i], who, got, want);
			return;
		}
		poll(&p, 1, 100);
		n = recv(sk, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			wl_fail("%s %s: recv: %s", names[i], who, strerror(errno));
			return;
		}
		if (n == 0)
			break;
		for (ssize_t k = 0; k < n; k++)
			if (buf[k] != pat(got + (size_t)k, i)) {
				wl_fail("%s %s: byte %zu is wrong (lost, duplicated or reordered)", names[i], who,
					got + (size_t)k);
				return;
			}
		got += (size_t)n;
	}
	WL_CHECK(got == want, "%s %s: read %zu bytes, %zu were written", names[i], who, got, want);
}

static void expect_text(int sk, const char *want, const char *what)
{
	char buf[64] = "";
	size_t n = strlen(want), got = 0;
	double t0 = wl_now();

	while (got < n && wl_now() - t0 < 10) {
		struct pollfd p = { sk, POLLIN, 0 };
		ssize_t r;

		poll(&p, 1, 100);
		r = recv(sk, buf + got, n - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || (errno != EAGAIN && errno != EINTR))
			break;
	}
	WL_CHECK(got == n && !memcmp(buf, want, n), "%s: read \"%.*s\", want \"%s\"", what, (int)got, buf, want);
}

static void check_eof(int sk, const char *what)
{
	char c;
	struct pollfd p = { sk, POLLIN, 0 };

	poll(&p, 1, 5000);
	WL_CHECK(recv(sk, &c, 1, MSG_DONTWAIT) == 0, "%s: no end of stream", what);
}

static void check(void)
{
	static const int want_a[] = { 0, TCP_CLOSE_WAIT, TCP_FIN_WAIT1, TCP_LAST_ACK, TCP_CLOSING, TCP_ESTABLISHED };
	static const int want_b[] = { 0, TCP_FIN_WAIT2, TCP_ESTABLISHED, TCP_FIN_WAIT2, TCP_FIN_WAIT2, TCP_ESTABLISHED };

	for (int i = 1; i <= NCONN; i++) {
		WL_CHECK(state(a[i]) == want_a[i], "%s: the socket is in state %d, want %d", names[i], state(a[i]), want_a[i]);
		WL_CHECK(state(b[i]) == want_b[i], "%s: its peer is in state %d, want %d", names[i], state(b[i]), want_b[i]);
	}
	/* 1: the 5 bytes, the end; then a still writes to b. */
	expect_text(a[1], "hello", "CLOSE-WAIT: the unread bytes");
	check_eof(a[1], "CLOSE-WAIT");
	WL_CHECK(send(a[1], "reply", 5, 0) == 5, "CLOSE-WAIT: send: %s", strerror(errno));
	expect_text(b[1], "reply", "FIN-WAIT-2 peer");
	/* 2: b reads a's data and end; a then receives b's. */
	drain(2, b[2], stuck[2], "peer");
	WL_CHECK(send(b[2], "bye", 3, 0) == 3, "FIN-WAIT-1: the peer's send: %s", strerror(errno));
	expect_text(a[2], "bye", "FIN-WAIT-1 (then FIN-WAIT-2) socket");
	WL_CHECK(wait_state(a[2], TCP_FIN_WAIT2), "FIN-WAIT-1: not FIN-WAIT-2 once all was read (%d)", state(a[2]));
	/* 3 and 4: b reads a's data and end; a's connection then ends. */
	drain(3, b[3], stuck[3], "peer");
	check_eof(a[3], "LAST-ACK");
	WL_CHECK(wait_state(a[3], TCP_CLOSE), "LAST-ACK: not closed once its FIN was acknowledged (%d)", state(a[3]));
	drain(4, b[4], stuck[4], "peer");
	check_eof(a[4], "CLOSING");
	/* Its TIME-WAIT lives on without the descriptor, which shows it closed. */
	WL_CHECK(wait_state(a[4], TCP_CLOSE), "CLOSING: still %d once its FIN was acknowledged", state(a[4]));
	/* 5: reading ends at once, writing goes on. */
	check_eof(a[5], "SHUT_RD");
	WL_CHECK(send(a[5], "still", 5, 0) == 5, "SHUT_RD: send: %s", strerror(errno));
	expect_text(b[5], "still", "SHUT_RD peer");
	if (syn_lsk >= 0) {
		struct pollfd p = { a[6], POLLOUT, 0 };
		int err = -1, s;
		socklen_t len = sizeof(err);

		poll(&p, 1, 15000);
		getsockopt(a[6], SOL_SOCKET, SO_ERROR, &err, &len);
		WL_CHECK(err == 0 && state(a[6]) == TCP_ESTABLISHED, "SYN-SENT: did not connect (error %d, state %d)", err,
			 state(a[6]));
		p = (struct pollfd){ syn_lsk, POLLIN, 0 };
		poll(&p, 1, 5000);
		s = accept4(syn_lsk, NULL, NULL, SOCK_NONBLOCK);
		WL_CHECK(s >= 0, "SYN-SENT: its listener accepts nothing: %s", strerror(errno));
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)&where;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&where;
	int r;

	wl_init(argc, argv);
	if (argc < 4)
		argv[3] = "127.0.0.1"; /* argv has room: its NULL end */
	if (inet_pton(AF_INET, argv[3], &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		where_len = sizeof(*a4);
	} else if (inet_pton(AF_INET6, argv[3], &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		where_len = sizeof(*a6);
	} else {
		return 2;
	}
	lsk = socket(where.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* The readers b, accepted from it, take in little. */
	setsockopt(lsk, SOL_SOCKET, SO_RCVBUF, &(int){ 16 * 1024 }, sizeof(int));
	if (lsk < 0 || bind(lsk, (struct sockaddr *)&where, where_len) || listen(lsk, 16) ||
	    getsockname(lsk, (struct sockaddr *)&where, &where_len))
		return 2;
	r = setup();
	if (r) {
		wl_fail("setting up %s failed: %s (states %d/%d)", names[r], strerror(errno), state(a[r]), state(b[r]));
		wl_ready();
		return wl_finish();
	}
	if (argc > 4 && setup_syn(argv[3], atoi(argv[4]))) {
		wl_fail("setting up SYN-SENT failed: %s (state %d)", strerror(errno), a[6] > 0 ? state(a[6]) : -1);
		wl_ready();
		return wl_finish();
	}
	wl_ready();
	wl_wait();
	check();
	return wl_finish();
}
