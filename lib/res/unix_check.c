// SPDX-License-Identifier: MIT
/*
 * Unix sockets, once the whole tree is dumped: every socket's peer and every
 * connection waiting on a listener must be inside the tree (or the socket is
 * refused), and each end of a connection gets its role for the restore: the
 * end that came from accept() takes its name from a listener, the other end
 * connects.
 */
#include <linux/sockios.h>

#include "unix.h"

struct ucheck {
	struct ckpt_ctx *ctx;
	struct model *m;
	/* Listening sockets of the whole network namespace: clients waiting on them. */
	struct waiting {
		uint32_t client, listener;
	} *waiting;
	size_t nwaiting, capwaiting;
};

#define CFAIL(c, f, err, fmt, ...)                                                                   \
	({                                                                                           \
		char w_[64];                                                                         \
		fail((c)->ctx, err, "%s: unix %s socket " fmt, unix_where((c)->m, f, w_, sizeof(w_)), \
		     unix_type_str((f)->unix_sock->type), ##__VA_ARGS__);                            \
	})

#define by_ino unix_by_ino

static int collect_waiting(const struct unix_diag *d, void *arg)
{
	struct ucheck *c = arg;

	for (size_t i = 0; i < d->nicons; i++) {
		struct waiting *w = array_push(&c->waiting, &c->nwaiting, &c->capwaiting, sizeof(*w));

		w->client = d->icons[i];
		w->listener = d->ino;
	}
	return 0;
}

static uint32_t listener_of(const struct ucheck *c, uint64_t client)
{
	for (size_t i = 0; i < c->nwaiting; i++)
		if (c->waiting[i].client == client)
			return c->waiting[i].listener;
	return 0;
}

/* A listening socket of the image with this type and name. */
static const Ckpt__File *listener_named(const struct model *m, uint32_t type, const ProtobufCBinaryData *name)
{
	for (size_t i = 0; name->len && i < m->files.n; i++) {
		const Ckpt__UnixSocket *u = m->files.v[i]->unix_sock;

		if (m->files.v[i]->kind == FILE_KIND_UNIX && u && u->state == CKPT__UNIX_STATE__UNIX_LISTENING &&
		    u->type == type && unix_name_eq(&u->name, name))
			return m->files.v[i];
	}
	return NULL;
}

/* Each client waiting on a listener of the tree must be in the tree, and vice versa. */
static int check_listener(struct ucheck *c, Ckpt__File *f)
{
	const Ckpt__UnixSocket *u = f->unix_sock;
	char name[128];

	for (size_t i = 0; i < u->n_pending; i++)
		if (!by_ino(c->m, u->pending[i]))
			return CFAIL(c, f, -EOPNOTSUPP,
				     "listening on %s has a connection from outside the tree (socket %llu) waiting to be accepted; not supported",
				     unix_name_str(&u->name, name, sizeof(name)), (unsigned long long)u->pending[i]);
	return 0;
}

/* A connected stream or seqpacket socket whose peer has no inode: waiting to be accepted, or its peer is closed. */
static int check_no_peer(struct ucheck *c, Ckpt__File *f)
{
	const Ckpt__UnixSocket *u = f->unix_sock;
	uint32_t l = listener_of(c, f->ino);
	struct unix_diag di;
	char name[128];
	int r;

	if (!l)
		return 0; /* the peer is closed */
	if (!by_ino(c->m, l))
		return CFAIL(c, f, -EOPNOTSUPP,
			     "waits to be accepted by %s, a listening socket outside the tree; not supported",
			     unix_name_str(&u->peer_name, name, sizeof(name)));
	/* What it sent waits in a socket that has no descriptor yet: unreadable without accepting it. */
	r = unix_diag_one(f->ino, &di);
	unix_diag_free(&di);
	if (r < 0)
		return CFAIL(c, f, r, "sock_diag: %s", strerror(-r));
	if (di.wqueue)
		return CFAIL(c, f, -EOPNOTSUPP,
			     "waits to be accepted by %s and has already sent data, which cannot be read before it is accepted; not supported",
			     unix_name_str(&u->peer_name, name, sizeof(name)));
	return 0;
}

/*
 * Which end of a stream connection came from accept(): it carries the
 * listener's name. An end named like a listener of the tree was accepted
 * from it; otherwise the named end of a connection with an unnamed one.
 */
static int stream_role(struct ucheck *c, Ckpt__File *f)
{
	Ckpt__UnixSocket *u = f->unix_sock;
	bool pending = !u->peer_ino && listener_of(c, f->ino);
	char a[128], b[128];

	if (!unix_named(u) || pending)
		return 0;
	if (listener_named(c->m, u->type, &u->name))
		u->accepted = true;
	else if (listener_named(c->m, u->type, &u->peer_name))
		u->accepted = false;
	else if (!u->peer_name.len)
		u->accepted = true;
	else
		return CFAIL(c, f, -EOPNOTSUPP,
			     "%s connected to %s: both ends are named and neither is a listening socket of the tree, so which end was accepted is unknown; not supported",
			     unix_name_str(&u->name, a, sizeof(a)), unix_name_str(&u->peer_name, b, sizeof(b)));
	u->has_accepted = true;
	if (u->accepted)
		u->file = NULL; /* the file is the listener's */
	return 0;
}

static int check_stream(struct ucheck *c, Ckpt__File *f)
{
	const Ckpt__UnixSocket *u = f->unix_sock;
	char name[128];

	if (u->state == CKPT__UNIX_STATE__UNIX_LISTENING)
		return check_listener(c, f);
	if (u->state != CKPT__UNIX_STATE__UNIX_CONNECTED)
		return 0;
	if (u->peer_ino && !by_ino(c->m, u->peer_ino))
		return CFAIL(c, f, -EOPNOTSUPP, "is connected to %s (socket %llu), outside the tree; not supported",
			     unix_name_str(&u->peer_name, name, sizeof(name)), (unsigned long long)u->peer_ino);
	if (!u->peer_ino) {
		int r = check_no_peer(c, f);

		if (r < 0)
			return r;
	}
	return stream_role(c, f);
}

/* Every queued datagram must have come from the socket's peer (restored as a socketpair). */
static int check_from_peer(struct ucheck *c, Ckpt__File *f, const ProtobufCBinaryData *peer_name)
{
	const Ckpt__UnixSocket *u = f->unix_sock;
	char a[128], b[128];

	for (size_t i = 0; i < u->n_queue; i++) {
		ProtobufCBinaryData s = u->queue[i]->has_sender ? u->queue[i]->sender : (ProtobufCBinaryData){ 0, NULL };

		if (!unix_name_eq(&s, peer_name))
			return CFAIL(c, f, -EOPNOTSUPP,
				     "holds a datagram from %s while connected to %s; not supported",
				     unix_name_str(&s, a, sizeof(a)), unix_name_str(peer_name, b, sizeof(b)));
	}
	return 0;
}

static int check_dgram(struct ucheck *c, Ckpt__File *f)
{
	Ckpt__UnixSocket *u = f->unix_sock;
	const Ckpt__File *p;
	char name[128];

	if (u->state != CKPT__UNIX_STATE__UNIX_CONNECTED)
		return 0;
	p = by_ino(c->m, u->peer_ino);
	if (u->peer_ino && !p) {
		/* Outside the tree: connected again to the same name at restore, as a logger's /dev/log is. */
		if (!u->peer_name.len)
			return CFAIL(c, f, -EOPNOTSUPP,
				     "is connected to an unnamed socket outside the tree (socket %llu); not supported",
				     (unsigned long long)u->peer_ino);
		if (u->peer_name.data[0] && u->peer_name.data[0] != '/')
			return CFAIL(c, f, -EOPNOTSUPP,
				     "is connected to %s outside the tree, a relative name it cannot be connected to again; not supported",
				     unix_name_str(&u->peer_name, name, sizeof(name)));
		u->has_peer_outside = u->peer_outside = true;
		return unix_named(u) ? 0 : check_from_peer(c, f, &u->peer_name);
	}
	if (p && p->unix_sock->peer_ino != f->ino && !unix_named(u) && !unix_named(p->unix_sock))
		return CFAIL(c, f, -EOPNOTSUPP,
			     "is connected to an unnamed socket that is connected to a third one; not supported");
	if (unix_dgram_pair(c->m, f))
		return check_from_peer(c, f, &u->peer_name);
	if (!unix_named(u) && u->n_queue)
		return CFAIL(c, f, -EOPNOTSUPP, "is unnamed and holds datagrams from a socket it is not paired with; not supported");
	return 0;
}

int unix_dump_finish(struct ckpt_ctx *ctx, struct model *m)
{
	struct ucheck c = { .ctx = ctx, .m = m };
	bool any = false;
	int r = 0;

	for (size_t i = 0; i < m->files.n; i++)
		any |= m->files.v[i]->kind == FILE_KIND_UNIX;
	if (!any)
		return 0;
	r = unix_diag_each(collect_waiting, &c);
	if (r < 0)
		r = fail(ctx, r, "listing unix sockets (sock_diag): %s", strerror(-r));
	for (size_t i = 0; r == 0 && i < m->files.n; i++) {
		Ckpt__File *f = m->files.v[i];

		if (f->kind != FILE_KIND_UNIX || !f->unix_sock)
			continue;
		r = f->unix_sock->type == SOCK_DGRAM ? check_dgram(&c, f) : check_stream(&c, f);
	}
	free(c.waiting);
	return r;
}
