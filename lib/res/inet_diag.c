// SPDX-License-Identifier: MIT
/*
 * TIME-WAIT remains of the image's own connections, through sock_diag. A
 * tree that went on after a dump with --leave-running and then closed its
 * connections leaves them in TIME-WAIT for a minute, holding their ports
 * and their pairs of ends: restoring its image then finds the listening
 * port taken (unless the program set SO_REUSEADDR) and the connections'
 * ends too. They are what the restored sockets take over, so the restore
 * ends them (SOCK_DESTROY) and tries again.
 */
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>

#include "inet.h"

struct diag_req {
	struct nlmsghdr nlh;
	struct inet_diag_req_v2 req;
};

static int diag_send(int nl, uint16_t type, uint16_t flags, const struct inet_diag_req_v2 *req)
{
	struct diag_req m = {
		.nlh = { .nlmsg_len = sizeof(m), .nlmsg_type = type, .nlmsg_flags = NLM_F_REQUEST | flags },
		.req = *req,
	};
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };

	return sendto(nl, &m, sizeof(m), 0, (struct sockaddr *)&to, sizeof(to)) < 0 ? -errno : 0;
}

/* Does the TIME-WAIT socket id belong to s (its local port, and for a connection its ends)? */
static bool ours(const Ckpt__InetSock *s, const struct inet_conn *c, int family, const struct inet_diag_sockid *id)
{
	if (ntohs(id->idiag_sport) != s->src_port)
		return false;
	if (!c)
		return true;
	return family == c->family && ntohs(id->idiag_dport) == c->port[1] &&
	       !memcmp(id->idiag_src, c->addr[0], family == AF_INET ? 4 : 16) &&
	       !memcmp(id->idiag_dst, c->addr[1], family == AF_INET ? 4 : 16);
}

/* Lists the family's TIME-WAIT sockets and ends those of s; returns how many. */
static int drop_family(int nl, int family, const Ckpt__InetSock *s, const struct inet_conn *c)
{
	struct inet_diag_req_v2 req = { .sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_TCP,
					.idiag_states = 1u << TCP_TIME_WAIT };
	struct inet_diag_sockid found[64];
	size_t n = 0;
	char buf[16384] __attribute__((aligned(8)));
	int r = diag_send(nl, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, &req), dropped = 0;

	for (bool done = false; r == 0 && !done;) {
		ssize_t len = recv(nl, buf, sizeof(buf), 0);

		if (len < 0)
			return -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			const struct inet_diag_msg *d = NLMSG_DATA(h);

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			if (ours(s, c, family, &d->id) && n < ARRAY_SIZE(found))
				found[n++] = d->id;
		}
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		req.id = found[i];
		r = diag_send(nl, SOCK_DESTROY, NLM_F_ACK, &req);
		if (r == 0 && recv(nl, buf, sizeof(buf), 0) > 0) {
			const struct nlmsgerr *e = NLMSG_DATA((struct nlmsghdr *)buf);

			dropped += e->error == 0;
		}
	}
	return r < 0 ? r : dropped;
}

int inet_drop_timewait(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, const struct inet_conn *c)
{
	_cleanup_close_ int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	int total = 0;

	if (nl < 0)
		return -errno;
	for (int family = AF_INET; family; family = family == AF_INET ? AF_INET6 : 0) {
		int r = drop_family(nl, family, s, c);

		if (r < 0)
			return r;
		total += r;
	}
	if (total)
		pr_info(ctx, "port %u: ended %d TIME-WAIT sockets left by the image's own connections", s->src_port,
			total);
	return total;
}

int inet_diag_peer(int family, uint32_t state, uint16_t sport, uint64_t ino, union inet_sa *peer)
{
	_cleanup_close_ int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	struct inet_diag_req_v2 req = { .sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_TCP,
					.idiag_states = 1u << state };
	char buf[16384] __attribute__((aligned(8)));
	int r = nl < 0 ? -errno : diag_send(nl, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, &req), found = -ENOENT;

	for (bool done = false; r == 0 && !done;) {
		ssize_t len = recv(nl, buf, sizeof(buf), 0);

		if (len < 0)
			return -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			const struct inet_diag_msg *d = NLMSG_DATA(h);

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			if (d->idiag_inode != ino || ntohs(d->id.idiag_sport) != sport)
				continue;
			memset(peer, 0, sizeof(*peer));
			if (family == AF_INET) {
				peer->v4.sin_family = AF_INET;
				peer->v4.sin_port = d->id.idiag_dport;
				memcpy(&peer->v4.sin_addr, d->id.idiag_dst, 4);
			} else {
				peer->v6.sin6_family = AF_INET6;
				peer->v6.sin6_port = d->id.idiag_dport;
				peer->v6.sin6_scope_id = d->id.idiag_if;
				memcpy(&peer->v6.sin6_addr, d->id.idiag_dst, 16);
			}
			found = 0;
		}
	}
	return r < 0 ? r : found;
}
