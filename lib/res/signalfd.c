// SPDX-License-Identifier: MIT
/*
 * signalfd: the set of signals it takes, and O_NONBLOCK. The signals
 * waiting to be read are not the signalfd's: they are pending signals of
 * the threads and the process, which ckpt saves and restores with them.
 */
#include <fcntl.h>
#include <sys/syscall.h>

#include "res.h"

static bool signalfd_match(const struct fd_desc *fd)
{
	return !strcmp(fd->link, "anon_inode:[signalfd]");
}

static int signalfd_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
			 Ckpt__File *f, struct model *m)
{
	_cleanup_free_ char *info = fdinfo_text(fd);
	const char *mask = info ? status_field(info, "sigmask") : NULL;
	char *end;

	(void)opts;
	(void)m;
	if (!mask)
		return fail(ctx, -EIO, "pid %d fd %d: signalfd: no sigmask in fdinfo", fd->pid, fd->fd);
	errno = 0;
	f->signalfd_mask = strtoull(mask, &end, 16);
	if (errno || end == mask || (*end && *end != '\n'))
		return fail(ctx, -EIO, "pid %d fd %d: signalfd: cannot parse sigmask \"%.20s\"", fd->pid, fd->fd, mask);
	f->has_signalfd_mask = true;
	return 0;
}

static int signalfd_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	/* The kernel's sigset: 64 bits, bit N-1 for signal N (SIGKILL and SIGSTOP are ignored). */
	uint64_t mask = f->signalfd_mask;
	int fd;

	(void)rr;
	if (!f->has_signalfd_mask)
		return fail(ctx, -EBADMSG, "image damaged: signalfd file %llu has no signal mask",
			    (unsigned long long)f->id);
	fd = (int)syscall(SYS_signalfd4, -1, &mask, sizeof(mask), O_CLOEXEC | (f->flags & O_NONBLOCK));
	if (fd < 0)
		return fail(ctx, -errno, "signalfd with mask 0x%llx: %s", (unsigned long long)mask, strerror(errno));
	*out = fd;
	return 0;
}

const struct res_ops res_signalfd = {
	.name = "signalfd",
	.kind = FILE_KIND_SIGNALFD,
	.match = signalfd_match,
	.dump = signalfd_dump,
	.open = signalfd_open,
};
