/* SPDX-License-Identifier: MIT */
/*
 * Inet sockets, TCP and UDP over IPv4 and IPv6: what inet.c (the kind,
 * addresses, options, UDP), tcp.c (connections with TCP_REPAIR),
 * netlock.c (blocking a connection's packets) and inet_pkt.c (packets
 * ckpt makes itself) share.
 */
#ifndef CKPT_RES_INET_H
#define CKPT_RES_INET_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "res.h"

/* Packets ckpt sends itself carry this mark, which the network lock lets through ("ckpt"). */
#define INET_MARK 0x636b7074u

/* An address and port of either family. */
union inet_sa {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

/*
 * One TCP connection as packets show it: an IPv4-mapped IPv6 socket's
 * connection is IPv4 on the wire. addr[0] and port[0] are the local end.
 */
struct inet_conn {
	int family;
	uint8_t addr[2][16];
	uint16_t port[2];
	uint32_t scope_id;
};

/* inet.c */
/* "192.0.2.1:80 -> 192.0.2.2:40000", "[2001:db8::1]:80 -> ..." */
const char *inet_conn_str(const struct inet_conn *c, char *buf, size_t len);
/* The connection of a socket record (both ends must be in it). */
int inet_conn_of(const Ckpt__InetSock *s, struct inet_conn *c);
/* The local (peer false) or remote end of a socket record as a sockaddr. */
socklen_t inet_sockaddr(const Ckpt__InetSock *s, bool peer, union inet_sa *a);
/* Keeps an address in the record's form. */
void inet_save_addr(struct arena *ar, const union inet_sa *a, ProtobufCBinaryData *addr, uint32_t *port,
		    protobuf_c_boolean *has_port, uint32_t *scope, protobuf_c_boolean *has_scope);
/* Applies the options of the record whose level and name pass want(). */
int inet_apply_opts(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk, bool (*want)(uint32_t level, uint32_t name));
/* Is the option level/name set to a non-zero int in the record? */
bool inet_opt_set(const Ckpt__InetSock *s, uint32_t level, uint32_t name);

/* tcp.c */
int tcp_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd, int sk,
	     Ckpt__InetSock *s, struct model *m);
void tcp_dump_end(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, pid_t pid, int fd, bool killed);
/* Makes sk (a new TCP socket with the record's options) what the record says. */
int tcp_open(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk);
int tcp_finish(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk);

/*
 * inet_diag.c: ends the TIME-WAIT sockets on s's local port (with c, only
 * those of that connection); returns how many, or -errno.
 */
int inet_drop_timewait(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, const struct inet_conn *c);

/* inet_diag.c: the peer of the TCP socket of inode ino, local port sport, in state (SYN-SENT). */
int inet_diag_peer(int family, uint32_t state, uint16_t sport, uint64_t ino, union inet_sa *peer);

/* netlock.c: drops the packets of a connection (lock) or lets them pass again; who prefixes messages. */
int netlock(struct ckpt_ctx *ctx, const char *who, const struct inet_conn *c, bool lock);

/*
 * inet_pkt.c: sends one TCP segment (tcp: its header, data none) or UDP
 * datagram from c->addr[1]:port[1] to c->addr[0]:port[0] through a raw
 * socket, as if it came from the network; it passes the network lock.
 */
int inet_inject(struct ckpt_ctx *ctx, const struct inet_conn *c, int proto, const void *tcph, const void *data,
		size_t len);

#endif
