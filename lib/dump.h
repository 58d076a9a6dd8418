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
	Ckpt__Process *p;
};

/* An open file description and one (pid, fd) that holds it, for kcmp. */
struct dfile {
	Ckpt__File *f;
	pid_t pid;
	int fd;
};

struct dump {
	struct ckpt_ctx *ctx;
	const struct ckpt_dump_opts *opts;
	struct model m;
	struct dproc *procs;
	size_t nr_procs, cap_procs;
	struct dfile *dfiles;
	size_t nr_dfiles, cap_dfiles;
	uint64_t next_id;
	struct img_writer w;
	uint8_t *buf;             /* page copy buffer, IMG_MAX_CHUNK_PAGES pages */
	sigset_t deferred;        /* signals that end ckpt, held while the tree is ours */
};

/* Fails the dump if one of the deferred signals came (the tree then goes on). */
int dump_check_interrupt(struct dump *d);

/* dump_task.c */
int dump_process(struct dump *d, struct dproc *dp);
/* dump_mem.c */
int dump_vmas(struct dump *d, struct dproc *dp);
int dump_pages(struct dump *d);
/* dump_fd.c */
int dump_fds(struct dump *d, struct dproc *dp);
/* Lets each kind finish with what it dumped (dump_end); killed: the tree is killed next. */
void dump_fds_end(struct dump *d, bool killed);
/* Returns the id of a File record for a path-like object (exe, cwd, mapped file). */
int dump_path_file(struct dump *d, const struct dproc *dp, const char *proc_link, uint64_t *id);
/* The same for a file known by path, already stat()ed. */
struct stat;
int dump_named_file(struct dump *d, pid_t pid, const char *path, const struct stat *st, uint64_t *id);

int parse_stat(pid_t pid, pid_t tid, char *state, long long *fields, int nfields);

#endif
