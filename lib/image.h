/* SPDX-License-Identifier: MIT */
/*
 * The image file: a magic, framed records, page data aligned to pages, a
 * trailer with an index and a checksum, and a tail that points to it.
 * Written in one pass, so it can go to a pipe. docs/image-format.md.
 */
#ifndef CKPT_IMAGE_H
#define CKPT_IMAGE_H

#include <protobuf-c/protobuf-c.h>
#include <sys/uio.h>
#include <xxhash.h>

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

struct img_writer {
	struct ckpt_ctx *ctx;
	int fd;
	int intr_fd;              /* signalfd of signals that end the write, or -1 */
	int old_flags;            /* the output's flags before we made it non-blocking */
	uint64_t off;
	XXH3_state_t *hash;
	Ckpt__IndexEntry *index;
	size_t nr_index, cap_index;
	uint64_t records;
};

int img_writer_open(struct img_writer *w, struct ckpt_ctx *ctx, int fd, int intr_fd);
int img_write_msg(struct img_writer *w, enum img_rec_type type, const ProtobufCMessage *msg);
/* Writes a Pages record and the page data gathered from iov. */
int img_write_pages(struct img_writer *w, Ckpt__Pages *pages, const struct iovec *iov, int iovcnt);
/*
 * The same for any record followed by page data (Pages, SysvPages): sets
 * *data_hash, then writes msg, the padding and nr_pages pages from iov.
 */
int img_write_data(struct img_writer *w, enum img_rec_type type, ProtobufCMessage *msg, uint32_t nr_pages,
		   uint64_t *data_hash, const struct iovec *iov, int iovcnt);
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
 * For REC_PAGES, the caller must then consume the data with
 * img_read_page_data() or img_skip_page_data().
 */
int img_read_next(struct img_reader *r, uint32_t *type, ProtobufCMessage **msg);
int img_read_page_data(struct img_reader *r, const Ckpt__Pages *p, void *dst);
int img_skip_page_data(struct img_reader *r, const Ckpt__Pages *p);
/* The same for any record with page data: nr_pages pages with data_hash. */
int img_read_data(struct img_reader *r, uint32_t nr_pages, uint64_t data_hash, void *dst);
int img_skip_data(struct img_reader *r, uint32_t nr_pages, uint64_t data_hash);
/* Is type a record followed by page data? */
bool img_rec_has_data(uint32_t type);
void img_reader_close(struct img_reader *r);
const char *img_rec_name(uint32_t type);
void img_free_msg(ProtobufCMessage *msg);

#endif
