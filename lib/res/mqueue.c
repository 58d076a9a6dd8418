// SPDX-License-Identifier: MIT
/*
 * POSIX message queues (mq_open). A descriptor names a queue by its inode
 * on the mqueue filesystem; all descriptions of one queue share it. The
 * first File record of a queue also holds its attributes, owner, mode,
 * messages (with their priorities, in the order mq_receive gives them) and
 * the process registered with mq_notify: those are read while the tree is
 * frozen, by mqueue_collect() in lib/ipc_mqueue.c, since reading the
 * messages takes them out of the queue, which must get them back.
 *
 * Restore makes the queue again under its name (refusing to if a queue of
 * that name exists), puts the messages back, and opens each description
 * through /proc with its own flags. A queue whose name was removed is made
 * under a name of our own, removed at once. The notification is registered
 * again at the very end (lib/restore_finish.c), as the registered process
 * itself: closing any descriptor of the queue would undo it.
 */
#include <fcntl.h>
#include <mqueue.h>
#include <sys/resource.h>
#include <sys/vfs.h>

#include "res.h"

#define MQUEUE_MAGIC_ 0x19800202

static bool mqueue_match(const struct fd_desc *fd)
{
	char path[96];
	struct statfs sfs;

	if (!S_ISREG(fd->st.st_mode) || fd->link[0] != '/')
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/fd/%d", fd->pid, fd->tid, fd->fd);
	return statfs(path, &sfs) == 0 && sfs.f_type == MQUEUE_MAGIC_;
}

static int mqueue_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
		       Ckpt__File *f, struct model *m)
{
	const char *deleted = strstr(fd->link, " (deleted)");
	size_t len = deleted ? (size_t)(deleted - fd->link) : strlen(fd->link);
	char *name = arena_alloc(&m->arena, len + 1);

	(void)opts;
	memcpy(name, fd->link, len);
	if (len < 2 || len > NAME_MAX || memchr(name + 1, '/', len - 1))
		return fail(ctx, -EINVAL, "pid %d fd %d: message queue %s: unexpected name", fd->pid, fd->fd, fd->link);
	f->path = name;
	f->has_mq_unlinked = true;
	f->mq_unlinked = deleted != NULL;
	f->has_mq_uid = f->has_mq_gid = true;
	f->mq_uid = fd->st.st_uid;
	f->mq_gid = fd->st.st_gid;
	return 0; /* the queue's state: mqueue_collect(), once the tree is frozen */
}

/* The record that holds the queue's attributes and messages. */
const Ckpt__File *mqueue_state(const struct model *m, uint64_t ino)
{
	for (size_t i = 0; i < m->files.n; i++)
		if (m->files.v[i]->kind == FILE_KIND_MQUEUE && m->files.v[i]->ino == ino && m->files.v[i]->has_mq_maxmsg)
			return m->files.v[i];
	return NULL;
}

/* A queue's accounting (RLIMIT_MSGQUEUE) is ours while we make it: allow it what we may. */
static void raise_msgqueue_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MSGQUEUE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
		if (setrlimit(RLIMIT_MSGQUEUE, &rl) < 0 && getrlimit(RLIMIT_MSGQUEUE, &rl) == 0) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_MSGQUEUE, &rl);
		}
	}
}

static int create_queue(struct ckpt_ctx *ctx, const Ckpt__File *s, char *name, size_t len)
{
	struct mq_attr attr = { .mq_maxmsg = (long)s->mq_maxmsg, .mq_msgsize = (long)s->mq_msgsize };
	int flags = O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC, fd;

	snprintf(name, len, "%s", s->path);
	raise_msgqueue_limit();
	fd = mq_open(name, flags, s->mode & 0777, &attr);
	/* An unlinked queue's name is only what its descriptors show: if taken, another does. */
	if (fd < 0 && errno == EEXIST && s->mq_unlinked) {
		snprintf(name, len, "/ckpt-restore-%d-%llu", getpid(), (unsigned long long)s->ino);
		fd = mq_open(name, flags, s->mode & 0777, &attr);
	}
	if (fd < 0 && errno == EEXIST && !s->mq_unlinked)
		return fail(ctx, -EEXIST, "POSIX message queue %s exists already; remove it (mq_unlink) or restore elsewhere",
			    s->path);
	if (fd < 0)
		return fail(ctx, -errno, "POSIX message queue %s: creating it (%llu messages of %llu bytes): %s%s", s->path,
			    (unsigned long long)s->mq_maxmsg, (unsigned long long)s->mq_msgsize, strerror(errno),
			    errno == EINVAL ? " (above fs.mqueue.msg_max or msgsize_max here? that needs CAP_SYS_RESOURCE)" : "");
	/* mq_open applied our umask, and we are not its owner. */
	if (fchmod(fd, s->mode & 0777) < 0 || fchown(fd, s->has_mq_uid ? s->mq_uid : 0, s->has_mq_gid ? s->mq_gid : 0) < 0) {
		int e = errno;

		mq_unlink(name);
		close(fd);
		return fail(ctx, -e, "POSIX message queue %s: setting its owner and mode: %s", s->path, strerror(e));
	}
	if (s->mq_unlinked)
		mq_unlink(name);
	return fd;
}

static int fill_queue(struct ckpt_ctx *ctx, const Ckpt__File *s, int fd)
{
	for (size_t i = 0; i < s->n_mq_messages; i++) {
		const Ckpt__MqMessage *msg = s->mq_messages[i];
		/* An empty message decodes without a buffer. */
		const char *data = msg->data.len ? (const char *)msg->data.data : "";

		if (mq_send(fd, data, msg->data.len, msg->prio) < 0)
			return fail(ctx, -errno, "POSIX message queue %s: putting back message %zu: %s", s->path, i,
				    strerror(errno));
	}
	return 0;
}

static int make_queue(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, struct res_obj **out)
{
	const Ckpt__File *s = mqueue_state(rr->m, f->ino);
	char name[NAME_MAX + 2];
	struct res_obj *o;
	int fd, r;

	if (!s)
		return fail(ctx, -EBADMSG, "image damaged: message queue %.64s has no state", f->path);
	fd = create_queue(ctx, s, name, sizeof(name));
	if (fd < 0)
		return fd;
	r = fill_queue(ctx, s, fd);
	if (r < 0 && !s->mq_unlinked)
		mq_unlink(name); /* ours: nothing else will remove it */
	o = res_obj_add(rr, FILE_KIND_MQUEUE, f->ino);
	o->fds[0] = fcntl(fd, F_DUPFD_CLOEXEC, rr->fd_floor);
	if (o->fds[0] < 0 && r == 0)
		r = fail(ctx, -errno, "POSIX message queue %s: %s", s->path, strerror(errno));
	close(fd);
	*out = o;
	return r;
}

static int mqueue_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	struct res_obj *o = res_obj_find(rr, FILE_KIND_MQUEUE, f->ino);
	char path[64];
	int r;

	if (!f->path || f->path[0] != '/')
		return fail(ctx, -EBADMSG, "image damaged: message queue file %llu has no name", (unsigned long long)f->id);
	if (!o && (r = make_queue(ctx, rr, f, &o)) < 0)
		return r;
	/* A description of its own, with its own flags, on the same queue. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", o->fds[0]);
	*out = open(path, (int)(f->flags & (O_ACCMODE | O_NONBLOCK)) | O_CLOEXEC);
	if (*out < 0)
		return fail(ctx, -errno, "POSIX message queue %s: opening it: %s", f->path, strerror(errno));
	return 0;
}

/*
 * Failure injection (CKPT_FAIL_AT) while lib/ipc_mqueue.c holds a queue's
 * messages, and once its notification went off: the dump must then give
 * the queue back as it was. Here, with the kind, for tests/t-fail-dump.sh.
 */
bool mqueue_fail_point(struct ckpt_ctx *ctx, bool fired)
{
	if (fired)
		return fail_point(ctx, "mqueue-fired");
	return fail_point(ctx, "mqueue-drained");
}

const struct res_ops res_mqueue = {
	.name = "mqueue",
	.kind = FILE_KIND_MQUEUE,
	.match = mqueue_match,
	.dump = mqueue_dump,
	.open = mqueue_open,
};
