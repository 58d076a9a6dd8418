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
	FILE_KIND_SIGNALFD = 8,
	FILE_KIND_TIMERFD = 9,
	FILE_KIND_INOTIFY = 10,
	FILE_KIND_MEMFD = 11, /* a memfd, made again with its name, seals and content */
	FILE_KIND_UNLINKED = 12, /* an unlinked regular file, made again with its content */
	FILE_KIND_PTY_MASTER = 15, /* a pseudo-terminal master (lib/res/pty.c) */
	FILE_KIND_PTY_SLAVE = 16,  /* a slave of a master held in the tree */
	FILE_KIND_UNIX = 13,  /* a unix socket, with its queue (lib/res/unix.c) */
	FILE_KIND_MQUEUE = 14, /* a POSIX message queue, with its messages */
	FILE_KIND_INET = 17,  /* a TCP or UDP socket over IPv4 or IPv6 */
	FILE_KIND_NETLINK = 18, /* a netlink socket, with nothing queued (lib/res/netlink.c) */
};

/* memfd and unlinked files: objects whose content is in the image (filedata.c). */
#define FILE_OBJECT_MAX_SIZE (1ULL << 44)
#define MEMFD_NAME_MAX 249   /* MFD_NAME_MAX_LEN */
#define MEMFD_SEALS_ALL 0x3fu /* F_SEAL_SEAL .. F_SEAL_EXEC */

/* The File record that describes an object and whose FileData holds its content. */
static inline bool file_has_content(const Ckpt__File *f)
{
	return (f->kind == FILE_KIND_MEMFD || f->kind == FILE_KIND_UNLINKED) && f->has_object_id &&
	       f->object_id == f->id && f->size <= FILE_OBJECT_MAX_SIZE;
}

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
	struct ckpt_ctx *ctx;
	const struct model *m;
	const struct ckpt_restore_opts *opts;
	int fd_floor;         /* fds kept across calls must be at or above this */
	struct res_obj *objs;
	size_t nr_objs, cap_objs;
	/* Per m->files: the description opened so far, -1 if not yet (see open_last). */
	const int *file_fds;
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
	void *dumper;         /* the dump, for dump_extra_fd() */
	/* A descriptor ckpt took out of a unix socket's queue: the socket's. */
	const struct fd_desc *holder;
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
	/*
	 * Optional: an fd to mmap for the mappings of this file and to set as
	 * an exe. Without it, the file is reopened by path and must be
	 * unchanged since the dump.
	 */
	int (*map_fd)(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *fd);
	/*
	 * Optional, once every descriptor of the tree is dumped: checks and
	 * relations between the Files of this kind (a socket's peer).
	 */
	int (*dump_finish)(struct ckpt_ctx *ctx, struct model *m);
	/* Opened after every other kind: open() may use their Files (rr->file_fds). */
	bool open_last;
	/* Optional, for ckpt info: a File without a path in words (the image may be damaged). */
	void (*describe)(const Ckpt__File *f, char *buf, size_t len);
	/*
	 * Optional, for every description the kind dumped, once the image is
	 * written or the dump failed, while the tree is still stopped: killed
	 * says the tree is about to be killed after a complete image; if not,
	 * it goes on and the kind gives back what its dump changed (TCP repair
	 * mode). pid and fd name the description in a process of the tree.
	 */
	void (*dump_end)(struct ckpt_ctx *ctx, const Ckpt__File *f, pid_t pid, int fd, bool killed);
	/*
	 * Optional, run by the coordinator on its own descriptor of the file
	 * once every process is restored, before any of them runs: state that
	 * must not be live while the tree is built (TCP repair mode). Returns
	 * 0 or -errno with the message in ctx.
	 */
	int (*finish)(struct ckpt_ctx *ctx, const Ckpt__File *f, int fd);
};

/* Runs every kind's dump_finish. */
int res_dump_finish(struct ckpt_ctx *ctx, struct model *m);

/*
 * dump_fd.c: dumps a descriptor that ckpt itself holds (a copy of one in
 * flight in a unix socket; holder is the socket's fd_desc) as a File,
 * unless its description is dumped already, and gives its id. Takes fd:
 * it stays open until the dump ends, so kcmp can match it.
 */
int dump_extra_fd(void *dumper, const struct fd_desc *holder, int fd, uint64_t *file_id);

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
extern const struct res_ops res_signalfd;
extern const struct res_ops res_timerfd;
extern const struct res_ops res_inotify;
extern const struct res_ops res_memfd;
extern const struct res_ops res_unlinked;
extern const struct res_ops res_pty_master;
extern const struct res_ops res_pty_slave;
extern const struct res_ops res_unix;
extern const struct res_ops res_mqueue;
extern const struct res_ops res_inet;
extern const struct res_ops res_netlink;

/* pipe.c, shared with fifo.c: the bytes in a pipe, and the record holding them. */
int pipe_read_contents(struct ckpt_ctx *ctx, const struct fd_desc *fd, Ckpt__File *f, struct model *m);
const Ckpt__File *pipe_contents(const struct model *m, uint32_t kind, uint64_t id);

/* mqueue.c: the File record holding the state of the message queue with inode ino. */
const Ckpt__File *mqueue_state(const struct model *m, uint64_t ino);
bool mqueue_fail_point(struct ckpt_ctx *ctx, bool fired);

/*
 * registry.c: our own copy of descriptor fd of thread tid (pidfd_getfd: the
 * same open file description), or -errno; res_fd_dup below says why.
 */
int res_fd_take(pid_t tid, int fd);
int res_fd_copy(const struct fd_desc *fd);
/*
 * filedata.c: memfds and unlinked files, whose content is in the image.
 * Dump: object_dump() makes f the object record of its inode (returns 1:
 * the caller saves the content) or points it at the one there is (0).
 */
Ckpt__File *object_find(const struct model *m, uint32_t kind, uint64_t dev, uint64_t ino);
int object_dump(struct ckpt_ctx *ctx, struct model *m, Ckpt__File *f, const struct stat *st, const char *what);
bool memfd_link(const char *link, const struct stat *st);
bool unlinked_link(const char *link, const struct stat *st);
/* Fill f (a new File of their kind) for an object reached through src (a /proc path). */
int memfd_dump_object(struct ckpt_ctx *ctx, struct model *m, Ckpt__File *f, const char *src, const char *what,
		      const char *link, const struct stat *st);
int unlinked_dump_object(struct ckpt_ctx *ctx, struct model *m, Ckpt__File *f, const char *what, const char *link,
			 const struct stat *st);
/* Restore: make() creates the object, empty; the rest is shared. */
typedef int (*object_make_fn)(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *o, int *fd);
int object_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, object_make_fn make, int *out);
int object_map_fd(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, object_make_fn make, int *out);
/* A file_data_fn (arg: the res_restore) writing content into its object. */
int object_put_data(void *arg, const Ckpt__File *f, const Ckpt__FileData *d, const void *data, size_t len);
/* Once all content is in: times, then seals. */
int objects_finish(struct ckpt_ctx *ctx, struct res_restore *rr);

/* procfile.c: files under /proc and /sys (part of res_path). */
int procfile_dump(struct ckpt_ctx *ctx, const struct fd_desc *fd, Ckpt__File *f, struct model *m, bool proc);
int procfile_attach(const Ckpt__File *f, uint32_t pid, int fd, char *msg, size_t msglen);

/* Whether a file reopened by path differs in size or modification time from the dump's. */
bool file_changed(const Ckpt__File *f, const struct stat *st);
/* How it changed, for messages. */
const char *file_change(const Ckpt__File *f, const struct stat *st, char *buf, size_t len);
/* Who uses file id, for messages: "pid 12 fd 3", "pid 12 vma 0x7f...", "pid 12 exe". */
const char *file_user(const struct model *m, uint64_t id, char *buf, size_t len);

/* Reads a "key:" value of /proc/PID/task/TID/fdinfo/FD; NULL if absent. */
char *fdinfo_text(const struct fd_desc *fd);

/* Our own copy of fd of pid (tid: a live thread of it; pidfd_getfd): the same description. */
int res_fd_dup(struct ckpt_ctx *ctx, pid_t pid, pid_t tid, int fd);

#endif
