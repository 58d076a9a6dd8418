/* SPDX-License-Identifier: MIT */
/* Shared helpers of libckpt: context, logging, small utilities. */
#ifndef CKPT_INTERNAL_H
#define CKPT_INTERNAL_H

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#undef PAGE_SIZE
#define PAGE_SIZE 4096UL
#define PAGE_ALIGN(x) (((x) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))

struct ckpt_ctx {
	FILE *log;
	enum ckpt_log_level level;
	char err[1024];
	struct ckpt_stats stats;
	/* CKPT_FAIL_AT=step:N, read once when the context is made. */
	char fail_step[64];
	int fail_nth;
	int fail_seen;
};

void ckpt_log(struct ckpt_ctx *ctx, enum ckpt_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Records an error message (the first one wins: it is the cause) and returns
 * err, a negative errno, so that callers write `return fail(ctx, -EINVAL, ...)`.
 */
int fail(struct ckpt_ctx *ctx, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define pr_warn(ctx, ...) ckpt_log(ctx, CKPT_LOG_WARN, __VA_ARGS__)
#define pr_info(ctx, ...) ckpt_log(ctx, CKPT_LOG_INFO, __VA_ARGS__)
#define pr_debug(ctx, ...) ckpt_log(ctx, CKPT_LOG_DEBUG, __VA_ARGS__)

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline int take_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

uint64_t now_ns(void);
/* Reads a whole small file (from /proc) into a NUL-terminated buffer. */
int read_text(const char *path, char **out, size_t *len);
int read_full(int fd, void *buf, size_t len);   /* 0, -EIO on short read */
int write_full(int fd, const void *buf, size_t len);
void *xcalloc(size_t n, size_t size);
void *xrealloc_array(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
/* Appends to a growable array: *arr, *nr, *cap. Returns the new slot. */
void *array_push(void *arr_p, size_t *nr, size_t *cap, size_t size);
/* Finds "Key:\t" in /proc status text and returns the value start or NULL. */
const char *status_field(const char *status, const char *key);
bool pid_exists(pid_t pid);
/* Is cap in our effective set? */
bool have_cap(int cap);

/* Failure injection for tests: CKPT_FAIL_AT=step:N makes step fail the Nth time. */
bool fail_point(struct ckpt_ctx *ctx, const char *step);

#endif
