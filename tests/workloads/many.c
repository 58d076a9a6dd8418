/*
 * many: a wide tree or a crowd of threads.
 *
 *   many READY RESULT PROCS THREADS
 *
 * The root forks PROCS-1 children (each waits for SIGUSR1, then exits 0 if
 * its parent is still the root, 1 otherwise) and runs THREADS-1 extra
 * threads, each blocked in a futex wait on its own word.
 * After restore (SIGUSR1): the root has all its threads with the same tids
 * (/proc/self/task), wakes every thread, which answers by writing its tid
 * back, signals every child and reaps them all with status 0.
 */
#include "wl.h"
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int nthreads;
static pid_t *tids;
static int *words;
static volatile pid_t *answers;

static void *worker(void *arg)
{
	long i = (long)arg;

	tids[i] = wl_gettid();
	while (__atomic_load_n(&words[i], __ATOMIC_ACQUIRE) == 0)
		syscall(SYS_futex, &words[i], FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	answers[i] = wl_gettid();
	return NULL;
}

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	int nprocs = argc > 3 ? atoi(argv[3]) : 1;
	nthreads = argc > 4 ? atoi(argv[4]) : 1;
	pid_t root = getpid(), *kids = calloc((size_t)nprocs, sizeof(pid_t));
	tids = calloc((size_t)nthreads, sizeof(pid_t));
	words = calloc((size_t)nthreads, sizeof(int));
	answers = calloc((size_t)nthreads, sizeof(pid_t));

	for (int i = 1; i < nprocs; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			wl_wait();
			_exit(getppid() == root ? 0 : 1);
		}
	}
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	for (long i = 1; i < nthreads; i++) {
		pthread_t t;
		if (pthread_create(&t, &a, worker, (void *)i) != 0)
			return 2;
		pthread_detach(t);
	}
	for (int i = 1; i < nthreads; i++)
		while (!__atomic_load_n(&tids[i], __ATOMIC_ACQUIRE))
			wl_msleep(1);
	wl_ready();
	wl_wait();

	for (int i = 1; i < nthreads; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/task/%d", (int)tids[i]);
		WL_CHECK(access(path, F_OK) == 0, "thread %d (tid %d) is gone", i, (int)tids[i]);
		__atomic_store_n(&words[i], 1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &words[i], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	for (int i = 1; i < nthreads; i++) {
		for (int k = 0; k < 5000 && answers[i] != tids[i]; k++)
			wl_msleep(1);
		WL_CHECK(answers[i] == tids[i], "thread %d did not answer", i);
	}
	for (int i = 1; i < nprocs; i++)
		kill(kids[i], SIGUSR1);
	for (int i = 1; i < nprocs; i++) {
		int st;
		WL_CHECK(waitpid(kids[i], &st, 0) == kids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0,
			 "child %d (pid %d): status 0x%x", i, (int)kids[i], st);
	}
	return wl_finish();
}
