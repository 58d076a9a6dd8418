/*
 * netlink: the netlink sockets common programs hold, checked from inside
 * after restore.
 *
 *   netlink READY RESULT ADDR
 *
 * - a NETLINK_ROUTE raw socket bound by the kernel (autobind: its port is
 *   our pid) to RTMGRP_LINK | RTMGRP_IPV4_IFADDR, with groups 32 and 33
 *   joined by NETLINK_ADD_MEMBERSHIP, NETLINK_EXT_ACK, NETLINK_NO_ENOBUFS
 *   and a larger SO_RCVBUF;
 * - a NETLINK_GENERIC dgram socket connected to the kernel, with
 *   NETLINK_CAP_ACK and NETLINK_PKTINFO;
 * - a NETLINK_KOBJECT_UEVENT dgram socket bound to a port id of our choice
 *   and to group 1, as udev listeners are;
 * - a NETLINK_ROUTE socket never bound.
 *
 * Before SIGUSR1 the harness adds ADDR to lo: the route socket must have
 * its RTM_NEWADDR event. Then every port id, group, peer and option is as
 * before, a RTM_GETLINK dump is answered on the route socket and a
 * CTRL_CMD_GETFAMILY request on the generic one.
 */
#include "wl.h"

#include <arpa/inet.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>

struct nl_state {
	const char *what;
	int fd;
	struct sockaddr_nl self, peer;
	uint32_t groups[4];
	int opts[16];
	int rcvbuf, sndbuf;
};

static const int opt_names[] = { NETLINK_PKTINFO, NETLINK_BROADCAST_ERROR, NETLINK_NO_ENOBUFS, NETLINK_CAP_ACK,
				 NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK };

static int nl_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, name, &v, &len) < 0)
		return -1000 - errno;
	return v;
}

static void read_state(struct nl_state *s)
{
	socklen_t len = sizeof(s->self);

	memset(&s->self, 0, sizeof(s->self));
	memset(&s->peer, 0, sizeof(s->peer));
	memset(s->groups, 0, sizeof(s->groups));
	getsockname(s->fd, (struct sockaddr *)&s->self, &len);
	len = sizeof(s->peer);
	getpeername(s->fd, (struct sockaddr *)&s->peer, &len);
	len = sizeof(s->groups);
	if (getsockopt(s->fd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, s->groups, &len) < 0)
		s->groups[3] = 0xdeadbeef;
	for (size_t i = 0; i < sizeof(opt_names) / sizeof(opt_names[0]); i++)
		s->opts[i] = nl_int(s->fd, SOL_NETLINK, opt_names[i]);
	s->rcvbuf = nl_int(s->fd, SOL_SOCKET, SO_RCVBUF);
	s->sndbuf = nl_int(s->fd, SOL_SOCKET, SO_SNDBUF);
}

static void compare(const struct nl_state *a)
{
	struct nl_state b = { .what = a->what, .fd = a->fd };
	int family = nl_int(a->fd, SOL_SOCKET, SO_DOMAIN);

	read_state(&b);
	WL_CHECK(family == AF_NETLINK, "%s: fd %d is of family %d", a->what, a->fd, family);
	WL_CHECK(b.self.nl_pid == a->self.nl_pid && b.self.nl_groups == a->self.nl_groups,
		 "%s: getsockname gives port %u groups 0x%x, was %u 0x%x", a->what, b.self.nl_pid, b.self.nl_groups,
		 a->self.nl_pid, a->self.nl_groups);
	WL_CHECK(b.peer.nl_pid == a->peer.nl_pid && b.peer.nl_groups == a->peer.nl_groups,
		 "%s: getpeername gives %u/0x%x, was %u/0x%x", a->what, b.peer.nl_pid, b.peer.nl_groups, a->peer.nl_pid,
		 a->peer.nl_groups);
	for (int w = 0; w < 4; w++)
		WL_CHECK(b.groups[w] == a->groups[w], "%s: NETLINK_LIST_MEMBERSHIPS word %d is 0x%x, was 0x%x", a->what, w,
			 b.groups[w], a->groups[w]);
	for (size_t i = 0; i < sizeof(opt_names) / sizeof(opt_names[0]); i++)
		WL_CHECK(b.opts[i] == a->opts[i], "%s: option %d is %d, was %d", a->what, opt_names[i], b.opts[i],
			 a->opts[i]);
	WL_CHECK(b.rcvbuf == a->rcvbuf && b.sndbuf == a->sndbuf, "%s: SO_RCVBUF/SO_SNDBUF %d/%d, were %d/%d", a->what,
		 b.rcvbuf, b.sndbuf, a->rcvbuf, a->sndbuf);
}

static int set1(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v));
}

static int make_route(void)
{
	struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR };
	int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    set1(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, 32) < 0 || set1(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, 33) < 0 ||
	    set1(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1) < 0 || set1(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, 1) < 0 ||
	    set1(fd, SOL_SOCKET, SO_RCVBUF, 100000) < 0)
		return -1;
	return fd;
}

static int make_generic(void)
{
	struct sockaddr_nl k = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_GENERIC);

	if (fd < 0 || connect(fd, (struct sockaddr *)&k, sizeof(k)) < 0 ||
	    set1(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1) < 0 || set1(fd, SOL_NETLINK, NETLINK_PKTINFO, 1) < 0)
		return -1;
	return fd;
}

static int make_uevent(void)
{
	struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_pid = 0x40000000u | (uint32_t)getpid(), .nl_groups = 1 };
	int fd = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_KOBJECT_UEVENT);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	return fd;
}

/* Waits up to ms for a message; returns its length, 0 on timeout, -1 on error. */
static ssize_t recv_wait(int fd, void *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r;
	return recv(fd, buf, len, MSG_DONTWAIT);
}

/* The RTM_NEWADDR event for addr must come to the route socket. */
static void check_event(int fd, const char *addr)
{
	static char buf[65536];
	struct in_addr want;
	double end = wl_now() + 5;

	if (inet_pton(AF_INET, addr, &want) != 1) {
		wl_fail("bad address %s", addr);
		return;
	}
	while (wl_now() < end) {
		ssize_t n = recv_wait(fd, buf, sizeof(buf), 500);

		if (n < 0) {
			wl_fail("route socket: recv: %s", strerror(errno));
			return;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; n > 0 && NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			struct ifaddrmsg *ifa = NLMSG_DATA(h);
			int alen = (int)IFA_PAYLOAD(h);

			if (h->nlmsg_type != RTM_NEWADDR || ifa->ifa_family != AF_INET)
				continue;
			for (struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen))
				if (rta->rta_type == IFA_LOCAL && !memcmp(RTA_DATA(rta), &want, 4))
					return;
		}
	}
	wl_fail("route socket: no RTM_NEWADDR event for %s in 5 s", addr);
}

/* Sends a request and reads the answer: the number of messages of type want, or -1. */
static int ask(int fd, const void *req, size_t len, uint16_t want, bool dump, const char *what)
{
	static char buf[65536];
	struct sockaddr_nl k = { .nl_family = AF_NETLINK };
	int count = 0;

	if (sendto(fd, req, len, 0, (struct sockaddr *)&k, sizeof(k)) != (ssize_t)len)
		return wl_fail("%s: send: %s", what, strerror(errno)), -1;
	for (;;) {
		ssize_t n = recv_wait(fd, buf, sizeof(buf), 5000);

		if (n <= 0)
			return wl_fail("%s: %s", what, n ? strerror(errno) : "no answer in 5 s"), -1;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != 77)
				continue; /* an event, not our answer */
			if (h->nlmsg_type == NLMSG_ERROR)
				return wl_fail("%s: error %d", what, ((struct nlmsgerr *)NLMSG_DATA(h))->error), -1;
			if (h->nlmsg_type == NLMSG_DONE)
				return count;
			if (h->nlmsg_type == want)
				count++;
			if (!dump)
				return count;
		}
	}
}

static void check_getlink(int fd)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		       .nlmsg_seq = 77 },
		.i = { .ifi_family = AF_UNSPEC },
	};
	int n = ask(fd, &req, sizeof(req), RTM_NEWLINK, true, "RTM_GETLINK dump");

	WL_CHECK(n != 0, "RTM_GETLINK dump: no link in the answer");
}

static void check_genl(int fd)
{
	struct {
		struct nlmsghdr h;
		struct genlmsghdr g;
		struct rtattr a;
		char name[8];
	} req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_type = GENL_ID_CTRL, .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 77 },
		.g = { .cmd = CTRL_CMD_GETFAMILY, .version = 1 },
		.a = { .rta_len = RTA_LENGTH(7), .rta_type = CTRL_ATTR_FAMILY_NAME },
		.name = "nlctrl",
	};
	int n = ask(fd, &req, sizeof(req), GENL_ID_CTRL, false, "CTRL_CMD_GETFAMILY nlctrl");

	WL_CHECK(n != 0, "CTRL_CMD_GETFAMILY nlctrl: no family in the answer");
}

int main(int argc, char **argv)
{
	struct nl_state s[4] = { { .what = "route socket" }, { .what = "generic socket" }, { .what = "uevent socket" },
				 { .what = "unbound route socket" } };

	wl_init(argc, argv);
	if (argc < 4) {
		fprintf(stderr, "usage: netlink READY RESULT ADDR\n");
		return 2;
	}
	s[0].fd = make_route();
	s[1].fd = make_generic();
	s[2].fd = make_uevent();
	s[3].fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	for (int i = 0; i < 4; i++) {
		if (s[i].fd < 0) {
			fprintf(stderr, "%s: %s\n", s[i].what, strerror(errno));
			return 3;
		}
		read_state(&s[i]);
	}
	/* What the sockets must look like, so that the test tests something. */
	if (s[0].self.nl_pid != (uint32_t)getpid() || s[0].self.nl_groups != (RTMGRP_LINK | RTMGRP_IPV4_IFADDR | 1u << 31) ||
	    s[0].groups[0] != (RTMGRP_LINK | RTMGRP_IPV4_IFADDR | 1u << 31) || s[0].groups[1] != 1 ||
	    !s[1].self.nl_pid || s[2].self.nl_pid != (0x40000000u | (uint32_t)getpid()) || s[3].self.nl_pid) {
		fprintf(stderr, "the sockets are not as expected before the dump: route %u 0x%x 0x%x:0x%x, generic %u, uevent %u, unbound %u\n",
			s[0].self.nl_pid, s[0].self.nl_groups, s[0].groups[0], s[0].groups[1], s[1].self.nl_pid,
			s[2].self.nl_pid, s[3].self.nl_pid);
		return 3;
	}
	wl_ready();
	wl_wait();
	for (int i = 0; i < 4; i++)
		compare(&s[i]);
	check_event(s[0].fd, argv[3]);
	check_getlink(s[0].fd);
	check_genl(s[1].fd);
	return wl_finish();
}
