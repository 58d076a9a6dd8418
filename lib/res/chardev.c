// SPDX-License-Identifier: MIT
/* Memory devices with no state of their own: /dev/null, zero, full, random, urandom. */
#include <fcntl.h>
#include <sys/sysmacros.h>

#include "res.h"

static const struct {
	unsigned minor;
	const char *path;
} mem_devices[] = {
	{ 3, "/dev/null" }, { 5, "/dev/zero" }, { 7, "/dev/full" }, { 8, "/dev/random" }, { 9, "/dev/urandom" },
};

static const char *device_path(dev_t rdev)
{
	if (major(rdev) != 1)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(mem_devices); i++)
		if (minor(rdev) == mem_devices[i].minor)
			return mem_devices[i].path;
	return NULL;
}

static bool chardev_match(const struct fd_desc *fd)
{
	return S_ISCHR(fd->st.st_mode) && device_path(fd->st.st_rdev);
}

static int chardev_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
			Ckpt__File *f, struct model *m)
{
	(void)ctx;
	(void)opts;
	f->path = arena_strdup(&m->arena, device_path(fd->st.st_rdev));
	f->has_rdev = true;
	f->rdev = fd->st.st_rdev;
	return 0;
}

static int chardev_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	const char *path = f->has_rdev ? device_path((dev_t)f->rdev) : NULL;
	int fd;

	(void)rr;
	if (!path)
		return fail(ctx, -EBADMSG, "file %llu: unknown device", (unsigned long long)f->id);
	fd = open(path, ((int)f->flags & ~(O_CREAT | O_TRUNC | O_EXCL)) | O_CLOEXEC);
	if (fd < 0)
		return fail(ctx, -errno, "cannot open %s: %s", path, strerror(errno));
	*out = fd;
	return 0;
}

const struct res_ops res_chardev = {
	.name = "chardev",
	.kind = FILE_KIND_CHARDEV,
	.match = chardev_match,
	.dump = chardev_dump,
	.open = chardev_open,
};
