// SPDX-License-Identifier: MIT
/*
 * Unix sockets at restore. All sockets of the image are made at once, at
 * the first open() of one (unix sockets are opened after every other kind,
 * so the files in flight in their queues exist), in this order:
 *
 *  1. make: socket(), or socketpair() for connected pairs where connect()
 *     cannot be used (an unnamed end) and for a socket whose peer is closed
 *     (a stand-in partner is closed at the end);
 *  2. bind every named socket (unix_place.c); 3. listen;
 *  4. connections with an accepted end: the client connects to the
 *     listener of that name (the image's, or one made for the restore) and
 *     the accepted end comes from accept(), so both ends have their names;
 *  5. connections still waiting on a listener connect again, in order, and
 *     are left unaccepted;
 *  6. the queues are written, by each socket's peer (or stand-in) for
 *     connected sockets, and for datagram sockets by a socket with the
 *     original sender's name, with the descriptors in flight and the
 *     credentials (uid and gid; the pid is ckpt's);
 *  7. datagram sockets connect (after their queue is filled, since a
 *     connected socket only takes datagrams from its peer), those whose
 *     peer was outside the tree to its name;
 *  8. shutdown states, options, buffer sizes, O_NONBLOCK; stand-ins close.
 *
 * SO_PEERCRED of a restored connection shows the uid and gid it showed at
 * dump time: listen() and connect() run with those effective ids. Its pid
 * is ckpt restore's (or that of a short-lived helper of it).
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "unix.h"

#define BFAIL(b, s, err, fmt, ...)                                                                       \
	({                                                                                               \
		char w_[64];                                                                             \
		fail((b)->ctx, err, "%s: unix %s socket: " fmt, unix_where((b)->rr->m, (s)->f, w_, sizeof(w_)), \
		     unix_type_str((s)->u->type), ##__VA_ARGS__);                                        \
	})

static struct usk *sk_by_ino(struct ubuild *b, uint64_t ino)
{
	for (size_t i = 0; ino && i < b->n; i++)
		if (b->s[i].f->ino == ino)
			return &b->s[i];
	return NULL;
}

static bool connected(const struct usk *s)
{
	return s->u->state == CKPT__UNIX_STATE__UNIX_CONNECTED;
}

static bool stream_like(const struct usk *s)
{
	return s->u->type != SOCK_DGRAM;
}

/* The listener of the image a stream client waits on, if it waits. */
static struct usk *waits_on(struct ubuild *b, const struct usk *s)
{
	for (size_t i = 0; i < b->n; i++)
		for (size_t k = 0; k < b->s[i].u->n_pending; k++)
			if (b->s[i].u->pending[k] == s->f->ino)
				return &b->s[i];
	return NULL;
}

static const struct uas *as_peer(const struct usk *s, struct uas *as)
{
	if (!s->u->has_peer_uid || !s->u->has_peer_gid)
		return NULL;
	as->uid = s->u->peer_uid;
	as->gid = s->u->peer_gid;
	return as;
}

/* --- checks of what the image says -------------------------------------- */

static bool name_ok(const ProtobufCBinaryData *n)
{
	return n->len <= UNIX_NAME_MAX && (!n->len || !n->data[0] || memchr(n->data, 0, n->len));
}

/* Absent, or absolute and short enough to use. */
static bool path_ok(const char *p)
{
	return !p || (p[0] == '/' && strlen(p) < PATH_MAX - UNIX_NAME_MAX - 2);
}

static int check_msgs(struct ubuild *b, const struct usk *s)
{
	const struct model *m = b->rr->m;
	size_t bytes = 0;

	if (s->u->n_queue > UNIX_MSGS_MAX)
		return BFAIL(b, s, -EBADMSG, "image damaged: too many queued messages");
	for (size_t i = 0; i < s->u->n_queue; i++) {
		const Ckpt__UnixMessage *q = s->u->queue[i];

		bytes += q->data.len;
		if (q->n_file_ids > 253 || (q->has_sender && !name_ok(&q->sender)) || bytes > UNIX_QUEUE_MAX)
			return BFAIL(b, s, -EBADMSG, "image damaged: queued message %zu", i);
		for (size_t k = 0; k < q->n_file_ids; k++)
			if (!model_file(m, q->file_ids[k]))
				return BFAIL(b, s, -EBADMSG, "image damaged: queued message %zu names file %llu", i,
					     (unsigned long long)q->file_ids[k]);
	}
	return 0;
}

/* The socket's own fields are in range. */
static bool fields_ok(const Ckpt__UnixSocket *u)
{
	return (u->type == SOCK_STREAM || u->type == SOCK_DGRAM || u->type == SOCK_SEQPACKET) && u->state <= 2 &&
	       name_ok(&u->name) && name_ok(&u->peer_name) && !(u->opts & ~UNIX_OPT_ALL) && u->shutdown <= 3 &&
	       (!u->file || (path_ok(u->file->path) && path_ok(u->file->dir)));
}

/* Its role fits its state: listeners are named streams, accepted ends named connected streams, ... */
static bool role_ok(const struct usk *s, const struct usk *p)
{
	const Ckpt__UnixSocket *u = s->u;
	bool listening = u->state == CKPT__UNIX_STATE__UNIX_LISTENING;

	if (listening && (u->type == SOCK_DGRAM || !unix_named(u) || u->accepted))
		return false;
	/* A listener holds at most backlog + 1 waiting connections. */
	if ((!listening && u->n_pending) || u->n_pending > (size_t)u->backlog + 1 || u->n_pending > UNIX_MSGS_MAX)
		return false;
	if (u->accepted && (!connected(s) || !stream_like(s) || !unix_named(u)))
		return false;
	/* A path it bound itself needs its file's place. */
	if (unix_named(u) && u->name.data[0] && !u->accepted && !u->file)
		return false;
	if (u->peer_outside && (stream_like(s) || !u->peer_name.len))
		return false;
	if (connected(s) && u->peer_ino && !p && !u->peer_outside)
		return false;
	return !p || (p->u->type == u->type && !(stream_like(s) && u->accepted && p->u->accepted));
}

static int check_one(struct ubuild *b, const struct usk *s)
{
	const Ckpt__UnixSocket *u = s->u;
	const struct usk *p = connected(s) ? sk_by_ino(b, u->peer_ino) : NULL;

	if (!fields_ok(u) || !role_ok(s, p) || sk_by_ino(b, s->f->ino) != s)
		return BFAIL(b, s, -EBADMSG, "image damaged: inconsistent state");
	for (size_t k = 0; k < u->n_pending; k++) {
		const struct usk *c = sk_by_ino(b, u->pending[k]);

		if (!c || !connected(c) || c->u->type != u->type || c->u->peer_ino || c->u->n_queue)
			return BFAIL(b, s, -EBADMSG, "image damaged: waiting connection %zu", k);
	}
	return check_msgs(b, s);
}

static int collect(struct ubuild *b)
{
	const struct model *m = b->rr->m;
	int r = 0;

	b->s = xcalloc(m->files.n + 1, sizeof(*b->s));
	for (size_t i = 0; i < m->files.n; i++) {
		const Ckpt__File *f = m->files.v[i];

		if (f->kind != FILE_KIND_UNIX)
			continue;
		if (!f->unix_sock)
			return fail(b->ctx, -EBADMSG, "image damaged: file %llu is a unix socket without its state",
				    (unsigned long long)f->id);
		b->s[b->n].f = f;
		b->s[b->n].u = f->unix_sock;
		b->s[b->n].fd = b->s[b->n].tmp = -1;
		b->n++;
	}
	for (size_t i = 0; r == 0 && i < b->n; i++)
		r = check_one(b, &b->s[i]);
	return r;
}

/* --- 1. make ------------------------------------------------------------- */

static int do_socketpair(const struct uwhere *w, void *arg)
{
	int *sv = arg;

	(void)w;
	return socketpair(AF_UNIX, sv[0] | SOCK_CLOEXEC, 0, sv) < 0 ? -errno : 0;
}

/* socketpair() gives both ends the creator's credentials: made with those s saw. */
static int pair(struct ubuild *b, struct usk *s, int *a, int *c)
{
	struct uwhere here;
	struct uas as;
	int sv[2] = { (int)s->u->type, -1 }, r;

	memset(&here, 0, sizeof(here));
	r = unix_at(b, &here, as_peer(s, &as), do_socketpair, sv);
	if (r < 0)
		return BFAIL(b, s, r, "socketpair: %s", strerror(-r));
	*a = sv[0];
	*c = sv[1];
	return 0;
}

static int make_one(struct ubuild *b, struct usk *s)
{
	const Ckpt__UnixSocket *u = s->u;
	struct usk *p = connected(s) ? sk_by_ino(b, u->peer_ino) : NULL;

	if (s->fd >= 0 || u->accepted)
		return 0; /* made with its peer, or by accept() later */
	if (stream_like(s) && p && !p->u->accepted)
		return pair(b, s, &s->fd, &p->fd);
	if (stream_like(s) && connected(s) && !p && !waits_on(b, s) && !u->peer_name.len)
		return pair(b, s, &s->fd, &s->tmp);
	if (unix_dgram_pair(b->rr->m, s->f))
		return p ? pair(b, s, &s->fd, &p->fd) : pair(b, s, &s->fd, &s->tmp);
	s->fd = socket(AF_UNIX, (int)u->type | SOCK_CLOEXEC, 0);
	return s->fd < 0 ? BFAIL(b, s, -errno, "socket: %s", strerror(errno)) : 0;
}

/* --- 2., 3. bind and listen ----------------------------------------------- */

struct listen_arg {
	int fd;
	int backlog;
};

static int do_listen(const struct uwhere *w, void *arg)
{
	const struct listen_arg *l = arg;

	(void)w;
	return listen(l->fd, l->backlog) < 0 ? -errno : 0;
}

static int bind_listen(struct ubuild *b, struct usk *s)
{
	const Ckpt__UnixSocket *u = s->u;
	struct uwhere here;
	struct uas as;
	int r = 0;

	if (!u->accepted && s->fd >= 0)
		r = unix_bind_owner(b, s);
	/* A stand-in for a closed datagram peer has its name: getpeername shows it. */
	if (r == 0 && s->tmp >= 0 && u->type == SOCK_DGRAM && u->peer_name.len) {
		struct uwhere at;

		r = unix_bind_temp(b, s->tmp, &u->peer_name, &at);
	}
	if (r < 0 || u->state != CKPT__UNIX_STATE__UNIX_LISTENING)
		return r;
	memset(&here, 0, sizeof(here));
	r = unix_at(b, &here, as_peer(s, &as), do_listen, &(struct listen_arg){ s->fd, (int)u->backlog });
	return r < 0 ? BFAIL(b, s, r, "listen: %s", strerror(-r)) : 0;
}

/* --- 4., 5. connections through listeners --------------------------------- */

static int do_connect(const struct uwhere *w, void *arg)
{
	return connect(*(int *)arg, (const struct sockaddr *)&w->a, w->alen) < 0 ? -errno : 0;
}

/* The listener a connection to name goes through: the image's, or one made for the restore. */
static int listener_for(struct ubuild *b, uint32_t type, const ProtobufCBinaryData *name, const struct uas *as,
			int *fd, const struct uwhere **at)
{
	struct uwhere here;
	struct utemp *t;
	int r;

	for (size_t i = 0; i < b->n; i++)
		if (b->s[i].u->state == CKPT__UNIX_STATE__UNIX_LISTENING && b->s[i].u->type == type &&
		    unix_name_eq(&b->s[i].u->name, name)) {
			*fd = b->s[i].fd;
			*at = &b->s[i].at;
			return 0;
		}
	for (size_t i = 0; i < b->nt; i++)
		if (b->t[i].listening && b->t[i].type == type && unix_name_eq(&b->t[i].name, name)) {
			*fd = b->t[i].fd;
			*at = &b->t[i].at;
			return 0;
		}
	t = array_push(&b->t, &b->nt, &b->capt, sizeof(*t));
	t->type = type;
	t->name = *name;
	t->listening = true;
	t->fd = socket(AF_UNIX, (int)type | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		return fail(b->ctx, -errno, "socket: %s", strerror(errno));
	r = unix_bind_temp(b, t->fd, name, &t->at);
	if (r < 0)
		return r;
	memset(&here, 0, sizeof(here));
	r = unix_at(b, &here, as, do_listen, &(struct listen_arg){ t->fd, 16 });
	if (r < 0)
		return fail(b->ctx, r, "listen: %s", strerror(-r));
	*fd = t->fd;
	*at = &t->at;
	return 0;
}

/* client connects to the listener of name (as who, for the accepted end's SO_PEERCRED); *acc is the accepted end. */
static int connect_accept(struct ubuild *b, struct usk *s, int client, const ProtobufCBinaryData *name,
			  const struct uas *who, const struct uas *lwho, int *acc)
{
	const struct uwhere *at;
	char str[160];
	int lfd, r = listener_for(b, s->u->type, name, lwho, &lfd, &at);

	if (r < 0)
		return r;
	r = unix_at(b, at, who, do_connect, &client);
	if (r < 0)
		return BFAIL(b, s, r, "connecting through %s: %s", unix_name_str(name, str, sizeof(str)), strerror(-r));
	*acc = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (*acc < 0 || fcntl(*acc, F_SETFL, 0) < 0)
		return BFAIL(b, s, -errno, "accepting through %s: %s", unix_name_str(name, str, sizeof(str)),
			     strerror(errno));
	return 0;
}

static int connect_one(struct ubuild *b, struct usk *s)
{
	const Ckpt__UnixSocket *u = s->u;
	struct usk *p = sk_by_ino(b, u->peer_ino);
	struct uas as, pas;
	int client, r;

	if (!stream_like(s) || !connected(s) || waits_on(b, s))
		return 0;
	if (u->accepted) {
		/* Its client: the peer, or a stand-in with the closed peer's name. */
		if (p) {
			client = p->fd;
		} else {
			s->tmp = client = socket(AF_UNIX, (int)u->type | SOCK_CLOEXEC, 0);
			if (client < 0)
				return BFAIL(b, s, -errno, "socket: %s", strerror(errno));
			if (u->peer_name.len) {
				struct uwhere at;

				r = unix_bind_temp(b, client, &u->peer_name, &at);
				if (r < 0)
					return r;
			}
		}
		return connect_accept(b, s, client, &u->name, as_peer(s, &as), p ? as_peer(p, &pas) : NULL, &s->fd);
	}
	/* A client whose accepted end is closed: a stand-in is accepted. */
	if (!p && u->peer_name.len)
		return connect_accept(b, s, s->fd, &u->peer_name, NULL, as_peer(s, &as), &s->tmp);
	return 0;
}

static int connect_waiting(struct ubuild *b, struct usk *l)
{
	for (size_t k = 0; k < l->u->n_pending; k++) {
		struct usk *c = sk_by_ino(b, l->u->pending[k]);
		char str[160];
		int r;

		/* Non-blocking: a backlog that is full now was not full then, and must not hang the restore. */
		if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0)
			return BFAIL(b, c, -errno, "fcntl: %s", strerror(errno));
		r = unix_at(b, &l->at, NULL, do_connect, &c->fd);
		if (r < 0)
			return BFAIL(b, c, r, "connecting to %s again, to wait to be accepted: %s",
				     unix_name_str(&l->u->name, str, sizeof(str)), strerror(-r));
	}
	return 0;
}

/* --- 6. queues ------------------------------------------------------------ */

struct sendq {
	struct ubuild *b;
	int fd;
	const Ckpt__UnixMessage *q;
	bool named;               /* to w's address */
};

static int fd_of_file(struct ubuild *b, uint64_t id)
{
	const struct model *m = b->rr->m;

	for (size_t i = 0; i < b->n; i++)
		if (b->s[i].f->id == id)
			return b->s[i].fd;
	for (size_t i = 0; i < m->files.n; i++)
		if (m->files.v[i]->id == id)
			return b->rr->file_fds[i];
	return -1;
}

static int do_send(const struct uwhere *w, void *arg)
{
	struct sendq *sq = arg;
	const Ckpt__UnixMessage *q = sq->q;
	char ctl[CMSG_SPACE(253 * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { q->data.data, q->data.len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl };
	struct cmsghdr *c;
	ssize_t n;

	memset(ctl, 0, sizeof(ctl));
	if (sq->named) {
		mh.msg_name = (void *)&w->a;
		mh.msg_namelen = w->alen;
	}
	if (q->n_file_ids)
		mh.msg_controllen += CMSG_SPACE(sizeof(int) * q->n_file_ids);
	if (q->has_cred_pid)
		mh.msg_controllen += CMSG_SPACE(sizeof(struct ucred));
	c = mh.msg_controllen ? CMSG_FIRSTHDR(&mh) : NULL;
	if (q->n_file_ids) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * q->n_file_ids);
		for (size_t i = 0; i < q->n_file_ids; i++) {
			int fd = fd_of_file(sq->b, q->file_ids[i]);

			if (fd < 0)
				return -EBADF;
			memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(int));
		}
		c = CMSG_NXTHDR(&mh, c);
	}
	if (q->has_cred_pid) {
		/* The sender's pid is not there yet: ckpt's stands in; uid and gid are kept. */
		struct ucred cr = { sq->b->self, q->cred_uid, q->cred_gid };

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(cr));
		memcpy(CMSG_DATA(c), &cr, sizeof(cr));
	}
	if (!mh.msg_controllen)
		mh.msg_control = NULL;
	n = sendmsg(sq->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return (size_t)n == q->data.len ? 0 : -ENOBUFS;
}

/* A socket with the sender's name to send a queued datagram from. */
static int sender_for(struct ubuild *b, const ProtobufCBinaryData *name, int *fd)
{
	struct utemp *t;

	for (size_t i = 0; name->len && i < b->n; i++)
		if (b->s[i].u->type == SOCK_DGRAM && !b->s[i].u->accepted && b->s[i].fd >= 0 &&
		    unix_name_eq(&b->s[i].u->name, name)) {
			*fd = b->s[i].fd;
			return 0;
		}
	for (size_t i = 0; i < b->nt; i++)
		if (!b->t[i].listening && unix_name_eq(&b->t[i].name, name)) {
			*fd = b->t[i].fd;
			return 0;
		}
	t = array_push(&b->t, &b->nt, &b->capt, sizeof(*t));
	memset(t, 0, sizeof(*t));
	t->type = SOCK_DGRAM;
	t->name = *name;
	t->fd = *fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		return fail(b->ctx, -errno, "socket: %s", strerror(errno));
	return name->len ? unix_bind_temp(b, t->fd, name, &t->at) : 0;
}

/* Room to write a whole queue at once; the socket's own size is set at the end. */
static void make_room(int fd)
{
	sock_set_int(fd, SOL_SOCKET, SO_SNDBUFFORCE, (int)(UNIX_QUEUE_MAX / 2 + (1 << 20)));
}

static int fill(struct ubuild *b, struct usk *s)
{
	const Ckpt__UnixSocket *u = s->u;
	struct usk *p = connected(s) ? sk_by_ino(b, u->peer_ino) : NULL;
	bool by_peer = stream_like(s) || unix_dgram_pair(b->rr->m, s->f);
	struct uwhere none;
	char str[160];

	if (!u->n_queue)
		return 0;
	memset(&none, 0, sizeof(none));
	for (size_t i = 0; i < u->n_queue; i++) {
		struct sendq sq = { b, p ? p->fd : s->tmp, u->queue[i], !by_peer };
		ProtobufCBinaryData anon = { 0, NULL };
		int r = 0;

		if (!by_peer)
			r = sender_for(b, u->queue[i]->has_sender ? &u->queue[i]->sender : &anon, &sq.fd);
		if (r < 0)
			return r;
		if (sq.fd < 0 || (!by_peer && !unix_named(u)))
			return BFAIL(b, s, -EBADMSG, "image damaged: queued data with no one to have sent it");
		make_room(sq.fd);
		r = by_peer ? do_send(&none, &sq) : unix_at(b, &s->at, NULL, do_send, &sq);
		if (r < 0)
			return BFAIL(b, s, r, "putting back queued message %zu of %zu (%zu bytes%s%s): %s", i + 1,
				     u->n_queue, u->queue[i]->data.len, u->queue[i]->has_sender ? " from " : "",
				     u->queue[i]->has_sender ? unix_name_str(&u->queue[i]->sender, str, sizeof(str)) : "",
				     r == -EAGAIN ? "its queue is full (net.unix.max_dgram_qlen?)" : strerror(-r));
	}
	return 0;
}

/* --- 7. datagram connections ---------------------------------------------- */

/* Connected first if all its queue came from its peer: the queue limit does not apply to the peer. */
static bool connect_early(struct ubuild *b, const struct usk *s)
{
	const struct usk *p = sk_by_ino(b, s->u->peer_ino);

	if (!p || s->u->type != SOCK_DGRAM || unix_dgram_pair(b->rr->m, s->f))
		return false;
	for (size_t i = 0; i < s->u->n_queue; i++)
		if (!s->u->queue[i]->has_sender || !unix_name_eq(&s->u->queue[i]->sender, &p->u->name))
			return false;
	return true;
}

static int dgram_connect(struct ubuild *b, struct usk *s)
{
	const Ckpt__UnixSocket *u = s->u;
	struct usk *p = sk_by_ino(b, u->peer_ino);
	const struct uwhere *at = NULL;
	struct uwhere out;
	char str[160];
	int r, fd;

	if (u->type != SOCK_DGRAM || !connected(s) || unix_dgram_pair(b->rr->m, s->f))
		return 0;
	if (p) {
		at = &p->at;
	} else if (u->peer_outside) {
		memset(&out, 0, sizeof(out));
		out.alen = unix_addr(&out.a, &u->peer_name);
		at = &out;
	} else {
		/* The peer is closed: connect to a stand-in with its name, which closes at the end. */
		r = sender_for(b, &u->peer_name, &fd);
		if (r < 0)
			return r;
		for (size_t i = 0; i < b->nt; i++)
			if (b->t[i].fd == fd)
				at = &b->t[i].at;
	}
	r = at ? unix_at(b, at, NULL, do_connect, &s->fd) : -EINVAL;
	if (r < 0)
		return BFAIL(b, s, r, "connecting again to %s%s: %s", unix_name_str(&u->peer_name, str, sizeof(str)),
			     u->peer_outside ? " (outside the tree)" : "", strerror(-r));
	return 0;
}

/* --- 8. the rest of the state --------------------------------------------- */

static void set_buf(struct ubuild *b, struct usk *s, int opt, int force, uint32_t want)
{
	int cur = 0;

	if (sock_get_int(s->fd, SOL_SOCKET, opt, &cur) == 0 && (uint32_t)cur == want)
		return;
	/* The kernel doubles what it is given. */
	if (sock_set_int(s->fd, SOL_SOCKET, force, (int)(want / 2)) < 0)
		sock_set_int(s->fd, SOL_SOCKET, opt, (int)(want / 2));
	if (sock_get_int(s->fd, SOL_SOCKET, opt, &cur) == 0 && (uint32_t)cur != want)
		pr_warn(b->ctx, "unix socket %llu: %s is %d, not %u as before", (unsigned long long)s->f->ino,
			opt == SO_SNDBUF ? "SO_SNDBUF" : "SO_RCVBUF", cur, want);
}

static int set_timeo(int fd, int opt, uint64_t us)
{
	struct timeval tv = { (time_t)(us / 1000000u), (suseconds_t)(us % 1000000u) };

	return us ? setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)) : 0;
}

static int finish_one(struct ubuild *b, struct usk *s)
{
	const Ckpt__UnixSocket *u = s->u;
	int r = 0;

	if (u->shutdown && shutdown(s->fd, (int)u->shutdown - 1) < 0)
		return BFAIL(b, s, -errno, "shutdown: %s", strerror(errno));
	if (u->opts & UNIX_OPT_PASSCRED)
		r |= sock_set_int(s->fd, SOL_SOCKET, SO_PASSCRED, 1);
	if (u->opts & UNIX_OPT_PASSSEC)
		r |= sock_set_int(s->fd, SOL_SOCKET, SO_PASSSEC, 1);
	if (u->opts & UNIX_OPT_PASSPIDFD)
		r |= sock_set_int(s->fd, SOL_SOCKET, SO_PASSPIDFD, 1);
	if (u->opts & UNIX_OPT_NO_PASSRIGHTS)
		r |= sock_set_int(s->fd, SOL_SOCKET, SO_PASSRIGHTS, 0);
	if (u->has_rcvlowat && u->rcvlowat > 1)
		r |= sock_set_int(s->fd, SOL_SOCKET, SO_RCVLOWAT, (int)u->rcvlowat);
	if (u->has_peek_off && u->peek_off >= 0)
		r |= sock_set_int(s->fd, SOL_SOCKET, SO_PEEK_OFF, u->peek_off);
	r |= set_timeo(s->fd, SO_RCVTIMEO, u->rcvtimeo_us) | set_timeo(s->fd, SO_SNDTIMEO, u->sndtimeo_us);
	if (r)
		return BFAIL(b, s, -errno, "setting its options again: %s", strerror(errno));
	if (u->has_sndbuf)
		set_buf(b, s, SO_SNDBUF, SO_SNDBUFFORCE, u->sndbuf);
	if (u->has_rcvbuf)
		set_buf(b, s, SO_RCVBUF, SO_RCVBUFFORCE, u->rcvbuf);
	if (fcntl(s->fd, F_SETFL, (int)s->f->flags & O_NONBLOCK) < 0)
		return BFAIL(b, s, -errno, "fcntl: %s", strerror(errno));
	return 0;
}

/* --- all of it ------------------------------------------------------------ */

static int build(struct ubuild *b)
{
	int r = collect(b);

	for (size_t i = 0; r == 0 && i < b->n; i++)
		r = make_one(b, &b->s[i]);
	for (size_t i = 0; r == 0 && i < b->n; i++)
		r = bind_listen(b, &b->s[i]);
	for (size_t i = 0; r == 0 && i < b->n; i++)
		r = connect_one(b, &b->s[i]);
	for (size_t i = 0; r == 0 && i < b->n; i++)
		if (b->s[i].u->state == CKPT__UNIX_STATE__UNIX_LISTENING)
			r = connect_waiting(b, &b->s[i]);
	for (size_t i = 0; r == 0 && i < b->n; i++)
		if ((b->s[i].early = connect_early(b, &b->s[i])))
			r = dgram_connect(b, &b->s[i]);
	for (size_t i = 0; r == 0 && i < b->n; i++)
		if (b->s[i].fd < 0)
			r = BFAIL(b, &b->s[i], -EBADMSG, "image damaged: its connection cannot be made");
	for (size_t i = 0; r == 0 && i < b->n; i++)
		r = fill(b, &b->s[i]);
	for (size_t i = 0; r == 0 && i < b->n; i++)
		if (!b->s[i].early)
			r = dgram_connect(b, &b->s[i]);
	for (size_t i = 0; r == 0 && i < b->n; i++)
		r = finish_one(b, &b->s[i]);
	return r;
}

static void build_free(struct ubuild *b)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->s[i].fd >= 0)
			close(b->s[i].fd);
		if (b->s[i].tmp >= 0)
			close(b->s[i].tmp);
	}
	for (size_t i = 0; i < b->nt; i++)
		if (b->t[i].fd >= 0)
			close(b->t[i].fd);
	unix_scratch_remove(b);
	free(b->s);
	free(b->t);
}

/* Makes every socket of the image; each File's socket waits in an object until opened. */
static int build_all(struct ckpt_ctx *ctx, struct res_restore *rr)
{
	struct ubuild b = { .ctx = ctx, .rr = rr, .self = getpid() };
	int r = build(&b);

	for (size_t i = 0; r == 0 && i < b.n; i++) {
		int fd = fcntl(b.s[i].fd, F_DUPFD_CLOEXEC, rr->fd_floor);

		if (fd < 0)
			r = fail(ctx, -errno, "fcntl: %s", strerror(errno));
		else
			res_obj_add(rr, FILE_KIND_UNIX, b.s[i].f->id)->fds[0] = fd;
	}
	if (r == 0)
		res_obj_add(rr, FILE_KIND_UNIX, 0); /* built: File ids are never 0 */
	build_free(&b);
	return r;
}

int unix_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *fd)
{
	struct res_obj *o;
	int r;

	if (!res_obj_find(rr, FILE_KIND_UNIX, 0) && (r = build_all(ctx, rr)) < 0)
		return r;
	o = res_obj_find(rr, FILE_KIND_UNIX, f->id);
	if (!o || o->fds[0] < 0)
		return fail(ctx, -EBADMSG, "image damaged: unix socket file %llu", (unsigned long long)f->id);
	*fd = take_fd(&o->fds[0]);
	return 0;
}
