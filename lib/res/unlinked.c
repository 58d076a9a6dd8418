// SPDX-License-Identifier: MIT
/*
 * Regular files that were unlinked while open (their link reads
 * "/dir/name (deleted)"): the content is saved, and the restore makes the
 * file again in the same directory, under its old name if that is free (so
 * links and maps read as before) or else a temporary one, unlinks it at once
 * and fills it (filedata.c does what these share with memfds). A file with
 * other names left is refused: a copy would not be that file.
 */
#include <fcntl.h>

#include "res.h"

static const char deleted[] = " (deleted)";

/* Whether link names an unlinked file; memfds are unlinked too, and come first. */
bool unlinked_link(const char *link, const struct stat *st)
{
	size_t n = strlen(link), k = sizeof(deleted) - 1;

	return S_ISREG(st->st_mode) && st->st_nlink == 0 && link[0] == '/' && n > k &&
	       !strcmp(link + n - k, deleted) && !memfd_link(link, st);
}

static bool unlinked_match(const struct fd_desc *fd)
{
	return unlinked_link(fd->link, &fd->st);
}

int unlinked_dump_object(struct ckpt_ctx *ctx, struct model *m, Ckpt__File *f, const char *what, const char *link,
			 const struct stat *st)
{
	size_t n = strlen(link) - (sizeof(deleted) - 1);
	char *path = arena_alloc(&m->arena, n + 1);

	memcpy(path, link, n);
	if (!strrchr(path, '/')[1])
		return fail(ctx, -EINVAL, "%s: unlinked file %s has no name", what, link);
	f->path = path;
	return object_dump(ctx, m, f, st, what);
}

static int unlinked_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
			 Ckpt__File *f, struct model *m)
{
	char what[64];
	int r;

	(void)opts;
	snprintf(what, sizeof(what), "pid %d fd %d", fd->pid, fd->fd);
	r = unlinked_dump_object(ctx, m, f, what, fd->link, &fd->st);
	return r < 0 ? r : 0;
}

/* Creates the file under its name, or a temporary one beside it, and unlinks it. */
static int unlinked_make(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *o, int *fd)
{
	const char *slash = strrchr(o->path, '/');
	char tmp[PATH_MAX];

	(void)rr;
	if (!slash || !slash[1] || strlen(o->path) + 16 > sizeof(tmp))
		return fail(ctx, -EBADMSG, "image damaged: unlinked file %s", o->path);
	*fd = open(o->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*fd >= 0) {
		snprintf(tmp, sizeof(tmp), "%s", o->path);
	} else if (errno == EEXIST) {
		snprintf(tmp, sizeof(tmp), "%.*s/.ckpt-XXXXXX", (int)(slash - o->path), o->path);
		*fd = mkostemp(tmp, O_CLOEXEC);
	}
	if (*fd < 0)
		return fail(ctx, -errno, "unlinked file %s: cannot make it again in its directory: %s", o->path,
			    strerror(errno));
	if (unlink(tmp) < 0) {
		int e = errno;

		close(*fd);
		return fail(ctx, -e, "unlinked file %s: unlinking %s: %s", o->path, tmp, strerror(e));
	}
	return 0;
}

static int unlinked_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *fd)
{
	return object_open(ctx, rr, f, unlinked_make, fd);
}

static int unlinked_map_fd(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *fd)
{
	return object_map_fd(ctx, rr, f, unlinked_make, fd);
}

const struct res_ops res_unlinked = {
	.name = "unlinked",
	.kind = FILE_KIND_UNLINKED,
	.match = unlinked_match,
	.dump = unlinked_dump,
	.open = unlinked_open,
	.map_fd = unlinked_map_fd,
};
