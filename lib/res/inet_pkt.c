// SPDX-License-Identifier: MIT
/*
 * Packets ckpt makes itself, as if they came from the network: a FIN or an
 * ACK from a restored connection's peer (the only way to put a socket in a
 * half-closed state), and the datagrams that were queued on a UDP socket,
 * from their senders' addresses. They are sent through a raw socket whose
 * packets carry the IP header ckpt writes, to a local address, so the
 * kernel delivers them through loopback to the socket; their mark lets them
 * through the network lock.
 */
#include <fcntl.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>

#include "inet.h"

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif

static uint32_t sum16(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* The checksum of a TCP or UDP packet l4 of len bytes, with its pseudo header. */
static uint16_t l4_sum(const struct inet_conn *c, int proto, const void *l4, size_t len)
{
	size_t alen = c->family == AF_INET ? 4 : 16;
	uint32_t sum = sum16(0, c->addr[1], alen);

	sum = sum16(sum, c->addr[0], alen);
	sum += (uint32_t)proto + (uint32_t)len;
	return fold(sum16(sum, l4, len));
}

static int raw_socket(struct ckpt_ctx *ctx, int family)
{
	uint32_t mark = INET_MARK;
	int one = 1, sk = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);

	if (sk < 0)
		return fail(ctx, -errno, "raw socket: %s", strerror(errno));
	if (setsockopt(sk, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0 ||
	    (family == AF_INET6 && setsockopt(sk, IPPROTO_IPV6, IPV6_HDRINCL, &one, sizeof(one)) < 0)) {
		close(sk);
		return fail(ctx, -errno, "raw socket options: %s", strerror(errno));
	}
	return sk;
}

int inet_inject(struct ckpt_ctx *ctx, const struct inet_conn *c, int proto, const void *tcph, const void *data,
		size_t len)
{
	size_t iplen = c->family == AF_INET ? sizeof(struct iphdr) : sizeof(struct ip6_hdr);
	size_t l4len = (proto == IPPROTO_TCP ? sizeof(struct tcphdr) : sizeof(struct udphdr)) + len;
	_cleanup_free_ uint8_t *pkt = calloc(1, iplen + l4len);
	_cleanup_close_ int sk = -1;
	uint8_t *l4;
	union inet_sa to;
	char what[160];

	if (!pkt)
		return -ENOMEM;
	if (iplen + l4len > 65535)
		return fail(ctx, -EMSGSIZE, "a packet of %zu bytes", len);
	l4 = pkt + iplen;
	if (proto == IPPROTO_TCP) {
		memcpy(l4, tcph, sizeof(struct tcphdr));
	} else {
		struct udphdr *u = (struct udphdr *)l4;

		u->source = htons(c->port[1]);
		u->dest = htons(c->port[0]);
		u->len = htons((uint16_t)l4len);
	}
	if (len)
		memcpy(l4 + l4len - len, data, len);
	if (proto == IPPROTO_TCP)
		((struct tcphdr *)l4)->check = l4_sum(c, proto, l4, l4len);
	else if (!(((struct udphdr *)l4)->check = l4_sum(c, proto, l4, l4len)))
		((struct udphdr *)l4)->check = 0xffff;
	memset(&to, 0, sizeof(to));
	if (c->family == AF_INET) {
		struct iphdr *ip = (struct iphdr *)pkt;

		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons((uint16_t)(iplen + l4len));
		ip->frag_off = htons(IP_DF);
		ip->ttl = 64;
		ip->protocol = (uint8_t)proto;
		memcpy(&ip->saddr, c->addr[1], 4);
		memcpy(&ip->daddr, c->addr[0], 4);
		to.v4.sin_family = AF_INET;
		memcpy(&to.v4.sin_addr, c->addr[0], 4);
	} else {
		struct ip6_hdr *ip = (struct ip6_hdr *)pkt;

		ip->ip6_flow = htonl(6u << 28);
		ip->ip6_plen = htons((uint16_t)l4len);
		ip->ip6_nxt = (uint8_t)proto;
		ip->ip6_hlim = 64;
		memcpy(&ip->ip6_src, c->addr[1], 16);
		memcpy(&ip->ip6_dst, c->addr[0], 16);
		to.v6.sin6_family = AF_INET6;
		to.v6.sin6_scope_id = c->scope_id;
		memcpy(&to.v6.sin6_addr, c->addr[0], 16);
	}
	sk = raw_socket(ctx, c->family);
	if (sk < 0)
		return sk;
	if (sendto(sk, pkt, iplen + l4len, 0, &to.sa, c->family == AF_INET ? sizeof(to.v4) : sizeof(to.v6)) < 0)
		return fail(ctx, -errno, "%s: sending a %s packet to the restored socket: %s",
			    inet_conn_str(c, what, sizeof(what)), proto == IPPROTO_TCP ? "TCP" : "UDP", strerror(errno));
	return 0;
}
