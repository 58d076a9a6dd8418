// SPDX-License-Identifier: MIT
/*
 * Files whose content is in the image: memfds (memfd.c) and unlinked
 * regular files (unlinked.c). Each such inode is one object, described by
 * one File record (its object record: owner, mode, times, size; a memfd's
 * name and seals) and filled from the FileData records that follow the
 * model. Every description and mapping of the inode names that record by
 * object_id. At restore the object is made once, its descriptions are
 * reopened through /proc/self/fd from it, its mappings map it, its content
 * is written before any process exists, and only then is it sealed.
 */
#include <fcntl.h>
#include <sys/mman.h>

#include "res.h"

/* Flags a description is reopened with; the others belonged to its open() call. */
#define REOPEN_FLAGS (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME | O_SYNC | O_DSYNC)

Ckpt__File *object_find(const struct model *m, uint32_t kind, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < m->files.n; i++) {
		Ckpt__File *f = m->files.v[i];

		if (f->kind == kind && f->dev == dev && f->ino == ino && file_has_content(f))
			return f;
	}
	return NULL;
}

int object_dump(struct ckpt_ctx *ctx, struct model *m, Ckpt__File *f, const struct stat *st, const char *what)
{
	Ckpt__File *o = object_find(m, f->kind, st->st_dev, st->st_ino);

	f->has_object_id = true;
	if (o && o != f) {
		f->object_id = o->id;
		return 0;
	}
	if ((uint64_t)st->st_size > FILE_OBJECT_MAX_SIZE)
		return fail(ctx, -EFBIG, "%s: %llu bytes is more than ckpt saves (%llu)", what,
			    (unsigned long long)st->st_size, (unsigned long long)FILE_OBJECT_MAX_SIZE);
	f->object_id = f->id;
	f->size = (uint64_t)st->st_size;
	f->has_uid = f->has_gid = true;
	f->uid = st->st_uid;
	f->gid = st->st_gid;
	f->has_mtime_ns = true;
	f->mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000ULL + (uint64_t)st->st_mtim.tv_nsec;
	return 1;
}

/* The restore's object for f, made by make() from the object record the first time. */
static int object_get(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, object_make_fn make,
		      struct res_obj **out)
{
	const Ckpt__File *o = f->has_object_id ? model_file(rr->m, f->object_id) : NULL;
	struct res_obj *obj;
	int fd, r;

	if (!o || !file_has_content(o) || o->kind != f->kind)
		return fail(ctx, -EBADMSG, "image damaged: file %llu has no object", (unsigned long long)f->id);
	obj = res_obj_find(rr, o->kind, o->id);
	if (!obj) {
		r = make(ctx, rr, o, &fd);
		if (r < 0)
			return r;
		/* Owner and mode as they were; chmod after chown, which may clear set-id bits. */
		if (fchown(fd, o->uid, o->gid) < 0 || fchmod(fd, o->mode & 07777) < 0 ||
		    ftruncate(fd, (off_t)o->size) < 0) {
			r = -errno;
			close(fd);
			return fail(ctx, r, "%s: setting owner, mode and size: %s", o->path, strerror(-r));
		}
		obj = res_obj_add(rr, o->kind, o->id);
		obj->fds[0] = fcntl(fd, F_DUPFD_CLOEXEC, rr->fd_floor);
		close(fd);
		if (obj->fds[0] < 0)
			return fail(ctx, -errno, "%s: %s", o->path, strerror(errno));
	}
	*out = obj;
	return 0;
}

static int reopen(const struct res_obj *obj, int flags)
{
	char self[64];

	snprintf(self, sizeof(self), "/proc/self/fd/%d", obj->fds[0]);
	return open(self, flags | O_CLOEXEC);
}

int object_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, object_make_fn make, int *out)
{
	struct res_obj *obj;
	int r = object_get(ctx, rr, f, make, &obj);

	if (r < 0)
		return r;
	if (f->flags & O_PATH) {
		*out = reopen(obj, O_PATH);
	} else {
		*out = reopen(obj, (int)f->flags & REOPEN_FLAGS);
		if (*out >= 0 && f->pos && lseek(*out, (off_t)f->pos, SEEK_SET) != (off_t)f->pos) {
			r = -errno;
			close(*out);
			return fail(ctx, r, "%s: cannot seek to %llu: %s", f->path ? f->path : "file",
				    (unsigned long long)f->pos, strerror(-r));
		}
	}
	if (*out < 0)
		return fail(ctx, -errno, "%s: reopening with flags 0%o: %s", f->path ? f->path : "file", f->flags,
			    strerror(errno));
	return 0;
}

/* Whether a MAP_SHARED mapping of the object exists: its map fd must then be writable. */
static bool object_mapped_shared(const struct model *m, uint64_t object_id)
{
	for (size_t i = 0; i < m->vmas.n; i++) {
		const Ckpt__Vma *v = m->vmas.v[i];
		const Ckpt__File *f = v->has_file_id ? model_file(m, v->file_id) : NULL;

		if (f && (v->flags & MAP_SHARED) && f->has_object_id && f->object_id == object_id)
			return true;
	}
	return false;
}

/*
 * Mappings map the object itself, so writes through a descriptor show in
 * them. Writable for shared mappings (which may be made writable later),
 * unless seals forbid writes: then a read-only fd keeps the mapping from
 * counting as writable, which sealed memfds refuse on older kernels. Else
 * read-only: a writable fd would keep an exe (PR_SET_MM_MAP) from being set.
 */
int object_map_fd(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, object_make_fn make, int *out)
{
	const Ckpt__File *o = model_file(rr->m, f->object_id);
	struct res_obj *obj;
	int r = object_get(ctx, rr, f, make, &obj);
	bool sealed = o && o->memfd && (o->memfd->seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));

	if (r < 0)
		return r;
	*out = reopen(obj, object_mapped_shared(rr->m, f->object_id) && !sealed ? O_RDWR : O_RDONLY);
	if (*out < 0)
		return fail(ctx, -errno, "%s: reopening to map it: %s", f->path ? f->path : "file", strerror(errno));
	return 0;
}

int object_put_data(void *arg, const Ckpt__File *f, const Ckpt__FileData *d, const void *data, size_t len)
{
	struct res_restore *rr = arg;
	struct res_obj *obj = res_obj_find(rr, f->kind, f->id);
	ssize_t n;

	if (!obj)
		return fail(rr->ctx, -EBADMSG, "image damaged: content of file %llu, which nothing opens",
			    (unsigned long long)f->id);
	n = len ? pwrite(obj->fds[0], data, len, (off_t)d->offset) : 0;
	if (n != (ssize_t)len)
		return fail(rr->ctx, n < 0 ? -errno : -EIO, "%s: writing %zu bytes of content at %llu: %s", f->path, len,
			    (unsigned long long)d->offset, n < 0 ? strerror(errno) : "short write");
	return 0;
}

/* Once the content is in: the times it had, then the seals, which may forbid writes. */
int objects_finish(struct ckpt_ctx *ctx, struct res_restore *rr)
{
	for (size_t i = 0; i < rr->nr_objs; i++) {
		const struct res_obj *obj = &rr->objs[i];
		const Ckpt__File *o;
		struct timespec ts[2];

		if (obj->kind != FILE_KIND_MEMFD && obj->kind != FILE_KIND_UNLINKED)
			continue;
		o = model_file(rr->m, obj->id);
		ts[0].tv_nsec = UTIME_OMIT;
		ts[1].tv_sec = (time_t)(o->mtime_ns / 1000000000ULL);
		ts[1].tv_nsec = (long)(o->mtime_ns % 1000000000ULL);
		if (futimens(obj->fds[0], ts) < 0)
			return fail(ctx, -errno, "%s: setting its modification time: %s", o->path, strerror(errno));
		if (o->memfd && o->memfd->seals && fcntl(obj->fds[0], F_ADD_SEALS, (int)o->memfd->seals) < 0)
			return fail(ctx, -errno, "%s: adding seals 0x%x: %s", o->path, o->memfd->seals, strerror(errno));
	}
	return 0;
}
