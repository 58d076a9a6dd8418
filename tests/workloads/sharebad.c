/*
 * sharebad: sharing that ckpt cannot make again, which the dump must refuse.
 *
 *   sharebad READY RESULT MODE
 *
 * MODE
 *   thread-files  a thread made without CLONE_FILES (a table of its own)
 *   thread-fs     a thread made without CLONE_FS (a cwd of its own)
 *   cousins       P is a subreaper; P -> Q -> X; X makes Y with CLONE_FILES,
 *                 Y makes Z with CLONE_FILES and exits: Z goes to P. X and Z
 *                 share a table, their parents (Q and P) do not.
 * After SIGUSR1 (the dump was refused), P checks that everything it made
 * still runs (the odd thread, or Q, X and Z) and the sharing is unchanged.
 */
#include "wl.h"
#include <linux/kcmp.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static volatile pid_t odd_tid;

static int odd_thread(void *arg)
{
	(void)arg;
	odd_tid = (pid_t)syscall(SYS_gettid);
	for (;;)
		syscall(SYS_pause); /* no libc: this thread has no TLS of its own */
	return 0;
}

/* A thread (CLONE_THREAD) without one of CLONE_FILES / CLONE_FS, every signal blocked. */
static pid_t start_odd_thread(unsigned long missing)
{
	unsigned long flags = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_FILES | CLONE_FS;
	size_t size = 1 << 16;
	char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sigset_t all, old;

	if (stack == MAP_FAILED)
		return -1;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	if (clone(odd_thread, stack + size, (int)(flags & ~missing), NULL) < 0)
		return -1;
	sigprocmask(SIG_SETMASK, &old, NULL);
	while (!odd_tid)
		wl_msleep(1);
	return odd_tid;
}

static pid_t raw_clone(unsigned long flags)
{
	fflush(NULL);
	return (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
}

static void sleep_forever(void)
{
	for (;;)
		pause();
}

static long long ppid_of(pid_t pid)
{
	char path[64], buf[512];
	long long ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (wl_read_file(path, buf, sizeof(buf)) == 0 && strrchr(buf, ')'))
		sscanf(strrchr(buf, ')') + 2, "%*c %lld", &ppid);
	return ppid;
}

/* Q, X and Z as in the header; returns Q, sets x and z. */
static pid_t start_cousins(pid_t *x, pid_t *z)
{
	int p[2];
	pid_t q;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (pipe(p) < 0)
		return -1;
	q = fork();
	if (q == 0) {
		pid_t xx = fork();

		if (xx == 0) {
			pid_t y = raw_clone(CLONE_FILES | SIGCHLD);

			if (y == 0) {
				pid_t zz = raw_clone(CLONE_FILES | SIGCHLD);

				if (zz == 0)
					sleep_forever();
				_exit(0);
			}
			waitpid(y, NULL, 0);
			if (write(p[1], &y, sizeof(y)) != sizeof(y))
				_exit(1);
			sleep_forever();
		}
		if (write(p[1], &xx, sizeof(xx)) != sizeof(xx))
			_exit(1);
		sleep_forever();
	}
	if (read(p[0], x, sizeof(*x)) != sizeof(*x))
		return -1;
	/* Z is Y's only child; Y is gone once X wrote. Find Z among our children. */
	for (int i = 0; i < 2000 && !*z; i++) {
		char path[64], buf[256];

		snprintf(path, sizeof(path), "/proc/self/task/%d/children", getpid());
		if (wl_read_file(path, buf, sizeof(buf)) == 0) {
			char *s = buf, *e;

			for (long v; (v = strtol(s, &e, 10)), e != s; s = e)
				if ((pid_t)v != q)
					*z = (pid_t)v;
		}
		if (!*z)
			wl_msleep(5);
	}
	return q;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 3 ? argv[3] : "";
	pid_t q = 0, x = 0, z = 0, odd = 0;

	wl_init(argc, argv);
	if (!strcmp(mode, "thread-files"))
		odd = start_odd_thread(CLONE_FILES);
	else if (!strcmp(mode, "thread-fs"))
		odd = start_odd_thread(CLONE_FS);
	else if (!strcmp(mode, "cousins"))
		q = start_cousins(&x, &z);
	else
		return 2;
	if ((odd == 0 && q == 0) || odd < 0 || q < 0 || (q && (!x || !z))) {
		fprintf(stderr, "sharebad %s: setup failed\n", mode);
		return 3;
	}
	if (q && (syscall(SYS_kcmp, x, z, KCMP_FILES, 0, 0) != 0 || ppid_of(z) != getpid())) {
		fprintf(stderr, "sharebad: X %d and Z %d do not share a table, or Z is not ours\n", x, z);
		return 3;
	}
	wl_ready();
	wl_wait();
	if (odd) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/task/%d", odd);
		WL_CHECK(access(path, F_OK) == 0, "the odd thread %d is gone", odd);
		WL_CHECK(syscall(SYS_kcmp, getpid(), odd, !strcmp(mode, "thread-files") ? KCMP_FILES : KCMP_FS, 0, 0) != 0,
			 "the odd thread %d shares its %s now", odd, mode + 7);
	} else {
		WL_CHECK(kill(q, 0) == 0 && kill(x, 0) == 0 && kill(z, 0) == 0, "Q %d, X %d or Z %d is gone", q, x, z);
		WL_CHECK(syscall(SYS_kcmp, x, z, KCMP_FILES, 0, 0) == 0, "X and Z no longer share their fd table");
		kill(z, SIGKILL);
		kill(x, SIGKILL);
		kill(q, SIGKILL);
		while (wait(NULL) > 0)
			;
	}
	return wl_finish();
}
