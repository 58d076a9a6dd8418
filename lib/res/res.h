/* SPDX-License-Identifier: MIT */
/*
 * The registry of resource kinds. Each kind of open file lives in one file
 * under lib/res/ with one ops struct; adding a kind is that file and one
 * line in registry.c.
 */
#ifndef CKPT_RES_H
#define CKPT_RES_H

#include <limits.h>
#include <sys/stat.h>

#include "../model.h"

/* File.kind values; stable, they are in images. */
enum file_kind {
	FILE_KIND_PATH = 1,   /* regular file or directory reopened by path */
	FILE_KIND_CHARDEV = 2, /* /dev/null, /dev/zero, /dev/random, ... */
	FILE_KIND_TTY = 3,    /* the caller's terminal (--shell-job) */
	FILE_KIND_PIPE = 4,   /* an anonymous pipe, with the data in it */
	FILE_KIND_EVENTFD = 5,
	FILE_KIND_EPOLL = 6,
	FILE_KIND_FIFO = 7,   /* a named pipe, reopened by path, with its data */
	FILE_KIND_MQUEUE = 14, /* a POSIX message queue, with its messages */
};

/*
 * State of one restore that kinds share between their open() calls: the
 * image, and objects behind several descriptions (both ends of a pipe).
 */
struct res_obj {
	uint32_t kind;
	uint64_t id;
	int fds[2];
};

struct res_restore {
	const struct model *m;
	const struct ckpt_restore_opts *opts;
	int fd_floor;         /* fds kept across calls must be at or above this */
	struct res_obj *objs;
	size_t nr_objs, cap_objs;
};

struct res_obj *res_obj_find(struct res_restore *rr, uint32_t kind, uint64_t id);
struct res_obj *res_obj_add(struct res_restore *rr, uint32_t kind, uint64_t id);
void res_restore_done(struct res_restore *rr);

/* What the dumper knows of one descriptor before a kind takes it. */
struct fd_desc {
	pid_t pid;
	pid_t tid;            /* a live thread of pid */
	int fd;
	struct stat st;
	char link[PATH_MAX];  /* readlink of /proc/PID/fd/FD */
	uint32_t flags;       /* open flags without O_CLOEXEC */
	uint64_t pos;
	bool cloexec;
};

struct res_ops {
	const char *name;
	enum file_kind kind;
	bool (*match)(const struct fd_desc *fd);
	/* Fills f (id and kind are set by the caller); m holds what is dumped so far. */
	int (*dump)(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
		    Ckpt__File *f, struct model *m);
	/* Opens the file description again; the result may be any fd number. */
	int (*open)(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *fd);
	/*
	 * Optional, run in the restored process pid once all its fds are in
	 * place (as the image numbers them): state that refers to other fds by
	 * number. fd is the number of this description in pid. Returns 0 or
	 * -errno with a message in msg.
	 */
	int (*attach)(const Ckpt__File *f, uint32_t pid, int fd, char *msg, size_t msglen);
};

const struct res_ops *res_by_kind(uint32_t kind);
const struct res_ops *res_for_fd(const struct fd_desc *fd);

/* Describes an unsupported descriptor: "pipe", "socket", "io_uring", ... */
const char *fd_kind_name(const struct fd_desc *fd, char *buf, size_t len);

extern const struct res_ops res_path;
extern const struct res_ops res_chardev;
extern const struct res_ops res_tty;
extern const struct res_ops res_pipe;
extern const struct res_ops res_eventfd;
extern const struct res_ops res_epoll;
extern const struct res_ops res_fifo;
extern const struct res_ops res_mqueue;

/* pipe.c, shared with fifo.c: the bytes in a pipe, and the record holding them. */
int pipe_read_contents(struct ckpt_ctx *ctx, const struct fd_desc *fd, Ckpt__File *f, struct model *m);
const Ckpt__File *pipe_contents(const struct model *m, uint32_t kind, uint64_t id);

/* mqueue.c: the File record holding the state of the message queue with inode ino. */
const Ckpt__File *mqueue_state(const struct model *m, uint64_t ino);
bool mqueue_fail_point(struct ckpt_ctx *ctx, bool fired);

/* Reads a "key:" value of /proc/PID/task/TID/fdinfo/FD; NULL if absent. */
char *fdinfo_text(const struct fd_desc *fd);

#endif
