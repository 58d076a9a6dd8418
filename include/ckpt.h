/* SPDX-License-Identifier: MIT */
/*
 * libckpt: checkpoint and restore of Linux process trees.
 *
 * A context carries options and the last error message. Every call returns
 * 0 or a negative errno; ckpt_error() then says what went wrong, naming the
 * pid and the object.
 */
#ifndef CKPT_H
#define CKPT_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CKPT_VERSION "0.1.0"

struct ckpt_ctx;

enum ckpt_log_level {
	CKPT_LOG_ERROR = 0,
	CKPT_LOG_WARN = 1,
	CKPT_LOG_INFO = 2,
	CKPT_LOG_DEBUG = 3,
};

struct ckpt_dump_opts {
	pid_t pid;              /* root of the tree */
	int out_fd;             /* image is written here; a pipe works */
	bool leave_running;     /* resume the tree instead of killing it */
	bool shell_job;         /* allow the caller's terminal as std fds */
	bool no_sync;           /* write a file through the page cache and do not
	                           fsync it (default: page data with O_DIRECT, then
	                           fsync, so the image is on disk when the call
	                           returns) */
	bool tcp_established;   /* save established TCP connections (TCP_REPAIR);
	                           their traffic is blocked until they are restored */
	bool tcp_close;         /* save them as dropped: they come back closed */
	/* SysV IPC objects to dump besides those the tree uses (docs/ipc.md), by key. */
	const int *ipc_keys;
	size_t nr_ipc_keys;
};

struct ckpt_restore_opts {
	int in_fd;              /* image is read from here; a pipe works */
	bool detach;            /* return once the tree runs */
	bool shell_job;         /* put terminal fds on our own terminal */
	int pid_wait_ms;        /* how long to wait for a busy pid (default 3000) */
	bool vdso_proxy;        /* reach the vDSO through trampolines even when it
	                           matches the image's (they are used by themselves
	                           when it does not) */
	bool allow_file_changes; /* accept files opened read-only or mapped whose
	                           size or modification time changed since the
	                           dump (refused otherwise) */
};

/* Statistics of the last dump or restore. */
struct ckpt_stats {
	unsigned processes;
	unsigned threads;
	unsigned long long page_bytes;
	unsigned long long image_bytes;
	unsigned long long frozen_ns;   /* time the tree was stopped */
	unsigned long long total_ns;
};

int ckpt_ctx_new(struct ckpt_ctx **out);
void ckpt_ctx_free(struct ckpt_ctx *ctx);
void ckpt_set_log(struct ckpt_ctx *ctx, FILE *f, enum ckpt_log_level level);
const char *ckpt_error(const struct ckpt_ctx *ctx);
const struct ckpt_stats *ckpt_stats(const struct ckpt_ctx *ctx);

int ckpt_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts);

/*
 * Restores the tree. On success *root is the restored root pid; without
 * opts->detach the call waits for it and *status is its wait status.
 */
int ckpt_restore(struct ckpt_ctx *ctx, const struct ckpt_restore_opts *opts,
		 pid_t *root, int *status);

/* Writes a description of the image to out, as text or JSON. */
int ckpt_info(struct ckpt_ctx *ctx, int in_fd, FILE *out, bool json);

#ifdef __cplusplus
}
#endif
#endif
