/*
 * inetsock: inet sockets that are not busy connections, and their options,
 * across a checkpoint.
 *
 *   inetsock READY RESULT [PORTBASE [IFNAME]]
 *
 * TCP: a listening socket on 127.0.0.1 with backlog 7, SO_REUSEADDR and
 * TCP_DEFER_ACCEPT; one on ::1, IPV6_V6ONLY, backlog 3; a SO_REUSEPORT
 * group of two on 0.0.0.0; a dual-stack one on :: with a connection from
 * IPv4 accepted (an IPv4-mapped IPv6 connection, which then carries data);
 * a socket bound but not listening; a new socket with many options set
 * (buffers, keepalive and its timings, TCP_NODELAY, timeouts, SO_LINGER,
 * IP_TOS, SO_PRIORITY, TCP_USER_TIMEOUT, TCP_CONGESTION); an IPv6 one with
 * IPV6_TCLASS. UDP: a socket bound on 127.0.0.1 with four datagrams
 * queued, from two senders (one empty datagram); the first sender is
 * connected to it; an IPv6 dual-stack one with a datagram from IPv4
 * queued; one with SO_BROADCAST and multicast options that joined
 * 239.1.2.3 on IFNAME (default lo); an IPv6 one that joined ff12::1234 on
 * IFNAME (IPv6 multicast does not loop back on lo: the test gives a veth).
 *
 * After restore every address, option and backlog is as it was, the
 * listeners take connections (both of the SO_REUSEPORT group), the queued
 * datagrams come out in order with their senders, the multicast groups
 * still deliver, and the connected sockets still carry data.
 */
#include "wl.h"
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

enum { L4, L6, RP1, RP2, LDUAL, ACC, CONN4, BOUND, OPTS, OPTS6, U1, U2, U3, U6, UM4, UM6, NSOCK };
static int sk[NSOCK];
static const char *sname[NSOCK] = { "listen4", "listen6", "reuseport1", "reuseport2", "listen-dual", "accepted-mapped",
				    "client4", "bound", "options", "options6", "udp1", "udp2", "udp3", "udp6",
				    "mcast4", "mcast6" };
static int base = 17000;
static const char *ifname = "lo";

struct opt {
	int s, level, name;
	int len;
	union {
		int i;
		struct timeval tv;
		struct linger lg;
		char str[16];
	} v;
};

static struct opt opts[] = {
	{ L4, SOL_SOCKET, SO_REUSEADDR, 4, { .i = 1 } },
	{ L4, IPPROTO_TCP, TCP_DEFER_ACCEPT, 4, { .i = 5 } },
	{ L6, IPPROTO_IPV6, IPV6_V6ONLY, 4, { .i = 1 } },
	{ RP1, SOL_SOCKET, SO_REUSEPORT, 4, { .i = 1 } },
	{ RP2, SOL_SOCKET, SO_REUSEPORT, 4, { .i = 1 } },
	{ LDUAL, IPPROTO_IPV6, IPV6_V6ONLY, 4, { .i = 0 } },
	{ OPTS, SOL_SOCKET, SO_RCVBUF, 4, { .i = 100000 } },
	{ OPTS, SOL_SOCKET, SO_SNDBUF, 4, { .i = 50000 } },
	{ OPTS, SOL_SOCKET, SO_KEEPALIVE, 4, { .i = 1 } },
	{ OPTS, IPPROTO_TCP, TCP_KEEPIDLE, 4, { .i = 77 } },
	{ OPTS, IPPROTO_TCP, TCP_KEEPINTVL, 4, { .i = 11 } },
	{ OPTS, IPPROTO_TCP, TCP_KEEPCNT, 4, { .i = 4 } },
	{ OPTS, IPPROTO_TCP, TCP_NODELAY, 4, { .i = 1 } },
	{ OPTS, SOL_SOCKET, SO_RCVTIMEO, sizeof(struct timeval), { .tv = { 3, 500000 } } },
	{ OPTS, SOL_SOCKET, SO_SNDTIMEO, sizeof(struct timeval), { .tv = { 2, 0 } } },
	{ OPTS, SOL_SOCKET, SO_LINGER, sizeof(struct linger), { .lg = { 1, 9 } } },
	{ OPTS, IPPROTO_IP, IP_TOS, 4, { .i = 0x10 } },
	{ OPTS, SOL_SOCKET, SO_PRIORITY, 4, { .i = 3 } },
	{ OPTS, IPPROTO_TCP, TCP_USER_TIMEOUT, 4, { .i = 12345 } },
	{ OPTS, IPPROTO_TCP, TCP_CONGESTION, 16, { .str = "reno" } },
	{ OPTS6, IPPROTO_IPV6, IPV6_TCLASS, 4, { .i = 0x20 } },
	{ OPTS6, IPPROTO_IPV6, IPV6_V6ONLY, 4, { .i = 1 } },
	{ U1, SOL_SOCKET, SO_RCVBUF, 4, { .i = 65536 } },
	{ UM4, SOL_SOCKET, SO_BROADCAST, 4, { .i = 1 } },
	{ UM4, IPPROTO_IP, IP_MULTICAST_TTL, 4, { .i = 5 } },
	{ UM4, IPPROTO_IP, IP_MULTICAST_LOOP, 4, { .i = 1 } },
	{ UM6, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 4, { .i = 7 } },
};

/* What getsockopt showed before: compared after restore. */
static uint8_t before[sizeof(opts) / sizeof(opts[0])][16];
static socklen_t before_len[sizeof(opts) / sizeof(opts[0])];
static struct sockaddr_storage names[NSOCK], peers[NSOCK];
static socklen_t name_len[NSOCK], peer_len[NSOCK];
static int backlog_before[NSOCK];

static socklen_t addr(struct sockaddr_storage *ss, const char *ip, int port)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		return sizeof(*a4);
	}
	inet_pton(AF_INET6, ip, &a6->sin6_addr);
	a6->sin6_family = AF_INET6;
	a6->sin6_port = htons((uint16_t)port);
	return sizeof(*a6);
}

static int mk(int family, int type)
{
	return socket(family, type | SOCK_CLOEXEC, 0);
}

static int bind_to(int s, const char *ip, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(&ss, ip, port);

	return bind(s, (struct sockaddr *)&ss, len);
}

static int connect_to(int s, const char *ip, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(&ss, ip, port);

	return connect(s, (struct sockaddr *)&ss, len);
}

static int backlog(int s)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	return getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ? -1 : (int)ti.tcpi_sacked;
}

static int sendto_ip(int s, const void *buf, size_t n, const char *ip, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(&ss, ip, port);

	return (int)sendto(s, buf, n, 0, (struct sockaddr *)&ss, len);
}

static int join(int s, int family, const char *group)
{
	struct group_req gr = { .gr_interface = if_nametoindex(ifname) };
	socklen_t len = addr(&gr.gr_group, group, 0);

	(void)len;
	return setsockopt(s, family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6, MCAST_JOIN_GROUP, &gr, sizeof(gr));
}

static int setup(void)
{
	int tmp;

	sk[L4] = mk(AF_INET, SOCK_STREAM);
	sk[L6] = mk(AF_INET6, SOCK_STREAM);
	sk[RP1] = mk(AF_INET, SOCK_STREAM);
	sk[RP2] = mk(AF_INET, SOCK_STREAM);
	sk[LDUAL] = mk(AF_INET6, SOCK_STREAM);
	sk[CONN4] = mk(AF_INET, SOCK_STREAM);
	sk[BOUND] = mk(AF_INET, SOCK_STREAM);
	sk[OPTS] = mk(AF_INET, SOCK_STREAM);
	sk[OPTS6] = mk(AF_INET6, SOCK_STREAM);
	sk[U1] = mk(AF_INET, SOCK_DGRAM);
	sk[U2] = mk(AF_INET, SOCK_DGRAM);
	sk[U3] = mk(AF_INET, SOCK_DGRAM);
	sk[U6] = mk(AF_INET6, SOCK_DGRAM);
	sk[UM4] = mk(AF_INET, SOCK_DGRAM);
	sk[UM6] = mk(AF_INET6, SOCK_DGRAM);
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (setsockopt(sk[opts[i].s], opts[i].level, opts[i].name, &opts[i].v,
			       opts[i].level == IPPROTO_TCP && opts[i].name == TCP_CONGESTION ? (socklen_t)strlen(opts[i].v.str) : (socklen_t)opts[i].len))
			return wl_fail("setsockopt %zu on %s: %s", i, sname[opts[i].s], strerror(errno));
	if (bind_to(sk[L4], "127.0.0.1", base) || listen(sk[L4], 7) || bind_to(sk[L6], "::1", base + 1) ||
	    listen(sk[L6], 3) || bind_to(sk[RP1], "0.0.0.0", base + 2) || listen(sk[RP1], 16) ||
	    bind_to(sk[RP2], "0.0.0.0", base + 2) || listen(sk[RP2], 16) || bind_to(sk[LDUAL], "::", base + 3) ||
	    listen(sk[LDUAL], 4) || bind_to(sk[BOUND], "127.0.0.1", base + 4))
		return wl_fail("bind/listen: %s", strerror(errno));
	if (connect_to(sk[CONN4], "127.0.0.1", base + 3) || (sk[ACC] = accept4(sk[LDUAL], NULL, NULL, SOCK_CLOEXEC)) < 0)
		return wl_fail("a connection to the dual-stack listener: %s", strerror(errno));
	/* UDP: U1 bound; U2 connected to it; U3 another sender; U6 dual-stack. */
	if (bind_to(sk[U1], "127.0.0.1", base + 5) || bind_to(sk[U2], "127.0.0.1", base + 6) ||
	    connect_to(sk[U2], "127.0.0.1", base + 5) || bind_to(sk[U3], "127.0.0.1", base + 7) ||
	    bind_to(sk[U6], "::", base + 8) || bind_to(sk[UM4], "0.0.0.0", base + 9) || bind_to(sk[UM6], "::", base + 10))
		return wl_fail("UDP bind/connect: %s", strerror(errno));
	if (send(sk[U2], "one", 3, 0) != 3 || sendto_ip(sk[U3], "two", 3, "127.0.0.1", base + 5) != 3 ||
	    send(sk[U2], "", 0, 0) != 0 || send(sk[U2], "four", 4, 0) != 4 ||
	    sendto_ip(sk[U3], "mapped", 6, "127.0.0.1", base + 8) != 6)
		return wl_fail("UDP send: %s", strerror(errno));
	if (join(sk[UM4], AF_INET, "239.1.2.3") || join(sk[UM6], AF_INET6, "ff12::1234"))
		return wl_fail("joining multicast groups on %s: %s", ifname, strerror(errno));
	wl_msleep(50);
	for (int i = 0; i < NSOCK; i++) {
		name_len[i] = peer_len[i] = sizeof(struct sockaddr_storage);
		getsockname(sk[i], (struct sockaddr *)&names[i], &name_len[i]);
		if (getpeername(sk[i], (struct sockaddr *)&peers[i], &peer_len[i]) < 0)
			peer_len[i] = 0;
		backlog_before[i] = backlog(sk[i]);
	}
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		before_len[i] = 16;
		getsockopt(sk[opts[i].s], opts[i].level, opts[i].name, before[i], &before_len[i]);
	}
	tmp = 0;
	(void)tmp;
	return 0;
}

/* A datagram from PORT with TEXT, next in the queue of s. */
static void expect_dgram(int s, const char *text, int port, const char *what)
{
	char buf[64];
	struct sockaddr_storage from;
	socklen_t len = sizeof(from);
	ssize_t n = recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &len);
	int got_port = from.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&from)->sin_port)
						 : ntohs(((struct sockaddr_in6 *)&from)->sin6_port);

	WL_CHECK(n == (ssize_t)strlen(text) && !memcmp(buf, text, (size_t)n) && got_port == port,
		 "%s: datagram \"%.*s\" from port %d, want \"%s\" from %d (%s)", what, n > 0 ? (int)n : 0, buf, got_port,
		 text, port, n < 0 ? strerror(errno) : "");
}

static void check_accepts(int l, const char *ip, int port, const char *what)
{
	int c = mk(strchr(ip, ':') ? AF_INET6 : AF_INET, SOCK_STREAM), a = -1;
	struct pollfd p = { l, POLLIN, 0 };

	/* A byte, for TCP_DEFER_ACCEPT. */
	if (connect_to(c, ip, port) == 0 && send(c, "x", 1, 0) == 1 && poll(&p, 1, 2000) == 1)
		a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	WL_CHECK(a >= 0, "%s takes no connection on %s port %d: %s", what, ip, port, strerror(errno));
	close(c);
	if (a >= 0)
		close(a);
}

static void check_reuseport(void)
{
	int got[2] = { 0, 0 }, c[20];

	for (int i = 0; i < 20; i++) {
		c[i] = mk(AF_INET, SOCK_STREAM);
		if (connect_to(c[i], "127.0.0.1", base + 2))
			wl_fail("connect to the SO_REUSEPORT group: %s", strerror(errno));
	}
	wl_msleep(50);
	for (int k = 0; k < 2; k++) {
		struct pollfd p = { sk[k ? RP2 : RP1], POLLIN, 0 };
		int a;

		while (poll(&p, 1, 0) == 1 && (a = accept4(p.fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
			got[k]++;
			close(a);
		}
	}
	WL_CHECK(got[0] + got[1] == 20 && got[0] && got[1], "SO_REUSEPORT group: the two sockets took %d and %d of 20",
		 got[0], got[1]);
	for (int i = 0; i < 20; i++)
		close(c[i]);
}

static void check(void)
{
	char buf[16];

	for (int i = 0; i < NSOCK; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		WL_CHECK(getsockname(sk[i], (struct sockaddr *)&ss, &len) == 0 && len == name_len[i] &&
				 !memcmp(&ss, &names[i], len),
			 "%s: its address changed", sname[i]);
		len = sizeof(ss);
		if (peer_len[i])
			WL_CHECK(getpeername(sk[i], (struct sockaddr *)&ss, &len) == 0 && len == peer_len[i] &&
					 !memcmp(&ss, &peers[i], len),
				 "%s: its peer changed", sname[i]);
		else
			WL_CHECK(getpeername(sk[i], (struct sockaddr *)&ss, &len) < 0, "%s: has a peer now", sname[i]);
		WL_CHECK(backlog(sk[i]) == backlog_before[i], "%s: backlog %d, was %d", sname[i], backlog(sk[i]),
			 backlog_before[i]);
	}
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		uint8_t now[16];
		socklen_t len = 16;

		getsockopt(sk[opts[i].s], opts[i].level, opts[i].name, now, &len);
		WL_CHECK(len == before_len[i] && !memcmp(now, before[i], len), "%s: option %d/%d changed", sname[opts[i].s],
			 opts[i].level, opts[i].name);
	}
	check_accepts(sk[L4], "127.0.0.1", base, "listen4");
	check_accepts(sk[L6], "::1", base + 1, "listen6");
	check_accepts(sk[LDUAL], "127.0.0.1", base + 3, "listen-dual (IPv4)");
	check_accepts(sk[LDUAL], "::1", base + 3, "listen-dual (IPv6)");
	check_reuseport();
	/* The IPv4-mapped connection carries data both ways. */
	WL_CHECK(send(sk[ACC], "ping", 4, 0) == 4 && recv(sk[CONN4], buf, 4, MSG_WAITALL) == 4 && !memcmp(buf, "ping", 4),
		 "the IPv4-mapped connection does not carry data: %s", strerror(errno));
	WL_CHECK(send(sk[CONN4], "pong", 4, 0) == 4 && recv(sk[ACC], buf, 4, MSG_WAITALL) == 4 && !memcmp(buf, "pong", 4),
		 "the IPv4-mapped connection does not carry data back: %s", strerror(errno));
	/* Queued datagrams, in order, from their senders. */
	expect_dgram(sk[U1], "one", base + 6, "udp1");
	expect_dgram(sk[U1], "two", base + 7, "udp1");
	expect_dgram(sk[U1], "", base + 6, "udp1");
	expect_dgram(sk[U1], "four", base + 6, "udp1");
	WL_CHECK(recv(sk[U1], buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN, "udp1: more datagrams than queued");
	expect_dgram(sk[U6], "mapped", base + 7, "udp6 (from IPv4)");
	WL_CHECK(send(sk[U2], "five", 4, 0) == 4, "udp2: send on the connected socket: %s", strerror(errno));
	wl_msleep(10);
	expect_dgram(sk[U1], "five", base + 6, "udp1 after restore");
	/* Multicast groups deliver. */
	{
		int s4 = mk(AF_INET, SOCK_DGRAM), s6 = mk(AF_INET6, SOCK_DGRAM), lo = (int)if_nametoindex(ifname);
		struct ip_mreqn mr = { .imr_ifindex = lo };

		setsockopt(s4, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr));
		setsockopt(s6, IPPROTO_IPV6, IPV6_MULTICAST_IF, &lo, sizeof(lo));
		bind_to(s4, "0.0.0.0", base + 11);
		bind_to(s6, "::", base + 12);
		WL_CHECK(sendto_ip(s4, "m4", 2, "239.1.2.3", base + 9) == 2, "multicast send: %s", strerror(errno));
		WL_CHECK(sendto_ip(s6, "m6", 2, "ff12::1234", base + 10) == 2, "multicast send (IPv6): %s", strerror(errno));
		wl_msleep(20);
		expect_dgram(sk[UM4], "m4", base + 11, "mcast4 (239.1.2.3)");
		expect_dgram(sk[UM6], "m6", base + 12, "mcast6 (ff12::1234)");
	}
}

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	if (argc > 3)
		base = atoi(argv[3]);
	if (argc > 4)
		ifname = argv[4];
	if (setup() == 0 && !wl_why[0]) {
		wl_ready();
		wl_wait();
		check();
	} else {
		wl_ready();
	}
	return wl_finish();
}
