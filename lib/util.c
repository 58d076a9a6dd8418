// SPDX-License-Identifier: MIT
/* Context, logging and small helpers used all over libckpt. */
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"

int ckpt_ctx_new(struct ckpt_ctx **out)
{
	struct ckpt_ctx *ctx = calloc(1, sizeof(*ctx));
	const char *f;

	if (!ctx)
		return -ENOMEM;
	ctx->log = stderr;
	ctx->level = CKPT_LOG_WARN;
	f = getenv("CKPT_FAIL_AT");
	if (f) {
		const char *colon = strrchr(f, ':');
		size_t n = colon ? (size_t)(colon - f) : strlen(f);

		if (n >= sizeof(ctx->fail_step))
			n = sizeof(ctx->fail_step) - 1;
		memcpy(ctx->fail_step, f, n);
		ctx->fail_nth = colon ? atoi(colon + 1) : 1;
	}
	*out = ctx;
	return 0;
}

void ckpt_ctx_free(struct ckpt_ctx *ctx)
{
	free(ctx);
}

void ckpt_set_log(struct ckpt_ctx *ctx, FILE *f, enum ckpt_log_level level)
{
	ctx->log = f;
	ctx->level = level;
}

const char *ckpt_error(const struct ckpt_ctx *ctx)
{
	return ctx->err[0] ? ctx->err : "no error";
}

const struct ckpt_stats *ckpt_stats(const struct ckpt_ctx *ctx)
{
	return &ctx->stats;
}

static void vlog(struct ckpt_ctx *ctx, enum ckpt_log_level lvl, const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	if (!ctx->log || lvl > ctx->level)
		return;
	fprintf(ctx->log, "ckpt[%d] %s: ", getpid(), names[lvl]);
	vfprintf(ctx->log, fmt, ap);
	fputc('\n', ctx->log);
	fflush(ctx->log);
}

void ckpt_log(struct ckpt_ctx *ctx, enum ckpt_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(ctx, lvl, fmt, ap);
	va_end(ap);
}

/* Messages may quote an image's strings: no control bytes reach a terminal. */
static void defang(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

int fail(struct ckpt_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;

	if (!ctx->err[0]) {
		va_start(ap, fmt);
		vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
		va_end(ap);
		defang(ctx->err);
	}
	va_start(ap, fmt);
	vlog(ctx, CKPT_LOG_DEBUG, fmt, ap);
	va_end(ap);
	return err < 0 ? err : -EINVAL;
}

bool fail_point(struct ckpt_ctx *ctx, const char *step)
{
	if (!ctx->fail_step[0] || strcmp(ctx->fail_step, step))
		return false;
	return ++ctx->fail_seen == ctx->fail_nth;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int read_text(const char *path, char **out, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	char *buf;

	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;

			free(buf);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = 0;
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		abort();
	return p;
}

void *xrealloc_array(void *p, size_t n, size_t size)
{
	void *np;

	if (size && n > SIZE_MAX / size)
		abort();
	np = realloc(p, (n * size) != 0 ? n * size : 1);
	if (!np)
		abort();
	return np;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");

	if (!p)
		abort();
	return p;
}

void *array_push(void *arr_p, size_t *nr, size_t *cap, size_t size)
{
	void **arr = arr_p;
	char *slot;

	if (*nr == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*arr = xrealloc_array(*arr, *cap, size);
	}
	slot = (char *)*arr + *nr * size;
	memset(slot, 0, size);
	(*nr)++;
	return slot;
}

const char *status_field(const char *status, const char *key)
{
	size_t kl = strlen(key);
	const char *p = status;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ':') {
			p += kl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

bool have_cap(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (cap < 0 || cap > 63 || syscall(SYS_capget, &h, d) < 0)
		return false;
	return d[cap / 32].effective & (1u << (cap % 32));
}

bool pid_exists(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}
