// SPDX-License-Identifier: MIT
/* Regular files and directories, reopened by path at the same offset. */
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include "res.h"

static bool path_match(const struct fd_desc *fd)
{
	return (S_ISREG(fd->st.st_mode) || S_ISDIR(fd->st.st_mode)) && fd->link[0] == '/';
}

static int path_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
		     Ckpt__File *f, struct model *m)
{
	char proc_path[64];
	struct statfs sfs;

	(void)opts;
	/* Reopening by path would name a process that does not exist yet at restore. */
	snprintf(proc_path, sizeof(proc_path), "/proc/%d/fd/%d", fd->pid, fd->fd);
	if (statfs(proc_path, &sfs) == 0 && (sfs.f_type == PROC_SUPER_MAGIC || sfs.f_type == SYSFS_MAGIC))
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: %s files (%s) are not supported yet", fd->pid, fd->fd,
			    sfs.f_type == PROC_SUPER_MAGIC ? "/proc" : "/sys", fd->link);
	if (strstr(fd->link, " (deleted)"))
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: file %s was unlinked; unlinked files are not supported yet",
			    fd->pid, fd->fd, fd->link);
	f->path = arena_strdup(&m->arena, fd->link);
	f->has_mtime_ns = true;
	f->mtime_ns = (uint64_t)fd->st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)fd->st.st_mtim.tv_nsec;
	return 0;
}

static int path_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	int flags = (int)f->flags & ~(O_CREAT | O_TRUNC | O_EXCL | O_NOCTTY);
	struct stat st;
	int fd;

	(void)rr;
	if (!f->path || f->path[0] != '/')
		return fail(ctx, -EBADMSG, "file %llu: no absolute path", (unsigned long long)f->id);
	if (f->flags & O_PATH)
		flags = O_PATH;
	fd = open(f->path, flags | O_CLOEXEC);
	if (fd < 0)
		return fail(ctx, -errno, "file %s: cannot open: %s", f->path, strerror(errno));
	if (fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != (f->mode & S_IFMT)) {
		close(fd);
		return fail(ctx, -ESTALE, "file %s: is no longer the same kind of file", f->path);
	}
	if (!(f->flags & O_PATH) && S_ISREG(st.st_mode) && f->pos &&
	    lseek(fd, (off_t)f->pos, SEEK_SET) != (off_t)f->pos) {
		close(fd);
		return fail(ctx, -errno, "file %s: cannot seek to %llu: %s", f->path, (unsigned long long)f->pos,
			    strerror(errno));
	}
	*out = fd;
	return 0;
}

const struct res_ops res_path = {
	.name = "file",
	.kind = FILE_KIND_PATH,
	.match = path_match,
	.dump = path_dump,
	.open = path_open,
};
