/* SPDX-License-Identifier: MIT */
/*
 * The in-memory form of an image: the records of every kind, as decoded
 * protobuf messages or as messages built by the dumper. Dump fills one and
 * writes it; restore and info read one and validate it.
 */
#ifndef CKPT_MODEL_H
#define CKPT_MODEL_H

#include "internal.h"
#include "ckpt.pb-c.h"

/* Everything built for one image is allocated here and freed at once. */
struct arena_block {
	struct arena_block *next;
	max_align_t data[];
};

struct arena {
	struct arena_block *blocks;
};

void *arena_alloc(struct arena *a, size_t size);
char *arena_strdup(struct arena *a, const char *s);
void arena_free(struct arena *a);

#define DEFINE_LIST(name, type) \
	struct name {           \
		type **v;       \
		size_t n, cap;  \
	}
DEFINE_LIST(proc_list, Ckpt__Process);
DEFINE_LIST(thread_list, Ckpt__Thread);
DEFINE_LIST(vma_list, Ckpt__Vma);
DEFINE_LIST(file_list, Ckpt__File);
DEFINE_LIST(fd_list, Ckpt__Fd);
DEFINE_LIST(shmem_list, Ckpt__Shmem);
DEFINE_LIST(msg_list, ProtobufCMessage);
DEFINE_LIST(sysv_list, Ckpt__SysvObject);
DEFINE_LIST(sysv_msg_list, Ckpt__SysvMsg);

/* SysvObject.kind */
enum sysv_kind {
	SYSV_SHM = 1,
	SYSV_SEM = 2,
	SYSV_MSG = 3,
};

#define LIST_PUSH(list, item) (*(__typeof__((list)->v))array_push(&(list)->v, &(list)->n, &(list)->cap, sizeof(*(list)->v)) = (item))

struct model {
	struct arena arena;
	Ckpt__Header *header;
	struct proc_list procs;
	struct thread_list threads;
	struct vma_list vmas;
	struct file_list files;
	struct fd_list fds;
	struct shmem_list shmems;
	struct sysv_list sysv;      /* SysV objects, sorted by (kind, id) once validated */
	struct sysv_msg_list sysv_msgs; /* in image order, which is queue order */
	struct msg_list owned; /* decoded messages to free */
	bool sorted;           /* by model_validate(): lookups are binary searches */
};

void model_free(struct model *m);
Ckpt__Process *model_proc(const struct model *m, uint32_t pid);
Ckpt__File *model_file(const struct model *m, uint64_t id);
Ckpt__Shmem *model_shmem(const struct model *m, uint64_t id);
Ckpt__SysvObject *model_sysv(const struct model *m, uint32_t kind, int32_t id);

/*
 * Pages records of one process (or one shared memory object) come in
 * increasing address order without overlap: a repeated or reordered record
 * is damage. One of these follows the records of an image as they are read.
 */
struct page_cursor {
	uint64_t key;             /* pid, or shmem id with the top bit set */
	uint64_t end;
};

struct page_order {
	struct page_cursor *v;
	size_t n, cap, last;
};

int page_order_check(struct page_order *po, struct ckpt_ctx *ctx, const Ckpt__Pages *p);
/* The same for the contents of a SysV shared memory segment. */
int page_order_check_sysv(struct page_order *po, struct ckpt_ctx *ctx, const Ckpt__SysvPages *p);
void page_order_free(struct page_order *po);

/*
 * Reads the FileData records that follow the model (from *type and *msg,
 * what model_read() stopped at, to the first record of another type, left
 * in *type and *msg), checking each: it names the object record of a memfd
 * or unlinked file, lies inside its size, and the records of one file come
 * in increasing order. put, if not NULL, gets each run of content, without
 * the padding past the file's end (len may be 0).
 */
struct img_reader;
typedef int (*file_data_fn)(void *arg, const Ckpt__File *f, const Ckpt__FileData *d, const void *data, size_t len);
int model_read_file_data(const struct model *m, struct img_reader *r, struct ckpt_ctx *ctx, uint32_t *type,
			 ProtobufCMessage **msg, file_data_fn put, void *arg);

/* Reads all records before the page data, checking every reference. */
struct img_reader;
int model_read(struct model *m, struct img_reader *r, struct ckpt_ctx *ctx, uint32_t *first_type,
	       ProtobufCMessage **first_msg);
/* Checks every record and reference; sorts the lists for lookups. */
int model_validate(struct model *m, struct ckpt_ctx *ctx);
/* model_ipc.c: the IPC records (SysV objects, message queues); part of model_validate. */
int model_validate_ipc(const struct model *m, struct ckpt_ctx *ctx);

#endif
