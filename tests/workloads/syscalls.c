/*
 * syscalls: threads blocked in system calls at checkpoint time.
 *
 *   syscalls READY RESULT
 *
 *   0 nanosleep   relative nanosleep(3600 s)
 *   1 abssleep    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, now + 3600 s)
 *   2 futex       raw FUTEX_WAIT_PRIVATE without timeout
 *   3 condwait    pthread_cond_wait
 *   4 futex-to    raw FUTEX_WAIT_PRIVATE with a 3600 s timeout
 *   5 pause       pause(), SIGUSR2 handler installed (no SA_RESTART)
 *   6 sigsuspend  SIGUSR2 blocked; sigsuspend() with a mask that opens it
 *   7 poll        poll(NULL, 0, 3600000)
 *
 * The rule for what a restored thread may see (the kernel's own rule for a
 * stopped-and-resumed syscall):
 *   - calls that restart with the same arguments (-ERESTARTSYS,
 *     -ERESTARTNOHAND, -ERESTARTNOINTR: futex without timeout, pause,
 *     sigsuspend, clock_nanosleep TIMER_ABSTIME) must go on waiting
 *     transparently: they must not return before they are woken;
 *   - calls interrupted with -ERESTART_RESTARTBLOCK (relative nanosleep,
 *     poll and futex with a timeout) keep their remaining time in the
 *     kernel's restart_block, which a restore cannot recreate; the kernel
 *     itself returns EINTR for them when a handler runs, so a restored one
 *     may return -1/EINTR (or 0 for nanosleep, if the time is up), and the
 *     caller must be able to go on.  It must never report a timeout that
 *     did not happen.
 * After restore (SIGUSR1) the main thread checks every blocked thread is in
 * its syscall again (/proc/self/task/TID/syscall), wakes each in a
 * controlled way (futex wake, cond signal, SIGUSR2 via tgkill), and each
 * thread reports what its call returned and checks its signal mask.
 */
#include "wl.h"
#include <linux/futex.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>

#define NT 8
static const char *names[NT] = { "nanosleep", "abssleep", "futex", "condwait",
				 "futex-to",  "pause",    "sigsuspend", "poll" };
/* Where each thread must be blocked (before the checkpoint and after). */
static const long blocked_in[NT] = { SYS_clock_nanosleep, SYS_clock_nanosleep, SYS_futex, SYS_futex,
				      SYS_futex,           SYS_pause,           SYS_rt_sigsuspend, SYS_poll };
/* May the call return early (EINTR) when restored?  See the rule above. */
static const int may_eintr[NT] = { 1, 0, 0, 0, 1, 0, 0, 1 };

struct th {
	int idx;
	pthread_t pt;
	pid_t tid;
	sigset_t mask;
	atomic_int up, early, woken, done;
	char why[512];
};

static struct th th[NT];
static volatile int phase;
static uint32_t fword, fword_to;
static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_go;
static __thread volatile sig_atomic_t usr2_here;

static void on_usr2(int sig)
{
	(void)sig;
	usr2_here = 1;
}

static void tfail(struct th *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tfail(struct th *t, const char *fmt, ...)
{
	if (t->why[0])
		return;
	int n = snprintf(t->why, sizeof(t->why), "%s: ", names[t->idx]);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->why + n, sizeof(t->why) - n, fmt, ap);
	va_end(ap);
}

static long futex(uint32_t *w, int op, uint32_t val, const struct timespec *to)
{
	return syscall(SYS_futex, w, op, val, to, NULL, 0);
}

static void check_mask(struct th *t)
{
	sigset_t cur;
	sigemptyset(&cur);
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	for (int s = 1; s < 65; s++) {
		if (s == 32 || s == 33)
			continue;
		if (sigismember(&cur, s) != sigismember(&t->mask, s)) {
			tfail(t, "signal %d %s blocked", s, sigismember(&cur, s) ? "now" : "no longer");
			return;
		}
	}
}

static void *thread_main(void *arg)
{
	struct th *t = arg;
	pthread_sigmask(SIG_SETMASK, &t->mask, NULL);
	t->tid = wl_gettid();
	atomic_store(&t->up, 1);

	switch (t->idx) {
	case 0: {
		struct timespec req = { 3600, 0 }, rem = { -1, -1 };
		int r = nanosleep(&req, &rem);
		int e = errno;
		if (r == 0 && !phase)
			tfail(t, "a 3600 s nanosleep returned 0 before being woken");
		else if (r != 0 && e != EINTR)
			tfail(t, "nanosleep: %s", strerror(e));
		else if (r != 0 && (rem.tv_sec < 0 || rem.tv_sec > 3600 || rem.tv_nsec < 0 || rem.tv_nsec >= 1000000000))
			tfail(t, "nanosleep EINTR with remaining %ld.%09ld", (long)rem.tv_sec, rem.tv_nsec);
		if (!phase)
			atomic_fetch_add(&t->early, 1);
		while (!phase)
			wl_msleep(10);
		atomic_store(&t->woken, 1);
		/* ... and the thread goes on: a short sleep works. */
		double t0 = wl_now();
		struct timespec s20 = { 0, 20000000 };
		r = nanosleep(&s20, NULL);
		double dt = wl_now() - t0;
		if (r != 0 || dt < 0.019 || dt > 5)
			tfail(t, "a 20 ms nanosleep after restore: ret %d, %.3f s", r, dt);
		break;
	}
	case 1: {
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += 3600;
		for (;;) {
			int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &dl, NULL);
			if (r == 0) {
				tfail(t, "absolute 3600 s sleep returned 0");
				break;
			}
			if (r != EINTR) {
				tfail(t, "clock_nanosleep: %s", strerror(r));
				break;
			}
			if (!usr2_here) {
				tfail(t, "EINTR without a signal handler having run");
				break;
			}
			if (phase)
				break;
			atomic_fetch_add(&t->early, 1);
			usr2_here = 0;
		}
		break;
	}
	case 2:
		while (__atomic_load_n(&fword, __ATOMIC_SEQ_CST) == 0) {
			long r = futex(&fword, FUTEX_WAIT_PRIVATE, 0, NULL);
			if (!phase)
				atomic_fetch_add(&t->early, 1);
			if (r != 0 && errno != EAGAIN && errno != EINTR)
				tfail(t, "futex wait: %s", strerror(errno));
		}
		break;
	case 3:
		pthread_mutex_lock(&cm);
		while (!cond_go)
			pthread_cond_wait(&cv, &cm);
		pthread_mutex_unlock(&cm);
		break;
	case 4:
		while (__atomic_load_n(&fword_to, __ATOMIC_SEQ_CST) == 0) {
			struct timespec to = { 3600, 0 };
			long r = futex(&fword_to, FUTEX_WAIT_PRIVATE, 0, &to);
			if (r != 0 && errno == ETIMEDOUT) {
				tfail(t, "futex wait with a 3600 s timeout timed out");
				break;
			}
			if (r != 0 && errno != EAGAIN && errno != EINTR) {
				tfail(t, "futex wait: %s", strerror(errno));
				break;
			}
			if (!phase)
				atomic_fetch_add(&t->early, 1);
		}
		break;
	case 5:
		for (;;) {
			int r = pause();
			if (r != -1 || errno != EINTR)
				tfail(t, "pause returned %d (%s)", r, strerror(errno));
			if (!usr2_here) {
				tfail(t, "pause returned without the handler having run");
				break;
			}
			if (phase)
				break;
			atomic_fetch_add(&t->early, 1);
			usr2_here = 0;
		}
		break;
	case 6: {
		sigset_t tmp = t->mask;
		sigdelset(&tmp, SIGUSR2);
		sigaddset(&tmp, SIGRTMIN + 6);
		for (;;) {
			int r = sigsuspend(&tmp);
			if (r != -1 || errno != EINTR)
				tfail(t, "sigsuspend returned %d (%s)", r, strerror(errno));
			if (!usr2_here) {
				tfail(t, "sigsuspend returned without the handler having run");
				break;
			}
			if (phase)
				break;
			atomic_fetch_add(&t->early, 1);
			usr2_here = 0;
		}
		break;
	}
	case 7:
		for (;;) {
			int r = poll(NULL, 0, 3600 * 1000);
			if (r == 0) {
				tfail(t, "poll with a 3600 s timeout timed out");
				break;
			}
			if (r != -1 || errno != EINTR) {
				tfail(t, "poll returned %d (%s)", r, strerror(errno));
				break;
			}
			if (phase && usr2_here)
				break;
			atomic_fetch_add(&t->early, 1);
		}
		break;
	}
	atomic_store(&t->woken, 1);
	check_mask(t);
	atomic_store(&t->done, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	struct sigaction sa = { .sa_handler = on_usr2 };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);

	for (int i = 0; i < NT; i++) {
		struct th *t = &th[i];
		t->idx = i;
		sigemptyset(&t->mask);
		sigaddset(&t->mask, SIGUSR1);
		sigaddset(&t->mask, SIGRTMIN + 3 + i);
		if (i == 6) {
			sigaddset(&t->mask, SIGUSR2);
			sigaddset(&t->mask, SIGWINCH);
		}
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		if (pthread_create(&t->pt, NULL, thread_main, t) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 2;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	for (int i = 0; i < NT; i++) {
		while (!atomic_load(&th[i].up))
			wl_msleep(1);
		long nr = wl_wait_in_syscall(th[i].tid, &blocked_in[i], 1, 10000);
		if (nr != blocked_in[i]) {
			fprintf(stderr, "thread %s not blocked in syscall %ld (at %ld)\n", names[i], blocked_in[i], nr);
			return 2;
		}
	}
	wl_ready();
	wl_wait();

	/* Every thread is back in its call (those allowed to return EINTR
	 * have gone back in, or, for nanosleep, into its 10 ms loop). */
	for (int i = 0; i < NT; i++) {
		if (atomic_load(&th[i].done)) {
			wl_fail("%s: finished before being woken (%s)", names[i], th[i].why[0] ? th[i].why : "no error");
			continue;
		}
		if (!may_eintr[i] && atomic_load(&th[i].early))
			wl_fail("%s: the call returned %d time(s) after restore before being woken", names[i],
				atomic_load(&th[i].early));
		/* A restart_block call that was only interrupted (dump
		 * --leave-running) goes on in restart_syscall. */
		long ok_nrs[2] = { blocked_in[i], may_eintr[i] ? SYS_restart_syscall : blocked_in[i] };
		long nr = wl_wait_in_syscall(th[i].tid, ok_nrs, 2, 3000);
		WL_CHECK(nr == ok_nrs[0] || nr == ok_nrs[1], "%s: in syscall %ld after the checkpoint, want %ld",
			 names[i], nr, blocked_in[i]);
	}

	phase = 1;
	/* futex: the waiter is queued on the futex again, so one is woken. */
	__atomic_store_n(&fword, 1, __ATOMIC_SEQ_CST);
	long w = futex(&fword, FUTEX_WAKE_PRIVATE, 1, NULL);
	WL_CHECK(w == 1, "futex: FUTEX_WAKE woke %ld waiters, want 1", w);
	__atomic_store_n(&fword_to, 1, __ATOMIC_SEQ_CST);
	w = futex(&fword_to, FUTEX_WAKE_PRIVATE, 1, NULL);
	WL_CHECK(w == 1, "futex-to: FUTEX_WAKE woke %ld waiters, want 1", w);
	pthread_mutex_lock(&cm);
	cond_go = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&cm);
	/* The others by SIGUSR2 (repeated: a wake-up may race with the
	 * thread going back to sleep). */
	const int by_signal[] = { 0, 1, 5, 6, 7 };
	for (int k = 0; k < 1000; k++) {
		int pending = 0;
		for (size_t j = 0; j < sizeof(by_signal) / sizeof(by_signal[0]); j++) {
			struct th *t = &th[by_signal[j]];
			if (!atomic_load(&t->woken)) {
				pending = 1;
				pthread_kill(t->pt, SIGUSR2);
			}
		}
		if (!pending)
			break;
		wl_msleep(5);
	}
	for (int i = 0; i < NT; i++) {
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 5;
		int r = pthread_timedjoin_np(th[i].pt, NULL, &dl);
		if (r != 0) {
			wl_fail("%s: not woken/joined in 5 s (in syscall %ld)", names[i], wl_thread_syscall(th[i].tid));
			continue;
		}
		if (th[i].why[0])
			wl_fail("%s", th[i].why);
	}
	return wl_finish();
}
