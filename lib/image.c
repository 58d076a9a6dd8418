// SPDX-License-Identifier: MIT
/* Image writer and reader: framing, checksums, index and trailer. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "image.h"

static const char *const rec_names[] = {
	[REC_HEADER] = "header", [REC_PROCESS] = "process", [REC_THREAD] = "thread",
	[REC_VMA] = "vma",       [REC_FILE] = "file",       [REC_FD] = "fd",
	[REC_SHMEM] = "shmem",   [REC_PAGES] = "pages",     [REC_TRAILER] = "trailer",
	[REC_FILEDATA] = "file data",
	[REC_SYSV_OBJ] = "sysv object", [REC_SYSV_PAGES] = "sysv pages", [REC_SYSV_MSG] = "sysv message",
};

static const ProtobufCMessageDescriptor *const rec_desc[] = {
	[REC_HEADER] = &ckpt__header__descriptor,   [REC_PROCESS] = &ckpt__process__descriptor,
	[REC_THREAD] = &ckpt__thread__descriptor,   [REC_VMA] = &ckpt__vma__descriptor,
	[REC_FILE] = &ckpt__file__descriptor,       [REC_FD] = &ckpt__fd__descriptor,
	[REC_SHMEM] = &ckpt__shmem__descriptor,     [REC_PAGES] = &ckpt__pages__descriptor,
	[REC_TRAILER] = &ckpt__trailer__descriptor, [REC_FILEDATA] = &ckpt__file_data__descriptor,
	[REC_SYSV_OBJ] = &ckpt__sysv_object__descriptor, [REC_SYSV_PAGES] = &ckpt__sysv_pages__descriptor,
	[REC_SYSV_MSG] = &ckpt__sysv_msg__descriptor,
};

/* Type numbers have gaps (11 is no record): only those with a message are known. */
static bool rec_known(uint32_t type)
{
	return type >= 1 && type <= REC_TYPE_MAX && rec_desc[type];
}

const char *img_rec_name(uint32_t type)
{
	return rec_known(type) ? rec_names[type] : "unknown";
}

bool img_rec_has_data(uint32_t type)
{
	return type == REC_PAGES || type == REC_FILEDATA || type == REC_SYSV_PAGES;
}

uint32_t img_rec_data_pages(uint32_t type, const ProtobufCMessage *msg)
{
	switch (type) {
	case REC_PAGES: return ((const Ckpt__Pages *)msg)->nr_pages;
	case REC_FILEDATA: return ((const Ckpt__FileData *)msg)->nr_pages;
	case REC_SYSV_PAGES: return ((const Ckpt__SysvPages *)msg)->nr_pages;
	default: return 0;
	}
}

static const uint8_t zero_page[PAGE_SIZE];

/* Queues bytes for the output thread; fails with its error, if it had one. */
static int out_write(struct img_writer *w, const void *buf, size_t len, bool page_data)
{
	int r = page_data ? out_put_page_data(&w->out, buf, len) : out_put(&w->out, buf, len);

	return r < 0 ? fail(w->ctx, r, "%s", out_error(&w->out)[0] ? out_error(&w->out) : strerror(-r)) : 0;
}

/* Writes bytes that the image checksum covers. */
static int w_put(struct img_writer *w, const void *buf, size_t len)
{
	int r;

	if (fail_point(w->ctx, "image-write"))
		return fail(w->ctx, -EIO, "writing the image: injected failure");
	r = out_write(w, buf, len, false);
	if (r < 0)
		return r;
	XXH3_64bits_update(w->hash, buf, len);
	w->off += len;
	return 0;
}

int img_writer_open(struct img_writer *w, struct ckpt_ctx *ctx, int fd, int intr_fd, bool direct)
{
	struct img_file_head head = { .format_version = IMG_FORMAT_VERSION };
	struct stat st;

	memset(w, 0, sizeof(*w));
	w->ctx = ctx;
	w->fd = fd;
	w->intr_fd = intr_fd;
	w->old_flags = -1;
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		w->old_flags = fcntl(fd, F_GETFL);
		if (w->old_flags >= 0)
			fcntl(fd, F_SETFL, w->old_flags | O_NONBLOCK);
		/* A larger pipe means fewer wake-ups of writer and reader (best effort). */
		if (S_ISFIFO(st.st_mode))
			fcntl(fd, F_SETPIPE_SZ, 1 << 20);
	}
	w->hash = XXH3_createState();
	if (!w->hash)
		return -ENOMEM;
	XXH3_64bits_reset(w->hash);
	if (out_start(&w->out, fd, intr_fd, direct) < 0)
		return fail(ctx, -EAGAIN, "cannot start the image's output thread");
	memcpy(head.magic, IMG_MAGIC, sizeof(head.magic));
	return w_put(w, &head, sizeof(head));
}

static int w_frame(struct img_writer *w, uint32_t type, const void *payload, size_t len)
{
	struct img_frame f = {
		.magic = IMG_REC_MAGIC,
		.type = type,
		.len = (uint32_t)len,
		.hash = XXH3_64bits_withSeed(payload, len, type),
	};
	Ckpt__IndexEntry *e;
	int r;

	if (len > IMG_MAX_PAYLOAD)
		return fail(w->ctx, -EFBIG, "%s record of %zu bytes is too large", img_rec_name(type), len);
	e = array_push(&w->index, &w->nr_index, &w->cap_index, sizeof(*e));
	ckpt__index_entry__init(e);
	e->type = type;
	e->offset = w->off;
	e->length = sizeof(f) + len;
	w->records++;
	r = w_put(w, &f, sizeof(f));
	return r < 0 ? r : w_put(w, payload, len);
}

int img_write_msg(struct img_writer *w, enum img_rec_type type, const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	_cleanup_free_ uint8_t *buf = xcalloc(1, len);

	protobuf_c_message_pack(msg, buf);
	return w_frame(w, type, buf, len);
}

static uint64_t iov_hash(const struct iovec *iov, int iovcnt, size_t *total)
{
	XXH3_state_t *h = XXH3_createState();
	uint64_t hash;

	if (!h)
		abort(); /* as xcalloc: out of memory */
	XXH3_64bits_reset(h);
	*total = 0;
	for (int i = 0; i < iovcnt; i++) {
		XXH3_64bits_update(h, iov[i].iov_base, iov[i].iov_len);
		*total += iov[i].iov_len;
	}
	hash = XXH3_64bits_digest(h);
	XXH3_freeState(h);
	return hash;
}

/* A record, zero padding to the next page boundary, then the data of iov. */
static int write_with_data(struct img_writer *w, enum img_rec_type type, const ProtobufCMessage *msg,
			   const struct iovec *iov, int iovcnt)
{
	size_t len = protobuf_c_message_get_packed_size(msg), pad;
	_cleanup_free_ uint8_t *buf = xcalloc(1, len);
	int r;

	protobuf_c_message_pack(msg, buf);
	r = w_frame(w, type, buf, len);
	if (r < 0)
		return r;
	pad = PAGE_ALIGN(w->off) - w->off;
	r = w_put(w, zero_page, pad);
	if (r < 0)
		return r;
	/* Page data is covered by data_hash, not by the running image hash. */
	for (int i = 0; i < iovcnt; i++) {
		if (fail_point(w->ctx, "image-write-pages"))
			return fail(w->ctx, -EIO, "writing page data at offset %llu: injected failure",
				    (unsigned long long)w->off);
		r = out_write(w, iov[i].iov_base, iov[i].iov_len, true);
		if (r < 0)
			return r;
		w->off += iov[i].iov_len;
	}
	return 0;
}

int img_write_data(struct img_writer *w, enum img_rec_type type, ProtobufCMessage *msg, uint32_t nr_pages,
		   uint64_t *data_hash, const struct iovec *iov, int iovcnt)
{
	size_t total;

	*data_hash = iov_hash(iov, iovcnt, &total);
	if (total != (size_t)nr_pages * PAGE_SIZE)
		return fail(w->ctx, -EINVAL, "%s record: %zu bytes for %u pages", img_rec_name(type), total, nr_pages);
	return write_with_data(w, type, msg, iov, iovcnt);
}

int img_write_pages(struct img_writer *w, Ckpt__Pages *pages, const struct iovec *iov, int iovcnt)
{
	return img_write_data(w, REC_PAGES, &pages->base, pages->nr_pages, &pages->data_hash, iov, iovcnt);
}

int img_write_file_data(struct img_writer *w, Ckpt__FileData *fd, const struct iovec *iov, int iovcnt)
{
	return img_write_data(w, REC_FILEDATA, &fd->base, fd->nr_pages, &fd->data_hash, iov, iovcnt);
}

int img_writer_finish(struct img_writer *w)
{
	Ckpt__Trailer t = CKPT__TRAILER__INIT;
	Ckpt__IndexEntry **idx = xcalloc(w->nr_index, sizeof(*idx));
	struct img_tail tail;
	uint64_t trailer_off;
	size_t len;
	uint8_t *buf;
	int r;

	for (size_t i = 0; i < w->nr_index; i++)
		idx[i] = &w->index[i];
	t.n_index = w->nr_index;
	t.index = idx;
	t.records = w->records;
	t.image_hash = XXH3_64bits_digest(w->hash);
	len = protobuf_c_message_get_packed_size(&t.base);
	buf = xcalloc(1, len);
	protobuf_c_message_pack(&t.base, buf);
	trailer_off = w->off;
	r = w_frame(w, REC_TRAILER, buf, len);
	free(buf);
	free(idx);
	if (r < 0)
		return r;
	memcpy(tail.magic, IMG_TAIL_MAGIC, sizeof(tail.magic));
	tail.trailer_offset = trailer_off;
	r = w_put(w, &tail, sizeof(tail));
	if (r == 0 && (r = out_flush(&w->out)) < 0)
		r = fail(w->ctx, r, "%s", out_error(&w->out)[0] ? out_error(&w->out) : strerror(-r));
	return r;
}

uint8_t *img_page_buffer(struct img_writer *w)
{
	return out_buffer(&w->out);
}

void img_writer_close(struct img_writer *w)
{
	out_stop(&w->out);
	if (w->old_flags >= 0)
		fcntl(w->fd, F_SETFL, w->old_flags);
	w->old_flags = -1;
	if (w->hash)
		XXH3_freeState(w->hash);
	free(w->index);
	w->hash = NULL;
	w->index = NULL;
}

/* Reader */

static int r_get(struct img_reader *r, void *buf, size_t len, bool hashed)
{
	int e = read_full(r->fd, buf, len);

	if (e == -EIO)
		return fail(r->ctx, -EBADMSG, "image is truncated at offset %llu (wanted %zu more bytes)",
			    (unsigned long long)r->off, len);
	if (e < 0)
		return fail(r->ctx, e, "reading the image at offset %llu: %s",
			    (unsigned long long)r->off, strerror(-e));
	if (hashed)
		XXH3_64bits_update(r->hash, buf, len);
	r->off += len;
	return 0;
}

int img_reader_open(struct img_reader *r, struct ckpt_ctx *ctx, int fd)
{
	struct img_file_head head;
	int e;

	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->fd = fd;
	r->hash = XXH3_createState();
	if (!r->hash)
		return -ENOMEM;
	XXH3_64bits_reset(r->hash);
	e = r_get(r, &head, sizeof(head), true);
	if (e < 0)
		return e;
	if (memcmp(head.magic, IMG_MAGIC, sizeof(head.magic)))
		return fail(ctx, -EBADMSG, "not a ckpt image (bad magic)");
	if (head.format_version > IMG_FORMAT_VERSION)
		return fail(ctx, -EPROTONOSUPPORT,
			    "image format version %u is newer than this ckpt understands (%u)",
			    head.format_version, IMG_FORMAT_VERSION);
	if (head.format_version < 1)
		return fail(ctx, -EBADMSG, "image format version %u is invalid", head.format_version);
	return 0;
}

static int check_trailer(struct img_reader *r, const Ckpt__Trailer *t, uint64_t digest, uint64_t trailer_off)
{
	struct img_tail tail;
	char extra;
	int e;

	if (t->image_hash != digest)
		return fail(r->ctx, -EBADMSG, "image checksum mismatch: the image is damaged");
	if (t->records != r->records || t->n_index != r->records)
		return fail(r->ctx, -EBADMSG, "image trailer counts %llu records, read %llu",
			    (unsigned long long)t->records, (unsigned long long)r->records);
	e = r_get(r, &tail, sizeof(tail), false);
	if (e < 0)
		return e;
	if (memcmp(tail.magic, IMG_TAIL_MAGIC, sizeof(tail.magic)) || tail.trailer_offset != trailer_off)
		return fail(r->ctx, -EBADMSG, "image tail is damaged");
	if (read(r->fd, &extra, 1) > 0)
		return fail(r->ctx, -EBADMSG, "image has data after its end");
	r->done = true;
	return 0;
}

int img_read_next(struct img_reader *r, uint32_t *type, ProtobufCMessage **msg)
{
	uint64_t start = r->off, digest = XXH3_64bits_digest(r->hash);
	struct img_frame f;
	ProtobufCMessage *m;
	int e;

	*msg = NULL;
	if (r->done)
		return fail(r->ctx, -EBADMSG, "read past the image trailer");
	e = r_get(r, &f, sizeof(f), true);
	if (e < 0)
		return e;
	if (f.magic != IMG_REC_MAGIC)
		return fail(r->ctx, -EBADMSG, "image damaged: no record at offset %llu",
			    (unsigned long long)start);
	if (!rec_known(f.type))
		return fail(r->ctx, -EBADMSG, "image damaged: unknown record type %u at offset %llu",
			    f.type, (unsigned long long)start);
	if (f.len > IMG_MAX_PAYLOAD)
		return fail(r->ctx, -EBADMSG, "image damaged: %s record at offset %llu claims %u bytes",
			    img_rec_name(f.type), (unsigned long long)start, f.len);
	/* Grown as the bytes arrive: a truncated file cannot make us allocate what it claims. */
	for (uint32_t got = 0; got < f.len;) {
		uint32_t step = f.len - got < (1u << 20) ? f.len - got : (1u << 20);

		if (got + step > r->payload_cap) {
			r->payload = xrealloc_array(r->payload, got + step, 1);
			r->payload_cap = got + step;
		}
		e = r_get(r, r->payload + got, step, true);
		if (e < 0)
			return e;
		got += step;
	}
	if (XXH3_64bits_withSeed(r->payload, f.len, f.type) != f.hash)
		return fail(r->ctx, -EBADMSG, "image damaged: checksum of %s record at offset %llu",
			    img_rec_name(f.type), (unsigned long long)start);
	m = protobuf_c_message_unpack(rec_desc[f.type], NULL, f.len, r->payload);
	if (!m)
		return fail(r->ctx, -EBADMSG, "image damaged: cannot decode %s record at offset %llu",
			    img_rec_name(f.type), (unsigned long long)start);
	r->records++;
	if (f.type == REC_TRAILER) {
		r->records--; /* the trailer does not count itself */
		e = check_trailer(r, (Ckpt__Trailer *)m, digest, start);
		r->records++;
		if (e < 0) {
			protobuf_c_message_free_unpacked(m, NULL);
			return e;
		}
	}
	if (img_rec_has_data(f.type)) {
		uint32_t nr_pages = img_rec_data_pages(f.type, m);

		if (nr_pages == 0 || nr_pages > IMG_MAX_CHUNK_PAGES) {
			protobuf_c_message_free_unpacked(m, NULL);
			return fail(r->ctx, -EBADMSG, "image damaged: %s record with %u pages", img_rec_name(f.type),
				    nr_pages);
		}
	}
	*type = f.type;
	*msg = m;
	return 0;
}

static int skip_pad(struct img_reader *r)
{
	uint8_t pad[PAGE_SIZE];
	size_t n = PAGE_ALIGN(r->off) - r->off;
	int e = r_get(r, pad, n, true);

	if (e < 0)
		return e;
	for (size_t i = 0; i < n; i++)
		if (pad[i])
			return fail(r->ctx, -EBADMSG, "image damaged: padding at offset %llu",
				    (unsigned long long)(r->off - n + i));
	return 0;
}

int img_read_data(struct img_reader *r, uint32_t nr_pages, uint64_t hash, void *dst)
{
	size_t len = (size_t)nr_pages * PAGE_SIZE;
	int e = skip_pad(r);

	if (e < 0)
		return e;
	e = r_get(r, dst, len, false);
	if (e < 0)
		return e;
	if (XXH3_64bits(dst, len) != hash)
		return fail(r->ctx, -EBADMSG, "image damaged: checksum of page data at offset %llu",
			    (unsigned long long)(r->off - len));
	return 0;
}

int img_read_page_data(struct img_reader *r, const Ckpt__Pages *p, void *dst)
{
	return img_read_data(r, p->nr_pages, p->data_hash, dst);
}

int img_skip_data(struct img_reader *r, uint32_t nr_pages, uint64_t hash)
{
	_cleanup_free_ void *buf = malloc((size_t)nr_pages * PAGE_SIZE);

	if (!buf)
		return -ENOMEM;
	return img_read_data(r, nr_pages, hash, buf);
}

int img_skip_page_data(struct img_reader *r, const Ckpt__Pages *p)
{
	return img_skip_data(r, p->nr_pages, p->data_hash);
}

void img_reader_close(struct img_reader *r)
{
	if (r->hash)
		XXH3_freeState(r->hash);
	free(r->payload);
	r->hash = NULL;
	r->payload = NULL;
}

void img_free_msg(ProtobufCMessage *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}
