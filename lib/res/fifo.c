// SPDX-License-Identifier: MIT
/*
 * Named pipes (FIFOs), reopened by path in every mode, O_RDWR included,
 * with the bytes in them and their capacity. All descriptions of one FIFO
 * share its buffer: the restore holds the FIFO open read-write while it
 * reopens each description (so opening a write end never waits for a
 * reader) and puts the bytes back once.
 */
#include <fcntl.h>

#include "res.h"

static bool fifo_match(const struct fd_desc *fd)
{
	return S_ISFIFO(fd->st.st_mode) && fd->link[0] == '/';
}

static int fifo_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
		     Ckpt__File *f, struct model *m)
{
	(void)opts;
	if (strstr(fd->link, " (deleted)"))
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: fifo %s was unlinked; not supported yet", fd->pid, fd->fd,
			    fd->link);
	f->path = arena_strdup(&m->arena, fd->link);
	f->has_pipe_id = true;
	f->pipe_id = fd->st.st_ino;
	for (size_t i = 0; i < m->files.n; i++)
		if (m->files.v[i] != f && m->files.v[i]->kind == FILE_KIND_FIFO && m->files.v[i]->pipe_id == f->pipe_id)
			return 0; /* another description of it: the data is saved once */
	return pipe_read_contents(ctx, fd, f, m);
}

/* Opens the FIFO read-write for the whole restore and fills it. */
static int hold_fifo(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, struct res_obj **out)
{
	const Ckpt__File *c = pipe_contents(rr->m, FILE_KIND_FIFO, f->pipe_id);
	struct res_obj *o;
	struct stat st;
	int fd;

	if (!c || c->pipe_data.len > c->pipe_size)
		return fail(ctx, -EBADMSG, "image damaged: fifo %s", f->path);
	fd = open(f->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return fail(ctx, -errno, "fifo %s: cannot open: %s", f->path, strerror(errno));
	o = res_obj_add(rr, FILE_KIND_FIFO, f->pipe_id);
	o->fds[0] = fcntl(fd, F_DUPFD_CLOEXEC, rr->fd_floor);
	close(fd);
	if (o->fds[0] < 0 || fstat(o->fds[0], &st) < 0)
		return fail(ctx, -errno, "fifo %s: %s", f->path, strerror(errno));
	if (!S_ISFIFO(st.st_mode))
		return fail(ctx, -ESTALE, "fifo %s: is no longer a fifo", f->path);
	if (fcntl(o->fds[0], F_SETPIPE_SZ, c->pipe_size) < (int)c->pipe_size)
		return fail(ctx, -errno, "fifo %s: capacity of %u bytes: %s", f->path, c->pipe_size, strerror(errno));
	if (c->pipe_data.len && write_full(o->fds[0], c->pipe_data.data, c->pipe_data.len) < 0)
		return fail(ctx, -errno, "fifo %s: putting back its %zu bytes: %s", f->path, c->pipe_data.len,
			    strerror(errno));
	*out = o;
	return 0;
}

static int fifo_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	struct res_obj *o = f->has_pipe_id ? res_obj_find(rr, FILE_KIND_FIFO, f->pipe_id) : NULL;
	char self[64];
	int r;

	if (!f->has_pipe_id || !f->path || f->path[0] != '/')
		return fail(ctx, -EBADMSG, "image damaged: fifo file %llu", (unsigned long long)f->id);
	if (!o && (r = hold_fifo(ctx, rr, f, &o)) < 0)
		return r;
	/* Through our read-write fd: the same FIFO, and a write end needs no waiting reader. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", o->fds[0]);
	*out = open(self, ((int)f->flags & O_ACCMODE) | O_NONBLOCK | O_CLOEXEC);
	if (*out < 0 || fcntl(*out, F_SETFL, (int)f->flags & (O_NONBLOCK | O_APPEND | O_DIRECT)) < 0)
		return fail(ctx, -errno, "fifo %s: reopening: %s", f->path, strerror(errno));
	return 0;
}

const struct res_ops res_fifo = {
	.name = "fifo",
	.kind = FILE_KIND_FIFO,
	.match = fifo_match,
	.dump = fifo_dump,
	.open = fifo_open,
};
