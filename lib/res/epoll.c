// SPDX-License-Identifier: MIT
/*
 * epoll: the set of watched files, each with its events and data. The
 * kernel keys a watch by the file and the fd number it was added with, so
 * the restore adds the watches again inside the process that holds them,
 * with the same fd numbers, once its descriptors are in place.
 */
#include <linux/kcmp.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include "res.h"

static bool epoll_match(const struct fd_desc *fd)
{
	return !strcmp(fd->link, "anon_inode:[eventpoll]");
}

/* Is fd tfd of the process the file the epoll watches as tfd? */
static bool watches_own_fd(const struct fd_desc *fd, int tfd)
{
	struct {
		uint32_t efd, tfd, toff;
	} slot = { (uint32_t)fd->fd, (uint32_t)tfd, 0 };

	return syscall(SYS_kcmp, fd->tid, fd->tid, KCMP_EPOLL_TFD, tfd, &slot) == 0;
}

static int epoll_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
		      Ckpt__File *f, struct model *m)
{
	_cleanup_free_ char *info = fdinfo_text(fd);
	size_t n = 0, cap = 0;
	Ckpt__EpollTarget **v = NULL;

	(void)opts;
	if (!info)
		return fail(ctx, -EIO, "pid %d fd %d: epoll: cannot read fdinfo", fd->pid, fd->fd);
	for (const char *p = strstr(info, "tfd:"); p; p = strstr(p + 4, "tfd:")) {
		Ckpt__EpollTarget *t = arena_alloc(&m->arena, sizeof(*t));
		unsigned long long data;
		unsigned events;
		int tfd;

		if (sscanf(p, "tfd: %d events: %x data: %llx", &tfd, &events, &data) != 3)
			return fail(ctx, -EIO, "pid %d fd %d: epoll: cannot parse fdinfo", fd->pid, fd->fd);
		if (!watches_own_fd(fd, tfd))
			return fail(ctx, -EOPNOTSUPP,
				    "pid %d fd %d: epoll watches a file added as fd %d that is no longer open there; not supported yet",
				    fd->pid, fd->fd, tfd);
		ckpt__epoll_target__init(t);
		t->fd = (uint32_t)tfd;
		t->events = events;
		t->data = data;
		*(Ckpt__EpollTarget **)array_push(&v, &n, &cap, sizeof(*v)) = t;
	}
	f->n_epoll_targets = n;
	f->epoll_targets = arena_alloc(&m->arena, n * sizeof(*v) + 1);
	if (n)
		memcpy(f->epoll_targets, v, n * sizeof(*v));
	free(v);
	f->has_owner_pid = true;
	f->owner_pid = (uint32_t)fd->pid;
	return 0;
}

static int epoll_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	(void)rr;
	(void)f;
	*out = epoll_create1(EPOLL_CLOEXEC);
	return *out < 0 ? fail(ctx, -errno, "epoll_create1: %s", strerror(errno)) : 0;
}

static int epoll_attach(const Ckpt__File *f, uint32_t pid, int fd, char *msg, size_t msglen)
{
	for (size_t i = 0; i < f->n_epoll_targets; i++) {
		const Ckpt__EpollTarget *t = f->epoll_targets[i];
		struct epoll_event ev = { .events = t->events, .data.u64 = t->data };

		if (epoll_ctl(fd, EPOLL_CTL_ADD, (int)t->fd, &ev) < 0) {
			int e = errno;

			snprintf(msg, msglen, "pid %u fd %d: epoll: watching fd %u again: %s", pid, fd, t->fd, strerror(e));
			return -e;
		}
	}
	return 0;
}

const struct res_ops res_epoll = {
	.name = "epoll",
	.kind = FILE_KIND_EPOLL,
	.match = epoll_match,
	.dump = epoll_dump,
	.open = epoll_open,
	.attach = epoll_attach,
};
