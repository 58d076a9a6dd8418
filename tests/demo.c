// SPDX-License-Identifier: MIT
/*
 * The demo workload of tests/demo: a parent with two threads and a child
 * process, each appending "NAME pid=P tid=T n=N" to a log file every half
 * second with a counter that lives only in memory. After a checkpoint and
 * restore the counters must go on where they were.
 *
 *   demo LOGFILE PIDFILE
 *
 * The process started is only a keeper: it forks the demo (which writes its
 * pid to PIDFILE) and reaps it and its orphans once the dump has killed
 * them, so that their pids are free for the restore even where pid 1 does
 * not reap zombies (some containers). It exits when they are all gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;

static void tick(const char *name)
{
	struct timespec half = { 0, 500 * 1000 * 1000 };
	unsigned long n = 0;

	for (;;) {
		nanosleep(&half, NULL);
		n++;
		dprintf(log_fd, "%s pid=%d tid=%ld n=%lu\n", name, getpid(), (long)syscall(SYS_gettid), n);
	}
}

static void *thread_main(void *arg)
{
	tick(arg);
	return NULL;
}

/* Only the log and /dev/null: ckpt refuses descriptors it cannot restore. */
static void tidy_fds(void)
{
	int null = open("/dev/null", O_RDWR);

	if (null < 0)
		exit(1);
	for (int fd = 0; fd < 3; fd++)
		dup2(null, fd);
	for (int fd = 3; fd < 1024; fd++)
		if (fd != log_fd)
			close(fd);
}

static void write_pidfile(const char *path)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f) || rename(tmp, path))
		exit(1);
}

static int demo(const char *pidfile)
{
	static char t1[] = "parent-thread-1", t2[] = "parent-thread-2";
	pthread_t th;

	setsid();
	write_pidfile(pidfile);
	tidy_fds();
	if (fork() == 0)
		tick("child");
	if (pthread_create(&th, NULL, thread_main, t1) || pthread_create(&th, NULL, thread_main, t2))
		return 1;
	pause();
	return 0;
}

int main(int argc, char **argv)
{
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: demo LOGFILE PIDFILE\n");
		return 2;
	}
	log_fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		perror(argv[1]);
		return 1;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		return demo(argv[2]);
	close(log_fd);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}
