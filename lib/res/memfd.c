// SPDX-License-Identifier: MIT
/*
 * memfds: made again with memfd_create under the same name, with the same
 * owner, mode, size, content and seals (filedata.c does what memfds share
 * with unlinked files). The link of a memfd reads "/memfd:NAME (deleted)".
 */
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>

#include "res.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

static const char deleted[] = " (deleted)";

bool memfd_link(const char *link, const struct stat *st)
{
	size_t n = strlen(link);

	return S_ISREG(st->st_mode) && st->st_nlink == 0 && !strncmp(link, "/memfd:", 7) &&
	       n >= 7 + sizeof(deleted) - 1 && !strcmp(link + n - (sizeof(deleted) - 1), deleted);
}

static bool memfd_match(const struct fd_desc *fd)
{
	return memfd_link(fd->link, &fd->st);
}

int memfd_dump_object(struct ckpt_ctx *ctx, struct model *m, Ckpt__File *f, const char *src, const char *what,
		      const char *link, const struct stat *st)
{
	_cleanup_close_ int fd = -1;
	struct statfs sfs;
	size_t n = strlen(link) - 7 - (sizeof(deleted) - 1);
	int seals, r;

	f->path = arena_strdup(&m->arena, link);
	r = object_dump(ctx, m, f, st, what);
	if (r <= 0)
		return r;
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstatfs(fd, &sfs) < 0)
		return fail(ctx, -errno, "%s: opening %s: %s", what, src, strerror(errno));
	if (sfs.f_type == HUGETLBFS_MAGIC)
		return fail(ctx, -EOPNOTSUPP, "%s: memfd %s on huge pages (MFD_HUGETLB) is not supported yet", what, link);
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return fail(ctx, -errno, "%s: F_GET_SEALS: %s", what, strerror(errno));
	if (n > MEMFD_NAME_MAX)
		return fail(ctx, -ENAMETOOLONG, "%s: memfd name of %zu bytes", what, n);
	f->memfd = arena_alloc(&m->arena, sizeof(*f->memfd));
	ckpt__memfd__init(f->memfd);
	f->memfd->name = arena_alloc(&m->arena, n + 1);
	memcpy(f->memfd->name, link + 7, n);
	f->memfd->seals = (uint32_t)seals;
	return 1;
}

static int memfd_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
		      Ckpt__File *f, struct model *m)
{
	char src[96], what[64];
	int r;

	(void)opts;
	snprintf(src, sizeof(src), "/proc/%d/task/%d/fd/%d", fd->pid, fd->tid, fd->fd);
	snprintf(what, sizeof(what), "pid %d fd %d", fd->pid, fd->fd);
	r = memfd_dump_object(ctx, m, f, src, what, fd->link, &fd->st);
	return r < 0 ? r : 0;
}

static int memfd_make(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *o, int *fd)
{
	(void)rr;
	/* Sealing is allowed until the seals of the image are added, F_SEAL_SEAL last of them. */
	*fd = memfd_create(o->memfd->name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (*fd < 0 && errno == EINVAL) /* a kernel before 6.3, without MFD_EXEC */
		*fd = memfd_create(o->memfd->name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (*fd < 0)
		return fail(ctx, -errno, "memfd %s: memfd_create: %s", o->path, strerror(errno));
	return 0;
}

static int memfd_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *fd)
{
	return object_open(ctx, rr, f, memfd_make, fd);
}

static int memfd_map_fd(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *fd)
{
	return object_map_fd(ctx, rr, f, memfd_make, fd);
}

const struct res_ops res_memfd = {
	.name = "memfd",
	.kind = FILE_KIND_MEMFD,
	.match = memfd_match,
	.dump = memfd_dump,
	.open = memfd_open,
	.map_fd = memfd_map_fd,
};
