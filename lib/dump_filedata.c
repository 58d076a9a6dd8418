// SPDX-License-Identifier: MIT
/*
 * The content of memfds and unlinked files (lib/res/filedata.c), written as
 * FileData records after the model and before the pages. It is streamed in
 * chunks of at most IMG_MAX_CHUNK_PAGES pages through the page buffer, so
 * ckpt's memory does not grow with the file; holes (SEEK_DATA/SEEK_HOLE)
 * are left out and come back as holes.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "dump.h"
#include "res/res.h"

void dump_note_content(struct dump *d, const Ckpt__File *f, const char *src)
{
	struct dsrc *s;

	if (!file_has_content(f))
		return;
	s = array_push(&d->srcs, &d->nr_srcs, &d->cap_srcs, sizeof(*s));
	s->file_id = f->id;
	snprintf(s->path, sizeof(s->path), "%s", src);
}

/*
 * Seals go on before the restored processes map a memfd: a shared writable
 * mapping of a memfd sealed against writes (possible with
 * F_SEAL_FUTURE_WRITE, made before the seal) could not be made again.
 */
int dump_check_objects(struct dump *d)
{
	for (size_t i = 0; i < d->m.vmas.n; i++) {
		const Ckpt__Vma *v = d->m.vmas.v[i];
		const Ckpt__File *f = v->has_file_id ? model_file(&d->m, v->file_id) : NULL;
		const Ckpt__File *o = f && f->has_object_id ? model_file(&d->m, f->object_id) : NULL;

		if (o && o->memfd && (o->memfd->seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) &&
		    (v->flags & MAP_SHARED) && (v->prot & PROT_WRITE))
			return fail(d->ctx, -EOPNOTSUPP,
				    "pid %u vma 0x%llx: writable shared mapping of %s, sealed against writes since; not supported yet",
				    v->pid, (unsigned long long)v->start, o->path);
	}
	return 0;
}

/* One chunk: n bytes at off of the file, padded with zeros to whole pages. */
static int write_chunk(struct dump *d, const Ckpt__File *f, int fd, uint64_t off, size_t n)
{
	Ckpt__FileData fdr = CKPT__FILE_DATA__INIT;
	size_t pages = (n + PAGE_SIZE - 1) / PAGE_SIZE;
	uint8_t *buf = img_page_buffer(&d->w); /* written from there, not copied */
	struct iovec iov = { buf, pages * PAGE_SIZE };
	ssize_t got;
	int r = dump_check_interrupt(d);

	if (r < 0)
		return r;
	if (!buf)
		return fail(d->ctx, -ENOMEM, "%s: no memory for a buffer", f->path);
	got = pread(fd, buf, n, (off_t)off);
	if (got != (ssize_t)n)
		return fail(d->ctx, got < 0 ? -errno : -EIO, "%s: reading %zu bytes at %llu: %s", f->path, n,
			    (unsigned long long)off, got < 0 ? strerror(errno) : "the file shrank");
	memset(buf + n, 0, pages * PAGE_SIZE - n);
	fdr.file_id = f->id;
	fdr.offset = off;
	fdr.nr_pages = (uint32_t)pages;
	return img_write_file_data(&d->w, &fdr, &iov, 1);
}

/*
 * The data ranges of the file, in whole pages, up to the size it had when
 * it was collected. A hole inside a page is read as the zeros it holds.
 */
static int stream_file(struct dump *d, const Ckpt__File *f, int fd)
{
	uint64_t pos = 0;
	int r;

	while (pos < f->size) {
		off_t data = lseek(fd, (off_t)pos, SEEK_DATA), hole;
		uint64_t end;

		if (data < 0 && errno == ENXIO)
			break; /* only a hole is left */
		hole = data < 0 ? -1 : lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return fail(d->ctx, -errno, "%s: SEEK_DATA/SEEK_HOLE: %s", f->path, strerror(errno));
		if ((uint64_t)data >= f->size)
			break;
		pos = (uint64_t)data & ~(PAGE_SIZE - 1);
		end = PAGE_ALIGN((uint64_t)hole) < f->size ? PAGE_ALIGN((uint64_t)hole) : f->size;
		while (pos < end) {
			size_t n = end - pos < IMG_MAX_CHUNK_PAGES * PAGE_SIZE ? (size_t)(end - pos)
										 : IMG_MAX_CHUNK_PAGES * PAGE_SIZE;

			r = write_chunk(d, f, fd, pos, n);
			if (r < 0)
				return r;
			pos += n;
		}
		pos = PAGE_ALIGN(pos);
	}
	return 0;
}

int dump_file_data(struct dump *d)
{
	for (size_t i = 0; i < d->nr_srcs; i++) {
		const Ckpt__File *f = model_file(&d->m, d->srcs[i].file_id);
		_cleanup_close_ int fd = open(d->srcs[i].path, O_RDONLY | O_NOATIME | O_CLOEXEC);
		struct stat st;
		int r;

		if (fd < 0 && errno == EPERM)
			fd = open(d->srcs[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0)
			return fail(d->ctx, -errno, "%s: opening %s to save its content: %s", f->path, d->srcs[i].path,
				    strerror(errno));
		if (st.st_dev != f->dev || st.st_ino != f->ino)
			return fail(d->ctx, -ESTALE, "%s: %s is no longer that file", f->path, d->srcs[i].path);
		r = stream_file(d, f, fd);
		if (r < 0)
			return r;
	}
	return 0;
}
