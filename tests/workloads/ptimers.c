/*
 * ptimers: POSIX timers (timer_create) of every notification kind.
 *
 *   ptimers READY RESULT
 *
 * Makes five timers and deletes the third, so the ids have a gap:
 *   tick   CLOCK_MONOTONIC, SIGEV_SIGNAL SIGRTMIN with value 111, every 20 ms;
 *   quiet  CLOCK_REALTIME, SIGEV_NONE, one shot due in 1000 s;
 *   (gone) deleted;
 *   aimed  CLOCK_BOOTTIME, SIGEV_THREAD_ID to a worker thread, SIGRTMIN+1
 *          with value 222, every 30 ms: the worker takes them with sigwaitinfo;
 *   idle   CLOCK_MONOTONIC, never armed.
 * After restore (SIGUSR1) the timer_t values it kept must still name the
 * same timers: tick and aimed go on firing with their values (the right
 * signal, to the right thread, si_timerid their id), quiet has no more time
 * left than before and not much less, idle is still disarmed, and a new
 * timer_create works.
 */
#include "wl.h"
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static timer_t tick, quiet, gone, aimed, idle;
static atomic_int ticks, aimed_hits, worker_tid;
static volatile sig_atomic_t bad_tick;
static char worker_why[256];

static void on_tick(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig != SIGRTMIN || si->si_code != SI_TIMER || si->si_value.sival_int != 111 ||
	    si->si_timerid != (int)(long)tick)
		bad_tick = 1;
	atomic_fetch_add(&ticks, 1);
}

static void *worker(void *arg)
{
	sigset_t set;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 1);
	atomic_store(&worker_tid, (int)wl_gettid());
	for (;;) {
		siginfo_t si;

		if (sigwaitinfo(&set, &si) < 0)
			continue;
		if (si.si_value.sival_int != 222 || si.si_code != SI_TIMER || si.si_timerid != (int)(long)aimed)
			snprintf(worker_why, sizeof(worker_why), "aimed timer signal: value %d code %d timer %d",
				 si.si_value.sival_int, si.si_code, si.si_timerid);
		atomic_fetch_add(&aimed_hits, 1);
	}
	return NULL;
}

static long ns(const struct timespec *t)
{
	return t->tv_sec * 1000000000L + t->tv_nsec;
}

static int make(clockid_t clock, int notify, int sig, int value, pid_t tid, timer_t *t)
{
	struct sigevent sev = { .sigev_notify = notify, .sigev_signo = sig };

	sev.sigev_value.sival_int = value;
	if (notify == SIGEV_THREAD_ID)
		sev._sigev_un._tid = tid;
	return timer_create(clock, &sev, t);
}

static int arm(timer_t t, long value_ms, long interval_ms)
{
	struct itimerspec its = { { interval_ms / 1000, interval_ms % 1000 * 1000000 },
				  { value_ms / 1000, value_ms % 1000 * 1000000 } };

	return timer_settime(t, 0, &its, NULL);
}

/* Waits up to a second for counter to grow by n. */
static int grows(atomic_int *counter, int n)
{
	int from = atomic_load(counter);

	for (int i = 0; i < 100 && atomic_load(counter) < from + n; i++)
		wl_msleep(10);
	return atomic_load(counter) >= from + n;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_sigaction = on_tick, .sa_flags = SA_SIGINFO | SA_RESTART };
	struct itimerspec q0, q1, i1;
	sigset_t rt1;
	pthread_t th;
	timer_t extra;

	wl_init(argc, argv);
	sigemptyset(&rt1);
	sigaddset(&rt1, SIGRTMIN + 1);
	pthread_sigmask(SIG_BLOCK, &rt1, NULL); /* the worker takes them */
	sigaction(SIGRTMIN, &sa, NULL);
	if (pthread_create(&th, NULL, worker, NULL))
		return 1;
	while (!atomic_load(&worker_tid))
		wl_msleep(1);
	if (make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN, 111, 0, &tick) < 0 ||
	    make(CLOCK_REALTIME, SIGEV_NONE, 0, 0, 0, &quiet) < 0 ||
	    make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0, &gone) < 0 ||
	    make(CLOCK_BOOTTIME, SIGEV_THREAD_ID, SIGRTMIN + 1, 222, atomic_load(&worker_tid), &aimed) < 0 ||
	    make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR2, 0, 0, &idle) < 0 || timer_delete(gone) < 0)
		wl_fail("timer_create: %s", strerror(errno));
	if (arm(tick, 20, 20) < 0 || arm(quiet, 1000000, 0) < 0 || arm(aimed, 30, 30) < 0)
		wl_fail("timer_settime: %s", strerror(errno));
	WL_CHECK(grows(&ticks, 3) && grows(&aimed_hits, 3), "the timers do not fire before the checkpoint");
	timer_gettime(quiet, &q0);
	wl_ready();
	wl_wait();

	WL_CHECK(grows(&ticks, 5), "the 20 ms timer did not fire 5 times in the second after restore (%d in all)",
		 atomic_load(&ticks));
	WL_CHECK(grows(&aimed_hits, 5), "the 30 ms timer aimed at a thread fired too few times after restore");
	WL_CHECK(!bad_tick, "a signal of the 20 ms timer came with the wrong value, code or timer id");
	WL_CHECK(!worker_why[0], "%s", worker_why);
	WL_CHECK(timer_gettime(quiet, &q1) == 0 && ns(&q1.it_value) > 0 && ns(&q1.it_value) <= ns(&q0.it_value) &&
			 ns(&q1.it_value) > ns(&q0.it_value) - 60 * 1000000000L,
		 "the 1000 s timer has %ld ns left, had %ld before the checkpoint", ns(&q1.it_value), ns(&q0.it_value));
	WL_CHECK(timer_gettime(idle, &i1) == 0 && ns(&i1.it_value) == 0 && ns(&i1.it_interval) == 0,
		 "the disarmed timer: %s", strerror(errno));
	WL_CHECK(timer_gettime(gone, &i1) < 0 && errno == EINVAL, "the deleted timer came back");
	WL_CHECK(make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0, &extra) == 0, "a new timer_create: %s", strerror(errno));
	return wl_finish();
}
