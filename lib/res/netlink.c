// SPDX-License-Identifier: MIT
/*
 * Netlink sockets as programs hold them: a route socket listening to link
 * and address events, a uevent socket, a generic netlink one. The dumper
 * reads a copy of the socket (pidfd_getfd): its type and protocol, the
 * bound port id, the multicast groups, the connected peer and the options.
 *
 * Messages queued for reading (replies to a request, events) cannot be put
 * back: only the kernel sends as itself. A socket with data queued, or with
 * a dump request still being answered, is refused; an empty one is saved.
 * The restore makes a socket bound to the same port id and groups.
 */
#include <fcntl.h>
#include <linux/netlink_diag.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "sock.h"

#define NL_PROTO_MAX 32    /* MAX_LINKS */
#define NL_GROUP_WORDS 64  /* 2048 groups; generic netlink hands out far fewer */

/* SOL_NETLINK options that are on or off, read and set as ints. */
static const int nl_bool_opts[] = {
	NETLINK_PKTINFO, NETLINK_BROADCAST_ERROR, NETLINK_NO_ENOBUFS, NETLINK_LISTEN_ALL_NSID,
	NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK,
};

static uint32_t nl_opts_mask(void)
{
	uint32_t m = 0;

	for (size_t i = 0; i < ARRAY_SIZE(nl_bool_opts); i++)
		m |= 1u << nl_bool_opts[i];
	return m;
}

static const char *proto_name(uint32_t p)
{
	switch (p) {
	case NETLINK_ROUTE: return "NETLINK_ROUTE";
	case NETLINK_SOCK_DIAG: return "NETLINK_SOCK_DIAG";
	case NETLINK_NFLOG: return "NETLINK_NFLOG";
	case NETLINK_XFRM: return "NETLINK_XFRM";
	case NETLINK_SELINUX: return "NETLINK_SELINUX";
	case NETLINK_AUDIT: return "NETLINK_AUDIT";
	case NETLINK_NETFILTER: return "NETLINK_NETFILTER";
	case NETLINK_KOBJECT_UEVENT: return "NETLINK_KOBJECT_UEVENT";
	case NETLINK_GENERIC: return "NETLINK_GENERIC";
	case NETLINK_CONNECTOR: return "NETLINK_CONNECTOR";
	case NETLINK_CRYPTO: return "NETLINK_CRYPTO";
	default: return "?";
	}
}

static int sock_family(int sk)
{
	int v = -1;

	return sock_get_int(sk, SOL_SOCKET, SO_DOMAIN, &v) < 0 ? -1 : v;
}

static bool netlink_match(const struct fd_desc *fd)
{
	_cleanup_close_ int sk = -1;

	if (!S_ISSOCK(fd->st.st_mode) || strncmp(fd->link, "socket:", 7))
		return false;
	sk = res_fd_copy(fd);
	return sk >= 0 && sock_family(sk) == AF_NETLINK;
}

/* ---- dump ---- */

/* What NETLINK_DIAG tells of the socket with inode ino. */
struct nl_diag {
	uint32_t ino;
	bool found;
	uint32_t rmem;     /* bytes queued for reading (their truesize) */
	uint32_t flags;    /* NDIAG_FLAG_* */
};

static int diag_one(const struct nlmsghdr *h, void *arg)
{
	struct nl_diag *d = arg;
	const struct netlink_diag_msg *m = NLMSG_DATA(h);
	const struct rtattr *tb[NETLINK_DIAG_MAX + 1];

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) || m->ndiag_ino != d->ino)
		return 0;
	sock_attrs(h, sizeof(*m), tb, NETLINK_DIAG_MAX);
	d->found = true;
	if (tb[NETLINK_DIAG_MEMINFO] && RTA_PAYLOAD(tb[NETLINK_DIAG_MEMINFO]) >= sizeof(uint32_t) * (SK_MEMINFO_RMEM_ALLOC + 1))
		d->rmem = ((const uint32_t *)RTA_DATA(tb[NETLINK_DIAG_MEMINFO]))[SK_MEMINFO_RMEM_ALLOC];
	if (tb[NETLINK_DIAG_FLAGS] && RTA_PAYLOAD(tb[NETLINK_DIAG_FLAGS]) >= sizeof(uint32_t))
		d->flags = *(const uint32_t *)RTA_DATA(tb[NETLINK_DIAG_FLAGS]);
	return 0;
}

/*
 * Whether anything waits in the socket, asked from outside: NETLINK_DIAG
 * lists the bound sockets of a protocol (an unbound one can receive
 * nothing). Peeking instead could move a dump in progress on.
 */
static int diag_queue(struct ckpt_ctx *ctx, const struct fd_desc *fd, uint32_t proto, struct nl_diag *d)
{
	struct {
		struct nlmsghdr h;
		struct netlink_diag_req r;
	} req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.r = { .sdiag_family = AF_NETLINK, .sdiag_protocol = (uint8_t)proto,
		       .ndiag_show = NDIAG_SHOW_MEMINFO | NDIAG_SHOW_FLAGS },
	};
	int r;

	d->ino = (uint32_t)fd->st.st_ino;
	r = sock_diag(&req, sizeof(req), diag_one, d);
	if (r < 0)
		return fail(ctx, r, "pid %d fd %d: netlink socket (%s): sock_diag: %s", fd->pid, fd->fd,
			    proto_name(proto), strerror(-r));
	return 0;
}

static int check_empty(struct ckpt_ctx *ctx, const struct fd_desc *fd, int sk, uint32_t proto, uint32_t portid)
{
	struct nl_diag d = { 0 };
	int inq = 0, r;

	/* Newer kernels answer SIOCINQ for netlink too; older ones only through sock_diag. */
	if (ioctl(sk, SIOCINQ, &inq) == 0 && inq > 0)
		return fail(ctx, -EOPNOTSUPP,
			    "pid %d fd %d: netlink socket (protocol %u, %s) has %d bytes queued (unread replies or events); they cannot be saved",
			    fd->pid, fd->fd, proto, proto_name(proto), inq);
	if (!portid)
		return 0;
	r = diag_queue(ctx, fd, proto, &d);
	if (r < 0)
		return r;
	if (d.rmem)
		return fail(ctx, -EOPNOTSUPP,
			    "pid %d fd %d: netlink socket (protocol %u, %s) has messages queued (%u bytes with overhead: unread replies or events); they cannot be saved",
			    fd->pid, fd->fd, proto, proto_name(proto), d.rmem);
	if (d.flags & NDIAG_FLAG_CB_RUNNING)
		return fail(ctx, -EOPNOTSUPP,
			    "pid %d fd %d: netlink socket (protocol %u, %s) is in the middle of a dump the kernel is answering; it cannot be saved",
			    fd->pid, fd->fd, proto, proto_name(proto));
	return 0;
}

static int read_groups(struct ckpt_ctx *ctx, const struct fd_desc *fd, int sk, Ckpt__NetlinkSock *s, struct arena *a)
{
	uint32_t words[NL_GROUP_WORDS] = { 0 };
	socklen_t len = sizeof(words);
	size_t n;

	if (getsockopt(sk, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, words, &len) < 0)
		return fail(ctx, -errno, "pid %d fd %d: netlink socket: NETLINK_LIST_MEMBERSHIPS: %s", fd->pid, fd->fd,
			    strerror(errno));
	/* len is what the kernel has, which may be more than we gave room for. */
	if (len > sizeof(words))
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: netlink socket with more than %d multicast groups; not supported",
			    fd->pid, fd->fd, NL_GROUP_WORDS * 32);
	n = len / sizeof(uint32_t);
	while (n && !words[n - 1])
		n--;
	if (!n)
		return 0;
	s->groups = arena_alloc(a, n * sizeof(uint32_t));
	memcpy(s->groups, words, n * sizeof(uint32_t));
	s->n_groups = n;
	return 0;
}

static int read_opts(struct ckpt_ctx *ctx, const struct fd_desc *fd, int sk, Ckpt__NetlinkSock *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(nl_bool_opts); i++) {
		int v = 0;

		if (sock_get_int(sk, SOL_NETLINK, nl_bool_opts[i], &v) < 0) {
			if (errno == ENOPROTOOPT)
				continue; /* not known to this kernel: not set either */
			return fail(ctx, -errno, "pid %d fd %d: netlink socket option %d: %s", fd->pid, fd->fd,
				    nl_bool_opts[i], strerror(errno));
		}
		if (v)
			s->opts |= 1u << nl_bool_opts[i];
	}
	s->has_opts = s->opts != 0;
	return 0;
}

static int read_bufs(int sk, Ckpt__NetlinkSock *s)
{
	int rcv = 0, snd = 0;

	if (sock_get_int(sk, SOL_SOCKET, SO_RCVBUF, &rcv) < 0 || sock_get_int(sk, SOL_SOCKET, SO_SNDBUF, &snd) < 0)
		return -errno;
	s->has_rcvbuf = s->has_sndbuf = true;
	s->rcvbuf = (uint32_t)rcv;
	s->sndbuf = (uint32_t)snd;
	return 0;
}

static bool same_netns(int sk)
{
	struct stat a, b;
	_cleanup_close_ int ns = ioctl(sk, SIOCGSKNS);

	if (ns < 0)
		return true; /* the kernel cannot tell: as good as ours */
	return fstat(ns, &a) == 0 && stat("/proc/self/ns/net", &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

static int netlink_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
			Ckpt__File *f, struct model *m)
{
	_cleanup_close_ int sk = res_fd_copy(fd);
	struct sockaddr_nl self = { 0 }, peer = { 0 };
	socklen_t slen = sizeof(self), plen = sizeof(peer);
	Ckpt__NetlinkSock *s;
	int type = -1, proto = -1, r;

	(void)opts;
	if (sk < 0)
		return fail(ctx, sk, "pid %d fd %d: taking a copy of the socket (pidfd_getfd): %s", fd->pid, fd->fd,
			    strerror(-sk));
	if (sock_get_int(sk, SOL_SOCKET, SO_TYPE, &type) < 0 || sock_get_int(sk, SOL_SOCKET, SO_PROTOCOL, &proto) < 0 ||
	    getsockname(sk, (struct sockaddr *)&self, &slen) < 0 || getpeername(sk, (struct sockaddr *)&peer, &plen) < 0)
		return fail(ctx, -errno, "pid %d fd %d: netlink socket: %s", fd->pid, fd->fd, strerror(errno));
	if ((type != SOCK_RAW && type != SOCK_DGRAM) || proto < 0 || proto >= NL_PROTO_MAX)
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: netlink socket of type %d, protocol %d is not supported",
			    fd->pid, fd->fd, type, proto);
	if (!same_netns(sk))
		return fail(ctx, -EOPNOTSUPP,
			    "pid %d fd %d: netlink socket (%s) of another network namespace is not supported", fd->pid,
			    fd->fd, proto_name((uint32_t)proto));
	r = check_empty(ctx, fd, sk, (uint32_t)proto, self.nl_pid);
	if (r < 0)
		return r;
	s = arena_alloc(&m->arena, sizeof(*s));
	ckpt__netlink_sock__init(s);
	s->type = (uint32_t)type;
	s->protocol = (uint32_t)proto;
	s->has_portid = self.nl_pid != 0;
	s->portid = self.nl_pid;
	s->has_dst_portid = s->has_dst_group = peer.nl_pid || peer.nl_groups;
	s->dst_portid = peer.nl_pid;
	s->dst_group = peer.nl_groups;
	r = read_groups(ctx, fd, sk, s, &m->arena);
	if (r == 0)
		r = read_opts(ctx, fd, sk, s);
	if (r == 0 && read_bufs(sk, s) < 0)
		r = fail(ctx, -errno, "pid %d fd %d: netlink socket buffer sizes: %s", fd->pid, fd->fd, strerror(errno));
	if (r < 0)
		return r;
	f->netlink = s;
	return 0;
}

/* ---- restore ---- */

/* Everything restore acts on, checked first: images may be damaged or hostile. */
static int netlink_check(struct ckpt_ctx *ctx, const Ckpt__File *f)
{
	const Ckpt__NetlinkSock *s = f->netlink;
	unsigned long long id = (unsigned long long)f->id;

	if (!s)
		return fail(ctx, -EINVAL, "file %llu: netlink socket without its state", id);
	if ((s->type != SOCK_RAW && s->type != SOCK_DGRAM) || s->protocol >= NL_PROTO_MAX)
		return fail(ctx, -EINVAL, "file %llu: netlink socket of type %u, protocol %u is invalid", id, s->type,
			    s->protocol);
	if (s->n_groups > NL_GROUP_WORDS)
		return fail(ctx, -EINVAL, "file %llu: netlink socket with %zu words of groups (at most %d)", id,
			    s->n_groups, NL_GROUP_WORDS);
	if (s->opts & ~nl_opts_mask())
		return fail(ctx, -EINVAL, "file %llu: netlink socket options 0x%x are unknown", id, s->opts & ~nl_opts_mask());
	if ((s->has_rcvbuf && s->rcvbuf > INT_MAX) || (s->has_sndbuf && s->sndbuf > INT_MAX))
		return fail(ctx, -EINVAL, "file %llu: netlink socket buffer sizes %u/%u are invalid", id, s->rcvbuf,
			    s->sndbuf);
	return 0;
}

/* Sets a buffer size only where it differs from a new socket's (setting it also locks it). */
static int set_buf(struct ckpt_ctx *ctx, const char *who, int sk, int opt, int force, uint32_t want, const char *name)
{
	int cur = 0;

	if (sock_get_int(sk, SOL_SOCKET, opt, &cur) == 0 && (uint32_t)cur == want)
		return 0;
	/* The kernel doubles what it is given; past net.core.[rw]mem_max only FORCE goes. */
	if (sock_set_int(sk, SOL_SOCKET, force, (int)(want / 2)) < 0 &&
	    sock_set_int(sk, SOL_SOCKET, opt, (int)(want / 2)) < 0)
		return fail(ctx, -errno, "%s: netlink socket %s %u: %s", who, name, want, strerror(errno));
	if (sock_get_int(sk, SOL_SOCKET, opt, &cur) == 0 && (uint32_t)cur != want)
		pr_warn(ctx, "%s: netlink socket: %s is %d, not %u as before", who, name, cur, want);
	return 0;
}

static int join_groups(struct ckpt_ctx *ctx, const char *who, const Ckpt__NetlinkSock *s, int sk)
{
	/* Groups 1-32 came with bind(); the others are joined one by one. */
	for (size_t w = 1; w < s->n_groups; w++)
		for (unsigned b = 0; b < 32; b++) {
			int g = (int)(w * 32 + b + 1);

			if ((s->groups[w] & (1u << b)) && sock_set_int(sk, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g) < 0)
				return fail(ctx, -errno, "%s: netlink socket (%s): joining multicast group %d: %s",
					    who, proto_name(s->protocol), g, strerror(errno));
		}
	return 0;
}

static int set_opts(struct ckpt_ctx *ctx, const char *who, const Ckpt__NetlinkSock *s, int sk)
{
	for (size_t i = 0; i < ARRAY_SIZE(nl_bool_opts); i++)
		if ((s->opts & (1u << nl_bool_opts[i])) && sock_set_int(sk, SOL_NETLINK, nl_bool_opts[i], 1) < 0)
			return fail(ctx, -errno, "%s: netlink socket (%s): option %d: %s", who, proto_name(s->protocol),
				    nl_bool_opts[i], strerror(errno));
	if (s->has_rcvbuf) {
		int r = set_buf(ctx, who, sk, SO_RCVBUF, SO_RCVBUFFORCE, s->rcvbuf, "SO_RCVBUF");

		if (r < 0)
			return r;
	}
	return s->has_sndbuf ? set_buf(ctx, who, sk, SO_SNDBUF, SO_SNDBUFFORCE, s->sndbuf, "SO_SNDBUF") : 0;
}

static int bind_connect(struct ckpt_ctx *ctx, const char *who, const Ckpt__NetlinkSock *s, int sk)
{
	struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_pid = s->portid };

	a.nl_groups = s->n_groups ? s->groups[0] : 0;
	/* Binding to port 0 would pick one: an unbound socket stays unbound, unless it has groups. */
	if ((s->has_portid || a.nl_groups) && bind(sk, (struct sockaddr *)&a, sizeof(a)) < 0)
		return fail(ctx, -errno, "%s: netlink socket (%s): binding to port id %u%s: %s", who, proto_name(s->protocol),
			    s->portid, errno == EADDRINUSE ? " (another netlink socket has it)" : "", strerror(errno));
	if (s->dst_portid || s->dst_group) {
		struct sockaddr_nl p = { .nl_family = AF_NETLINK, .nl_pid = s->dst_portid, .nl_groups = s->dst_group };

		if (connect(sk, (struct sockaddr *)&p, sizeof(p)) < 0)
			return fail(ctx, -errno, "%s: netlink socket (%s): connecting to port id %u, group %u: %s",
				    who, proto_name(s->protocol), s->dst_portid, s->dst_group, strerror(errno));
	}
	return 0;
}

static int netlink_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	const Ckpt__NetlinkSock *s = f->netlink;
	_cleanup_close_ int sk = -1;
	char who[64];
	int r = netlink_check(ctx, f);

	if (r < 0)
		return r;
	file_user(rr->m, f->id, who, sizeof(who));
	sk = socket(AF_NETLINK, (int)s->type | SOCK_CLOEXEC, (int)s->protocol);
	if (sk < 0)
		return fail(ctx, -errno, "%s: netlink socket of type %u, protocol %u (%s): %s", who, s->type, s->protocol,
			    proto_name(s->protocol), strerror(errno));
	/* Options and buffers first: events may come as soon as it is bound. */
	r = set_opts(ctx, who, s, sk);
	if (r == 0)
		r = bind_connect(ctx, who, s, sk);
	if (r == 0)
		r = join_groups(ctx, who, s, sk);
	if (r == 0 && fcntl(sk, F_SETFL, (int)f->flags & O_NONBLOCK) < 0)
		r = fail(ctx, -errno, "%s: netlink socket flags: %s", who, strerror(errno));
	if (r < 0)
		return r;
	*out = take_fd(&sk);
	return 0;
}

/* "netlink NETLINK_ROUTE port 1234, groups 0x11, connected to 0/0" */
static void netlink_describe(const Ckpt__File *f, char *buf, size_t len)
{
	const Ckpt__NetlinkSock *s = f->netlink;

	if (!s) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, "netlink %s %s, port %u", proto_name(s->protocol), s->type == SOCK_DGRAM ? "dgram" : "raw",
		 s->portid);
	for (size_t w = 0; w < s->n_groups && w < 4; w++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%08x", w ? ":" : ", groups ", s->groups[w]);
	if (s->dst_portid || s->dst_group)
		snprintf(buf + strlen(buf), len - strlen(buf), ", connected to port %u group %u", s->dst_portid,
			 s->dst_group);
}

const struct res_ops res_netlink = {
	.name = "netlink socket",
	.kind = FILE_KIND_NETLINK,
	.match = netlink_match,
	.dump = netlink_dump,
	.open = netlink_open,
	.describe = netlink_describe,
};
