/*
 * report.h: failures and the verdict for the workloads that keep several
 * failures and write RESULT themselves (memory, mmfields, creds, settings,
 * fds, unsupported); the others use wl.h.
 *
 * failf() records a failure (up to 8, separated by "; ", each prefixed by
 * `who` when the workload has set it: "parent", "child", ...), report()
 * writes "PASS" or "FAIL: <failures>" to a file, whole, under a temporary
 * name then renamed. Nothing here allocates: a workload may call it after
 * fork() and from a process whose memory layout must not change.
 */
#ifndef WL_REPORT_H
#define WL_REPORT_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char why[16384];
static const char *who;

#define FAILF(...) failf(__VA_ARGS__)
static __attribute__((format(printf, 1, 2), unused)) void failf(const char *fmt, ...)
{
	static int nfail;
	size_t n = strlen(why);
	va_list ap;

	if (nfail++ >= 8 || n + 16 >= sizeof(why))
		return;
	if (who)
		n += (size_t)snprintf(why + n, sizeof(why) - n, "%s%s: ", n ? "; " : "", who);
	else
		n += (size_t)snprintf(why + n, sizeof(why) - n, "%s", n ? "; " : "");
	if (n >= sizeof(why))
		return;
	va_start(ap, fmt);
	vsnprintf(why + n, sizeof(why) - n, fmt, ap);
	va_end(ap);
}

/* Writes a, b and a newline to path, whole: under a temporary name, then renamed. */
static __attribute__((unused)) int write_text(const char *path, const char *a, const char *b)
{
	static char tmp[4200], text[20000];
	int fd, n;

	n = snprintf(text, sizeof(text), "%s%s\n", a, b ? b : "");
	if (n < 0 || (size_t)n >= sizeof(text))
		n = (int)sizeof(text) - 1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, text, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	close(fd);
	return rename(tmp, path);
}

/* The verdict into path; returns 1 if something failed. */
static __attribute__((unused)) int report(const char *path)
{
	if (why[0])
		write_text(path, "FAIL: ", why);
	else
		write_text(path, "PASS", NULL);
	return why[0] != 0;
}

/* Reads path as text into buf (NUL-terminated, at most cap - 1 bytes); -1 if it cannot. */
static __attribute__((unused)) ssize_t read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = 0;
	return (ssize_t)n;
}

#endif
