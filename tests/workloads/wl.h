/*
 * wl.h: the workload protocol shared by the workloads in tests/workloads.
 *
 *   prog READY RESULT [args]
 *
 * A workload sets up its state, calls wl_ready(), waits in wl_wait() (pause()
 * in a loop until SIGUSR1), then checks its state and ends with
 * wl_finish(), which writes "PASS" or "FAIL: <first failure>" to RESULT.
 * Files are written to a temporary name and renamed, so the harness never
 * sees half a line.
 */
#ifndef WL_H
#define WL_H

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char *wl_ready_path, *wl_result_path;
static volatile sig_atomic_t wl_usr1;
static char wl_why[2048];

static __attribute__((unused)) void wl_on_usr1(int sig)
{
	(void)sig;
	wl_usr1 = 1;
}

static __attribute__((unused)) pid_t wl_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* Write MSG + newline to PATH atomically (tmp file + rename). */
static __attribute__((unused)) int wl_write_file(const char *path, const char *msg)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%s\n", msg);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

/* Read the first line of PATH into BUF (no newline); -1 if missing. */
static __attribute__((unused)) int wl_read_file(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, (int)n, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* Record a failure; the first one wins.  Returns 0 so it can be used as
 * `return wl_fail(...)` in int check functions. */
__attribute__((format(printf, 1, 2), unused)) static int wl_fail(const char *fmt, ...)
{
	if (wl_why[0])
		return 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(wl_why, sizeof(wl_why), fmt, ap);
	va_end(ap);
	return 0;
}

#define WL_CHECK(cond, ...)                  \
	do {                                 \
		if (!(cond))                 \
			wl_fail(__VA_ARGS__); \
	} while (0)

/* Parse the arguments and install the SIGUSR1 handler (no SA_RESTART). */
static __attribute__((unused)) void wl_init(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s READY_FILE RESULT_FILE [ARGS...]\n", argv[0]);
		exit(2);
	}
	wl_ready_path = argv[1];
	wl_result_path = argv[2];
	struct sigaction sa = { .sa_handler = wl_on_usr1 };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

/* Block SIGUSR1 in the calling thread (call before creating threads that
 * must not take the verify signal, then wl_unblock_usr1() in main). */
static __attribute__((unused)) void wl_block_usr1(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static __attribute__((unused)) void wl_unblock_usr1(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

static __attribute__((unused)) void wl_ready_msg(const char *msg)
{
	if (wl_write_file(wl_ready_path, msg) != 0) {
		perror("write ready file");
		exit(3);
	}
}

static __attribute__((unused)) void wl_ready(void)
{
	wl_ready_msg("ready");
}

static __attribute__((unused)) void wl_wait(void)
{
	while (!wl_usr1)
		pause();
}

/* Write the result and return the exit status (0 on PASS). */
static __attribute__((unused)) int wl_finish(void)
{
	if (wl_why[0]) {
		char msg[2100];
		snprintf(msg, sizeof(msg), "FAIL: %s", wl_why);
		wl_write_file(wl_result_path, msg);
		return 1;
	}
	wl_write_file(wl_result_path, "PASS");
	return 0;
}

static __attribute__((unused)) double wl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static __attribute__((unused)) void wl_msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* First number of /proc/self/task/TID/syscall: the syscall a blocked thread
 * is in, -1 if running, -2 if unreadable. */
static __attribute__((unused)) long wl_thread_syscall(pid_t tid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	if (wl_read_file(path, buf, sizeof(buf)) != 0)
		return -2;
	if (strncmp(buf, "running", 7) == 0)
		return -1;
	return strtol(buf, NULL, 10);
}

/* Wait up to MS milliseconds until thread TID is blocked in one of the
 * syscalls NRS[0..N-1]; returns the syscall or the last value seen. */
static __attribute__((unused)) long wl_wait_in_syscall(pid_t tid, const long *nrs, int n, long ms)
{
	long cur = -2;
	for (long waited = 0; waited <= ms; waited += 5) {
		cur = wl_thread_syscall(tid);
		for (int i = 0; i < n; i++)
			if (cur == nrs[i])
				return cur;
		wl_msleep(5);
	}
	return cur;
}

/* Moves fd to number want (closing fd); want, or -1. A negative fd is passed through. */
static __attribute__((unused)) int wl_place(int fd, int want)
{
	if (fd < 0 || fd == want)
		return fd;
	if (dup2(fd, want) != want)
		return -1;
	close(fd);
	return want;
}

#endif
