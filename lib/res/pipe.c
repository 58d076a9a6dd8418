// SPDX-License-Identifier: MIT
/*
 * Anonymous pipes, with the bytes in them. The dump copies those bytes
 * without taking them out of the pipe (tee from a second reader opened
 * through /proc), so a tree that goes on running loses nothing. The restore
 * makes one pipe per pipe of the image, of the same capacity, and puts the
 * bytes back before any process runs. An end held only by a process outside
 * the tree is gone after a restore: readers then see end of file once the
 * saved bytes are read, writers EPIPE.
 */
#include <fcntl.h>
#include <sys/ioctl.h>

#include "res.h"

#define PIPE_MAX_SAVED (64u << 20)

static bool pipe_match(const struct fd_desc *fd)
{
	return S_ISFIFO(fd->st.st_mode) && !strncmp(fd->link, "pipe:", 5);
}

/* The bytes in the pipe, copied with tee() so the pipe keeps them. */
int pipe_read_contents(struct ckpt_ctx *ctx, const struct fd_desc *fd, Ckpt__File *f, struct model *m)
{
	char path[96];
	_cleanup_close_ int rfd = -1, t0 = -1, t1 = -1;
	int t[2], size, queued = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/fd/%d", fd->pid, fd->tid, fd->fd);
	rfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rfd < 0)
		return fail(ctx, -errno, "pid %d fd %d: opening the pipe to read its data: %s", fd->pid, fd->fd,
			    strerror(errno));
	size = fcntl(rfd, F_GETPIPE_SZ);
	if (size <= 0 || ioctl(rfd, FIONREAD, &queued) < 0 || pipe2(t, O_NONBLOCK | O_CLOEXEC) < 0)
		return fail(ctx, -errno, "pid %d fd %d: pipe: %s", fd->pid, fd->fd, strerror(errno));
	t0 = t[0];
	t1 = t[1];
	f->has_pipe_size = true;
	f->pipe_size = (uint32_t)size;
	if (queued == 0)
		return 0;
	if ((unsigned)queued > PIPE_MAX_SAVED || fcntl(t1, F_SETPIPE_SZ, size) < size)
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: pipe with %d bytes in a %d-byte buffer cannot be copied",
			    fd->pid, fd->fd, queued, size);
	n = tee(rfd, t1, (size_t)queued, SPLICE_F_NONBLOCK);
	if (n != queued)
		return fail(ctx, n < 0 ? -errno : -EIO, "pid %d fd %d: copying the %d bytes in the pipe: %s", fd->pid,
			    fd->fd, queued, n < 0 ? strerror(errno) : "short copy");
	f->has_pipe_data = true;
	f->pipe_data.len = (size_t)n;
	f->pipe_data.data = arena_alloc(&m->arena, (size_t)n);
	if (read_full(t0, f->pipe_data.data, (size_t)n) < 0)
		return fail(ctx, -EIO, "pid %d fd %d: reading the copy of the pipe's data", fd->pid, fd->fd);
	return 0;
}

static int pipe_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
		     Ckpt__File *f, struct model *m)
{
	(void)opts;
	if ((fd->flags & O_ACCMODE) == O_RDWR)
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: a pipe opened for reading and writing is not supported yet",
			    fd->pid, fd->fd);
	f->has_pipe_id = true;
	f->pipe_id = fd->st.st_ino;
	for (size_t i = 0; i < m->files.n; i++)
		if (m->files.v[i] != f && m->files.v[i]->has_pipe_id && m->files.v[i]->pipe_id == f->pipe_id)
			return 0; /* the other end: the data is saved once */
	return pipe_read_contents(ctx, fd, f, m);
}

const Ckpt__File *pipe_contents(const struct model *m, uint32_t kind, uint64_t id)
{
	for (size_t i = 0; i < m->files.n; i++)
		if (m->files.v[i]->kind == kind && m->files.v[i]->pipe_id == id && m->files.v[i]->has_pipe_size)
			return m->files.v[i];
	return NULL;
}

static int make_pipe(struct ckpt_ctx *ctx, struct res_restore *rr, uint64_t id, struct res_obj **out)
{
	const Ckpt__File *c = pipe_contents(rr->m, FILE_KIND_PIPE, id);
	struct res_obj *o;
	int p[2];

	if (!c || c->pipe_data.len > c->pipe_size)
		return fail(ctx, -EBADMSG, "image damaged: pipe %llu", (unsigned long long)id);
	if (pipe2(p, O_CLOEXEC) < 0)
		return fail(ctx, -errno, "pipe: %s", strerror(errno));
	o = res_obj_add(rr, FILE_KIND_PIPE, id);
	for (int k = 0; k < 2; k++) {
		o->fds[k] = fcntl(p[k], F_DUPFD_CLOEXEC, rr->fd_floor);
		close(p[k]);
		if (o->fds[k] < 0)
			return fail(ctx, -errno, "pipe: %s", strerror(errno));
	}
	if (fcntl(o->fds[1], F_SETPIPE_SZ, c->pipe_size) < (int)c->pipe_size)
		return fail(ctx, -errno, "pipe %llu: capacity of %u bytes: %s%s", (unsigned long long)id, c->pipe_size,
			    strerror(errno), errno == EPERM ? " (above pipe-max-size, needs CAP_SYS_RESOURCE)" : "");
	if (c->pipe_data.len && write_full(o->fds[1], c->pipe_data.data, c->pipe_data.len) < 0)
		return fail(ctx, -errno, "pipe %llu: putting back its %zu bytes: %s", (unsigned long long)id,
			    c->pipe_data.len, strerror(errno));
	*out = o;
	return 0;
}

static int pipe_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	struct res_obj *o = f->has_pipe_id ? res_obj_find(rr, FILE_KIND_PIPE, f->pipe_id) : NULL;
	int end = (f->flags & O_ACCMODE) == O_WRONLY, r;

	if (!f->has_pipe_id)
		return fail(ctx, -EBADMSG, "image damaged: pipe file %llu has no pipe", (unsigned long long)f->id);
	if (!o && (r = make_pipe(ctx, rr, f->pipe_id, &o)) < 0)
		return r;
	*out = fcntl(o->fds[end], F_DUPFD_CLOEXEC, 3);
	if (*out < 0 || fcntl(*out, F_SETFL, (int)f->flags & (O_NONBLOCK | O_DIRECT)) < 0)
		return fail(ctx, -errno, "pipe %llu: %s", (unsigned long long)f->pipe_id, strerror(errno));
	return 0;
}

const struct res_ops res_pipe = {
	.name = "pipe",
	.kind = FILE_KIND_PIPE,
	.match = pipe_match,
	.dump = pipe_dump,
	.open = pipe_open,
};
