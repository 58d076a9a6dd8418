/* SPDX-License-Identifier: MIT */
/*
 * The image file: a magic, framed records, page data aligned to pages, a
 * trailer with an index and a checksum, and a tail that points to it.
 * Written in one pass, so it can go to a pipe. docs/image-format.md.
 */
#ifndef CKPT_IMAGE_H
#define CKPT_IMAGE_H

#include <pthread.h>
#include <protobuf-c/protobuf-c.h>
#include <sys/uio.h>
#include <xxhash.h>
/*
 * XXH3 through libxxhash's run-time dispatch: the AVX2/AVX-512 variant where
 * the CPU has it (same hashes, page data hashed about 2.5x faster).
 */
#include <xxh_x86dispatch.h>

#include "internal.h"
#include "ckpt.pb-c.h"

#define IMG_MAGIC "CKPTIMG\0"
#define IMG_TAIL_MAGIC "CKPTEND\0"
#define IMG_FORMAT_VERSION 1
#define IMG_REC_MAGIC 0x43524b43u /* "CKRC" */
#define IMG_MAX_PAYLOAD (64u << 20)
#define IMG_MAX_CHUNK_PAGES 2048u /* 8 MiB of page data per Pages record */

enum img_rec_type {
	REC_HEADER = 1,
	REC_PROCESS = 2,
	REC_THREAD = 3,
	REC_VMA = 4,
	REC_FILE = 5,
	REC_FD = 6,
	REC_SHMEM = 7,
	REC_PAGES = 8,
	REC_TRAILER = 9,
	REC_FILEDATA = 10,        /* content of a memfd or unlinked file, framed like pages */
	REC_SYSV_OBJ = 12,        /* a SysV shared memory segment, semaphore set or message queue */
	REC_SYSV_PAGES = 13,      /* like Pages, for a SysV shared memory segment */
	REC_SYSV_MSG = 14,        /* one message of a SysV message queue */
	REC_TYPE_MAX = 14,
};

struct img_file_head {
	char magic[8];
	uint32_t format_version;
	uint32_t flags;
};

struct img_frame {
	uint32_t magic;
	uint32_t type;
	uint32_t len;
	uint32_t reserved;
	uint64_t hash; /* XXH3-64 of the payload, seeded with the type */
};

struct img_tail {
	char magic[8];
	uint64_t trailer_offset;
};

/* image_out.c: the output thread. */
#define OUT_QUEUE 256
#define OUT_BUFS 3
#define OUT_BUF_SIZE ((size_t)IMG_MAX_CHUNK_PAGES * PAGE_SIZE)

struct out_item {
	const void *p;
	size_t len;
	void *owned;              /* freed once written */
};

struct out_buf {
	uint8_t *mem;
	uint64_t busy_until;      /* queue position after its last item */
};

struct img_out {
	int fd, intr_fd, wake_fd;
	pthread_t thread;
	bool started, running, stopping;
	bool is_file;             /* a regular file, written from offset 0 with pwritev */
	bool direct, direct_on;   /* O_DIRECT wanted for aligned pieces; set on the fd now */
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct out_item q[OUT_QUEUE];
	uint64_t head, tail;      /* items queued, items written */
	int err;
	char errmsg[256];
	uint64_t written;         /* by the thread */
	uint8_t *stage;           /* small pieces gathered here (caller's side) */
	size_t stage_len;
	struct out_buf bufs[OUT_BUFS];
	size_t next_buf;
};

int out_start(struct img_out *o, int fd, int intr_fd, bool direct);
/* Queues a copy of len bytes. */
int out_put(struct img_out *o, const void *p, size_t len);
/* Queues bytes of an out_buffer() without copying them (other bytes: copied). */
int out_put_page_data(struct img_out *o, const void *p, size_t len);
/* A buffer of OUT_BUF_SIZE bytes the thread is done with. */
uint8_t *out_buffer(struct img_out *o);
/* Waits until everything queued is written; 0 or the first error. */
int out_flush(struct img_out *o);
const char *out_error(struct img_out *o);
void out_stop(struct img_out *o);

struct img_writer {
	struct ckpt_ctx *ctx;
	int fd;
	int intr_fd;              /* signalfd of signals that end the write, or -1 */
	struct img_out out;
	int old_flags;            /* the output's flags before we made it non-blocking */
	uint64_t off;
	XXH3_state_t *hash;
	Ckpt__IndexEntry *index;
	size_t nr_index, cap_index;
	uint64_t records;
};

/* direct: write page data to a regular file with O_DIRECT (where the filesystem takes it). */
int img_writer_open(struct img_writer *w, struct ckpt_ctx *ctx, int fd, int intr_fd, bool direct);
int img_write_msg(struct img_writer *w, enum img_rec_type type, const ProtobufCMessage *msg);
/* Writes a Pages record and the page data gathered from iov. */
int img_write_pages(struct img_writer *w, Ckpt__Pages *pages, const struct iovec *iov, int iovcnt);
/*
 * The same for any record followed by page data (Pages, FileData,
 * SysvPages): sets *data_hash, then writes msg, the padding and nr_pages
 * pages from iov. Pages and FileData have the two wrappers above and below.
 */
int img_write_data(struct img_writer *w, enum img_rec_type type, ProtobufCMessage *msg, uint32_t nr_pages,
		   uint64_t *data_hash, const struct iovec *iov, int iovcnt);
/* A buffer for page data to pass to img_write_data without a copy. */
uint8_t *img_page_buffer(struct img_writer *w);
/* Writes a FileData record and its data, framed as page data. */
int img_write_file_data(struct img_writer *w, Ckpt__FileData *fd, const struct iovec *iov, int iovcnt);
int img_writer_finish(struct img_writer *w);
void img_writer_close(struct img_writer *w);

struct img_reader {
	struct ckpt_ctx *ctx;
	int fd;
	uint64_t off;
	XXH3_state_t *hash;
	uint8_t *payload;
	size_t payload_cap;
	uint64_t records;
	bool done;
};

int img_reader_open(struct img_reader *r, struct ckpt_ctx *ctx, int fd);
/*
 * Reads the next record, checks its frame and checksum and unpacks it.
 * For a record with page data (img_rec_has_data()), the caller must then
 * consume the data with img_read_data() or img_skip_data() (for Pages:
 * img_read_page_data(), img_skip_page_data()).
 */
int img_read_next(struct img_reader *r, uint32_t *type, ProtobufCMessage **msg);
int img_read_page_data(struct img_reader *r, const Ckpt__Pages *p, void *dst);
int img_skip_page_data(struct img_reader *r, const Ckpt__Pages *p);
/* The data after any record with page data: nr_pages pages with XXH3-64 hash. */
int img_read_data(struct img_reader *r, uint32_t nr_pages, uint64_t hash, void *dst);
int img_skip_data(struct img_reader *r, uint32_t nr_pages, uint64_t hash);
/* Is type a record followed by page data (Pages, FileData, SysvPages)? */
bool img_rec_has_data(uint32_t type);
/* Its number of pages (0 for other records). */
uint32_t img_rec_data_pages(uint32_t type, const ProtobufCMessage *msg);
void img_reader_close(struct img_reader *r);
const char *img_rec_name(uint32_t type);
void img_free_msg(ProtobufCMessage *msg);

#endif
