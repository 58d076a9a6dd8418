// SPDX-License-Identifier: MIT
/*
 * Unix sockets of every type: socketpairs, listening sockets (path and
 * abstract names, with connections not accepted yet), connected sockets
 * with the data queued in both directions, descriptors in flight
 * (SCM_RIGHTS), shutdown states and options. unix_dump.c reads them,
 * unix_restore.c makes them again; this file holds the ops and what both
 * sides share (sock_diag queries, names).
 */
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/xattr.h>

#include "unix.h"

/* The kind of a socket is only known to the socket layer: sockfs tells its protocol's name. */
static bool unix_match(const struct fd_desc *fd)
{
	char path[96], proto[32];
	ssize_t n;

	if (!S_ISSOCK(fd->st.st_mode))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/fd/%d", fd->pid, fd->tid, fd->fd);
	n = getxattr(path, "system.sockprotoname", proto, sizeof(proto) - 1);
	if (n <= 0)
		return false;
	proto[n] = 0;
	return !strcmp(proto, "UNIX") || !strcmp(proto, "UNIX-STREAM");
}

struct diag_req {
	struct nlmsghdr h;
	struct unix_diag_req r;
};

static void diag_request(struct diag_req *q, uint64_t ino, bool all)
{
	memset(q, 0, sizeof(*q));
	q->h.nlmsg_len = sizeof(*q);
	q->h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q->h.nlmsg_flags = NLM_F_REQUEST | (all ? NLM_F_DUMP : 0);
	q->r.sdiag_family = AF_UNIX;
	q->r.udiag_states = ~0u;
	q->r.udiag_ino = (uint32_t)ino;
	q->r.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN;
	q->r.udiag_cookie[0] = q->r.udiag_cookie[1] = ~0u; /* INET_DIAG_NOCOOKIE: any socket with that inode */
}

static int diag_parse(const struct nlmsghdr *h, struct unix_diag *d)
{
	const struct unix_diag_msg *msg = NLMSG_DATA(h);
	const struct rtattr *tb[UNIX_DIAG_MAX + 1];

	memset(d, 0, sizeof(*d));
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*msg)))
		return -EIO;
	d->ino = msg->udiag_ino;
	d->type = msg->udiag_type;
	d->state = msg->udiag_state;
	sock_attrs(h, sizeof(*msg), tb, UNIX_DIAG_MAX);
	if (tb[UNIX_DIAG_PEER] && RTA_PAYLOAD(tb[UNIX_DIAG_PEER]) >= 4)
		memcpy(&d->peer, RTA_DATA(tb[UNIX_DIAG_PEER]), 4);
	if (tb[UNIX_DIAG_SHUTDOWN] && RTA_PAYLOAD(tb[UNIX_DIAG_SHUTDOWN]) >= 1)
		d->shutdown = *(const uint8_t *)RTA_DATA(tb[UNIX_DIAG_SHUTDOWN]);
	if (tb[UNIX_DIAG_RQLEN] && RTA_PAYLOAD(tb[UNIX_DIAG_RQLEN]) >= sizeof(struct unix_diag_rqlen)) {
		const struct unix_diag_rqlen *q = RTA_DATA(tb[UNIX_DIAG_RQLEN]);

		d->rqueue = q->udiag_rqueue;
		d->wqueue = q->udiag_wqueue;
	}
	if (tb[UNIX_DIAG_VFS] && RTA_PAYLOAD(tb[UNIX_DIAG_VFS]) >= sizeof(struct unix_diag_vfs)) {
		const struct unix_diag_vfs *v = RTA_DATA(tb[UNIX_DIAG_VFS]);

		d->has_vfs = true;
		d->vfs_ino = v->udiag_vfs_ino;
		d->vfs_dev = v->udiag_vfs_dev;
	}
	if (tb[UNIX_DIAG_ICONS]) {
		d->nicons = RTA_PAYLOAD(tb[UNIX_DIAG_ICONS]) / 4;
		d->icons = xcalloc(d->nicons + 1, 4);
		memcpy(d->icons, RTA_DATA(tb[UNIX_DIAG_ICONS]), d->nicons * 4);
	}
	return 0;
}

void unix_diag_free(struct unix_diag *d)
{
	free(d->icons);
	d->icons = NULL;
	d->nicons = 0;
}

static int one_cb(const struct nlmsghdr *h, void *arg)
{
	return diag_parse(h, arg);
}

int unix_diag_one(uint64_t ino, struct unix_diag *out)
{
	struct diag_req q;

	memset(out, 0, sizeof(*out));
	diag_request(&q, ino, false);
	return sock_diag(&q, sizeof(q), one_cb, out);
}

struct each {
	int (*cb)(const struct unix_diag *d, void *arg);
	void *arg;
};

static int each_cb(const struct nlmsghdr *h, void *arg)
{
	struct each *e = arg;
	struct unix_diag d;
	int r = diag_parse(h, &d);

	if (r == 0)
		r = e->cb(&d, e->arg);
	unix_diag_free(&d);
	return r;
}

int unix_diag_each(int (*cb)(const struct unix_diag *d, void *arg), void *arg)
{
	struct each e = { cb, arg };
	struct diag_req q;

	diag_request(&q, 0, true);
	return sock_diag(&q, sizeof(q), each_cb, &e);
}

socklen_t unix_addr(struct sockaddr_un *a, const ProtobufCBinaryData *name)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path, name->data, name->len < UNIX_NAME_MAX ? name->len : UNIX_NAME_MAX);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (name->len < UNIX_NAME_MAX ? name->len : UNIX_NAME_MAX));
}

const char *unix_name_str(const ProtobufCBinaryData *name, char *buf, size_t len)
{
	if (!name->len)
		snprintf(buf, len, "an unnamed socket");
	else if (name->data[0])
		snprintf(buf, len, "%.*s", (int)strnlen((const char *)name->data, name->len), (const char *)name->data);
	else
		snprintf(buf, len, "@%.*s", (int)name->len - 1, (const char *)name->data + 1);
	return buf;
}

bool unix_name_eq(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
	return a->len == b->len && (!a->len || !memcmp(a->data, b->data, a->len));
}

bool unix_named(const Ckpt__UnixSocket *u)
{
	return u->has_name && u->name.len > 0;
}

const char *unix_type_str(uint32_t type)
{
	return type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "datagram" : "seqpacket";
}

Ckpt__File *unix_by_ino(const struct model *m, uint64_t ino)
{
	for (size_t i = 0; ino && i < m->files.n; i++)
		if (m->files.v[i]->kind == FILE_KIND_UNIX && m->files.v[i]->unix_sock && m->files.v[i]->ino == ino)
			return m->files.v[i];
	return NULL;
}

/*
 * A datagram socket that must be made with socketpair(): it is connected
 * to a socket of the image that is connected back to it, or to a closed
 * peer, and one of the two is unnamed (connect() needs a name). Its queue
 * can then only be filled by its partner.
 */
bool unix_dgram_pair(const struct model *m, const Ckpt__File *f)
{
	const Ckpt__UnixSocket *u = f->unix_sock;
	const Ckpt__File *p;

	if (u->type != SOCK_DGRAM || u->state != CKPT__UNIX_STATE__UNIX_CONNECTED || u->peer_outside)
		return false;
	if (!u->peer_ino)
		return !unix_named(u) || !u->peer_name.len;
	p = unix_by_ino(m, u->peer_ino);
	return p && p->unix_sock->peer_ino == f->ino && (!unix_named(u) || !unix_named(p->unix_sock));
}

const char *unix_where(const struct model *m, const Ckpt__File *f, char *buf, size_t len)
{
	for (size_t i = 0; i < m->fds.n; i++)
		if (m->fds.v[i]->file_id == f->id) {
			snprintf(buf, len, "pid %u fd %u", m->fds.v[i]->pid, m->fds.v[i]->fd);
			return buf;
		}
	snprintf(buf, len, "unix socket %llu (in flight)", (unsigned long long)f->ino);
	return buf;
}

/* For ckpt info: "unix stream socket 123, connected to 456, 3 queued (52 bytes)". */
static void unix_describe(const Ckpt__File *f, char *buf, size_t len)
{
	static const char *const states[] = { "unconnected", "listening", "connected" };
	const Ckpt__UnixSocket *u = f->unix_sock;
	char name[160] = "", peer[200] = "";
	size_t bytes = 0, fds = 0;

	if (!u) {
		snprintf(buf, len, "unix socket %llu", (unsigned long long)f->ino);
		return;
	}
	for (size_t i = 0; i < u->n_queue; i++) {
		bytes += u->queue[i]->data.len;
		fds += u->queue[i]->n_file_ids;
	}
	if (unix_named(u) && u->name.len <= UNIX_NAME_MAX)
		unix_name_str(&u->name, name, 80);
	if (u->state == CKPT__UNIX_STATE__UNIX_CONNECTED && u->peer_outside && u->peer_name.len <= UNIX_NAME_MAX)
		snprintf(peer, sizeof(peer), " to %s, outside the tree", unix_name_str(&u->peer_name, name + 80, 80));
	else if (u->state == CKPT__UNIX_STATE__UNIX_CONNECTED)
		snprintf(peer, sizeof(peer), " to socket %llu%s", (unsigned long long)u->peer_ino,
			 u->peer_ino ? "" : " (closed, or not accepted yet)");
	snprintf(buf, len, "unix %s socket %llu%s%s%s, %s%s, %zu queued (%zu bytes, %zu descriptors)%s%s",
		 u->type == SOCK_STREAM || u->type == SOCK_DGRAM || u->type == SOCK_SEQPACKET ? unix_type_str(u->type) : "?",
		 (unsigned long long)f->ino, name[0] ? " " : "", name, u->accepted ? " (accepted)" : "",
		 u->state < 3 ? states[u->state] : "?", peer, u->n_queue, bytes, fds,
		 u->shutdown & 1 ? ", no more receiving" : "", u->shutdown & 2 ? ", no more sending" : "");
}

const struct res_ops res_unix = {
	.name = "unix",
	.kind = FILE_KIND_UNIX,
	.match = unix_match,
	.dump = unix_dump,
	.dump_finish = unix_dump_finish,
	.open = unix_open,
	.open_last = true,
	.describe = unix_describe,
};
