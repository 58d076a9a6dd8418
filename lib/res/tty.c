// SPDX-License-Identifier: MIT
/*
 * The caller's terminal, with --shell-job only: restored as the terminal
 * that `ckpt restore` itself runs on.
 */
#include <fcntl.h>
#include <sys/sysmacros.h>

#include "res.h"

static bool is_tty_dev(dev_t rdev)
{
	unsigned maj = major(rdev);

	return maj == 4 || maj == 5 || (maj >= 136 && maj <= 143);
}

static bool tty_match(const struct fd_desc *fd)
{
	return S_ISCHR(fd->st.st_mode) && is_tty_dev(fd->st.st_rdev);
}

static int tty_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
		    Ckpt__File *f, struct model *m)
{
	if (!opts->shell_job)
		return fail(ctx, -EOPNOTSUPP,
			    "pid %d fd %d: terminal %s is not supported without --shell-job", fd->pid, fd->fd, fd->link);
	f->path = arena_strdup(&m->arena, fd->link);
	f->has_rdev = true;
	f->rdev = fd->st.st_rdev;
	return 0;
}

static int tty_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	if (!rr->opts->shell_job)
		return fail(ctx, -EOPNOTSUPP, "the image holds terminal %s: restore it with --shell-job",
			    f->path ? f->path : "?");
	for (int fd = 0; fd <= 2; fd++)
		if (isatty(fd)) {
			*out = fcntl(fd, F_DUPFD_CLOEXEC, 3);
			if (*out < 0)
				return fail(ctx, -errno, "dup of terminal: %s", strerror(errno));
			return 0;
		}
	*out = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (*out < 0)
		return fail(ctx, -ENOTTY, "the image holds terminal %s but ckpt restore has no terminal",
			    f->path ? f->path : "?");
	return 0;
}

const struct res_ops res_tty = {
	.name = "tty",
	.kind = FILE_KIND_TTY,
	.match = tty_match,
	.dump = tty_dump,
	.open = tty_open,
};
