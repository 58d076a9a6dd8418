// SPDX-License-Identifier: MIT
/*
 * TCP sockets. Listening sockets come back bound, with their backlog. One
 * with connections the program has not accepted yet is refused: the kernel
 * shows them only by accepting them, and has no way to put a connection
 * back on a listener's queue; with --tcp-close they are dropped instead
 * (their peers see a reset when the dumped tree ends). Connections, with --tcp-established, are
 * read and rebuilt with TCP_REPAIR, which the kernel offers for exactly
 * this: in repair mode a socket shows and takes its sequence numbers
 * (TCP_QUEUE_SEQ), its queues (peeked with recv, refilled with send, after
 * TCP_REPAIR_QUEUE picks one; the send queue holds what was sent and not
 * acknowledged yet as well as what was never sent), the options both ends
 * agreed on (TCP_REPAIR_OPTIONS), its windows (TCP_REPAIR_WINDOW) and its
 * timestamp clock (TCP_TIMESTAMP); connect() in repair mode makes it
 * established without a packet, and closing it sends nothing.
 *
 * The dump puts the socket into repair mode through its own descriptor of
 * it (the same socket), after its packets are held back (netlock.c). If the
 * tree is killed, its sockets close silently and the lock stays; if it goes
 * on, repair mode is turned off and the lock lifted. The restore locks the
 * connection again (the image may come from another machine), rebuilds it
 * and keeps it in repair mode until the whole tree is restored (a failed
 * restore then ends it silently too); just before the tree runs, repair
 * mode is turned off and the lock lifted: the peer's retransmissions get
 * through, and so do ours.
 *
 * Half-closed connections: a FIN the program sent is sent again in repair
 * mode (shutdown), so it counts as sent and is retransmitted if need be;
 * one it received, or the acknowledgement of its own, is given to the
 * restored socket as a packet from the peer (inet_pkt.c).
 */
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>

#include "inet.h"

#define TCP_QUEUE_MAX (24u << 20) /* per queue: both fit in one record */
#define TCP_MAXSEG_MAX 32767 /* what TCP_MAXSEG takes */

static const char *const state_names[] = {
	[TCP_ESTABLISHED] = "established", [TCP_SYN_SENT] = "connecting", [TCP_SYN_RECV] = "SYN received",
	[TCP_FIN_WAIT1] = "FIN-WAIT-1",    [TCP_FIN_WAIT2] = "FIN-WAIT-2", [TCP_TIME_WAIT] = "TIME-WAIT",
	[TCP_CLOSE] = "closed",            [TCP_CLOSE_WAIT] = "CLOSE-WAIT", [TCP_LAST_ACK] = "LAST-ACK",
	[TCP_LISTEN] = "listening",        [TCP_CLOSING] = "CLOSING",
};

static const char *state_name(uint32_t st)
{
	return st < ARRAY_SIZE(state_names) && state_names[st] ? state_names[st] : "in an unknown state";
}

static bool is_conn(uint32_t st)
{
	return st == TCP_ESTABLISHED || st == TCP_FIN_WAIT1 || st == TCP_FIN_WAIT2 || st == TCP_CLOSE_WAIT ||
	       st == TCP_LAST_ACK || st == TCP_CLOSING;
}

/* The program's FIN has a sequence number (it was sent, maybe acknowledged). */
static bool fin_out(uint32_t st)
{
	return st == TCP_FIN_WAIT1 || st == TCP_FIN_WAIT2 || st == TCP_CLOSING || st == TCP_LAST_ACK;
}

/* The peer's FIN came. */
static bool fin_in(uint32_t st)
{
	return st == TCP_CLOSE_WAIT || st == TCP_CLOSING || st == TCP_LAST_ACK;
}

static int set_int(int sk, int level, int name, int v)
{
	return setsockopt(sk, level, name, &v, sizeof(v));
}

static int get_u32(int sk, int level, int name, uint32_t *v)
{
	socklen_t len = sizeof(*v);

	return getsockopt(sk, level, name, v, &len);
}

static int tcp_state(int sk, struct tcp_info *ti)
{
	socklen_t len = sizeof(*ti);

	memset(ti, 0, sizeof(*ti));
	return getsockopt(sk, IPPROTO_TCP, TCP_INFO, ti, &len) < 0 ? -errno : 0;
}

/* Repair mode off; it clears SO_REUSEADDR, which the program may have set. */
static void repair_off(int sk, const Ckpt__InetSock *s, int how)
{
	set_int(sk, IPPROTO_TCP, TCP_REPAIR, how);
	if (inet_opt_set(s, SOL_SOCKET, SO_REUSEADDR))
		set_int(sk, SOL_SOCKET, SO_REUSEADDR, 1);
}

/* ---- dump ---- */

/* Copies the selected queue without taking it out: len bytes exactly. */
static int peek_queue(int sk, int queue, size_t len, ProtobufCBinaryData *out, struct arena *ar)
{
	ssize_t n;

	out->len = 0;
	if (set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue) < 0)
		return -errno;
	if (!len)
		return 0;
	out->data = arena_alloc(ar, len + 1);
	/* One more byte than expected: a longer queue shows as a mismatch. */
	n = recv(sk, out->data, len + 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return -EAGAIN;
	out->len = len;
	return 0;
}

static int read_conn(int sk, Ckpt__InetSock *s, struct arena *ar)
{
	Ckpt__TcpConn *t = arena_alloc(ar, sizeof(*t));
	struct tcp_repair_window w;
	socklen_t wlen = sizeof(w);
	struct tcp_info ti;
	uint32_t mss = 0;
	int outq = 0, inq = 0, nsd = 0, peek_off, r;
	socklen_t plen = sizeof(peek_off);

	ckpt__tcp_conn__init(t);
	r = tcp_state(sk, &ti);
	if (r < 0)
		return r;
	if (ti.tcpi_state != s->state)
		return -EAGAIN; /* it moved on before its packets were held back */
	if (get_u32(sk, IPPROTO_TCP, TCP_MAXSEG, &mss) < 0 || getsockopt(sk, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &wlen) < 0 ||
	    ioctl(sk, SIOCOUTQ, &outq) < 0 || ioctl(sk, SIOCINQ, &inq) < 0 || ioctl(sk, SIOCOUTQNSD, &nsd) < 0)
		return -errno;
	t->opts = ti.tcpi_options & (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE);
	/* In repair mode TCP_MAXSEG shows the agreed segment size, not the one in use. */
	t->mss = mss;
	if (t->opts & TCPI_OPT_WSCALE) {
		t->has_snd_wscale = t->has_rcv_wscale = true;
		t->snd_wscale = ti.tcpi_snd_wscale;
		t->rcv_wscale = ti.tcpi_rcv_wscale;
	}
	if (t->opts & TCPI_OPT_TIMESTAMPS) {
		if (get_u32(sk, IPPROTO_TCP, TCP_TIMESTAMP, &t->timestamp) < 0)
			return -errno;
		t->has_timestamp = true;
	}
	t->snd_wl1 = w.snd_wl1;
	t->snd_wnd = w.snd_wnd;
	t->max_window = w.max_window;
	t->rcv_wnd = w.rcv_wnd;
	t->rcv_wup = w.rcv_wup;
	/* The FIN in the send queue (sent, not acknowledged) has a number but no byte. */
	outq -= fin_out(s->state) && s->state != TCP_FIN_WAIT2;
	if (outq < 0 || inq < 0 || (unsigned)outq > TCP_QUEUE_MAX || (unsigned)inq > TCP_QUEUE_MAX)
		return -E2BIG;
	if (nsd < 0 || nsd > outq + 1)
		return -EAGAIN;
	t->has_notsent = nsd > 0;
	t->notsent = (uint32_t)nsd;
	if (set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0 ||
	    get_u32(sk, IPPROTO_TCP, TCP_QUEUE_SEQ, &t->snd_seq) < 0 ||
	    set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) < 0 ||
	    get_u32(sk, IPPROTO_TCP, TCP_QUEUE_SEQ, &t->rcv_seq) < 0)
		return -errno;
	/* A peek starts at the program's peek offset (SO_PEEK_OFF): none while we read. */
	peek_off = -1;
	if (getsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &peek_off, &plen) == 0 && peek_off >= 0 &&
	    set_int(sk, SOL_SOCKET, SO_PEEK_OFF, -1) < 0)
		return -errno;
	r = peek_queue(sk, TCP_SEND_QUEUE, (size_t)outq, &t->send_queue, ar);
	if (r == 0)
		r = peek_queue(sk, TCP_RECV_QUEUE, (size_t)inq, &t->recv_queue, ar);
	set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE);
	if (peek_off >= 0)
		set_int(sk, SOL_SOCKET, SO_PEEK_OFF, peek_off);
	t->has_send_queue = t->send_queue.len > 0;
	t->has_recv_queue = t->recv_queue.len > 0;
	s->tcp = t;
	return r;
}

static int dump_conn(struct ckpt_ctx *ctx, const struct fd_desc *fd, int sk, Ckpt__InetSock *s, struct model *m,
		     const struct inet_conn *c)
{
	char what[160], who[64];
	int r;

	snprintf(who, sizeof(who), "pid %d fd %d: ", fd->pid, fd->fd);
	r = netlock(ctx, who, c, true);
	if (r < 0)
		return r;
	if (set_int(sk, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON) < 0) {
		r = fail(ctx, -errno, "%sTCP connection %s: repair mode: %s%s", who, inet_conn_str(c, what, sizeof(what)),
			 strerror(errno), errno == EPERM ? " (it needs CAP_NET_ADMIN)" : "");
		netlock(ctx, who, c, false);
		return r;
	}
	r = read_conn(sk, s, &m->arena);
	if (r < 0) {
		fail(ctx, r, "%sTCP connection %s (%s): %s", who, inet_conn_str(c, what, sizeof(what)), state_name(s->state),
		     r == -EAGAIN ? "it changed while it was read" : r == -E2BIG ? "its queues hold more than ckpt saves (24 MiB each)"
										 : strerror(-r));
		repair_off(sk, s, TCP_REPAIR_OFF_NO_WP);
		netlock(ctx, who, c, false);
		return r;
	}
	pr_debug(ctx, "%sTCP connection %s (%s): %zu bytes to send, %zu received", who, inet_conn_str(c, what, sizeof(what)),
		 state_name(s->state), s->tcp->send_queue.len, s->tcp->recv_queue.len);
	return 0;
}

/* What a connection may have that ckpt does not save: refused, naming it. */
static int check_conn(struct ckpt_ctx *ctx, const struct fd_desc *fd, int sk, const Ckpt__InetSock *s,
		      const struct inet_conn *c)
{
	struct pollfd p = { sk, POLLPRI, 0 };
	char ulp[32] = "", what[160];
	socklen_t len = sizeof(ulp) - 1;

	if (poll(&p, 1, 0) == 1 && (p.revents & POLLPRI))
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: TCP connection %s (%s) has urgent (out-of-band) data; not supported",
			    fd->pid, fd->fd, inet_conn_str(c, what, sizeof(what)), state_name(s->state));
	if (getsockopt(sk, IPPROTO_TCP, TCP_ULP, ulp, &len) == 0 && ulp[0])
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: TCP connection %s uses the upper layer protocol \"%s\" (kernel TLS?); not supported",
			    fd->pid, fd->fd, inet_conn_str(c, what, sizeof(what)), ulp);
	return 0;
}

int tcp_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd, int sk,
	     Ckpt__InetSock *s, struct model *m)
{
	struct pollfd p = { sk, POLLRDHUP, 0 };
	struct tcp_info ti;
	struct inet_conn c;
	char what[160];
	int r = tcp_state(sk, &ti);

	if (r < 0)
		return fail(ctx, r, "pid %d fd %d: TCP_INFO: %s", fd->pid, fd->fd, strerror(-r));
	s->state = ti.tcpi_state;
	if (s->state == TCP_LISTEN) {
		/* For a listener, tcpi_unacked counts the connections waiting in its accept queue. */
		if (ti.tcpi_unacked && !opts->tcp_close)
			return fail(ctx, -EOPNOTSUPP,
				    "pid %d fd %d: listening TCP socket on port %u has %u connections the program has not accepted yet; they cannot be saved (--tcp-close drops them)",
				    fd->pid, fd->fd, s->src_port, ti.tcpi_unacked);
		if (ti.tcpi_unacked)
			pr_warn(ctx, "pid %d fd %d: listening TCP socket on port %u: %u connections the program has not accepted yet are dropped (--tcp-close); it comes back with none",
				fd->pid, fd->fd, s->src_port, ti.tcpi_unacked);
		s->has_backlog = true;
		s->backlog = ti.tcpi_sacked;
		return 0;
	}
	if (s->state == TCP_SYN_SENT) {
		union inet_sa peer;

		/* getpeername() does not tell it yet; sock_diag does. */
		r = inet_diag_peer((int)s->family, TCP_SYN_SENT, (uint16_t)s->src_port, fd->st.st_ino, &peer);
		if (r < 0)
			return fail(ctx, r, "pid %d fd %d: TCP socket connecting from port %u: where to: %s", fd->pid,
				    fd->fd, s->src_port, strerror(-r));
		inet_save_addr(&m->arena, &peer, &s->dst_addr, &s->dst_port, &s->has_dst_port, &s->scope_id,
			       &s->has_scope_id);
		s->has_dst_addr = true;
		return 0;
	}
	if (s->state == TCP_CLOSE)
		return 0;
	if (!is_conn(s->state) || inet_conn_of(s, &c) < 0)
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: TCP socket %s is not supported", fd->pid, fd->fd,
			    state_name(s->state));
	/* Reading was shut down by the program, not by a FIN (then it is CLOSE-WAIT or later). */
	if (!fin_in(s->state) && poll(&p, 1, 0) == 1 && (p.revents & POLLRDHUP)) {
		s->has_shutdown = true;
		s->shutdown = 1;
	}
	r = check_conn(ctx, fd, sk, s, &c);
	if (r < 0)
		return r;
	if (opts->tcp_close) {
		s->has_dropped = s->dropped = true;
		return 0;
	}
	if (!opts->tcp_established)
		return fail(ctx, -EOPNOTSUPP,
			    "pid %d fd %d: TCP connection %s (%s) is saved only with --tcp-established (or dropped with --tcp-close)",
			    fd->pid, fd->fd, inet_conn_str(&c, what, sizeof(what)), state_name(s->state));
	return dump_conn(ctx, fd, sk, s, m, &c);
}

void tcp_dump_end(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, pid_t pid, int fd, bool killed)
{
	struct inet_conn c;
	char who[64];
	int sk;

	if (!s->tcp || inet_conn_of(s, &c) < 0)
		return;
	/* A killed tree's sockets close in repair mode, silently; the lock waits for the restore. */
	if (killed)
		return;
	snprintf(who, sizeof(who), "pid %d fd %d: ", pid, fd);
	sk = res_fd_take(pid, fd);
	if (sk < 0) {
		pr_warn(ctx, "%sthe TCP connection stays in repair mode: %s", who, strerror(-sk));
	} else {
		repair_off(sk, s, TCP_REPAIR_OFF_NO_WP);
		close(sk);
	}
	if (netlock(ctx, who, &c, false) < 0)
		pr_warn(ctx, "%s", ckpt_error(ctx));
}

/* ---- restore ---- */

/* Binds where the record says, even where another restored socket holds the port. */
static int bind_shared(const Ckpt__InetSock *s, int sk)
{
	union inet_sa a;
	socklen_t len = inet_sockaddr(s, false, &a);

	return set_int(sk, SOL_SOCKET, SO_REUSEADDR, 1) < 0 || bind(sk, &a.sa, len) < 0 ? -errno : 0;
}

static int bind_listen(const Ckpt__InetSock *s, int sk)
{
	int r = bind_shared(s, sk);

	/* listen() checks the port again: SO_REUSEADDR goes back to the program's after it. */
	if (r == 0 && s->state == TCP_LISTEN && listen(sk, (int)(s->backlog > 65535 ? 65535 : s->backlog)) < 0)
		r = -errno;
	return r;
}

static int open_listen(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk)
{
	int r = bind_listen(s, sk);

	/* TIME-WAIT sockets of its own past connections may hold the port (see inet_diag.c). */
	if (r == -EADDRINUSE && inet_drop_timewait(ctx, s, NULL) > 0)
		r = bind_listen(s, sk);
	if (r < 0)
		return fail(ctx, r, "TCP socket: %s port %u: %s", s->state == TCP_LISTEN ? "listening on" : "binding to",
			    s->src_port, strerror(-r));
	if (set_int(sk, SOL_SOCKET, SO_REUSEADDR, inet_opt_set(s, SOL_SOCKET, SO_REUSEADDR)) < 0)
		return fail(ctx, -errno, "TCP socket: SO_REUSEADDR: %s", strerror(errno));
	return 0;
}

static int open_unconnected(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk)
{
	union inet_sa a;
	socklen_t len;
	int r = s->has_src_addr ? open_listen(ctx, s, sk) : 0;

	if (r < 0 || s->state != TCP_SYN_SENT || !s->has_dst_addr)
		return r;
	/* It was connecting: it connects again (a new SYN); the program waits as it did. */
	len = inet_sockaddr(s, true, &a);
	if (fcntl(sk, F_SETFL, O_NONBLOCK) < 0 || (connect(sk, &a.sa, len) < 0 && errno != EINPROGRESS))
		return fail(ctx, -errno, "TCP socket: connecting again to port %u: %s", s->dst_port, strerror(errno));
	return 0;
}

/*
 * --tcp-close: a socket that had this connection and lost it, as a reset
 * would leave it: connected in repair mode (no packet), then disconnected,
 * which in repair mode leaves ECONNABORTED for the program.
 */
static int open_dropped(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk)
{
	union inet_sa a;
	socklen_t len = inet_sockaddr(s, true, &a);
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	int r = 0;

	if (set_int(sk, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON) < 0)
		return fail(ctx, -errno, "TCP socket: repair mode: %s", strerror(errno));
	if (connect(sk, &a.sa, len) == 0 && connect(sk, &unspec, sizeof(unspec)) < 0)
		r = fail(ctx, -errno, "TCP socket: dropping the connection: %s", strerror(errno));
	set_int(sk, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP);
	return r;
}

/* Fills the selected queue; the buffers grow to take it (the options come back after). */
static int fill_queue(struct ckpt_ctx *ctx, int sk, int queue, const uint8_t *data, size_t len)
{
	int want = (int)(2 * len + (1u << 20));
	size_t off = 0;

	if (!len)
		return 0;
	if (set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue) < 0)
		return fail(ctx, -errno, "TCP socket: TCP_REPAIR_QUEUE: %s", strerror(errno));
	setsockopt(sk, SOL_SOCKET, queue == TCP_RECV_QUEUE ? SO_RCVBUFFORCE : SO_SNDBUFFORCE, &want, sizeof(want));
	while (off < len) {
		ssize_t n = send(sk, data + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n <= 0)
			return fail(ctx, n < 0 ? -errno : -EIO, "TCP socket: putting back %zu bytes of its %s queue: %s",
				    len - off, queue == TCP_RECV_QUEUE ? "receive" : "send",
				    n < 0 ? strerror(errno) : "nothing taken");
		off += (size_t)n;
	}
	return 0;
}

static bool is_buf(uint32_t level, uint32_t name)
{
	return level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_SNDBUF);
}

/* A segment from the peer: an ACK, or a FIN. */
static int peer_segment(struct ckpt_ctx *ctx, const struct inet_conn *c, const Ckpt__TcpConn *t, uint32_t seq,
			uint32_t ack, bool fin)
{
	struct tcphdr th;
	uint32_t wnd = t->snd_wnd >> (t->has_snd_wscale ? t->snd_wscale : 0);

	memset(&th, 0, sizeof(th));
	th.source = htons(c->port[1]);
	th.dest = htons(c->port[0]);
	th.seq = htonl(seq);
	th.ack_seq = htonl(ack);
	th.doff = sizeof(th) / 4;
	th.ack = 1;
	th.fin = fin;
	th.window = htons((uint16_t)(wnd > 65535 ? 65535 : wnd));
	return inet_inject(ctx, c, IPPROTO_TCP, &th, NULL, 0);
}

/* Waits until the segment sent to sk has moved it to state. */
static int wait_state(struct ckpt_ctx *ctx, int sk, uint32_t state)
{
	struct tcp_info ti;

	for (int i = 0; i < 1000; i++) {
		if (tcp_state(sk, &ti) == 0 && ti.tcpi_state == state)
			return 0;
		usleep(1000);
	}
	return fail(ctx, -ETIMEDOUT, "TCP socket: it stays %s, not %s, after a segment from its peer",
		    state_name(ti.tcpi_state), state_name(state));
}

/*
 * What of the send queue the peer may have seen must be back as sent
 * before the connection runs, in repair mode: the peer's acknowledgements
 * may cover it, and an acknowledgement of data not sent is dropped, which
 * would stall the connection. What was never sent goes back once repair
 * mode and the lock are off, as new data, so it goes out at once (written
 * in repair mode it would count as sent, and wait for a retransmission
 * timer that may have backed off while the lock held); a FIN not sent yet
 * follows it, and in CLOSING the peer's FIN, which must come after it.
 */
struct sendq {
	size_t sent;     /* bytes of send_queue to put back as sent */
	bool fin_now;    /* the FIN was sent: back in repair mode, as sent */
	bool fin_late;   /* the FIN was not sent: it follows the unsent data */
};

static struct sendq split_sendq(const Ckpt__InetSock *s)
{
	const Ckpt__TcpConn *t = s->tcp;
	bool fin = fin_out(s->state), fin_unsent = fin && s->state != TCP_FIN_WAIT2 && t->notsent > 0;
	size_t unsent = t->notsent - fin_unsent;
	struct sendq q = { .sent = t->send_queue.len - unsent, .fin_now = fin && !fin_unsent, .fin_late = fin_unsent };

	return q;
}

/* The sequence number the peer acknowledged last: where the send queue starts. */
static uint32_t snd_una_of(const Ckpt__InetSock *s)
{
	return s->tcp->snd_seq - fin_out(s->state) - (uint32_t)s->tcp->send_queue.len;
}

/* The peer's FIN, before which it had sent everything up to rcv_seq. */
static int peer_fin(struct ckpt_ctx *ctx, int sk, const Ckpt__InetSock *s, const struct inet_conn *c, uint32_t state)
{
	int r = peer_segment(ctx, c, s->tcp, s->tcp->rcv_seq - 1, snd_una_of(s), true);

	return r < 0 ? r : wait_state(ctx, sk, state);
}

/*
 * connect() sizes the segments it sends from TCP_MAXSEG, and neither
 * TCP_REPAIR_OPTIONS nor TCP_REPAIR_WINDOW later size them again: the size
 * the original had goes in first. That is the agreed size, but no more
 * than half the largest window the peer offered (a segment larger than the
 * window would only go out in zero-window probes), nor than TCP_MAXSEG
 * takes (loopback's agreed size is larger); the timestamp option comes
 * off it.
 */
static uint32_t seg_size(const Ckpt__TcpConn *t)
{
	uint32_t ts = t->opts & TCPI_OPT_TIMESTAMPS ? 12 : 0, size = t->mss;
	uint32_t half = t->max_window > 1220 ? t->max_window / 2 : t->max_window;

	if (half && half + ts < size)
		size = half + ts;
	if (size < 88)
		size = 88;
	return size > TCP_MAXSEG_MAX ? TCP_MAXSEG_MAX : size;
}

/*
 * The connection is rebuilt in two steps. In open(), behind the lock, in
 * repair mode: everything but its send queue, and the FIN the peer sent
 * first (CLOSE-WAIT, LAST-ACK). In finish(), once the lock is lifted, still
 * in repair mode: what of the send queue was sent, the FIN if it was sent,
 * and what came after it from the peer (the acknowledgement of FIN-WAIT-2,
 * the FIN of CLOSING); their retransmission timer so starts now, not during
 * the restore, where it would back off against the lock. Then, out of
 * repair mode, what was never sent, and the FIN if it was not sent either.
 */
static int repair_conn(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk, const struct inet_conn *c)
{
	const Ckpt__TcpConn *t = s->tcp;
	uint32_t snd_una = snd_una_of(s);
	uint32_t rcv_start = t->rcv_seq - fin_in(s->state) - (uint32_t)t->recv_queue.len;
	struct tcp_repair_opt o[4] = { { TCPOPT_MAXSEG, t->mss } };
	union inet_sa a;
	socklen_t len;
	int n = 1, r;

	if (set_int(sk, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON) < 0)
		return fail(ctx, -errno, "TCP socket: repair mode: %s%s", strerror(errno),
			    errno == EPERM ? " (it needs CAP_NET_ADMIN)" : "");
	if (set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0 ||
	    set_int(sk, IPPROTO_TCP, TCP_QUEUE_SEQ, (int)snd_una) < 0 ||
	    set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) < 0 ||
	    set_int(sk, IPPROTO_TCP, TCP_QUEUE_SEQ, (int)rcv_start) < 0)
		return fail(ctx, -errno, "TCP socket: sequence numbers: %s", strerror(errno));
	len = inet_sockaddr(s, false, &a);
	if (bind(sk, &a.sa, len) < 0)
		return fail(ctx, -errno, "TCP socket: bind to port %u: %s", s->src_port, strerror(errno));
	r = set_int(sk, IPPROTO_TCP, TCP_MAXSEG, (int)seg_size(t));
	if (r < 0)
		return fail(ctx, -errno, "TCP socket: segment size %u: %s", t->mss, strerror(errno));
	len = inet_sockaddr(s, true, &a);
	r = connect(sk, &a.sa, len) < 0 ? -errno : 0;
	/* The connection's own TIME-WAIT remains may hold its ends (see inet_diag.c). */
	if (r == -EADDRNOTAVAIL && inet_drop_timewait(ctx, s, c) > 0)
		r = connect(sk, &a.sa, len) < 0 ? -errno : 0;
	if (r < 0)
		return fail(ctx, r, "TCP socket: connect in repair mode: %s", strerror(-r));
	set_int(sk, IPPROTO_TCP, TCP_MAXSEG, 0);
	if (t->opts & TCPI_OPT_WSCALE)
		o[n++] = (struct tcp_repair_opt){ TCPOPT_WINDOW, t->snd_wscale | t->rcv_wscale << 16 };
	if (t->opts & TCPI_OPT_SACK)
		o[n++] = (struct tcp_repair_opt){ TCPOPT_SACK_PERMITTED, 0 };
	if (t->opts & TCPI_OPT_TIMESTAMPS)
		o[n++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
	if (setsockopt(sk, IPPROTO_TCP, TCP_REPAIR_OPTIONS, o, (socklen_t)(n * sizeof(o[0]))) < 0)
		return fail(ctx, -errno, "TCP socket: TCP_REPAIR_OPTIONS: %s", strerror(errno));
	if (t->has_timestamp && set_int(sk, IPPROTO_TCP, TCP_TIMESTAMP, (int)t->timestamp) < 0)
		return fail(ctx, -errno, "TCP socket: TCP_TIMESTAMP: %s", strerror(errno));
	r = fill_queue(ctx, sk, TCP_RECV_QUEUE, t->recv_queue.data, t->recv_queue.len);
	if (r == 0)
		r = inet_apply_opts(ctx, s, sk, is_buf);
	/* LAST-ACK is CLOSE-WAIT until its own FIN follows. */
	if (r == 0 && (s->state == TCP_CLOSE_WAIT || s->state == TCP_LAST_ACK))
		r = peer_fin(ctx, sk, s, c, TCP_CLOSE_WAIT);
	if (r < 0)
		return r;
	set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE);
	if ((s->shutdown & 1) && shutdown(sk, SHUT_RD) < 0)
		return fail(ctx, -errno, "TCP socket: shutdown: %s", strerror(errno));
	return 0;
}

/* The sent part of the send queue and what followed it, still in repair mode. */
static int repair_send(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk, const struct inet_conn *c)
{
	const Ckpt__TcpConn *t = s->tcp;
	struct sendq q = split_sendq(s);
	struct tcp_repair_window w = { t->snd_wl1, t->snd_wnd, t->max_window, t->rcv_wnd, t->rcv_wup };
	int r = fill_queue(ctx, sk, TCP_SEND_QUEUE, t->send_queue.data, q.sent);

	if (r == 0 && q.fin_now &&
	    (set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0 || shutdown(sk, SHUT_WR) < 0))
		return fail(ctx, -errno, "TCP socket: its FIN: %s", strerror(errno));
	/* FIN-WAIT-2: the peer acknowledged the FIN. */
	if (r == 0 && s->state == TCP_FIN_WAIT2 && (r = peer_segment(ctx, c, t, t->rcv_seq, t->snd_seq, false)) == 0)
		r = wait_state(ctx, sk, TCP_FIN_WAIT2);
	if (r == 0 && s->state == TCP_CLOSING && q.fin_now)
		r = peer_fin(ctx, sk, s, c, TCP_CLOSING);
	if (r < 0)
		return r;
	/* A CLOSING connection whose FIN waits for its data gets the peer's FIN later: not past it yet. */
	if (s->state == TCP_CLOSING && q.fin_late && w.rcv_wup == t->rcv_seq)
		w.rcv_wup--;
	if (setsockopt(sk, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)) < 0)
		return fail(ctx, -errno, "TCP socket: TCP_REPAIR_WINDOW: %s", strerror(errno));
	set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE);
	return 0;
}

/* Out of repair mode: what was never sent, and the FIN if it was not sent either. */
static int send_rest(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk, const struct inet_conn *c)
{
	const Ckpt__TcpConn *t = s->tcp;
	struct sendq q = split_sendq(s);
	int want = (int)(2 * (t->send_queue.len - q.sent) + (1u << 20));
	size_t off = q.sent;

	if (off < t->send_queue.len)
		setsockopt(sk, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want));
	while (off < t->send_queue.len) {
		ssize_t n = send(sk, t->send_queue.data + off, t->send_queue.len - off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n <= 0)
			return fail(ctx, n < 0 ? -errno : -EIO, "TCP socket: sending %zu queued bytes: %s",
				    t->send_queue.len - off, n < 0 ? strerror(errno) : "nothing taken");
		off += (size_t)n;
	}
	if (q.fin_late && shutdown(sk, SHUT_WR) < 0)
		return fail(ctx, -errno, "TCP socket: its FIN: %s", strerror(errno));
	if (q.fin_late && s->state == TCP_CLOSING) {
		int r = peer_fin(ctx, sk, s, c, TCP_CLOSING);

		if (r < 0)
			return r;
	}
	return inet_apply_opts(ctx, s, sk, is_buf);
}

/* Names the connection in the message of a failure: r. */
static int conn_failed(struct ckpt_ctx *ctx, const struct inet_conn *c, int r)
{
	char msg[sizeof(ctx->err)], what[160];

	snprintf(msg, sizeof(msg), "%s", ckpt_error(ctx));
	ctx->err[0] = 0;
	return fail(ctx, r, "TCP connection %s: %s", inet_conn_str(c, what, sizeof(what)), msg);
}

int tcp_open(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk)
{
	struct inet_conn c;
	int r;

	if (s->state == TCP_LISTEN)
		return open_listen(ctx, s, sk);
	if (!is_conn(s->state))
		return open_unconnected(ctx, s, sk);
	if (s->dropped)
		return s->has_dst_addr ? open_dropped(ctx, s, sk) : 0;
	if (inet_conn_of(s, &c) < 0)
		return fail(ctx, -EBADMSG, "image damaged: TCP connection without its addresses");
	r = netlock(ctx, "", &c, true);
	if (r == 0 && (r = repair_conn(ctx, s, sk, &c)) < 0)
		return conn_failed(ctx, &c, r);
	return r;
}

int tcp_finish(struct ckpt_ctx *ctx, const Ckpt__InetSock *s, int sk)
{
	struct inet_conn c;
	int r;

	if (!s->tcp || inet_conn_of(s, &c) < 0)
		return 0;
	r = netlock(ctx, "", &c, false);
	if (r == 0)
		r = repair_send(ctx, s, sk, &c);
	/* Its window probe goes through now: the peer answers with where it stands. */
	if (r == 0)
		repair_off(sk, s, TCP_REPAIR_OFF);
	if (r == 0)
		r = send_rest(ctx, s, sk, &c);
	return r < 0 ? conn_failed(ctx, &c, r) : 0;
}
