/*
 * threads: one process with NTHREADS threads (the main thread included).
 *
 *   threads READY RESULT NTHREADS
 *
 * Each thread fills a small array on its own stack with a pattern of its
 * index, remembers its tid, and waits on a condition variable.  SIGUSR1
 * (taken by the main thread only: the others block it) starts a round:
 * every thread checks its stack array and its tid and reports; the main
 * thread writes "PASS nthreads=N" or "FAIL: ..." once all have, then idles.
 */
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>

#include "bt.h"

#define STACK_WORDS 256

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER, done_cv = PTHREAD_COND_INITIALIZER;
static unsigned round_no, started, checked, bad;
static char bad_why[256];

static void *worker(void *arg)
{
	uintptr_t idx = (uintptr_t)arg;
	volatile uint64_t words[STACK_WORDS];
	pid_t tid = (pid_t)syscall(SYS_gettid);
	unsigned seen;

	for (size_t i = 0; i < STACK_WORDS; i++)
		words[i] = idx * 0x100000001ULL + i;
	pthread_mutex_lock(&mu);
	started++;
	pthread_cond_broadcast(&done_cv);
	seen = round_no;
	for (;;) {
		while (round_no == seen)
			pthread_cond_wait(&cv, &mu);
		seen = round_no;
		pthread_mutex_unlock(&mu);
		int ok = (pid_t)syscall(SYS_gettid) == tid;
		for (size_t i = 0; ok && i < STACK_WORDS; i++)
			ok = words[i] == idx * 0x100000001ULL + i;
		pthread_mutex_lock(&mu);
		if (!ok && !bad++)
			snprintf(bad_why, sizeof(bad_why), "thread %u (tid %d): stack or tid changed", (unsigned)idx,
				 (int)tid);
		checked++;
		pthread_cond_broadcast(&done_cv);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	sigset_t wait_mask;
	char msg[512];
	int n;

	if (argc != 4)
		bt_die("usage: threads READY RESULT NTHREADS\n");
	n = atoi(argv[3]);
	if (n < 1)
		bt_die("bad NTHREADS\n");
	bt_setup_signals(&wait_mask); /* blocks SIGUSR1: the threads inherit the mask */
	for (int i = 1; i < n; i++) {
		pthread_t t;
		pthread_attr_t a;

		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 256 << 10);
		errno = pthread_create(&t, &a, worker, (void *)(uintptr_t)i);
		if (errno)
			bt_die("pthread_create");
		pthread_attr_destroy(&a);
	}
	pthread_mutex_lock(&mu);
	while (started < (unsigned)n - 1)
		pthread_cond_wait(&done_cv, &mu);
	pthread_mutex_unlock(&mu);
	snprintf(msg, sizeof(msg), "%d", (int)getpid());
	if (bt_write_file(argv[1], msg) < 0)
		bt_die("write %s", argv[1]);
	for (;;) {
		struct timespec dl;
		int timed_out = 0;

		bt_wait_usr1(&wait_mask);
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 20;
		pthread_mutex_lock(&mu);
		checked = bad = 0;
		round_no++;
		pthread_cond_broadcast(&cv);
		while (checked < (unsigned)n - 1 && !timed_out)
			timed_out = pthread_cond_timedwait(&done_cv, &mu, &dl) != 0;
		if (bad)
			snprintf(msg, sizeof(msg), "FAIL: %s", bad_why);
		else if (timed_out)
			snprintf(msg, sizeof(msg), "FAIL: only %u of %d threads answered in 20 s", checked, n - 1);
		else
			snprintf(msg, sizeof(msg), "PASS nthreads=%d", n);
		pthread_mutex_unlock(&mu);
		bt_write_file(argv[2], msg);
	}
}
