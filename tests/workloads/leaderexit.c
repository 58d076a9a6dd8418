/*
 * leaderexit: a process whose main thread has exited (pthread_exit) while
 * its other threads go on -- the thread-group leader is a zombie thread.
 *
 *   leaderexit READY RESULT
 *
 * Worker W1 takes SIGUSR1 and does the checks; worker W2 counts.  READY is
 * written by W1 once the main thread is gone (/proc/self/task/PID is 'Z').
 * After restore: pid and tids are the same, the leader is still a zombie
 * thread, W2 still counts, W1 can create and join a new thread; then W1
 * writes the result and the process exits with exit().
 */
#include "wl.h"
#include <stdatomic.h>

static pid_t pid, tid1, tid2;
static atomic_ulong ticks;

static void *w2_main(void *arg)
{
	(void)arg;
	tid2 = wl_gettid();
	for (;;) {
		atomic_fetch_add(&ticks, 1);
		wl_msleep(1);
	}
	return NULL;
}

static void *nop(void *arg)
{
	return arg;
}

static char leader_state(void)
{
	char p[96], line[512];
	snprintf(p, sizeof(p), "/proc/self/task/%d/stat", pid);
	if (wl_read_file(p, line, sizeof(line)) != 0)
		return '?';
	char *c = strrchr(line, ')');
	return c && c[1] == ' ' ? c[2] : '?';
}

static void *w1_main(void *arg)
{
	(void)arg;
	tid1 = wl_gettid();
	wl_unblock_usr1();
	for (int t = 0; leader_state() != 'Z'; t++) {
		if (t > 2000) {
			fprintf(stderr, "leaderexit: main thread did not exit\n");
			exit(2);
		}
		wl_msleep(5);
	}
	while (atomic_load(&ticks) == 0)
		wl_msleep(1);
	pid_t saved1 = tid1, saved2 = tid2;
	wl_ready();
	wl_wait();

	WL_CHECK(getpid() == pid, "pid %d, was %d", getpid(), pid);
	WL_CHECK(wl_gettid() == saved1, "W1 tid %d, was %d", wl_gettid(), saved1);
	WL_CHECK(syscall(SYS_tgkill, pid, saved2, 0) == 0, "W2 (tid %d) is gone", saved2);
	char s = leader_state();
	WL_CHECK(s == 'Z', "the exited main thread has state %c, want Z", s);
	unsigned long t0 = atomic_load(&ticks);
	wl_msleep(200);
	WL_CHECK(atomic_load(&ticks) != t0, "W2 does not count after restore");
	pthread_t t;
	void *ret = NULL;
	if (pthread_create(&t, NULL, nop, (void *)42) != 0 || pthread_join(t, &ret) != 0 || ret != (void *)42)
		wl_fail("cannot create and join a new thread");
	exit(wl_finish());
}

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	pid = getpid();
	wl_block_usr1();
	pthread_t a, b;
	if (pthread_create(&b, NULL, w2_main, NULL) != 0 || pthread_create(&a, NULL, w1_main, NULL) != 0)
		return 2;
	pthread_exit(NULL);
}
