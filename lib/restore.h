/* SPDX-License-Identifier: MIT */
/*
 * Restore: the coordinator (restore.c) validates the image, opens what the
 * processes share and creates the root; every process then runs the task
 * stage (restore_task.c), which forks its own children with their original
 * pids and jumps into the freestanding restorer (pie/). The coordinator
 * fills memory, and at the end sets registers through ptrace and unmaps the
 * restorer (restore_finish.c).
 */
#ifndef CKPT_RESTORE_H
#define CKPT_RESTORE_H

#include <sys/user.h>

#include "image.h"
#include "model.h"
#include "res/res.h"
#include "restorer.h"
#include "vdso.h"

struct rproc {
	Ckpt__Process *p;
	Ckpt__Thread **threads;    /* threads[0] is the main thread */
	size_t nr_threads;
	Ckpt__Vma **vmas;
	size_t nr_vmas;
	Ckpt__Fd **fds;
	size_t nr_fds;
	size_t *children;          /* indices into restore.procs */
	size_t nr_children;
	pid_t parent_pid;          /* who must be our parent while restoring */
	pid_t via_helper;          /* created by a session helper with this pid */
	int stage;                 /* last rst_stage reported */
	int memfd;                 /* /proc/PID/mem, opened on first use */
	struct vdso_info *old_vdso; /* symbols of the image's vDSO, or NULL */
	/* Sharing (restore_share.c): who clones it, and how. */
	size_t creator;            /* its parent, or a sibling (CLONE_PARENT); SIZE_MAX: ckpt */
	uint64_t clone_flags;      /* CLONE_FILES, CLONE_FS, CLONE_PARENT */
	bool files_shared;         /* another process of the tree has its fd table */
};

struct restore {
	struct ckpt_ctx *ctx;
	const struct ckpt_restore_opts *opts;
	struct model m;
	struct img_reader r;
	struct page_order page_order;
	struct rproc *procs;
	size_t nr_procs;
	size_t root;
	int *file_fds;             /* per m.files: the open file description */
	int *map_fds;              /* per m.files: an fd to mmap, or -1 */
	int *shmem_fds;            /* per m.shmems */
	struct res_restore rr;     /* the kinds' objects, while files are made */
	int report_rd, report_wr, go_fd[2];
	int ctl_lo;                /* every fd of ours is at or above this */
	uint64_t own_caps;         /* to know whose credentials must change */
	/* The root's session and group when they lie outside the tree (a shell
	 * job's): the tree stays in those of ckpt restore. 0 when inside. */
	uint32_t outside_sid, outside_pgid;
	bool tracing;
	void **sysv_maps;          /* per m.sysv: our attachment while filling it */
	bool sysv_checked;         /* no object of the image's ids existed before */
};

/* restore_task.c: runs in each new process; never returns. */
void task_main(struct restore *rs, size_t idx) __attribute__((noreturn));
void task_report(struct restore *rs, pid_t pid, int stage, int err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Reports an error from inside a process being restored, and ends it. */
#define TASK_FAIL(rs, pid, err, ...)                               \
	do {                                                       \
		task_report(rs, pid, RST_ERROR, err, __VA_ARGS__); \
		_exit(70);                                         \
	} while (0)

/* restore_tree.c: the tree's shape, sessions and groups (task stage). */
pid_t clone_with_pid(pid_t pid, uint32_t exit_signal, uint64_t flags);
void set_session(struct restore *rs, const Ckpt__Process *p);
void wait_adopted(struct restore *rs, const struct rproc *rp);
void make_children(struct restore *rs, struct rproc *rp);
void join_group(struct restore *rs, const Ckpt__Process *p);
void check_ids(struct restore *rs, const Ckpt__Process *p);
void become_zombie(const Ckpt__Process *p) __attribute__((noreturn));
/* restore_ctty.c: a pty of the tree as controlling terminal (task stage). */
void ctty_setup(struct restore *rs, const Ckpt__Process *p);
void ctty_foreground(struct restore *rs, const Ckpt__Process *p);
/* restore.c: ids of sessions and groups whose leader is not in the image. */
bool leader_missing(const struct restore *rs, uint32_t id, bool session);

/* restore_tree.c: who makes whom, for fd tables and fs shared between processes (share.h). */
int plan_sharing(struct restore *rs);
bool made_by(const struct restore *rs, const struct rproc *creator, const struct rproc *c);

/* restore_finish.c */
int finish_tree(struct restore *rs);
/* Its interval and POSIX timers, by system calls run in it (lib/restore_timers.c). */
struct remote;
int restore_timers(struct restore *rs, struct rproc *rp, struct remote *rm);

size_t file_index(const struct restore *rs, uint64_t id);
size_t shmem_index(const struct restore *rs, uint64_t id);
struct rproc *proc_by_pid(struct restore *rs, int32_t pid);
/* restore_pages.c: reads the page records up to the trailer into the tree. */
int fill_memory(struct restore *rs, uint32_t type, ProtobufCMessage *msg);

#endif
