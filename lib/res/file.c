// SPDX-License-Identifier: MIT
/* Regular files and directories, reopened by path at the same offset. */
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include "res.h"

static bool path_match(const struct fd_desc *fd)
{
	/* An O_PATH|O_NOFOLLOW descriptor may hold the symlink itself. */
	return (S_ISREG(fd->st.st_mode) || S_ISDIR(fd->st.st_mode) || (S_ISLNK(fd->st.st_mode) && (fd->flags & O_PATH))) &&
	       fd->link[0] == '/';
}

static int path_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
		     Ckpt__File *f, struct model *m)
{
	char proc_path[64];
	struct statfs sfs;

	(void)opts;
	snprintf(proc_path, sizeof(proc_path), "/proc/%d/task/%d/fd/%d", fd->pid, fd->tid, fd->fd);
	if (statfs(proc_path, &sfs) < 0)
		return fail(ctx, -errno, "pid %d fd %d: statfs: %s", fd->pid, fd->fd, strerror(errno));
	f->has_fs_type = true;
	f->fs_type = (uint64_t)sfs.f_type;
	/* Unlinked files with no name left are res_unlinked's. */
	if (strstr(fd->link, " (deleted)"))
		return fail(ctx, -EOPNOTSUPP,
			    "pid %d fd %d: file %s was unlinked but has other names; not supported yet", fd->pid, fd->fd,
			    fd->link);
	if (sfs.f_type == PROC_SUPER_MAGIC || sfs.f_type == SYSFS_MAGIC) {
		int r = procfile_dump(ctx, fd, f, m, sfs.f_type == PROC_SUPER_MAGIC);

		if (r < 0)
			return r;
	}
	f->path = arena_strdup(&m->arena, fd->link);
	f->has_mtime_ns = true;
	f->mtime_ns = (uint64_t)fd->st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)fd->st.st_mtim.tv_nsec;
	return 0;
}

/* Contents of /proc and /sys are made as they are read: their sizes and times say nothing. */
static bool pseudo_fs(const Ckpt__File *f)
{
	return f->has_fs_type && (f->fs_type == PROC_SUPER_MAGIC || f->fs_type == SYSFS_MAGIC);
}

/*
 * A file opened read-only was meant to be read as it was: one whose size
 * or modification time differs is refused, unless the caller accepts it.
 */
static int check_unchanged(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, const struct stat *st)
{
	char user[64], how[96];

	if (!S_ISREG(st->st_mode) || (f->flags & O_ACCMODE) != O_RDONLY || (f->flags & O_PATH) || pseudo_fs(f) ||
	    !file_changed(f, st) || rr->opts->allow_file_changes)
		return 0;
	return fail(ctx, -ESTALE, "%s: file %s changed since the dump (%s); --allow-file-changes accepts that",
		    file_user(rr->m, f->id, user, sizeof(user)), f->path, file_change(f, st, how, sizeof(how)));
}

static int path_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	int flags = (int)f->flags & ~(O_CREAT | O_TRUNC | O_EXCL | O_NOCTTY);
	char user[64];
	struct stat st;
	int fd, r;

	if (!f->path || f->path[0] != '/')
		return fail(ctx, -EBADMSG, "file %llu: no absolute path", (unsigned long long)f->id);
	if (f->proc_reopen) {
		/* A stand-in, unique to this description; procfile_attach() puts the file in its place. */
		if (!f->has_owner_pid || !model_proc(rr->m, f->owner_pid) || strncmp(f->path, "/proc/", 6))
			return fail(ctx, -EBADMSG, "image damaged: /proc file %s", f->path);
		*out = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return *out < 0 ? fail(ctx, -errno, "/dev/null: %s", strerror(errno)) : 0;
	}
	if (f->flags & O_PATH)
		flags = O_PATH | (S_ISLNK(f->mode) ? O_NOFOLLOW : 0);
	fd = open(f->path, flags | O_CLOEXEC);
	if (fd < 0)
		return fail(ctx, -errno, "%s: file %s: cannot open: %s", file_user(rr->m, f->id, user, sizeof(user)),
			    f->path, strerror(errno));
	if (fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != (f->mode & S_IFMT)) {
		close(fd);
		return fail(ctx, -ESTALE, "%s: file %s: is no longer the same kind of file",
			    file_user(rr->m, f->id, user, sizeof(user)), f->path);
	}
	if ((r = check_unchanged(ctx, rr, f, &st)) < 0) {
		close(fd);
		return r;
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
	.attach = procfile_attach,
};
