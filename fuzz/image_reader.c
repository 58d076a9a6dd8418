// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the image reader: lib/image.c (framing, checksums,
 * trailer), lib/model.c (model_read, model_validate) and lib/info.c (the
 * page accounting and both outputs of `ckpt info`).
 *
 * Each input is written to a memfd and read twice:
 *   1. as restore reads it: img_reader_open, model_read, model_validate,
 *      the FileData records (model_read_file_data), then every Pages and
 *      SysvPages record with its data (img_skip_data) up to the trailer;
 *   2. with ckpt_info() into /dev/null, as text and, if that succeeds, as
 *      JSON.
 * Any error return is fine. Crashes, sanitizer reports, leaks, timeouts and
 * huge allocations are bugs, and so is a failed oracle:
 *   - ckpt info accepts an image that the plain reader refuses, or counts a
 *     size other than the image's, or its JSON fails where its text did not;
 *   - model_validate() accepted a model that breaks what
 *     docs/image-format.md says of it (check_model);
 *   - ckpt info accepted an image that saves a page twice (check_pages);
 *   - a memfd or unlinked file without a valid object record (check_model,
 *     file-objects).
 *
 * Two kinds of input:
 *
 *   raw      a ckpt image, byte for byte (fuzz/corpus/raw-*). Fed as it is:
 *            this exercises the file head, the framing, the checksums, the
 *            trailer and tail, truncation and trailing data. A mutated
 *            payload fails its checksum, so raw inputs never get deeper.
 *
 *   compact  an image whose file head has FUZZ_FLAG_COMPACT set in `flags`
 *            (a field version-1 readers ignore), written without the page
 *            data and the padding after each record with page data (Pages,
 *            FileData, SysvPages), and whose
 *            checksums need not be right (fuzz/corpus/compact-*, made by
 *            fuzz/make-corpus). Before reading, the target repairs it into
 *            a well-formed image: it clears the flag, recomputes every
 *            record hash, adds zero padding and page data (zero bytes)
 *            after each of those and sets its data_hash (a valid one
 *            beyond FUZZ_MAX_PAGES pages or FUZZ_MAX_PAGE_RECORDS
 *            records in all is left out), and rewrites the Trailer (image
 *            hash, record count, index) and the tail, except for what the
 *            trailer frame's `reserved` field asks to leave wrong (see
 *            rep_trailer). Bytes after the trailer record are kept after
 *            the tail. So mutated records get
 *            past the checksums and reach model_validate and ckpt_info.
 *
 * A custom mutator keeps compact inputs compact and well framed: it mutates
 * one record's payload at a time (which may change its length), as bytes or
 * as protobuf fields (see pb_mutate), duplicates,
 * drops, swaps and retypes records, and crosses records over between
 * inputs; now and then it mutates the bytes of the whole input instead.
 *
 * The oracles (check_model, check_pages) are named; CKPT_FUZZ_SKIP=NAME,...
 * turns the named ones off, to fuzz on past a known bug.
 *
 * CKPT_FUZZ_SAVE=FILE writes the bytes that were read (the repaired image,
 * for a compact input) to FILE, so that a crash found here can be replayed
 * with `ckpt info -i FILE`. See fuzz/README.md.
 */
#include <fcntl.h>
#include <sys/mman.h>

#include "image.h"
#include "mem.h"
#include "model.h"
#include "res/res.h"

#define FUZZ_FLAG_COMPACT 0x80000000u
/* Page data added to one input: at most 2 MiB, in at most 16 records (each
 * has up to 4 KiB of padding, which the reader checks byte by byte). */
#define FUZZ_MAX_PAGES 512u
#define FUZZ_MAX_PAGE_RECORDS 16u

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1, const uint8_t *data2, size_t size2,
				 uint8_t *out, size_t max_out_size, unsigned int seed);

static int image_fd = -1;
static FILE *devnull;
static const char *save_path;
static const char *skip_oracles; /* CKPT_FUZZ_SKIP */

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "image_reader: check failed: %s: ", #cond); \
			fprintf(stderr, __VA_ARGS__);                      \
			fputc('\n', stderr);                               \
			abort();                                           \
		}                                                          \
	} while (0)

/* A growable byte buffer. */
struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void buf_reserve(struct buf *b, size_t more)
{
	if (b->n + more <= b->cap)
		return;
	b->cap = (b->n + more) * 2;
	b->p = realloc(b->p, b->cap);
	CHECK(b->p, "out of memory");
}

static void buf_put(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

static bool is_compact(const uint8_t *data, size_t size)
{
	struct img_file_head head;

	if (size < sizeof(head))
		return false;
	memcpy(&head, data, sizeof(head));
	return !memcmp(head.magic, IMG_MAGIC, sizeof(head.magic)) && (head.flags & FUZZ_FLAG_COMPACT);
}

/*
 * Repair: a compact input into a well-formed image (see the top). The page
 * data is zero bytes: it is not kept in memory but left as holes in the
 * memfd, which read as zeros.
 */

struct hole {
	size_t at; /* the hole comes before out.p[at] */
	size_t len;
};

struct image {
	struct buf out;     /* the image without its holes */
	struct hole *holes;
	size_t nr_holes, cap_holes;
	uint64_t size;      /* with them */
};

struct repair {
	struct image *img;
	XXH3_state_t *hash; /* over everything but the page data */
	Ckpt__IndexEntry *index;
	size_t nr_index, cap_index;
	unsigned pages_left, page_records_left;
};

static void img_put(struct image *img, const void *p, size_t n)
{
	buf_put(&img->out, p, n);
	img->size += n;
}

static void rep_put(struct repair *rp, const void *p, size_t n)
{
	img_put(rp->img, p, n);
	XXH3_64bits_update(rp->hash, p, n);
}

static void rep_record(struct repair *rp, const struct img_frame *orig, const uint8_t *payload, size_t len)
{
	struct img_frame f = *orig;
	Ckpt__IndexEntry *e = array_push(&rp->index, &rp->nr_index, &rp->cap_index, sizeof(*e));

	ckpt__index_entry__init(e);
	e->type = f.type;
	e->offset = rp->img->size;
	e->length = sizeof(f) + len;
	f.len = (uint32_t)len;
	f.hash = XXH3_64bits_withSeed(payload, len, f.type);
	rep_put(rp, &f, sizeof(f));
	rep_put(rp, payload, len);
}

/* XXH3-64 of n zero pages. */
static uint64_t zero_pages_hash(uint32_t n)
{
	static uint64_t cache[IMG_MAX_CHUNK_PAGES + 1];
	static bool known[IMG_MAX_CHUNK_PAGES + 1];
	static uint8_t *zeros;

	if (!known[n]) {
		if (!zeros)
			zeros = calloc(IMG_MAX_CHUNK_PAGES, PAGE_SIZE);
		CHECK(zeros, "out of memory");
		cache[n] = XXH3_64bits(zeros, (size_t)n * PAGE_SIZE);
		known[n] = true;
	}
	return cache[n];
}

/* Zero padding to the next page, then n pages of zero data, left as a hole. */
static void rep_data(struct repair *rp, uint32_t nr_pages)
{
	struct image *img = rp->img;
	size_t pad = PAGE_ALIGN(img->size) - img->size;
	uint8_t zeros[PAGE_SIZE] = { 0 };
	struct hole *h;

	rep_put(rp, zeros, pad);
	h = array_push(&img->holes, &img->nr_holes, &img->cap_holes, sizeof(*h));
	h->at = img->out.n;
	h->len = (size_t)nr_pages * PAGE_SIZE;
	img->size += h->len;
}

/* Whether a record of nr_pages fits the budget of page data; takes it if so. */
static bool rep_budget(struct repair *rp, uint32_t nr_pages)
{
	if (nr_pages > rp->pages_left || rp->page_records_left == 0)
		return false;
	rp->pages_left -= nr_pages;
	rp->page_records_left--;
	return true;
}

/*
 * A record with page data (Pages, FileData, SysvPages), then its padding
 * and page data, with data_hash set. A record beyond the budget of page
 * data is left out: the image stays valid.
 */
static bool rep_pages(struct repair *rp, const struct img_frame *f, const uint8_t *payload, size_t len)
{
	const ProtobufCMessageDescriptor *desc = f->type == REC_PAGES      ? &ckpt__pages__descriptor
						 : f->type == REC_FILEDATA ? &ckpt__file_data__descriptor
									   : &ckpt__sysv_pages__descriptor;
	ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, len, payload);
	uint32_t nr_pages;
	uint64_t *hash;
	size_t plen;
	uint8_t *packed;

	if (!msg)
		return false;
	nr_pages = img_rec_data_pages(f->type, msg);
	if (f->type == REC_PAGES)
		hash = &((Ckpt__Pages *)msg)->data_hash;
	else if (f->type == REC_FILEDATA)
		hash = &((Ckpt__FileData *)msg)->data_hash;
	else
		hash = &((Ckpt__SysvPages *)msg)->data_hash;
	if (nr_pages == 0 || nr_pages > IMG_MAX_CHUNK_PAGES) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return false;
	}
	if (!rep_budget(rp, nr_pages)) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return true;
	}
	*hash = zero_pages_hash(nr_pages);
	plen = protobuf_c_message_get_packed_size(msg);
	packed = malloc(plen ? plen : 1);
	CHECK(packed, "out of memory");
	protobuf_c_message_pack(msg, packed);
	rep_record(rp, f, packed, plen);
	free(packed);
	rep_data(rp, nr_pages);
	protobuf_c_message_free_unpacked(msg, NULL);
	return true;
}

/*
 * The Trailer, rewritten to match what came before, then the tail. The
 * `reserved` field of the trailer's frame (which readers ignore) says what
 * to leave wrong, so that the checks of the trailer and tail are fuzzed too.
 */
#define TRAILER_KEEP_HASH 0x1u    /* image_hash as the input has it */
#define TRAILER_KEEP_COUNTS 0x2u  /* records and index as the input has them */
#define TRAILER_BAD_TAIL 0x4u     /* the tail's magic damaged */
#define TRAILER_BAD_OFFSET 0x8u   /* the tail's trailer_offset off by one */
#define TRAILER_NO_TAIL 0x10u     /* no tail at all */
#define TRAILER_CONTROL 0x1fu

static void rep_trailer(struct repair *rp, const struct img_frame *f, const uint8_t *payload, size_t len)
{
	Ckpt__Trailer *t = ckpt__trailer__unpack(NULL, len, payload);
	uint64_t trailer_off = rp->img->size;
	uint32_t ctl = f->reserved;
	struct img_tail tail;

	if (t) {
		Ckpt__IndexEntry **idx = calloc(rp->nr_index + 1, sizeof(*idx));
		Ckpt__IndexEntry **old = t->index;
		size_t n_old = t->n_index, plen;
		uint8_t *packed;

		CHECK(idx, "out of memory");
		for (size_t i = 0; i < rp->nr_index; i++)
			idx[i] = &rp->index[i];
		if (!(ctl & TRAILER_KEEP_COUNTS)) {
			t->index = idx;
			t->n_index = rp->nr_index;
			t->records = rp->nr_index;
		}
		if (!(ctl & TRAILER_KEEP_HASH))
			t->image_hash = XXH3_64bits_digest(rp->hash);
		plen = ckpt__trailer__get_packed_size(t);
		packed = malloc(plen ? plen : 1);
		CHECK(packed, "out of memory");
		ckpt__trailer__pack(t, packed);
		t->index = old;
		t->n_index = n_old;
		ckpt__trailer__free_unpacked(t, NULL);
		free(idx);
		rep_record(rp, f, packed, plen);
		free(packed);
	} else {
		rep_record(rp, f, payload, len);
	}
	if (ctl & TRAILER_NO_TAIL)
		return;
	memcpy(tail.magic, IMG_TAIL_MAGIC, sizeof(tail.magic));
	if (ctl & TRAILER_BAD_TAIL)
		tail.magic[3] ^= 0x20;
	tail.trailer_offset = trailer_off + !!(ctl & TRAILER_BAD_OFFSET);
	img_put(rp->img, &tail, sizeof(tail));
}

static void repair(const uint8_t *data, size_t size, struct image *img)
{
	struct repair rp = { .img = img, .pages_left = FUZZ_MAX_PAGES, .page_records_left = FUZZ_MAX_PAGE_RECORDS };
	struct img_file_head head;
	size_t p = sizeof(head);

	rp.hash = XXH3_createState();
	CHECK(rp.hash, "out of memory");
	XXH3_64bits_reset(rp.hash);
	memcpy(&head, data, sizeof(head));
	head.flags &= ~FUZZ_FLAG_COMPACT;
	rep_put(&rp, &head, sizeof(head));
	while (size - p >= sizeof(struct img_frame)) {
		struct img_frame f;
		const uint8_t *payload;

		memcpy(&f, data + p, sizeof(f));
		if (f.len > size - p - sizeof(f))
			break; /* a truncated record: copied as it is below */
		payload = data + p + sizeof(f);
		p += sizeof(f) + f.len;
		if (f.type == REC_TRAILER) {
			rep_trailer(&rp, &f, payload, f.len);
			break;
		}
		if (!img_rec_has_data(f.type) || !rep_pages(&rp, &f, payload, f.len))
			rep_record(&rp, &f, payload, f.len);
	}
	img_put(img, data + p, size - p);
	XXH3_freeState(rp.hash);
	free(rp.index);
}

/* Writes the image to fd from offset 0, holes and all; fd is empty. */
static void image_write(const struct image *img, int fd)
{
	size_t from = 0;
	uint64_t off = 0;

	CHECK(ftruncate(fd, (off_t)img->size) == 0, "ftruncate: %s", strerror(errno));
	for (size_t i = 0; i <= img->nr_holes; i++) {
		size_t to = i < img->nr_holes ? img->holes[i].at : img->out.n;

		while (from < to) {
			ssize_t w = pwrite(fd, img->out.p + from, to - from, (off_t)off);

			CHECK(w > 0, "pwrite: %s", strerror(errno));
			from += (size_t)w;
			off += (uint64_t)w;
		}
		if (i < img->nr_holes)
			off += img->holes[i].len;
	}
	CHECK(off == img->size, "image size");
}

/*
 * Whether the oracle NAME is on: CKPT_FUZZ_SKIP=NAME,NAME... turns some off,
 * to fuzz on past a known bug until it is fixed.
 */
static bool oracle(const char *name)
{
	size_t n = strlen(name);

	for (const char *p = skip_oracles; p && (p = strstr(p, name)); p += n)
		if ((p == skip_oracles || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
			return false;
	return true;
}

/*
 * Oracles. What a model that model_validate() accepted must satisfy, as
 * docs/image-format.md states it, checked again here with arithmetic that
 * cannot wrap around. model_validate() means to check all of this: a
 * difference is a hole in the validation, which restore trusts.
 */
static void check_model(const struct model *m)
{
	for (size_t i = 0; i < m->vmas.n; i++) {
		const Ckpt__Vma *v = m->vmas.v[i];
		const Ckpt__Process *p = model_proc(m, v->pid);

		CHECK(p && p->state != 1, "accepted a vma of pid %u, which is not a live process", v->pid);
		CHECK(v->start < v->end && v->end <= CKPT_TASK_SIZE && (v->start | v->end | v->pgoff) % PAGE_SIZE == 0,
		      "accepted pid %u vma 0x%llx-0x%llx", v->pid, (unsigned long long)v->start,
		      (unsigned long long)v->end);
		if (i > 0 && m->vmas.v[i - 1]->pid == v->pid)
			CHECK(m->vmas.v[i - 1]->end <= v->start, "accepted overlapping vmas of pid %u at 0x%llx",
			      v->pid, (unsigned long long)v->start);
		if (v->kind == CKPT__VMA_KIND__VMA_FILE)
			CHECK(v->has_file_id && model_file(m, v->file_id), "accepted a file vma without a file");
		if (v->kind == CKPT__VMA_KIND__VMA_SHMEM) {
			const Ckpt__Shmem *s = v->has_shmem_id ? model_shmem(m, v->shmem_id) : NULL;

			CHECK(s, "accepted a shmem vma without its shmem");
			CHECK(!oracle("shmem-range") || (v->pgoff <= s->size && v->end - v->start <= s->size - v->pgoff),
			      "accepted pid %u vma 0x%llx-0x%llx at offset 0x%llx of shared memory %llu, "
			      "which has 0x%llx bytes",
			      v->pid, (unsigned long long)v->start, (unsigned long long)v->end,
			      (unsigned long long)v->pgoff, (unsigned long long)s->id, (unsigned long long)s->size);
		}
	}
	for (size_t i = 0; i < m->vmas.n; i++) {
		const Ckpt__Vma *v = m->vmas.v[i];
		const Ckpt__SysvObject *o = v->has_sysv_shm_id ? model_sysv(m, SYSV_SHM, v->sysv_shm_id) : NULL;

		if (v->kind != CKPT__VMA_KIND__VMA_SYSV_SHM)
			continue;
		CHECK(o, "accepted a SysV vma without its segment");
		CHECK(!oracle("sysv-range") || (o->shm_size <= (1ULL << 40) && v->pgoff <= PAGE_ALIGN(o->shm_size) &&
						 v->end - v->start <= PAGE_ALIGN(o->shm_size) - v->pgoff),
		      "accepted pid %u vma 0x%llx-0x%llx at offset 0x%llx of SysV segment %d, which has 0x%llx bytes",
		      v->pid, (unsigned long long)v->start, (unsigned long long)v->end, (unsigned long long)v->pgoff, o->id,
		      (unsigned long long)o->shm_size);
	}
	for (size_t i = 0; i < m->procs.n; i++)
		for (size_t k = 0; k < m->procs.v[i]->n_sem_undo; k++) {
			const Ckpt__SysvSemUndo *u = m->procs.v[i]->sem_undo[k];
			const Ckpt__SysvObject *s = model_sysv(m, SYSV_SEM, u->sem_id);

			CHECK(s && s->n_sem_values == u->n_adj, "accepted adjustments of pid %u in SysV set %d",
			      m->procs.v[i]->pid, u->sem_id);
		}
	for (size_t i = 0; i < m->threads.n; i++) {
		const Ckpt__Process *p = model_proc(m, m->threads.v[i]->pid);

		CHECK(p && p->state != 1, "accepted thread %u of pid %u, which is not a live process",
		      m->threads.v[i]->tid, m->threads.v[i]->pid);
	}
	for (size_t i = 0; i < m->fds.n; i++) {
		const Ckpt__Process *p = model_proc(m, m->fds.v[i]->pid);

		CHECK(p && p->state != 1 && model_file(m, m->fds.v[i]->file_id), "accepted pid %u fd %u",
		      m->fds.v[i]->pid, m->fds.v[i]->fd);
	}
	/* memfds and unlinked files: each names an object record of its kind that names itself. */
	for (size_t i = 0; oracle("file-objects") && i < m->files.n; i++) {
		const Ckpt__File *f = m->files.v[i], *o;

		if (f->kind != FILE_KIND_MEMFD && f->kind != FILE_KIND_UNLINKED)
			continue;
		o = f->has_object_id ? model_file(m, f->object_id) : NULL;
		CHECK(o && o->kind == f->kind && o->has_object_id && o->object_id == o->id &&
			      o->size <= FILE_OBJECT_MAX_SIZE && o->path && o->path[0] == '/',
		      "accepted file %llu of kind %u without a valid object record", (unsigned long long)f->id, f->kind);
		CHECK(o->kind != FILE_KIND_MEMFD || (o->memfd && strlen(o->memfd->name) <= MEMFD_NAME_MAX),
		      "accepted memfd %llu without its name", (unsigned long long)o->id);
	}
}

/* The pages of an image: no page may be saved twice (issue 4: a repeated
 * record makes the image invalid). */
struct range {
	uint32_t pid;
	uint64_t shmem_id; /* with pid 0: a shmem id, or with sysv a SysV segment id */
	bool sysv;
	uint64_t start, end;
};

struct ranges {
	struct range *v;
	size_t n, cap;
};

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->shmem_id != y->shmem_id)
		return x->shmem_id < y->shmem_id ? -1 : 1;
	if (x->sysv != y->sysv)
		return x->sysv ? 1 : -1;
	return x->start < y->start ? -1 : x->start > y->start;
}

static void check_pages(struct ranges *rs)
{
	if (!oracle("pages-twice"))
		return;
	if (rs->n)
		qsort(rs->v, rs->n, sizeof(*rs->v), cmp_range);
	for (size_t i = 1; i < rs->n; i++) {
		const struct range *a = &rs->v[i - 1], *b = &rs->v[i];

		CHECK(a->pid != b->pid || a->shmem_id != b->shmem_id || a->sysv != b->sysv || a->end <= b->start,
		      "ckpt info accepts the page at 0x%llx of %s %llu twice", (unsigned long long)b->start,
		      b->pid ? "pid" : "shared memory", (unsigned long long)(b->pid ? b->pid : b->shmem_id));
	}
}

/* The reads */

/* As restore reads an image: the model, then every page record. */
static int read_plain(struct ckpt_ctx *ctx, int fd, uint64_t *size, struct ranges *pages)
{
	struct img_reader r;
	struct model m;
	ProtobufCMessage *msg = NULL;
	uint32_t type = 0;
	int e;

	memset(&m, 0, sizeof(m));
	e = img_reader_open(&r, ctx, fd);
	if (e == 0)
		e = model_read(&m, &r, ctx, &type, &msg);
	if (e == 0)
		e = model_validate(&m, ctx);
	if (e == 0)
		check_model(&m);
	if (e == 0)
		e = model_read_file_data(&m, &r, ctx, &type, &msg, NULL, NULL);
	while (e == 0 && (type == REC_PAGES || type == REC_SYSV_PAGES)) {
		struct range *rg = array_push(&pages->v, &pages->n, &pages->cap, sizeof(*rg));

		if (type == REC_PAGES) {
			const Ckpt__Pages *pg = (const Ckpt__Pages *)msg;

			rg->pid = pg->pid;
			rg->sysv = false;
			rg->shmem_id = pg->pid ? 0 : pg->shmem_id;
			rg->start = pg->addr;
			rg->end = pg->addr + (uint64_t)pg->nr_pages * PAGE_SIZE; /* ckpt info checks it does not wrap */
			e = img_skip_page_data(&r, pg);
		} else {
			const Ckpt__SysvPages *sp = (const Ckpt__SysvPages *)msg;

			rg->pid = 0;
			rg->shmem_id = (uint32_t)sp->shm_id;
			rg->sysv = true;
			rg->start = sp->offset;
			rg->end = sp->offset + (uint64_t)sp->nr_pages * PAGE_SIZE;
			e = img_skip_data(&r, sp->nr_pages, sp->data_hash);
		}
		img_free_msg(msg);
		msg = NULL;
		if (e == 0)
			e = img_read_next(&r, &type, &msg);
	}
	if (e == 0 && type != REC_TRAILER)
		e = -EBADMSG;
	if (e == 0)
		CHECK(r.done, "trailer read but the reader is not done");
	*size = r.off;
	img_free_msg(msg);
	img_reader_close(&r);
	model_free(&m);
	return e;
}

static void rewind_fd(int fd)
{
	CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek: %s", strerror(errno));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	image_fd = memfd_create("ckpt-fuzz-image", MFD_CLOEXEC);
	CHECK(image_fd >= 0, "memfd_create: %s", strerror(errno));
	devnull = fopen("/dev/null", "w");
	CHECK(devnull, "/dev/null: %s", strerror(errno));
	save_path = getenv("CKPT_FUZZ_SAVE");
	skip_oracles = getenv("CKPT_FUZZ_SKIP");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image img = { 0 };
	struct ckpt_ctx *ctx;
	uint64_t len;
	uint64_t plain_size = 0;
	struct ranges pages = { 0 };
	int plain, text, json;

	if (is_compact(data, size))
		repair(data, size, &img);
	else
		img_put(&img, data, size);
	len = img.size;
	CHECK(ftruncate(image_fd, 0) == 0, "ftruncate: %s", strerror(errno));
	image_write(&img, image_fd);
	if (save_path) {
		int fd = open(save_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		CHECK(fd >= 0 && ftruncate(fd, 0) == 0, "%s: %s", save_path, strerror(errno));
		image_write(&img, fd);
		close(fd);
	}
	free(img.out.p);
	free(img.holes);

	CHECK(ckpt_ctx_new(&ctx) == 0, "ckpt_ctx_new");
	/* Every message is formatted, into /dev/null. */
	ckpt_set_log(ctx, devnull, CKPT_LOG_DEBUG);

	rewind_fd(image_fd);
	plain = read_plain(ctx, image_fd, &plain_size, &pages);
	rewind_fd(image_fd);
	text = ckpt_info(ctx, image_fd, devnull, false);
	CHECK(text <= 0, "ckpt_info returned %d", text);
	CHECK(text == 0 || strcmp(ckpt_error(ctx), "no error"), "ckpt_info failed without a message");
	if (text == 0) {
		CHECK(plain == 0, "ckpt info accepts an image that the reader refuses (%d)", plain);
		CHECK(plain_size == len, "the reader read %llu bytes of %llu", (unsigned long long)plain_size,
		      (unsigned long long)len);
		CHECK(ckpt_stats(ctx)->image_bytes == len, "ckpt info counts %llu bytes of %llu",
		      ckpt_stats(ctx)->image_bytes, (unsigned long long)len);
		rewind_fd(image_fd);
		json = ckpt_info(ctx, image_fd, devnull, true);
		CHECK(json == 0, "ckpt info --json fails (%d: %s) where the text succeeded", json, ckpt_error(ctx));
		check_pages(&pages);
	}
	free(pages.v);
	ckpt_ctx_free(ctx);
	return 0;
}

/* The mutator */

struct rec {
	struct img_frame f;
	uint8_t *payload; /* owned */
	size_t len;
};

struct recs {
	struct img_file_head head;
	struct rec *v;
	size_t n, cap;
	uint8_t *rest; /* bytes after the trailer record or a truncated one */
	size_t rest_len;
};

static void recs_free(struct recs *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->v[i].payload);
	free(rs->v);
	free(rs->rest);
	memset(rs, 0, sizeof(*rs));
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	CHECK(d, "out of memory");
	if (n)
		memcpy(d, p, n);
	return d;
}

static void recs_insert(struct recs *rs, size_t at, const struct img_frame *f, const uint8_t *payload, size_t len)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 16;
		rs->v = realloc(rs->v, rs->cap * sizeof(*rs->v));
		CHECK(rs->v, "out of memory");
	}
	memmove(rs->v + at + 1, rs->v + at, (rs->n - at) * sizeof(*rs->v));
	rs->v[at].f = *f;
	rs->v[at].payload = dup_bytes(payload, len);
	rs->v[at].len = len;
	rs->n++;
}

static void recs_parse(const uint8_t *data, size_t size, struct recs *rs)
{
	size_t p = sizeof(rs->head);

	memset(rs, 0, sizeof(*rs));
	memcpy(&rs->head, data, sizeof(rs->head));
	while (size - p >= sizeof(struct img_frame)) {
		struct img_frame f;

		memcpy(&f, data + p, sizeof(f));
		if (f.len > size - p - sizeof(f))
			break;
		recs_insert(rs, rs->n, &f, data + p + sizeof(f), f.len);
		p += sizeof(f) + f.len;
		if (f.type == REC_TRAILER)
			break;
	}
	rs->rest_len = size - p;
	rs->rest = dup_bytes(data + p, rs->rest_len);
}

static size_t recs_size(const struct recs *rs)
{
	size_t n = sizeof(rs->head) + rs->rest_len;

	for (size_t i = 0; i < rs->n; i++)
		n += sizeof(struct img_frame) + rs->v[i].len;
	return n;
}

/* Writes rs to out if it fits in max; returns its size or 0. */
static size_t recs_write(const struct recs *rs, uint8_t *out, size_t max)
{
	size_t n = recs_size(rs), p = 0;

	if (n > max)
		return 0;
	memcpy(out, &rs->head, sizeof(rs->head));
	p += sizeof(rs->head);
	for (size_t i = 0; i < rs->n; i++) {
		struct img_frame f = rs->v[i].f;

		f.len = (uint32_t)rs->v[i].len;
		f.hash = 0; /* the target recomputes it */
		memcpy(out + p, &f, sizeof(f));
		p += sizeof(f);
		if (rs->v[i].len)
			memcpy(out + p, rs->v[i].payload, rs->v[i].len);
		p += rs->v[i].len;
	}
	if (rs->rest_len)
		memcpy(out + p, rs->rest, rs->rest_len);
	return n;
}

static uint32_t rnd(uint32_t *s)
{
	/* xorshift32 */
	uint32_t x = *s ? *s : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/*
 * Protobuf-aware mutations of a payload: the fields of a message are found
 * by their keys, so a field can be dropped, repeated, or given another
 * length (with its length prefix, and those of the messages around it, kept
 * right). Byte mutations alone seldom change the length of a bytes field
 * and still decode, and the reader checks many such lengths.
 */
struct pb_field {
	size_t start, end; /* the whole field: key, length, value */
	size_t vstart;     /* its value, for a length-delimited one */
	uint32_t wire;
};

#define PB_MAX_FIELDS 256

/* Reads a varint at p[*i]; false if there is none. */
static bool pb_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
	*v = 0;
	for (unsigned sh = 0; sh < 64 && *i < n; sh += 7) {
		uint8_t c = p[(*i)++];

		*v |= (uint64_t)(c & 0x7f) << sh;
		if (!(c & 0x80))
			return true;
	}
	return false;
}

static size_t pb_put_varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	do {
		out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return n;
}

/* The fields of the message in p[0..n); 0 if it does not parse as one. */
static size_t pb_fields(const uint8_t *p, size_t n, struct pb_field *f)
{
	size_t i = 0, nf = 0;

	while (i < n && nf < PB_MAX_FIELDS) {
		uint64_t key, v;

		f[nf].start = i;
		if (!pb_varint(p, n, &i, &key) || key >> 3 == 0)
			return 0;
		f[nf].wire = key & 7;
		switch (f[nf].wire) {
		case 0:
			if (!pb_varint(p, n, &i, &v))
				return 0;
			break;
		case 1:
		case 5:
			if (n - i < (f[nf].wire == 1 ? 8u : 4u))
				return 0;
			i += f[nf].wire == 1 ? 8 : 4;
			break;
		case 2:
			if (!pb_varint(p, n, &i, &v) || v > n - i)
				return 0;
			f[nf].vstart = i;
			i += v;
			break;
		default:
			return 0;
		}
		f[nf++].end = i;
	}
	return i == n ? nf : 0;
}

/*
 * Mutates the message in p[0..n) into out (cap bytes of room); returns the
 * new length, or SIZE_MAX if p is not a message or the result does not fit.
 */
static size_t pb_mutate(const uint8_t *p, size_t n, uint8_t *out, size_t cap, uint32_t *s, int depth)
{
	static const size_t lens[] = { 0, 1, 8, 16, 127, 128, 129, 215, 216, 217, 575, 576, 1024, 1025, 4096 };
	struct pb_field *f = malloc(PB_MAX_FIELDS * sizeof(*f));
	size_t nf, k, len, vlen, room, sub, o, r = SIZE_MAX;
	uint32_t op = rnd(s) % 100;
	uint64_t key;
	uint8_t *tmp;

	CHECK(f, "out of memory");
	nf = pb_fields(p, n, f);
	if (nf == 0)
		goto out;
	k = rnd(s) % nf;
	if (op < 20) { /* field k left out */
		memcpy(out, p, f[k].start);
		memcpy(out + f[k].start, p + f[k].end, n - f[k].end);
		r = n - (f[k].end - f[k].start);
		goto out;
	}
	if (op < 40) { /* field k twice */
		if (n + (f[k].end - f[k].start) > cap)
			goto out;
		memcpy(out, p, f[k].end);
		memcpy(out + f[k].end, p + f[k].start, n - f[k].start);
		r = n + (f[k].end - f[k].start);
		goto out;
	}
	/* A length-delimited field: a change inside it, or a new length. */
	for (size_t t = 0; t < nf && f[k].wire != 2; t++)
		k = (k + 1) % nf;
	if (f[k].wire != 2 || n + 20 > cap)
		goto out;
	vlen = f[k].end - f[k].vstart;
	room = cap - (n - vlen) - 20;
	tmp = malloc(room + 1);
	CHECK(tmp, "out of memory");
	sub = SIZE_MAX;
	if (op < 70 && depth < 3) /* a nested message */
		sub = pb_mutate(p + f[k].vstart, vlen, tmp, room, s, depth + 1);
	if (sub == SIZE_MAX) { /* cut, or grown with zeros */
		switch (rnd(s) % 4) {
		case 0: len = lens[rnd(s) % ARRAY_SIZE(lens)]; break;
		case 1: len = vlen ? vlen - 1 : 1; break;
		case 2: len = vlen + 1 + rnd(s) % 16; break;
		default: len = rnd(s) % (2 * vlen + 2); break;
		}
		if (len > room)
			len = room;
		memcpy(tmp, p + f[k].vstart, len < vlen ? len : vlen);
		if (len > vlen)
			memset(tmp + vlen, 0, len - vlen);
		sub = len;
	}
	o = f[k].start;
	memcpy(out, p, o);
	pb_varint(p, n, &o, &key); /* the key again, then the new length */
	o = f[k].start;
	o += pb_put_varint(out + o, key);
	o += pb_put_varint(out + o, sub);
	memcpy(out + o, tmp, sub);
	o += sub;
	memcpy(out + o, p + f[k].end, n - f[k].end);
	r = o + n - f[k].end;
	free(tmp);
out:
	free(f);
	return r;
}

/* Mutates the payload of record i with libFuzzer's own byte mutations. */
static bool mutate_payload(struct recs *rs, size_t i, size_t budget)
{
	struct rec *r = &rs->v[i];
	size_t cap = r->len + (budget < 4096 ? budget : 4096), n;
	uint8_t *p = malloc(cap ? cap : 1);

	CHECK(p, "out of memory");
	if (r->len)
		memcpy(p, r->payload, r->len);
	n = LLVMFuzzerMutate(p, r->len, cap);
	free(r->payload);
	r->payload = p;
	r->len = n;
	return true;
}

/* Mutates the payload of record i as a protobuf message. */
static bool mutate_fields(struct recs *rs, size_t i, size_t budget, uint32_t *s)
{
	struct rec *r = &rs->v[i];
	size_t cap = r->len + (budget < 4096 ? budget : 4096), n;
	uint8_t *p = malloc(cap ? cap : 1);

	CHECK(p, "out of memory");
	n = pb_mutate(r->payload, r->len, p, cap, s, 0);
	if (n == SIZE_MAX) {
		free(p);
		return false;
	}
	free(r->payload);
	r->payload = p;
	r->len = n;
	return true;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	uint32_t s = seed;
	struct recs rs;
	size_t out;
	uint32_t op;
	bool done = false;

	/* Raw images (and anything else): only byte mutations. */
	if (!is_compact(data, size) || rnd(&s) % 16 == 0)
		return LLVMFuzzerMutate(data, size, max_size);
	recs_parse(data, size, &rs);
	for (unsigned tries = 0; tries < 8 && !done; tries++) {
		size_t budget = max_size > recs_size(&rs) ? max_size - recs_size(&rs) : 0;
		size_t i = rs.n ? rnd(&s) % rs.n : 0, k = rs.n ? rnd(&s) % rs.n : 0;

		op = rnd(&s) % 100;
		if (op < 42) { /* one record's payload */
			if (rs.n)
				done = mutate_payload(&rs, i, budget);
		} else if (op < 62) { /* one record's fields */
			if (rs.n)
				done = mutate_fields(&rs, i, budget, &s);
		} else if (op < 70) { /* a record twice */
			if (rs.n && rs.v[i].len + sizeof(struct img_frame) <= budget) {
				struct rec r = rs.v[i];

				recs_insert(&rs, k, &r.f, r.payload, r.len);
				done = true;
			}
		} else if (op < 78) { /* a record less */
			if (rs.n) {
				free(rs.v[i].payload);
				memmove(rs.v + i, rs.v + i + 1, (rs.n - i - 1) * sizeof(*rs.v));
				rs.n--;
				done = true;
			}
		} else if (op < 86) { /* two records swapped */
			if (rs.n > 1 && i != k) {
				struct rec t = rs.v[i];

				rs.v[i] = rs.v[k];
				rs.v[k] = t;
				done = true;
			}
		} else if (op < 90) { /* a record of another type */
			if (rs.n) {
				rs.v[i].f.type = 1 + rnd(&s) % REC_TYPE_MAX;
				done = true;
			}
		} else if (op < 93) { /* the bytes after the trailer */
			size_t cap = rs.rest_len + (budget < 64 ? budget : 64);
			uint8_t *p = malloc(cap ? cap : 1);

			CHECK(p, "out of memory");
			if (rs.rest_len)
				memcpy(p, rs.rest, rs.rest_len);
			rs.rest_len = cap ? LLVMFuzzerMutate(p, rs.rest_len, cap) : 0;
			free(rs.rest);
			rs.rest = p;
			done = true;
		} else if (op < 95) { /* what the repair leaves wrong in the trailer */
			for (size_t t = rs.n; t-- > 0;)
				if (rs.v[t].f.type == REC_TRAILER) {
					rs.v[t].f.reserved ^= 1u << (rnd(&s) % 5);
					rs.v[t].f.reserved &= TRAILER_CONTROL;
					done = true;
					break;
				}
		} else if (op < 97) { /* the file head */
			uint8_t h[sizeof(rs.head)];

			memcpy(h, &rs.head, sizeof(h));
			LLVMFuzzerMutate(h, sizeof(h), sizeof(h));
			memcpy(&rs.head, h, sizeof(h));
			rs.head.flags |= FUZZ_FLAG_COMPACT;
			done = true;
		} else { /* a record's frame */
			if (rs.n) {
				LLVMFuzzerMutate((uint8_t *)&rs.v[i].f, sizeof(rs.v[i].f), sizeof(rs.v[i].f));
				rs.v[i].f.len = (uint32_t)rs.v[i].len;
				done = true;
			}
		}
	}
	out = done ? recs_write(&rs, data, max_size) : 0;
	recs_free(&rs);
	return out ? out : LLVMFuzzerMutate(data, size, max_size);
}

/* Records of the second input put into the first: a record kind that one
 * image lacks comes in from another. */
size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1, const uint8_t *data2, size_t size2,
				 uint8_t *out, size_t max_out_size, unsigned int seed)
{
	uint32_t s = seed;
	struct recs a, b;
	size_t n;

	if (!is_compact(data1, size1) || !is_compact(data2, size2))
		return 0;
	recs_parse(data1, size1, &a);
	recs_parse(data2, size2, &b);
	if (b.n) {
		size_t from = rnd(&s) % b.n, count = 1 + rnd(&s) % (b.n - from < 4 ? b.n - from : 4);
		size_t at = a.n ? rnd(&s) % (a.n + 1) : 0;

		if (rnd(&s) % 4 == 0) { /* the tail of b after a's first records */
			while (a.n > at) {
				free(a.v[a.n - 1].payload);
				a.n--;
			}
			count = b.n - from;
		}
		for (size_t i = 0; i < count; i++)
			recs_insert(&a, at + i, &b.v[from + i].f, b.v[from + i].payload, b.v[from + i].len);
	}
	n = recs_write(&a, out, max_out_size);
	recs_free(&a);
	recs_free(&b);
	return n;
}
