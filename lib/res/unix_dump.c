// SPDX-License-Identifier: MIT
/*
 * Unix sockets, dump side. State is read from outside where it can be:
 * sock_diag (peer, connections not accepted yet, shutdown), and
 * getsockname, getpeername, getsockopt and SIOCUNIXFILE on a copy of the
 * socket taken with pidfd_getfd (the same socket, not a new one).
 *
 * The receive queue is read with MSG_PEEK, walking it with SO_PEEK_OFF, so
 * nothing leaves it. That needs two options of the socket changed for a
 * moment (SO_PEEK_OFF, and SO_PASSCRED so every message shows its sender's
 * credentials and the end of a seqpacket queue can be told from an empty
 * record); both are put back as they were, on failure too.
 *
 * A unix socket keeps no send queue: what one end wrote waits in the other
 * end's receive queue, so saving every receive queue saves everything.
 */
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>

#include "unix.h"

#ifndef SIOCUNIXFILE
#define SIOCUNIXFILE (SIOCPROTOPRIVATE + 0)
#endif

/* Where the socket and its image record are, while it is dumped. */
struct udump {
	struct ckpt_ctx *ctx;
	const struct fd_desc *fd;
	struct model *m;
	Ckpt__UnixSocket *u;
	int sk;
	Ckpt__UnixMessage **q;    /* the queue read so far (malloc'd; the record gets a copy) */
	size_t nq, capq, bytes;
};

#define UFAIL(ud, err, fmt, ...) \
	fail((ud)->ctx, err, "pid %d fd %d: unix socket: " fmt, (ud)->fd->pid, (ud)->fd->fd, ##__VA_ARGS__)

static ProtobufCBinaryData arena_bytes(struct model *m, const void *p, size_t len)
{
	ProtobufCBinaryData b = { len, arena_alloc(&m->arena, len + 1) };

	if (len)
		memcpy(b.data, p, len);
	return b;
}

static ProtobufCBinaryData addr_bytes(struct model *m, const struct sockaddr_un *a, socklen_t len)
{
	size_t off = offsetof(struct sockaddr_un, sun_path);

	return arena_bytes(m, a->sun_path, len > off ? len - off : 0);
}

/*
 * A path name's socket file, found through the socket itself (SIOCUNIXFILE
 * opens the very file it bound, wherever it is now): where it is, or that
 * it was unlinked, and its mode and owner.
 */
static int read_file(struct udump *ud)
{
	Ckpt__UnixSocket *u = ud->u;
	_cleanup_close_ int pf = ioctl(ud->sk, SIOCUNIXFILE, 0);
	char self[64], path[PATH_MAX];
	const char *name = (const char *)u->name.data;
	size_t nlen = strnlen(name, u->name.len), plen;
	Ckpt__UnixFile *uf;
	struct stat st;
	ssize_t n;

	if (pf < 0 || fstat(pf, &st) < 0)
		return UFAIL(ud, -errno, "bound to %.*s: cannot open its socket file: %s", (int)nlen, name, strerror(errno));
	uf = arena_alloc(&ud->m->arena, sizeof(*uf));
	ckpt__unix_file__init(uf);
	uf->mode = st.st_mode & 07777;
	uf->uid = st.st_uid;
	uf->gid = st.st_gid;
	u->file = uf;
	if (st.st_nlink == 0)
		return 0; /* unlinked: bound again without a file */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pf);
	n = readlink(self, path, sizeof(path) - 1);
	if (n <= 0 || path[0] != '/')
		return UFAIL(ud, -EIO, "bound to %.*s: cannot tell where its socket file is", (int)nlen, name);
	path[n] = 0;
	uf->path = arena_strdup(&ud->m->arena, path);
	plen = (size_t)n;
	/* A relative name: the directory it is relative to, if the file is still where it was made. */
	if (name[0] != '/' && plen > nlen && path[plen - nlen - 1] == '/' && !strcmp(path + plen - nlen, name)) {
		path[plen - nlen - 1 > 0 ? plen - nlen - 1 : 1] = 0;
		uf->dir = arena_strdup(&ud->m->arena, path);
	}
	return 0;
}

static int read_names(struct udump *ud)
{
	Ckpt__UnixSocket *u = ud->u;
	struct sockaddr_un a;
	socklen_t len = sizeof(a);

	if (getsockname(ud->sk, (struct sockaddr *)&a, &len) < 0)
		return UFAIL(ud, -errno, "getsockname: %s", strerror(errno));
	u->name = addr_bytes(ud->m, &a, len);
	u->has_name = u->name.len > 0;
	len = sizeof(a);
	if (getpeername(ud->sk, (struct sockaddr *)&a, &len) == 0) {
		u->peer_name = addr_bytes(ud->m, &a, len);
		u->has_peer_name = true;
	} else if (errno != ENOTCONN) {
		return UFAIL(ud, -errno, "getpeername: %s", strerror(errno));
	}
	if (u->has_name && u->name.data[0])
		return read_file(ud);
	return 0;
}

static uint64_t timeo_us(int sk, int opt)
{
	struct timeval tv = { 0, 0 };
	socklen_t len = sizeof(tv);

	getsockopt(sk, SOL_SOCKET, opt, &tv, &len);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static int read_opts(struct udump *ud)
{
	Ckpt__UnixSocket *u = ud->u;
	struct ucred cr = { 0, 0, 0 };
	socklen_t len = sizeof(cr);
	int v;

	u->has_opts = true;
	if (sock_get_int(ud->sk, SOL_SOCKET, SO_PASSCRED, &v) == 0 && v)
		u->opts |= UNIX_OPT_PASSCRED;
	if (sock_get_int(ud->sk, SOL_SOCKET, SO_PASSSEC, &v) == 0 && v)
		u->opts |= UNIX_OPT_PASSSEC;
	if (sock_get_int(ud->sk, SOL_SOCKET, SO_PASSPIDFD, &v) == 0 && v)
		u->opts |= UNIX_OPT_PASSPIDFD;
	if (sock_get_int(ud->sk, SOL_SOCKET, SO_PASSRIGHTS, &v) == 0 && !v)
		u->opts |= UNIX_OPT_NO_PASSRIGHTS;
	if (sock_get_int(ud->sk, SOL_SOCKET, SO_SNDBUF, &v) < 0)
		return UFAIL(ud, -errno, "SO_SNDBUF: %s", strerror(errno));
	u->has_sndbuf = true;
	u->sndbuf = (uint32_t)v;
	sock_get_int(ud->sk, SOL_SOCKET, SO_RCVBUF, &v);
	u->has_rcvbuf = true;
	u->rcvbuf = (uint32_t)v;
	sock_get_int(ud->sk, SOL_SOCKET, SO_RCVLOWAT, &v);
	u->has_rcvlowat = true;
	u->rcvlowat = (uint32_t)v;
	if (sock_get_int(ud->sk, SOL_SOCKET, SO_PEEK_OFF, &v) < 0)
		return UFAIL(ud, -errno, "SO_PEEK_OFF: %s", strerror(errno));
	u->has_peek_off = true;
	u->peek_off = v;
	u->has_rcvtimeo_us = u->has_sndtimeo_us = true;
	u->rcvtimeo_us = timeo_us(ud->sk, SO_RCVTIMEO);
	u->sndtimeo_us = timeo_us(ud->sk, SO_SNDTIMEO);
	if (getsockopt(ud->sk, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 && cr.pid) {
		u->has_peer_pid = u->has_peer_uid = u->has_peer_gid = true;
		u->peer_pid = (uint32_t)cr.pid;
		u->peer_uid = cr.uid;
		u->peer_gid = cr.gid;
	}
	return 0;
}

/* --- the receive queue ------------------------------------------------ */

struct peeked {
	ssize_t len;              /* bytes, or the datagram's length with MSG_TRUNC */
	struct sockaddr_un from;
	socklen_t fromlen;
	int fds[256];             /* SCM_RIGHTS: our copies */
	int nfds;
	bool creds;               /* SCM_CREDENTIALS came: a message, not the end */
	struct ucred cred;
};

static void drop_fds(struct peeked *p)
{
	for (int i = 0; i < p->nfds; i++)
		close(p->fds[i]);
	p->nfds = 0;
}

static int take_cmsgs(struct udump *ud, struct msghdr *mh, struct peeked *p)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n = c->cmsg_len > CMSG_LEN(0) ? c->cmsg_len - CMSG_LEN(0) : 0;

		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_RIGHTS) {
			for (size_t i = 0; i + sizeof(int) <= n && p->nfds < (int)ARRAY_SIZE(p->fds); i += sizeof(int))
				memcpy(&p->fds[p->nfds++], CMSG_DATA(c) + i, sizeof(int));
		} else if (c->cmsg_type == SCM_CREDENTIALS && n >= sizeof(p->cred)) {
			memcpy(&p->cred, CMSG_DATA(c), sizeof(p->cred));
			p->creds = true;
		} else if (c->cmsg_type == SCM_PIDFD && n >= sizeof(int)) {
			int pidfd;

			memcpy(&pidfd, CMSG_DATA(c), sizeof(int));
			close(pidfd); /* the socket passes pidfds (SO_PASSPIDFD): made for us, not queued */
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		return UFAIL(ud, -EOVERFLOW, "a queued message carries more control data than ckpt can read");
	return 0;
}

static int peek(struct udump *ud, void *buf, size_t len, int flags, struct peeked *p)
{
	char ctl[CMSG_SPACE(256 * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int)) + 256];
	struct iovec iov = { buf, len };
	struct msghdr mh = {
		.msg_name = &p->from,
		.msg_namelen = sizeof(p->from),
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl,
		.msg_controllen = sizeof(ctl),
	};

	memset(p, 0, sizeof(*p));
	p->len = recvmsg(ud->sk, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC | flags);
	if (p->len < 0)
		return errno == EAGAIN ? -EAGAIN : UFAIL(ud, -errno, "reading its queue (MSG_PEEK): %s", strerror(errno));
	p->fromlen = mh.msg_namelen;
	return take_cmsgs(ud, &mh, p);
}

/* Appends a message to the queue, dumping its descriptors in flight (which takes them). */
static int add_msg(struct udump *ud, const void *data, size_t len, struct peeked *p, bool with_fds, bool sender)
{
	Ckpt__UnixMessage *msg;

	if (ud->nq >= UNIX_MSGS_MAX || ud->bytes + len > UNIX_QUEUE_MAX)
		return UFAIL(ud, -EFBIG, "more than %u messages or %u MiB queued; not supported", UNIX_MSGS_MAX,
			     UNIX_QUEUE_MAX >> 20);
	msg = arena_alloc(&ud->m->arena, sizeof(*msg));
	ckpt__unix_message__init(msg);
	*(Ckpt__UnixMessage **)array_push(&ud->q, &ud->nq, &ud->capq, sizeof(msg)) = msg;
	ud->bytes += len;
	msg->data = arena_bytes(ud->m, data, len);
	msg->has_data = true;
	if (sender && p->fromlen > offsetof(struct sockaddr_un, sun_path)) {
		msg->sender = addr_bytes(ud->m, &p->from, p->fromlen);
		msg->has_sender = true;
	}
	if (p->creds && p->cred.pid) {
		msg->has_cred_pid = msg->has_cred_uid = msg->has_cred_gid = true;
		msg->cred_pid = (uint32_t)p->cred.pid;
		msg->cred_uid = p->cred.uid;
		msg->cred_gid = p->cred.gid;
	}
	if (!with_fds || !p->nfds)
		return 0;
	msg->file_ids = arena_alloc(&ud->m->arena, sizeof(uint64_t) * (size_t)p->nfds);
	for (int i = 0; i < p->nfds; i++) {
		int r = dump_extra_fd(ud->fd->dumper, ud->fd, p->fds[i], &msg->file_ids[i]);

		p->fds[i] = -1;
		if (r < 0) {
			for (int k = i + 1; k < p->nfds; k++)
				close(p->fds[k]);
			p->nfds = 0;
			return r;
		}
		msg->n_file_ids++;
	}
	p->nfds = 0;
	return 0;
}

/*
 * A stream: one peek returns a run of bytes up to the next change of
 * writer credentials or through the next piece that carries descriptors
 * (the kernel hands those over with the first read that reaches that
 * piece, and does not read past it). Where that piece starts inside the
 * run cannot be seen, so the restore puts the descriptors on the run's last
 * byte: a reader that reads the run whole gets the same bytes and
 * descriptors in one read.
 */
static int read_stream(struct udump *ud)
{
	int inq = 0, r = 0;
	_cleanup_free_ char *buf = NULL;
	struct peeked p;

	if (ioctl(ud->sk, SIOCINQ, &inq) < 0)
		return UFAIL(ud, -errno, "SIOCINQ: %s", strerror(errno));
	if ((unsigned)inq > UNIX_QUEUE_MAX)
		return UFAIL(ud, -EFBIG, "%d bytes queued, more than ckpt saves (%u MiB)", inq, UNIX_QUEUE_MAX >> 20);
	buf = malloc((size_t)inq + 1);
	if (!buf)
		return -ENOMEM;
	while (r == 0 && (r = peek(ud, buf, (size_t)inq + 1, 0, &p)) == 0 && p.len > 0) {
		size_t n = (size_t)p.len;

		if (p.nfds && n > 1)
			r = add_msg(ud, buf, n - 1, &p, false, false);
		if (r == 0)
			r = add_msg(ud, buf + (p.nfds && n > 1 ? n - 1 : 0), p.nfds && n > 1 ? 1 : n, &p, true, false);
		drop_fds(&p);
	}
	drop_fds(&p);
	return r == -EAGAIN ? 0 : r;
}

/*
 * Datagrams and records: each is peeked twice, first with no room and
 * MSG_TRUNC for its length (which leaves the peek offset where it is), then
 * whole. An empty one is taken from the first peek: peeking it marks it,
 * and an offset walk passes over marked empty ones. (Empty datagrams that
 * something else peeked at with SO_PEEK_OFF before the dump, an earlier
 * `dump --leave-running` included, are therefore not seen, unless first in
 * the queue.)
 */
static int read_datagrams(struct udump *ud)
{
	_cleanup_free_ char *buf = NULL;
	size_t cap = 0;
	struct peeked p, d;
	int r;

	while ((r = peek(ud, NULL, 0, MSG_TRUNC, &p)) == 0) {
		if (!p.creds) {
			drop_fds(&p);
			break; /* the end of a seqpacket stream, not a record */
		}
		if (p.len > 0) {
			if ((size_t)p.len > cap) {
				free(buf);
				cap = (size_t)p.len;
				buf = malloc(cap);
				if (!buf) {
					drop_fds(&p);
					return -ENOMEM;
				}
			}
			r = peek(ud, buf, (size_t)p.len, 0, &d);
			drop_fds(&d);
			if (r == 0 && d.len != p.len)
				r = UFAIL(ud, -EIO, "a queued message changed while it was read");
		}
		if (r == 0)
			r = add_msg(ud, buf, (size_t)p.len, &p, true, true);
		drop_fds(&p);
		if (r < 0)
			return r;
	}
	return r == -EAGAIN ? 0 : r;
}

/* The first datagram, seen without an offset: an empty one marked by an earlier peek is seen too. */
static int read_first_empty(struct udump *ud, bool *empty_head)
{
	struct peeked p;
	int r = peek(ud, NULL, 0, MSG_TRUNC, &p);

	*empty_head = false;
	if (r == -EAGAIN)
		return 0;
	if (r == 0 && p.creds && p.len == 0) {
		*empty_head = true;
		r = add_msg(ud, NULL, 0, &p, true, true);
	}
	drop_fds(&p);
	return r;
}

static int read_queue(struct udump *ud)
{
	int old_off = -1, old_cred = 0, r, r2 = 0;
	bool empty_head = false;

	if (sock_get_int(ud->sk, SOL_SOCKET, SO_PEEK_OFF, &old_off) < 0 ||
	    sock_get_int(ud->sk, SOL_SOCKET, SO_PASSCRED, &old_cred) < 0)
		return UFAIL(ud, -errno, "reading its options: %s", strerror(errno));
	r = sock_set_int(ud->sk, SOL_SOCKET, SO_PASSCRED, 1);
	if (r == 0)
		r = sock_set_int(ud->sk, SOL_SOCKET, SO_PEEK_OFF, -1);
	if (r == 0 && ud->u->type != SOCK_STREAM)
		r = read_first_empty(ud, &empty_head);
	/* Past an empty first datagram the walk starts after it: it is marked now. */
	if (r == 0)
		r = sock_set_int(ud->sk, SOL_SOCKET, SO_PEEK_OFF, 0);
	if (r == 0)
		r = ud->u->type == SOCK_STREAM ? read_stream(ud) : read_datagrams(ud);
	if (r == -EPERM || r == -ENOPROTOOPT || r == -EINVAL)
		r = UFAIL(ud, r, "setting SO_PEEK_OFF or SO_PASSCRED to read its queue: %s", strerror(-r));
	/* Put back what the program had, whatever happened. */
	if (sock_set_int(ud->sk, SOL_SOCKET, SO_PEEK_OFF, old_off) < 0 ||
	    sock_set_int(ud->sk, SOL_SOCKET, SO_PASSCRED, old_cred) < 0)
		r2 = UFAIL(ud, -errno, "putting back SO_PEEK_OFF %d and SO_PASSCRED %d: %s", old_off, old_cred,
			   strerror(errno));
	ud->u->n_queue = ud->nq;
	ud->u->queue = arena_alloc(&ud->m->arena, sizeof(*ud->q) * (ud->nq + 1));
	if (ud->nq)
		memcpy(ud->u->queue, ud->q, sizeof(*ud->q) * ud->nq);
	free(ud->q);
	ud->q = NULL;
	return r < 0 ? r : r2;
}

/* MSG_OOB byte waiting in a stream: the kernel keeps it apart from the queue. */
static int check_oob(struct udump *ud)
{
	char c;

	if (recv(ud->sk, &c, 1, MSG_OOB | MSG_PEEK | MSG_DONTWAIT) >= 0)
		return UFAIL(ud, -EOPNOTSUPP, "an out-of-band byte (MSG_OOB) waits in it; not supported yet");
	return 0;
}

/* --- the socket --------------------------------------------------------- */

static int read_state(struct udump *ud, const struct unix_diag *di)
{
	Ckpt__UnixSocket *u = ud->u;

	u->type = di->type;
	if (u->type != SOCK_STREAM && u->type != SOCK_DGRAM && u->type != SOCK_SEQPACKET)
		return UFAIL(ud, -EOPNOTSUPP, "type %u is not supported", u->type);
	u->has_shutdown = true;
	u->shutdown = di->shutdown & 3;
	if (di->state == TCP_LISTEN) {
		u->state = CKPT__UNIX_STATE__UNIX_LISTENING;
		u->has_backlog = true;
		u->backlog = di->wqueue;
		u->n_pending = di->nicons;
		u->pending = arena_alloc(&ud->m->arena, sizeof(uint64_t) * (di->nicons + 1));
		for (size_t i = 0; i < di->nicons; i++)
			u->pending[i] = di->icons[i];
		return 0;
	}
	/* A datagram socket others connected to looks established too: only its own peer counts. */
	if (u->has_peer_name && (u->type == SOCK_DGRAM || di->state == TCP_ESTABLISHED)) {
		u->state = CKPT__UNIX_STATE__UNIX_CONNECTED;
		u->has_peer_ino = true;
		u->peer_ino = di->peer;
	}
	return 0;
}

int unix_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd, Ckpt__File *f,
	      struct model *m)
{
	struct udump ud = { .ctx = ctx, .fd = fd, .m = m, .sk = -1 };
	struct unix_diag di;
	int r;

	(void)opts;
	ud.sk = sock_take(ctx, fd);
	if (ud.sk < 0)
		return ud.sk;
	ud.u = arena_alloc(&m->arena, sizeof(*ud.u));
	ckpt__unix_socket__init(ud.u);
	f->unix_sock = ud.u;
	r = unix_diag_one(fd->st.st_ino, &di);
	if (r < 0)
		r = UFAIL(&ud, r, "sock_diag: %s%s", strerror(-r),
			  r == -ENOENT ? " (is it in another network namespace?)" : "");
	if (r == 0)
		r = read_names(&ud);
	if (r == 0)
		r = read_state(&ud, &di);
	unix_diag_free(&di);
	if (r == 0)
		r = read_opts(&ud);
	if (r == 0 && ud.u->type == SOCK_STREAM && ud.u->state == CKPT__UNIX_STATE__UNIX_CONNECTED)
		r = check_oob(&ud);
	/* Only a datagram socket receives without a connection. */
	if (r == 0 && (ud.u->type == SOCK_DGRAM || ud.u->state == CKPT__UNIX_STATE__UNIX_CONNECTED))
		r = read_queue(&ud);
	close(ud.sk);
	return r;
}
