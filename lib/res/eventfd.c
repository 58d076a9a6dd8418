// SPDX-License-Identifier: MIT
/* eventfd: its counter and whether it counts as a semaphore. */
#include <fcntl.h>
#include <sys/eventfd.h>

#include "res.h"

static bool eventfd_match(const struct fd_desc *fd)
{
	return !strcmp(fd->link, "anon_inode:[eventfd]");
}

static int eventfd_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
			Ckpt__File *f, struct model *m)
{
	_cleanup_free_ char *info = fdinfo_text(fd);
	const char *count = info ? status_field(info, "eventfd-count") : NULL;
	const char *sem = info ? status_field(info, "eventfd-semaphore") : NULL;

	(void)opts;
	(void)m;
	if (!count)
		return fail(ctx, -EIO, "pid %d fd %d: eventfd: no counter in fdinfo", fd->pid, fd->fd);
	f->has_eventfd_count = true;
	f->eventfd_count = strtoull(count, NULL, 16);
	f->has_eventfd_semaphore = true;
	f->eventfd_semaphore = sem && *sem == '1';
	return 0;
}

static int eventfd_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	int fd = eventfd(0, EFD_CLOEXEC | (f->eventfd_semaphore ? EFD_SEMAPHORE : 0));

	(void)rr;
	if (fd < 0)
		return fail(ctx, -errno, "eventfd: %s", strerror(errno));
	/* The counter can be above what eventfd() takes; a write adds it whole. */
	if ((f->eventfd_count && write(fd, &f->eventfd_count, 8) != 8) ||
	    fcntl(fd, F_SETFL, (int)f->flags & O_NONBLOCK) < 0) {
		close(fd);
		return fail(ctx, -errno, "eventfd counter %llu: %s", (unsigned long long)f->eventfd_count,
			    strerror(errno));
	}
	*out = fd;
	return 0;
}

const struct res_ops res_eventfd = {
	.name = "eventfd",
	.kind = FILE_KIND_EVENTFD,
	.match = eventfd_match,
	.dump = eventfd_dump,
	.open = eventfd_open,
};
