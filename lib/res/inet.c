// SPDX-License-Identifier: MIT
/*
 * Inet sockets: TCP and UDP over IPv4 and IPv6. The dumper takes its own
 * descriptor of the socket (pidfd_getfd) and reads everything through it:
 * addresses, the options that differ from a new socket's, and, for UDP, the
 * queued datagrams (peeked, so they stay). TCP connections are tcp.c's.
 * The restore makes a new socket with the options, binds it, and for UDP
 * puts the datagrams back as packets from their senders (inet_pkt.c).
 *
 * Other socket families but unix and netlink (netlink.c, registered before
 * this kind) are refused here with their name (packet, ...), as are raw
 * inet sockets and protocols other than TCP and UDP.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "inet.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define INET_MAX_DGRAMS 65536
#define INET_MAX_DGRAM_BYTES (16u << 20)

/* ---- descriptors and addresses ---- */

static int sock_int(int sk, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	return getsockopt(sk, level, name, &v, &len) < 0 ? -1 : v;
}

static size_t addr_len(uint32_t family)
{
	return family == AF_INET ? 4 : 16;
}

static bool v4mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(a, prefix, 12);
}

socklen_t inet_sockaddr(const Ckpt__InetSock *s, bool peer, union inet_sa *a)
{
	const ProtobufCBinaryData *addr = peer ? &s->dst_addr : &s->src_addr;
	uint32_t port = peer ? s->dst_port : s->src_port;

	memset(a, 0, sizeof(*a));
	if (s->family == AF_INET) {
		a->v4.sin_family = AF_INET;
		a->v4.sin_port = htons((uint16_t)port);
		if (addr->len == 4)
			memcpy(&a->v4.sin_addr, addr->data, 4);
		return sizeof(a->v4);
	}
	a->v6.sin6_family = AF_INET6;
	a->v6.sin6_port = htons((uint16_t)port);
	a->v6.sin6_scope_id = s->scope_id;
	if (addr->len == 16)
		memcpy(&a->v6.sin6_addr, addr->data, 16);
	return sizeof(a->v6);
}

int inet_conn_of(const Ckpt__InetSock *s, struct inet_conn *c)
{
	const ProtobufCBinaryData *a[2] = { &s->src_addr, &s->dst_addr };
	size_t n = addr_len(s->family);

	memset(c, 0, sizeof(*c));
	if (s->src_addr.len != n || s->dst_addr.len != n)
		return -EINVAL;
	c->family = (int)s->family;
	c->port[0] = (uint16_t)s->src_port;
	c->port[1] = (uint16_t)s->dst_port;
	c->scope_id = s->scope_id;
	if (n == 16 && v4mapped(a[0]->data) && v4mapped(a[1]->data)) {
		c->family = AF_INET;
		for (int i = 0; i < 2; i++)
			memcpy(c->addr[i], a[i]->data + 12, 4);
		return 0;
	}
	for (int i = 0; i < 2; i++)
		memcpy(c->addr[i], a[i]->data, n);
	return 0;
}

static const char *addr_str(int family, const uint8_t *a, uint16_t port, char *buf, size_t len)
{
	char text[INET6_ADDRSTRLEN] = "?";

	inet_ntop(family, a, text, sizeof(text));
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", text, port);
	return buf;
}

const char *inet_conn_str(const struct inet_conn *c, char *buf, size_t len)
{
	char a[64], b[64];

	snprintf(buf, len, "%s -> %s", addr_str(c->family, c->addr[0], c->port[0], a, sizeof(a)),
		 addr_str(c->family, c->addr[1], c->port[1], b, sizeof(b)));
	return buf;
}

void inet_save_addr(struct arena *ar, const union inet_sa *a, ProtobufCBinaryData *addr, uint32_t *port,
		      protobuf_c_boolean *has_port, uint32_t *scope, protobuf_c_boolean *has_scope)
{
	const void *raw = a->sa.sa_family == AF_INET ? (const void *)&a->v4.sin_addr : (const void *)&a->v6.sin6_addr;
	size_t n = a->sa.sa_family == AF_INET ? 4 : 16;

	addr->len = n;
	addr->data = arena_alloc(ar, n);
	memcpy(addr->data, raw, n);
	*port = ntohs(a->sa.sa_family == AF_INET ? a->v4.sin_port : a->v6.sin6_port);
	*has_port = true;
	if (a->sa.sa_family == AF_INET6 && a->v6.sin6_scope_id) {
		*scope = a->v6.sin6_scope_id;
		*has_scope = true;
	}
}

static bool is_any(const union inet_sa *a)
{
	static const struct in6_addr any6;

	if (a->sa.sa_family == AF_INET)
		return a->v4.sin_addr.s_addr == htonl(INADDR_ANY) && !a->v4.sin_port;
	return !memcmp(&a->v6.sin6_addr, &any6, sizeof(any6)) && !a->v6.sin6_port;
}

static int read_addrs(int sk, Ckpt__InetSock *s, struct arena *ar)
{
	union inet_sa a;
	socklen_t len = sizeof(a);

	if (getsockname(sk, &a.sa, &len) < 0)
		return -errno;
	if (!is_any(&a))
		inet_save_addr(ar, &a, &s->src_addr, &s->src_port, &s->has_src_port, &s->scope_id, &s->has_scope_id);
	s->has_src_addr = s->has_src_port;
	len = sizeof(a);
	if (getpeername(sk, &a.sa, &len) == 0) {
		inet_save_addr(ar, &a, &s->dst_addr, &s->dst_port, &s->has_dst_port, &s->scope_id, &s->has_scope_id);
		s->has_dst_addr = true;
	} else if (errno != ENOTCONN) {
		return -errno;
	}
	return 0;
}

/* ---- socket options ---- */

enum {
	O_TCP = 1,      /* TCP sockets only */
	O_UDP = 2,      /* UDP sockets only */
	O_V4 = 4,       /* IPv4 sockets only */
	O_V6 = 8,       /* IPv6 sockets only */
	O_HALF = 16,    /* setsockopt doubles what it is given (buffer sizes) */
	O_STR = 32,     /* a string of at most size bytes */
	O_NOCONN = 64,  /* not for connections: the kernel shows its own value there */
};

struct inet_optdesc {
	int level, name;
	uint8_t size, flags;
};

/* In the order restore sets them (IP_TOS changes SO_PRIORITY, which follows it). */
static const struct inet_optdesc inet_opts[] = {
	{ IPPROTO_IP, IP_TOS, 4, O_V4 },
	{ IPPROTO_IP, IP_TTL, 4, O_V4 },
	{ IPPROTO_IP, IP_MTU_DISCOVER, 4, O_V4 },
	{ IPPROTO_IP, IP_RECVERR, 4, O_V4 },
	{ IPPROTO_IP, IP_PKTINFO, 4, O_V4 },
	{ IPPROTO_IP, IP_RECVTOS, 4, O_V4 },
	{ IPPROTO_IP, IP_RECVTTL, 4, O_V4 },
	{ IPPROTO_IP, IP_FREEBIND, 4, O_V4 },
	{ IPPROTO_IP, IP_TRANSPARENT, 4, O_V4 },
	{ IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 4, O_V4 },
	{ IPPROTO_IP, IP_RECVORIGDSTADDR, 4, O_V4 },
	{ IPPROTO_IP, IP_MULTICAST_TTL, 4, O_V4 | O_UDP },
	{ IPPROTO_IP, IP_MULTICAST_LOOP, 4, O_V4 | O_UDP },
	{ IPPROTO_IP, IP_MULTICAST_ALL, 4, O_V4 | O_UDP },
	{ IPPROTO_IP, IP_MULTICAST_IF, 4, O_V4 | O_UDP },
	{ IPPROTO_IPV6, IPV6_V6ONLY, 4, O_V6 },
	{ IPPROTO_IPV6, IPV6_TCLASS, 4, O_V6 },
	{ IPPROTO_IPV6, IPV6_UNICAST_HOPS, 4, O_V6 },
	{ IPPROTO_IPV6, IPV6_MTU_DISCOVER, 4, O_V6 },
	{ IPPROTO_IPV6, IPV6_RECVERR, 4, O_V6 },
	{ IPPROTO_IPV6, IPV6_RECVPKTINFO, 4, O_V6 },
	{ IPPROTO_IPV6, IPV6_RECVTCLASS, 4, O_V6 },
	{ IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 4, O_V6 },
	{ IPPROTO_IPV6, IPV6_FREEBIND, 4, O_V6 },
	{ IPPROTO_IPV6, IPV6_TRANSPARENT, 4, O_V6 },
	{ IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, 4, O_V6 },
	{ IPPROTO_IPV6, IPV6_DONTFRAG, 4, O_V6 },
	{ IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 4, O_V6 | O_UDP },
	{ IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 4, O_V6 | O_UDP },
	{ IPPROTO_IPV6, IPV6_MULTICAST_IF, 4, O_V6 | O_UDP },
	{ IPPROTO_IPV6, IPV6_MULTICAST_ALL, 4, O_V6 | O_UDP },
	{ SOL_SOCKET, SO_REUSEADDR, 4, 0 },
	{ SOL_SOCKET, SO_REUSEPORT, 4, 0 },
	{ SOL_SOCKET, SO_KEEPALIVE, 4, 0 },
	{ SOL_SOCKET, SO_BROADCAST, 4, 0 },
	{ SOL_SOCKET, SO_DONTROUTE, 4, 0 },
	{ SOL_SOCKET, SO_OOBINLINE, 4, 0 },
	{ SOL_SOCKET, SO_LINGER, sizeof(struct linger), 0 },
	{ SOL_SOCKET, SO_RCVTIMEO, sizeof(struct timeval), 0 },
	{ SOL_SOCKET, SO_SNDTIMEO, sizeof(struct timeval), 0 },
	{ SOL_SOCKET, SO_RCVBUF, 4, O_HALF },
	{ SOL_SOCKET, SO_SNDBUF, 4, O_HALF },
	{ SOL_SOCKET, SO_RCVLOWAT, 4, 0 },
	{ SOL_SOCKET, SO_PRIORITY, 4, 0 },
	{ SOL_SOCKET, SO_MARK, 4, 0 },
	{ SOL_SOCKET, SO_TIMESTAMP, 4, 0 },
	{ SOL_SOCKET, SO_TIMESTAMPNS, 4, 0 },
	{ SOL_SOCKET, SO_RXQ_OVFL, 4, 0 },
	{ SOL_SOCKET, SO_PEEK_OFF, 4, 0 },
	{ SOL_SOCKET, SO_BINDTODEVICE, 16, O_STR },
	{ IPPROTO_TCP, TCP_NODELAY, 4, O_TCP },
	{ IPPROTO_TCP, TCP_KEEPIDLE, 4, O_TCP },
	{ IPPROTO_TCP, TCP_KEEPINTVL, 4, O_TCP },
	{ IPPROTO_TCP, TCP_KEEPCNT, 4, O_TCP },
	{ IPPROTO_TCP, TCP_USER_TIMEOUT, 4, O_TCP },
	{ IPPROTO_TCP, TCP_SYNCNT, 4, O_TCP },
	{ IPPROTO_TCP, TCP_LINGER2, 4, O_TCP },
	{ IPPROTO_TCP, TCP_CORK, 4, O_TCP },
	{ IPPROTO_TCP, TCP_DEFER_ACCEPT, 4, O_TCP },
	{ IPPROTO_TCP, TCP_NOTSENT_LOWAT, 4, O_TCP },
	{ IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, 4, O_TCP },
	{ IPPROTO_TCP, TCP_FASTOPEN, 4, O_TCP },
	{ IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 4, O_TCP },
	{ IPPROTO_TCP, TCP_MAXSEG, 4, O_TCP | O_NOCONN },
	{ IPPROTO_TCP, TCP_WINDOW_CLAMP, 4, O_TCP | O_NOCONN },
	{ IPPROTO_TCP, TCP_CONGESTION, 16, O_TCP | O_STR },
	{ IPPROTO_UDP, UDP_CORK, 4, O_UDP },
	{ IPPROTO_UDP, UDP_SEGMENT, 4, O_UDP },
	{ IPPROTO_UDP, UDP_GRO, 4, O_UDP },
};

static bool opt_applies(const struct inet_optdesc *o, uint32_t family, uint32_t proto, bool conn)
{
	return !((o->flags & O_TCP) && proto != IPPROTO_TCP) && !((o->flags & O_UDP) && proto != IPPROTO_UDP) &&
	       !((o->flags & O_V4) && family != AF_INET) && !((o->flags & O_V6) && family != AF_INET6) &&
	       !((o->flags & O_NOCONN) && conn);
}

static const struct inet_optdesc *opt_desc(uint32_t level, uint32_t name)
{
	for (size_t i = 0; i < ARRAY_SIZE(inet_opts); i++)
		if ((uint32_t)inet_opts[i].level == level && (uint32_t)inet_opts[i].name == name)
			return &inet_opts[i];
	return NULL;
}

/* Options that differ from those of a new socket of the same kind, made here to compare. */
static int dump_opts(struct ckpt_ctx *ctx, const struct fd_desc *fd, int sk, Ckpt__InetSock *s, struct arena *ar)
{
	_cleanup_close_ int fresh = socket((int)s->family, (int)s->type | SOCK_CLOEXEC, (int)s->protocol);
	Ckpt__InetOpt *v[ARRAY_SIZE(inet_opts)];
	bool conn = s->has_dst_addr;
	size_t n = 0;

	/* TCP shows the program's TCP_MAXSEG and TCP_WINDOW_CLAMP only while closed or listening. */
	if (s->protocol == IPPROTO_TCP) {
		struct tcp_info ti = { 0 };
		socklen_t len = sizeof(ti);

		getsockopt(sk, IPPROTO_TCP, TCP_INFO, &ti, &len);
		conn = ti.tcpi_state != TCP_CLOSE && ti.tcpi_state != TCP_LISTEN;
	}

	if (fresh < 0)
		return fail(ctx, -errno, "pid %d fd %d: a socket to compare options with: %s", fd->pid, fd->fd,
			    strerror(errno));
	for (size_t i = 0; i < ARRAY_SIZE(inet_opts); i++) {
		const struct inet_optdesc *o = &inet_opts[i];
		uint8_t a[64] = { 0 }, b[64] = { 0 };
		socklen_t la = o->size, lb = o->size;
		Ckpt__InetOpt *e;

		if (!opt_applies(o, s->family, s->protocol, conn))
			continue;
		if (getsockopt(sk, o->level, o->name, a, &la) < 0) {
			if (errno == ENOPROTOOPT || errno == EOPNOTSUPP || errno == EINVAL)
				continue; /* not on this kernel, or not for this socket */
			return fail(ctx, -errno, "pid %d fd %d: getsockopt(%d, %d): %s", fd->pid, fd->fd, o->level,
				    o->name, strerror(errno));
		}
		if (getsockopt(fresh, o->level, o->name, b, &lb) == 0 && la == lb && !memcmp(a, b, la))
			continue;
		e = arena_alloc(ar, sizeof(*e));
		ckpt__inet_opt__init(e);
		e->level = (uint32_t)o->level;
		e->name = (uint32_t)o->name;
		e->value.len = la;
		e->value.data = arena_alloc(ar, la + 1);
		memcpy(e->value.data, a, la);
		v[n++] = e;
	}
	s->n_opts = n;
	s->opts = arena_alloc(ar, (n + 1) * sizeof(*v));
	memcpy(s->opts, v, n * sizeof(*v));
	return 0;
}

bool inet_opt_set(const Ckpt__InetSock *s, uint32_t level, uint32_t name)
{
	for (size_t i = 0; i < s->n_opts; i++)
		if (s->opts[i]->level == level && s->opts[i]->name == name && s->opts[i]->value.len == 4)
			return *(const int *)s->opts[i]->value.data != 0;
	return false;
}

int inet_apply_opts(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk, bool (*want)(uint32_t, uint32_t))
{
	for (size_t i = 0; i < s->n_opts; i++) {
		const Ckpt__InetOpt *e = s->opts[i];
		const struct inet_optdesc *o = opt_desc(e->level, e->name);
		uint8_t val[64];
		socklen_t len = (socklen_t)e->value.len;

		if (want && !want(e->level, e->name))
			continue;
		memcpy(val, e->value.data, len);
		if (o->flags & O_HALF) {
			*(int *)val /= 2;
			/* Beyond net.core.[rw]mem_max only the FORCE variant goes; we may. */
			if (setsockopt(sk, SOL_SOCKET, e->name == SO_RCVBUF ? SO_RCVBUFFORCE : SO_SNDBUFFORCE, val,
				       len) == 0)
				continue;
		}
		if (o->flags & O_STR)
			len = (socklen_t)strnlen((const char *)val, len);
		if (setsockopt(sk, (int)e->level, (int)e->name, val, len) < 0)
			return fail(ctx, -errno, "socket option %u/%u: %s", e->level, e->name, strerror(errno));
	}
	return 0;
}

/* ---- UDP ---- */

/*
 * The datagrams queued for reading, peeked one after the other with a peek
 * offset (SO_PEEK_OFF), and with their destinations (IP_PKTINFO); both
 * settings are put back as they were.
 */
static int udp_peek_queue(struct ckpt_ctx *ctx, const struct fd_desc *fd, int sk, Ckpt__InetSock *s,
			  struct arena *ar)
{
	int lvl = s->family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
	int pkt = s->family == AF_INET ? IP_PKTINFO : IPV6_RECVPKTINFO;
	int old_off = sock_int(sk, SOL_SOCKET, SO_PEEK_OFF), old_pkt = sock_int(sk, lvl, pkt), zero = 0, one = 1;
	_cleanup_free_ uint8_t *buf = malloc(65536);
	Ckpt__InetDgram **v = NULL;
	size_t n = 0, cap = 0, bytes = 0;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	if (setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0 ||
	    setsockopt(sk, lvl, pkt, &one, sizeof(one)) < 0)
		r = fail(ctx, -errno, "pid %d fd %d: UDP socket: peeking at its queue: %s", fd->pid, fd->fd,
			 strerror(errno));
	while (r == 0) {
		union inet_sa from;
		char cbuf[256];
		struct iovec iov = { buf, 65536 };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		ssize_t len = recvmsg(sk, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
		Ckpt__InetDgram *d;

		if (len < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (len < 0 || len > 65535 || ++n > INET_MAX_DGRAMS || (bytes += (size_t)len) > INET_MAX_DGRAM_BYTES) {
			r = fail(ctx, len < 0 ? -errno : -EOPNOTSUPP, "pid %d fd %d: UDP socket: %s", fd->pid, fd->fd,
				 len < 0 ? strerror(errno) : "more queued datagrams than ckpt saves (65536, 16 MiB)");
			break;
		}
		d = arena_alloc(ar, sizeof(*d));
		ckpt__inet_dgram__init(d);
		inet_save_addr(ar, &from, &d->addr, &d->port, &(protobuf_c_boolean){ 0 }, &(uint32_t){ 0 },
			  &(protobuf_c_boolean){ 0 });
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			const void *dst = NULL;

			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
				dst = &((const struct in_pktinfo *)CMSG_DATA(c))->ipi_addr;
			else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO)
				dst = &((const struct in6_pktinfo *)CMSG_DATA(c))->ipi6_addr;
			if (dst) {
				d->has_dst = true;
				d->dst.len = addr_len(s->family);
				d->dst.data = arena_alloc(ar, d->dst.len);
				memcpy(d->dst.data, dst, d->dst.len);
			}
		}
		d->data.len = (size_t)len;
		d->data.data = arena_alloc(ar, (size_t)len + 1);
		memcpy(d->data.data, buf, (size_t)len);
		*(Ckpt__InetDgram **)array_push(&v, &s->n_dgrams, &cap, sizeof(*v)) = d;
	}
	setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &old_off, sizeof(old_off));
	if (old_pkt >= 0)
		setsockopt(sk, lvl, pkt, &old_pkt, sizeof(old_pkt));
	s->dgrams = arena_alloc(ar, (s->n_dgrams + 1) * sizeof(*v));
	if (s->n_dgrams)
		memcpy(s->dgrams, v, s->n_dgrams * sizeof(*v));
	free(v);
	return r;
}

/* ---- multicast memberships ---- */

#define MCAST_MAX_SOURCES 64

/*
 * A socket's memberships cannot be listed, but each can be asked for:
 * MCAST_MSFILTER answers for a group and interface the socket joined, with
 * its source filter, and fails for any other. The groups joined on the
 * machine's interfaces, /proc/net/igmp and igmp6, are the ones to ask for.
 */
static int mcast_probe(int sk, const Ckpt__InetSock *s, uint32_t ifindex, const uint8_t *group,
		       Ckpt__InetMcast **out, struct arena *ar)
{
	union {
		struct group_filter gf;
		uint8_t buf[GROUP_FILTER_SIZE(MCAST_MAX_SOURCES)];
	} u;
	socklen_t len = sizeof(u);
	size_t n = addr_len(s->family);
	Ckpt__InetMcast *m;

	memset(&u, 0, sizeof(u));
	u.gf.gf_interface = ifindex;
	u.gf.gf_numsrc = MCAST_MAX_SOURCES;
	u.gf.gf_group.ss_family = (sa_family_t)s->family;
	memcpy(s->family == AF_INET ? (void *)&((struct sockaddr_in *)&u.gf.gf_group)->sin_addr
				    : (void *)&((struct sockaddr_in6 *)&u.gf.gf_group)->sin6_addr, group, n);
	if (getsockopt(sk, s->family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6, MCAST_MSFILTER, &u, &len) < 0)
		return errno == EADDRNOTAVAIL || errno == EINVAL || errno == ENODEV ? 0 : -errno;
	if (u.gf.gf_numsrc > MCAST_MAX_SOURCES)
		return -E2BIG;
	m = arena_alloc(ar, sizeof(*m));
	ckpt__inet_mcast__init(m);
	m->ifindex = ifindex;
	m->group.len = n;
	m->group.data = arena_alloc(ar, n);
	memcpy(m->group.data, group, n);
	m->has_fmode = true;
	m->fmode = u.gf.gf_fmode;
	m->n_sources = u.gf.gf_numsrc;
	m->sources = arena_alloc(ar, (m->n_sources + 1) * sizeof(*m->sources));
	for (size_t i = 0; i < m->n_sources; i++) {
		const struct sockaddr_storage *src = &u.gf.gf_slist[i];

		m->sources[i].len = n;
		m->sources[i].data = arena_alloc(ar, n);
		memcpy(m->sources[i].data,
		       s->family == AF_INET ? (const void *)&((const struct sockaddr_in *)src)->sin_addr
					    : (const void *)&((const struct sockaddr_in6 *)src)->sin6_addr, n);
	}
	*out = m;
	return 1;
}

/* Next group of /proc/net/igmp (IPv4) or igmp6: its interface index and address; false at the end. */
static bool next_group(int family, char **pos, uint32_t *ifindex, uint8_t *group)
{
	char *line;

	while ((line = strsep(pos, "\n"))) {
		unsigned idx;
		char hex[33];

		if (family == AF_INET) {
			unsigned long v;

			if (sscanf(line, "%u", &idx) == 1 && line[0] != '\t') {
				*ifindex = idx; /* a device line; its groups follow, indented */
				continue;
			}
			if (line[0] != '\t' || sscanf(line, " %8s", hex) != 1)
				continue;
			/* The kernel prints the address as it lies in memory, read as a number. */
			v = strtoul(hex, NULL, 16);
			memcpy(group, &(uint32_t){ (uint32_t)v }, 4);
			return true;
		}
		if (sscanf(line, "%u %*s %32s", &idx, hex) == 2 && strlen(hex) == 32) {
			for (int i = 0; i < 16; i++)
				sscanf(hex + 2 * i, "%2hhx", &group[i]);
			*ifindex = idx;
			return true;
		}
	}
	return false;
}

static int dump_mcast(struct ckpt_ctx *ctx, const struct fd_desc *fd, int sk, Ckpt__InetSock *s, struct arena *ar)
{
	_cleanup_free_ char *text = NULL;
	Ckpt__InetMcast *v[64];
	uint32_t ifindex = 0;
	uint8_t group[16];
	char *pos;
	size_t n = 0;

	if (read_text(s->family == AF_INET ? "/proc/net/igmp" : "/proc/net/igmp6", &text, NULL) < 0)
		return 0; /* no multicast here */
	pos = text;
	while (next_group((int)s->family, &pos, &ifindex, group)) {
		Ckpt__InetMcast *m = NULL;
		bool seen = false;
		int r;

		for (size_t i = 0; i < n; i++)
			seen |= v[i]->ifindex == ifindex && !memcmp(v[i]->group.data, group, v[i]->group.len);
		r = seen ? 0 : mcast_probe(sk, s, ifindex, group, &m, ar);
		if (r < 0)
			return fail(ctx, r, "pid %d fd %d: UDP socket: multicast membership: %s", fd->pid, fd->fd,
				    r == -E2BIG ? "more sources in its filter than ckpt saves (64)" : strerror(-r));
		if (r > 0 && n == ARRAY_SIZE(v))
			return fail(ctx, -E2BIG, "pid %d fd %d: UDP socket: more multicast groups than ckpt saves (64)",
				    fd->pid, fd->fd);
		if (r > 0)
			v[n++] = m;
	}
	s->n_mcast = n;
	s->mcast = arena_alloc(ar, (n + 1) * sizeof(*v));
	memcpy(s->mcast, v, n * sizeof(*v));
	return 0;
}

static int join_mcast(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk)
{
	int level = s->family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;

	for (size_t i = 0; i < s->n_mcast; i++) {
		const Ckpt__InetMcast *m = s->mcast[i];
		union {
			struct group_filter gf;
			uint8_t buf[GROUP_FILTER_SIZE(MCAST_MAX_SOURCES)];
		} u;
		struct group_req req = { .gr_interface = m->ifindex };
		size_t n = addr_len(s->family);
		char what[64];

		req.gr_group.ss_family = (sa_family_t)s->family;
		memcpy(s->family == AF_INET ? (void *)&((struct sockaddr_in *)&req.gr_group)->sin_addr
					    : (void *)&((struct sockaddr_in6 *)&req.gr_group)->sin6_addr, m->group.data, n);
		inet_ntop((int)s->family, m->group.data, what, sizeof(what));
		if (setsockopt(sk, level, MCAST_JOIN_GROUP, &req, sizeof(req)) < 0)
			return fail(ctx, -errno, "UDP socket: joining multicast group %s on interface %u: %s", what,
				    m->ifindex, strerror(errno));
		if (m->fmode == MCAST_EXCLUDE && !m->n_sources)
			continue; /* what a join gives */
		memset(&u, 0, sizeof(u));
		u.gf.gf_interface = m->ifindex;
		u.gf.gf_group = req.gr_group;
		u.gf.gf_fmode = m->fmode;
		u.gf.gf_numsrc = (uint32_t)m->n_sources;
		for (size_t k = 0; k < m->n_sources; k++) {
			u.gf.gf_slist[k].ss_family = (sa_family_t)s->family;
			memcpy(s->family == AF_INET ? (void *)&((struct sockaddr_in *)&u.gf.gf_slist[k])->sin_addr
						    : (void *)&((struct sockaddr_in6 *)&u.gf.gf_slist[k])->sin6_addr,
			       m->sources[k].data, n);
		}
		if (setsockopt(sk, level, MCAST_MSFILTER, &u, (socklen_t)GROUP_FILTER_SIZE(m->n_sources)) < 0)
			return fail(ctx, -errno, "UDP socket: source filter of multicast group %s: %s", what,
				    strerror(errno));
	}
	return 0;
}

static int udp_dump(struct ckpt_ctx *ctx, const struct fd_desc *fd, int sk, Ckpt__InetSock *s, struct arena *ar)
{
	struct pollfd p = { sk, POLLRDHUP, 0 };
	int r;

	s->state = s->has_dst_addr ? 1 : 7;
	if (poll(&p, 1, 0) == 1) {
		s->shutdown = (p.revents & POLLRDHUP ? 1u : 0) | (p.revents & POLLHUP ? 2u : 0);
		s->has_shutdown = s->shutdown != 0;
	}
	r = dump_mcast(ctx, fd, sk, s, ar);
	return r < 0 ? r : udp_peek_queue(ctx, fd, sk, s, ar);
}

/* ---- the kind ---- */

static int filter_len(int sk)
{
	socklen_t len = 0;

	return getsockopt(sk, SOL_SOCKET, SO_GET_FILTER, NULL, &len) < 0 ? 0 : (int)len;
}

static int sock_family(int sk)
{
	return sock_int(sk, SOL_SOCKET, SO_DOMAIN);
}

static bool inet_match(const struct fd_desc *fd)
{
	int sk, family;

	if (!S_ISSOCK(fd->st.st_mode))
		return false;
	sk = res_fd_take(fd->tid, fd->fd);
	if (sk < 0)
		return false;
	family = sock_family(sk);
	close(sk);
	/* Unix sockets are another kind's; every other family is ours, if only to be refused by name. */
	return family >= 0 && family != AF_UNIX;
}

static const char *family_name(int family)
{
	switch (family) {
	case AF_INET: return "IPv4";
	case AF_INET6: return "IPv6";
	case AF_PACKET: return "packet";
	case AF_NETLINK: return "netlink";
	case AF_ALG: return "AF_ALG";
	case AF_VSOCK: return "vsock";
	case AF_XDP: return "XDP";
	case AF_BLUETOOTH: return "bluetooth";
	case AF_KEY: return "PF_KEY";
	default: return NULL;
	}
}

static bool same_netns(int sk)
{
	struct stat a, b;
	int ns = ioctl(sk, SIOCGSKNS);
	bool same;

	if (ns < 0)
		return true; /* the kernel cannot tell: as good as ours */
	same = fstat(ns, &a) == 0 && stat("/proc/self/ns/net", &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
	close(ns);
	return same;
}

static int refuse_kind(struct ckpt_ctx *ctx, const struct fd_desc *fd, int family, int type, int proto)
{
	const char *fam = family_name(family);
	const char *t = type == SOCK_RAW ? "raw " : type == SOCK_SEQPACKET ? "seqpacket " : "";
	char famnum[32];

	if (!fam) {
		snprintf(famnum, sizeof(famnum), "family %d", family);
		fam = famnum;
	}
	if (family != AF_INET && family != AF_INET6)
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: %s socket (type %d, protocol %d) is not supported", fd->pid,
			    fd->fd, fam, type, proto);
	return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: %s%s socket of protocol %d is not supported (only TCP and UDP are)",
		    fd->pid, fd->fd, t, fam, proto);
}

static int inet_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
		     Ckpt__File *f, struct model *m)
{
	_cleanup_close_ int sk = res_fd_take(fd->tid, fd->fd);
	int family, type, proto, r;
	Ckpt__InetSock *s;

	if (sk < 0)
		return fail(ctx, sk, "pid %d fd %d: taking a copy of the socket (pidfd_getfd): %s", fd->pid, fd->fd,
			    strerror(-sk));
	family = sock_family(sk);
	type = sock_int(sk, SOL_SOCKET, SO_TYPE);
	proto = sock_int(sk, SOL_SOCKET, SO_PROTOCOL);
	if ((family != AF_INET && family != AF_INET6) ||
	    !((type == SOCK_STREAM && proto == IPPROTO_TCP) || (type == SOCK_DGRAM && proto == IPPROTO_UDP)))
		return refuse_kind(ctx, fd, family, type, proto);
	if (!same_netns(sk))
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: socket of another network namespace is not supported",
			    fd->pid, fd->fd);
	/* Asked with no room, SO_GET_FILTER gives the length of a classic BPF filter, if any. */
	if (filter_len(sk) > 0)
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: socket with a BPF filter (SO_ATTACH_FILTER) is not supported",
			    fd->pid, fd->fd);
	s = arena_alloc(&m->arena, sizeof(*s));
	ckpt__inet_sock__init(s);
	s->family = (uint32_t)family;
	s->type = (uint32_t)type;
	s->protocol = (uint32_t)proto;
	r = read_addrs(sk, s, &m->arena);
	if (r < 0)
		return fail(ctx, r, "pid %d fd %d: socket addresses: %s", fd->pid, fd->fd, strerror(-r));
	r = dump_opts(ctx, fd, sk, s, &m->arena);
	if (r == 0)
		r = proto == IPPROTO_TCP ? tcp_dump(ctx, opts, fd, sk, s, m) : udp_dump(ctx, fd, sk, s, &m->arena);
	if (r < 0)
		return r;
	f->inet = s;
	return 0;
}

static void inet_dump_end(struct ckpt_ctx *ctx, const Ckpt__File *f, pid_t pid, int fd, bool killed)
{
	if (f->inet && f->inet->protocol == IPPROTO_TCP)
		tcp_dump_end(ctx, f->inet, pid, fd, killed);
}

/* ---- restore ---- */

static bool valid_state(const Ckpt__InetSock *s)
{
	if (s->protocol == IPPROTO_UDP)
		return s->state == 1 || s->state == 7;
	switch (s->state) {
	case TCP_ESTABLISHED: case TCP_SYN_SENT: case TCP_FIN_WAIT1: case TCP_FIN_WAIT2:
	case TCP_CLOSE: case TCP_CLOSE_WAIT: case TCP_LAST_ACK: case TCP_LISTEN: case TCP_CLOSING:
		return true;
	}
	return false;
}

/* Everything restore acts on, checked first: images may be damaged or hostile. */
static int inet_check(struct ckpt_ctx *ctx, const Ckpt__File *f)
{
	const Ckpt__InetSock *s = f->inet;
	size_t n;
	bool ok;

	if (!s)
		return fail(ctx, -EBADMSG, "image damaged: socket file %llu has no socket", (unsigned long long)f->id);
	n = addr_len(s->family);
	ok = (s->family == AF_INET || s->family == AF_INET6) &&
	     ((s->type == SOCK_STREAM && s->protocol == IPPROTO_TCP) || (s->type == SOCK_DGRAM && s->protocol == IPPROTO_UDP)) &&
	     valid_state(s) && (!s->has_src_addr || s->src_addr.len == n) && (!s->has_dst_addr || s->dst_addr.len == n) &&
	     s->src_port <= 65535 && s->dst_port <= 65535 && s->shutdown <= 3 && s->n_opts <= ARRAY_SIZE(inet_opts) &&
	     s->n_dgrams <= INET_MAX_DGRAMS && (s->n_mcast == 0 || s->protocol == IPPROTO_UDP);
	for (size_t i = 0; ok && i < s->n_opts; i++) {
		const struct inet_optdesc *o = opt_desc(s->opts[i]->level, s->opts[i]->name);

		ok = o && opt_applies(o, s->family, s->protocol, false) &&
		     ((o->flags & O_STR) ? s->opts[i]->value.len <= o->size : s->opts[i]->value.len == o->size);
	}
	for (size_t i = 0; ok && i < s->n_dgrams; i++)
		ok = s->dgrams[i]->addr.len == n && s->dgrams[i]->port <= 65535 && s->dgrams[i]->data.len <= 65507 &&
		     (!s->dgrams[i]->has_dst || s->dgrams[i]->dst.len == n);
	for (size_t i = 0; ok && i < s->n_mcast; i++)
		ok = s->mcast[i]->group.len == n && s->mcast[i]->n_sources <= MCAST_MAX_SOURCES &&
		     s->mcast[i]->fmode <= MCAST_INCLUDE;
	for (size_t i = 0; i < s->n_mcast; i++)
		for (size_t k = 0; ok && k < s->mcast[i]->n_sources; k++)
			ok = s->mcast[i]->sources[k].len == n;
	if (ok && s->protocol == IPPROTO_TCP)
		ok = (s->tcp != NULL) == (s->state != TCP_LISTEN && s->state != TCP_CLOSE && s->state != TCP_SYN_SENT &&
					  !s->dropped) &&
		     (!s->tcp || (s->has_src_addr && s->has_dst_addr && s->tcp->notsent <= s->tcp->send_queue.len + 1 &&
				  s->tcp->send_queue.len <= (48u << 20) && s->tcp->recv_queue.len <= (48u << 20) &&
				  s->tcp->snd_wscale <= 14 && s->tcp->rcv_wscale <= 14));
	if (!ok)
		return fail(ctx, -EBADMSG, "image damaged: socket record of file %llu", (unsigned long long)f->id);
	return 0;
}

/* The destination a queued datagram goes to again: where it went, or where the socket listens. */
static void dgram_target(const Ckpt__InetSock *s, const Ckpt__InetDgram *d, struct inet_conn *c)
{
	size_t n = addr_len(s->family);
	const uint8_t *dst = d->has_dst ? d->dst.data : s->has_src_addr ? s->src_addr.data : NULL;
	static const uint8_t lo6[16] = { [15] = 1 }, lo4[4] = { 127, 0, 0, 1 };

	memset(c, 0, sizeof(*c));
	c->family = (int)s->family;
	/* Multicast and broadcast go nowhere as unicast: to the socket's own address then. */
	if (dst && ((n == 4 && (dst[0] >= 224 || !memcmp(dst, "\0\0\0\0", 4))) || (n == 16 && dst[0] == 0xff)))
		dst = s->has_src_addr && s->src_addr.data[0] < 224 && s->src_addr.data[0] != 0xff ? s->src_addr.data : NULL;
	memcpy(c->addr[0], dst ? dst : n == 4 ? lo4 : lo6, n);
	if (n == 16 && v4mapped(c->addr[0]) && v4mapped(d->addr.data)) {
		c->family = AF_INET;
		memmove(c->addr[0], c->addr[0] + 12, 4);
		memcpy(c->addr[1], d->addr.data + 12, 4);
	} else {
		memcpy(c->addr[1], d->addr.data, n);
	}
	c->port[0] = (uint16_t)s->src_port;
	c->port[1] = (uint16_t)d->port;
	c->scope_id = s->scope_id;
}

static bool is_rcvbuf(uint32_t level, uint32_t name)
{
	return level == SOL_SOCKET && name == SO_RCVBUF;
}

/* Puts the datagrams back, from their senders, before the socket connects (it would filter them). */
static int udp_requeue(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk)
{
	int big = (int)(INET_MAX_DGRAM_BYTES * 2), n;
	int old = sock_int(sk, SOL_SOCKET, SO_RCVBUF) / 2;

	if (!s->n_dgrams)
		return 0;
	/* Room for all of them; the option as saved, or as it was, comes back after. */
	setsockopt(sk, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	for (size_t i = 0; i < s->n_dgrams; i++) {
		struct inet_conn c;
		int r;

		dgram_target(s, s->dgrams[i], &c);
		r = inet_inject(ctx, &c, IPPROTO_UDP, NULL, s->dgrams[i]->data.data, s->dgrams[i]->data.len);
		if (r < 0)
			return r;
	}
	/* Loopback delivers them in the sender's own softirq: they are queued now. */
	n = old > 0 ? old : 0;
	setsockopt(sk, SOL_SOCKET, SO_RCVBUFFORCE, &n, sizeof(n));
	return inet_apply_opts(ctx, s, sk, is_rcvbuf);
}

static int udp_open(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk)
{
	union inet_sa a;
	socklen_t len;
	int r;

	if (s->has_src_addr) {
		len = inet_sockaddr(s, false, &a);
		if (bind(sk, &a.sa, len) < 0)
			return fail(ctx, -errno, "UDP socket: bind: %s", strerror(errno));
	}
	r = udp_requeue(ctx, s, sk);
	if (r < 0)
		return r;
	if (s->has_dst_addr) {
		len = inet_sockaddr(s, true, &a);
		if (connect(sk, &a.sa, len) < 0)
			return fail(ctx, -errno, "UDP socket: connect: %s", strerror(errno));
	}
	if (s->shutdown && shutdown(sk, s->shutdown == 3 ? SHUT_RDWR : s->shutdown == 1 ? SHUT_RD : SHUT_WR) < 0 &&
	    errno != ENOTCONN)
		return fail(ctx, -errno, "UDP socket: shutdown: %s", strerror(errno));
	return join_mcast(ctx, s, sk);
}

/* Does every process that holds file id have cap in its effective set? */
static bool holders_have(const struct model *m, uint64_t id, int cap)
{
	for (size_t i = 0; i < m->fds.n; i++) {
		const Ckpt__Process *p = m->fds.v[i]->file_id == id ? model_proc(m, m->fds.v[i]->pid) : NULL;

		if (p && !(p->creds->cap_eff & (1ULL << cap)))
			return false;
	}
	return true;
}

/*
 * Options only CAP_NET_ADMIN may set: restore, which may, sets them only
 * for processes that could have set them themselves.
 */
static int check_privileged(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f)
{
	const Ckpt__InetSock *s = f->inet;

	if (holders_have(rr->m, f->id, CAP_NET_ADMIN))
		return 0;
	for (size_t i = 0; i < s->n_opts; i++) {
		const Ckpt__InetOpt *o = s->opts[i];
		int v = o->value.len == 4 ? *(const int *)o->value.data : 0;

		if ((o->level == SOL_SOCKET && (o->name == SO_MARK || (o->name == SO_PRIORITY && (v < 0 || v > 6)))) ||
		    (o->level == IPPROTO_IP && o->name == IP_TRANSPARENT && v) ||
		    (o->level == IPPROTO_IPV6 && o->name == IPV6_TRANSPARENT && v))
			return fail(ctx, -EPERM,
				    "file %llu: socket option %u/%u needs CAP_NET_ADMIN, which the processes holding the socket do not have",
				    (unsigned long long)f->id, o->level, o->name);
	}
	return 0;
}

static int inet_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	const Ckpt__InetSock *s = f->inet;
	_cleanup_close_ int sk = -1;
	int r = inet_check(ctx, f);

	if (r == 0)
		r = check_privileged(ctx, rr, f);
	if (r < 0)
		return r;
	sk = socket((int)s->family, (int)s->type | SOCK_CLOEXEC, (int)s->protocol);
	if (sk < 0)
		return fail(ctx, -errno, "socket: %s", strerror(errno));
	r = inet_apply_opts(ctx, s, sk, NULL);
	if (r == 0)
		r = s->protocol == IPPROTO_TCP ? tcp_open(ctx, s, sk) : udp_open(ctx, s, sk);
	if (r == 0 && fcntl(sk, F_SETFL, (int)f->flags & O_NONBLOCK) < 0)
		r = fail(ctx, -errno, "socket flags: %s", strerror(errno));
	if (r < 0)
		return r;
	*out = take_fd(&sk);
	return 0;
}

static int inet_finish(struct ckpt_ctx *ctx, const Ckpt__File *f, int fd)
{
	return f->inet->protocol == IPPROTO_TCP ? tcp_finish(ctx, f->inet, fd) : 0;
}

/* "TCP 192.0.2.1:80 -> 192.0.2.2:4000 established, 5 bytes to send, 2 received" */
static void inet_describe(const Ckpt__File *f, char *buf, size_t len)
{
	static const char *const states[] = { [1] = "established", [2] = "connecting", [4] = "FIN-WAIT-1",
					      [5] = "FIN-WAIT-2", [7] = "closed", [8] = "CLOSE-WAIT",
					      [9] = "LAST-ACK", [10] = "listening", [11] = "CLOSING" };
	const Ckpt__InetSock *s = f->inet;
	const char *proto, *st;
	char a[64] = "", b[64] = "";
	size_t n;

	if (!s) {
		snprintf(buf, len, "?");
		return;
	}
	n = addr_len(s->family);
	proto = s->protocol == IPPROTO_TCP ? "TCP" : s->protocol == IPPROTO_UDP ? "UDP" : "?";
	st = s->protocol == IPPROTO_UDP ? (s->state == 1 ? "connected" : "")
	     : s->state < ARRAY_SIZE(states) && states[s->state] ? states[s->state] : "?";
	if (s->has_src_addr && s->src_addr.len == n)
		addr_str(s->family == AF_INET ? AF_INET : AF_INET6, s->src_addr.data, (uint16_t)s->src_port, a, sizeof(a));
	if (s->has_dst_addr && s->dst_addr.len == n)
		addr_str(s->family == AF_INET ? AF_INET : AF_INET6, s->dst_addr.data, (uint16_t)s->dst_port, b, sizeof(b));
	snprintf(buf, len, "%s%s %s%s%s %s%s", proto, s->family == AF_INET6 ? "v6" : "", a[0] ? a : "unbound",
		 b[0] ? " -> " : "", b, st, s->dropped ? ", dropped" : "");
	if (s->tcp)
		snprintf(buf + strlen(buf), len - strlen(buf), ", %zu bytes to send, %zu received", s->tcp->send_queue.len,
			 s->tcp->recv_queue.len);
	if (s->n_dgrams)
		snprintf(buf + strlen(buf), len - strlen(buf), ", %zu datagrams queued", s->n_dgrams);
}

const struct res_ops res_inet = {
	.name = "inet socket",
	.kind = FILE_KIND_INET,
	.match = inet_match,
	.dump = inet_dump,
	.open = inet_open,
	.dump_end = inet_dump_end,
	.finish = inet_finish,
	.describe = inet_describe,
};
