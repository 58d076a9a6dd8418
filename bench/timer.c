/*
 * timer: run a command and report its wall time and peak RSS, for bench/run.
 *
 *   timer REPORT CMD [ARGS...]
 *
 * Runs CMD with our stdin, stdout and stderr, waits for it and writes
 *   status=N wall_s=SECONDS maxrss_kib=N
 * to REPORT (status: exit code, or 128+N if signal N killed it).
 *
 * Why not from Python: ru_maxrss counts the memory of the process that
 * forked and exec'd the command (the old mm's high-water mark is folded in
 * at exec), so a command started from a 25 MiB Python would report 25 MiB.
 * This program is small, so the figure is the command's own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct rusage ru;
	double t0, t1;
	pid_t pid;
	int st, code;
	FILE *f;

	if (argc < 3) {
		fprintf(stderr, "usage: timer REPORT CMD [ARGS...]\n");
		return 2;
	}
	t0 = now();
	pid = fork();
	if (pid < 0) {
		perror("timer: fork");
		return 125;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "timer: exec %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &st, 0, &ru) < 0)
		if (errno != EINTR) {
			perror("timer: wait4");
			return 125;
		}
	t1 = now();
	code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	f = fopen(argv[1], "w");
	if (!f) {
		perror("timer: report");
		return 125;
	}
	fprintf(f, "status=%d wall_s=%.6f maxrss_kib=%ld\n", code, t1 - t0, ru.ru_maxrss);
	return fclose(f) == 0 ? 0 : 125;
}
