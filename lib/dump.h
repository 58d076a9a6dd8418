/* SPDX-License-Identifier: MIT */
/* The dump engine's shared state, split over dump*.c by concern. */
#ifndef CKPT_DUMP_H
#define CKPT_DUMP_H

#include <signal.h>

#include "image.h"
#include "model.h"
#include "ptrace.h"

struct dproc {
	pid_t pid;
	bool zombie;
	/*
	 * The main thread called pthread_exit while others go on: the leader is
	 * a zombie with no mm, so everything is read through a live thread.
	 */
	bool leader_dead;
	pid_t live;               /* a live thread: pid, or tids[0] */
	char dir[48];             /* /proc/PID, or /proc/PID/task/LIVE */
	enum seize_state state;
	pid_t *tids;              /* tids[0] == pid */
	size_t nr_tids, cap_tids;
	uint64_t syscall_ip;
	int memfd;                /* /proc/PID/mem */
	/* --leave-running: the copy-on-write child the memory is read from (dump_snap.c) */
	pid_t snap;               /* its pid as we see it; 0: none */
	pid_t snap_theirs;        /* its pid as its parent sees it */
	int snap_memfd;           /* /proc/SNAP/mem */
	/* its pump (lib/snap_pump.S), or -1: our ends of its pipes */
	int snap_ctl;             /* commands to it */
	int snap_pipe;            /* the pages it vmsplices */
	int snap_status;          /* how much of each command it spliced */
	bool snap_tried;          /* snap_prepare ran */
	Ckpt__Process *p;
};

/* An open file description and one (pid, fd) that holds it, for kcmp. */
struct dfile {
	Ckpt__File *f;
	pid_t pid;
	int fd;
	bool own;                 /* fd is ckpt's copy of a descriptor in flight */
};

/* Where to read the content of a memfd or unlinked file (its object record). */
struct dsrc {
	uint64_t file_id;
	char path[64];            /* /proc/PID/fd/N, /proc/PID/map_files/A-B, /proc/PID/exe */
};

struct dump {
	struct ckpt_ctx *ctx;
	const struct ckpt_dump_opts *opts;
	struct model m;
	struct dproc *procs;
	size_t nr_procs, cap_procs;
	struct dfile *dfiles;
	size_t nr_dfiles, cap_dfiles;
	struct dsrc *srcs;
	size_t nr_srcs, cap_srcs;
	uint64_t next_id;
	struct img_writer w;
	sigset_t deferred;        /* signals that end ckpt, held while the tree is ours */
};

/* Fails the dump if one of the deferred signals came (the tree then goes on). */
int dump_check_interrupt(struct dump *d);
/* len bytes at addr of dp's memory (scratch memory of a remote call). */
int dump_read_remote(struct dump *d, struct dproc *dp, uint64_t addr, void *buf, size_t len);
/* Its timers, with system calls run in it (rm) and its scratch memory (lib/dump_timers.c). */
int dump_timers(struct dump *d, struct dproc *dp, struct remote *rm, uint64_t scratch);

/* dump_task.c */
int dump_process(struct dump *d, struct dproc *dp);
/* dump_mem.c */
int dump_vmas(struct dump *d, struct dproc *dp);
/* Where page data is read from: a live process, a snapshot, or a file. */
struct mem_src {
	pid_t pid;                /* process_vm_readv from it, when not 0 */
	int memfd;                /* pread from it */
	struct dproc *snap;       /* the snapshot of this process, if any */
};

/* Page data of shared memory objects, each once. */
int dump_shared_pages(struct dump *d);
/* Page data of dp's private memory, from its snapshot if it has one. */
int dump_private_pages(struct dump *d, struct dproc *dp);
/* dump_snap.c */
void snap_take_all(struct dump *d);
void snap_drop_all(struct dump *d, bool tree_stopped);
/* Reads len bytes of dp's snapshot at addr into buf; -errno if it cannot. */
int snap_read(struct dump *d, struct dproc *dp, uint64_t addr, uint8_t *buf, size_t len);
/* dump_share.c: fd tables and fs shared between processes (Process.fd_table_id, fs_id). */
int dump_sharing(struct dump *d);
/* Fails if restore could not make the tree share them again. */
int dump_check_sharing(struct dump *d);
/* dump_fd.c */
int dump_fds(struct dump *d, struct dproc *dp);
/* Closes ckpt's copies of descriptors in flight (dump_extra_fd). */
void dump_close_own_fds(struct dump *d);
/* Lets each kind finish with what it dumped (dump_end); killed: the tree is killed next. */
void dump_fds_end(struct dump *d, bool killed);
/* Returns the id of a File record for a path-like object (exe, cwd, mapped file). */
int dump_path_file(struct dump *d, const struct dproc *dp, const char *proc_link, uint64_t *id);
/* The same for a file known by path, already stat()ed. */
struct stat;
int dump_named_file(struct dump *d, pid_t pid, const char *path, const struct stat *st, uint64_t *id);
/* dump_filedata.c: content of memfds and unlinked files. */
void dump_note_content(struct dump *d, const Ckpt__File *f, const char *src);
int dump_check_objects(struct dump *d);
int dump_file_data(struct dump *d);

int parse_stat(pid_t pid, pid_t tid, char *state, long long *fields, int nfields);

#endif
