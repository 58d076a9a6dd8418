/*
 * threads: eight threads in different states at checkpoint time.
 *
 *   threads READY RESULT
 *
 *   0 wl-busy        busy loop
 *   1 wl-nanosleep   nanosleep(10 ms) in a loop
 *   2 wl-condwait    pthread_cond_wait
 *   3 wl-pause       pause() (woken by SIGUSR2 with a handler)
 *   4 wl-sigwait     sigwaitinfo(SIGRTMIN+1), woken by pthread_sigqueue
 *   5 wl-robust-own  holds a robust mutex, waits in sem_wait, then exits
 *                    (raw SYS_exit) still holding it
 *   6 wl-robust-wait blocked in pthread_mutex_lock on that robust mutex:
 *                    must get EOWNERDEAD when the owner dies
 *   7 wl-semwait     sem_wait
 *
 * Each thread has its own name, its own __thread values and its own signal
 * mask.  The checkpoint is taken only once every thread is in its state (the
 * blocked ones are seen in their syscall in /proc/self/task/TID/syscall).
 * On SIGUSR1 every thread is woken in a controlled way and checks itself:
 * same gettid(), TLS intact, mask intact, /proc/self/task/TID/comm intact,
 * rseq still registered (a second rseq() registration of the same area
 * must fail with EBUSY) and the rseq cpu_id is valid.  The main thread then
 * joins every thread with a timeout (clear_child_tid must work), and a
 * thread that had already exited (not yet joined) before the checkpoint,
 * and the robust mutex must be usable again.
 */
#include "wl.h"
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/rseq.h>

#define NT 8

static const char *names[NT] = { "wl-busy",       "wl-nanosleep",   "wl-condwait", "wl-pause",
				 "wl-sigwait",    "wl-robust-own",  "wl-robust-wait", "wl-semwait" };

struct th {
	int idx;
	pthread_t pt;
	pid_t tid;
	sigset_t mask;
	atomic_int up, checked, woke;
	int lock_ret;
	char why[512];
};

static struct th th[NT];
static struct th main_th = { .idx = -1 };
static volatile int phase;
static atomic_ulong busy_count, sleep_count;
static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_go;
static pthread_mutex_t robust;
static sem_t sem_own, sem_wait7;
static atomic_int usr2_hits;

static __thread uint64_t tls_val;
static __thread int tls_idx = -100;
static __thread char tls_buf[48];
static __thread uint32_t tls_init[4] = { 0xdead0001, 0xdead0002, 0xdead0003, 0xdead0004 };

static void on_usr2(int sig)
{
	(void)sig;
	atomic_fetch_add(&usr2_hits, 1);
}

static uint64_t tls_expect(int idx)
{
	return 0x5eed000000000000ull ^ ((uint64_t)(idx + 7) * 0x9e3779b97f4a7c15ull);
}

static void tls_setup(int idx)
{
	tls_idx = idx;
	tls_val = tls_expect(idx);
	for (size_t i = 0; i < sizeof(tls_buf); i++)
		tls_buf[i] = (char)(idx * 31 + i);
	tls_init[2] += (uint32_t)idx;
}

static void thread_fail(struct th *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void thread_fail(struct th *t, const char *fmt, ...)
{
	if (t->why[0])
		return;
	int n = snprintf(t->why, sizeof(t->why), "thread %d (%s): ", t->idx,
			 t->idx >= 0 ? names[t->idx] : "main");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->why + n, sizeof(t->why) - n, fmt, ap);
	va_end(ap);
}

static void check_rseq(struct th *t)
{
	if (__rseq_size == 0) {
		thread_fail(t, "glibc did not register rseq (__rseq_size 0)");
		return;
	}
	struct rseq *rs = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
	/* Registered with this area, length and signature: a second
	 * registration fails with EBUSY.  If it succeeds, nothing was
	 * registered (and now it is). */
	long r = syscall(SYS_rseq, rs, __rseq_size, 0, RSEQ_SIG);
	int e = errno;
	if (r == -1 && e == EINVAL && __rseq_size != 32) {
		r = syscall(SYS_rseq, rs, 32, 0, RSEQ_SIG);
		e = errno;
	}
	if (r == 0) {
		thread_fail(t, "rseq was not registered (a new registration succeeded)");
		return;
	}
	if (e != EBUSY) {
		thread_fail(t, "rseq registration differs: re-register gives %s", strerror(e));
		return;
	}
	int ok = 0;
	uint32_t seen = 0;
	unsigned real = 0;
	for (int i = 0; i < 1000 && !ok; i++) {
		sched_yield();
		seen = *(volatile uint32_t *)&rs->cpu_id;
		syscall(SYS_getcpu, &real, NULL, NULL);
		ok = (int32_t)seen >= 0 && seen == real && *(volatile uint32_t *)&rs->cpu_id == seen;
	}
	if (!ok)
		thread_fail(t, "rseq cpu_id %d, getcpu %u", (int32_t)seen, real);
}

static void check_self(struct th *t)
{
	pid_t tid = wl_gettid();
	if (tid != t->tid)
		thread_fail(t, "gettid %d, was %d", tid, t->tid);
	int idx = t->idx;
	if (tls_idx != idx)
		thread_fail(t, "TLS index %d, want %d", tls_idx, idx);
	if (tls_val != tls_expect(idx))
		thread_fail(t, "TLS value %#llx, want %#llx", (unsigned long long)tls_val,
			    (unsigned long long)tls_expect(idx));
	for (size_t i = 0; i < sizeof(tls_buf); i++)
		if (tls_buf[i] != (char)(idx * 31 + i)) {
			thread_fail(t, "TLS buffer differs at %zu", i);
			break;
		}
	if (tls_init[0] != 0xdead0001 || tls_init[2] != 0xdead0003 + (uint32_t)idx || tls_init[3] != 0xdead0004)
		thread_fail(t, "initialized TLS differs");

	sigset_t cur;
	sigemptyset(&cur);
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	for (int s = 1; s < 65; s++) {
		if (s == 32 || s == 33) /* glibc internal */
			continue;
		if (sigismember(&cur, s) != sigismember(&t->mask, s)) {
			thread_fail(t, "signal %d %s blocked", s, sigismember(&cur, s) ? "now" : "no longer");
			break;
		}
	}

	char path[64], comm[64] = "", want[16];
	const char *name = idx >= 0 ? names[idx] : "threads-main";
	snprintf(want, sizeof(want), "%s", name);
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
	if (wl_read_file(path, comm, sizeof(comm)) != 0 || strcmp(comm, want) != 0)
		thread_fail(t, "comm '%s', want '%s'", comm, want);
	char pn[32] = "";
	prctl(PR_GET_NAME, pn);
	if (strcmp(pn, want) != 0)
		thread_fail(t, "PR_GET_NAME '%s', want '%s'", pn, want);
	check_rseq(t);
}

static void *thread_main(void *arg)
{
	struct th *t = arg;
	int idx = t->idx;

	tls_setup(idx);
	pthread_setname_np(pthread_self(), names[idx]);
	pthread_sigmask(SIG_SETMASK, &t->mask, NULL);
	t->tid = wl_gettid();

	switch (idx) {
	case 0:
		atomic_store(&t->up, 1);
		while (!phase)
			atomic_fetch_add_explicit(&busy_count, 1, memory_order_relaxed);
		break;
	case 1:
		atomic_store(&t->up, 1);
		while (!phase) {
			struct timespec ts = { 0, 10000000 };
			nanosleep(&ts, NULL);
			atomic_fetch_add(&sleep_count, 1);
		}
		break;
	case 2:
		pthread_mutex_lock(&cm);
		atomic_store(&t->up, 1);
		while (!cond_go)
			pthread_cond_wait(&cv, &cm);
		pthread_mutex_unlock(&cm);
		break;
	case 3:
		atomic_store(&t->up, 1);
		while (!phase)
			pause();
		break;
	case 4: {
		sigset_t w;
		siginfo_t si;
		sigemptyset(&w);
		sigaddset(&w, SIGRTMIN + 1);
		atomic_store(&t->up, 1);
		int s;
		do
			s = sigwaitinfo(&w, &si);
		while (s < 0 && errno == EINTR);
		if (s != SIGRTMIN + 1)
			thread_fail(t, "sigwaitinfo returned %d (%s)", s, strerror(errno));
		else if (si.si_code != SI_QUEUE || si.si_value.sival_int != 1234 || si.si_pid != getpid())
			thread_fail(t, "sigwaitinfo: code %d value %d pid %d", si.si_code, si.si_value.sival_int,
				    si.si_pid);
		if (!phase)
			thread_fail(t, "woken before the check phase");
		break;
	}
	case 5:
		if (pthread_mutex_lock(&robust) != 0)
			thread_fail(t, "cannot lock the robust mutex");
		atomic_store(&t->up, 1);
		while (sem_wait(&sem_own) != 0)
			;
		break;
	case 6:
		atomic_store(&t->up, 1);
		t->lock_ret = pthread_mutex_lock(&robust);
		if (t->lock_ret != EOWNERDEAD)
			thread_fail(t, "robust lock returned %d (%s), want EOWNERDEAD", t->lock_ret,
				    strerror(t->lock_ret));
		if (!phase)
			thread_fail(t, "got the robust mutex before the check phase");
		/* The futex word holds the owner's tid (and FUTEX_OWNER_DIED). */
		if ((robust.__data.__lock & 0x3fffffff) != t->tid)
			thread_fail(t, "robust futex word %#x, want owner %d", robust.__data.__lock, t->tid);
		if (t->lock_ret == EOWNERDEAD) {
			pthread_mutex_consistent(&robust);
			if (robust.__data.__owner != t->tid)
				thread_fail(t, "robust mutex owner %d, want %d", robust.__data.__owner, t->tid);
			pthread_mutex_unlock(&robust);
		}
		break;
	case 7:
		atomic_store(&t->up, 1);
		while (sem_wait(&sem_wait7) != 0)
			;
		if (!phase)
			thread_fail(t, "woken before the check phase");
		break;
	}
	atomic_store(&t->woke, 1);
	check_self(t);
	atomic_store(&t->checked, 1);
	if (idx == 5)
		syscall(SYS_exit, 0); /* die holding the robust mutex */
	return (void *)(long)(1000 + idx);
}

static atomic_int early_done;
static pid_t early_tid;

static void *early_main(void *arg)
{
	(void)arg;
	early_tid = wl_gettid();
	atomic_store(&early_done, 1);
	return (void *)0xea71;
}

/* Syscalls each blocked thread must be seen in before the checkpoint. */
static const long blocked_in[NT] = { -1, SYS_clock_nanosleep, SYS_futex, SYS_pause,
				      SYS_rt_sigtimedwait, SYS_futex, SYS_futex, SYS_futex };

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	prctl(PR_SET_NAME, "threads-main");
	tls_setup(-1);
	main_th.tid = wl_gettid();

	struct sigaction sa = { .sa_handler = on_usr2 };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);

	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&robust, &ma);
	sem_init(&sem_own, 0, 0);
	sem_init(&sem_wait7, 0, 0);

	for (int i = 0; i < NT; i++) {
		struct th *t = &th[i];
		t->idx = i;
		sigemptyset(&t->mask);
		sigaddset(&t->mask, SIGUSR1);
		sigaddset(&t->mask, SIGRTMIN + 2 + i);
		sigaddset(&t->mask, SIGRTMIN + 12 + i % 3);
		if (i % 2 == 0)
			sigaddset(&t->mask, SIGWINCH);
		if (i % 3 == 0)
			sigaddset(&t->mask, SIGXFSZ);
		if (i != 3)
			sigaddset(&t->mask, SIGUSR2);
		if (i == 4)
			sigaddset(&t->mask, SIGRTMIN + 1);
	}
	/* Main: SIGUSR1 open, SIGRTMIN+20 and SIGTTIN blocked. */
	sigemptyset(&main_th.mask);
	sigaddset(&main_th.mask, SIGRTMIN + 20);
	sigaddset(&main_th.mask, SIGTTIN);

	for (int i = 0; i < NT; i++) {
		/* Threads start with everything blocked and set their own mask. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		if (pthread_create(&th[i].pt, NULL, thread_main, &th[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 2;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		while (!atomic_load(&th[i].up))
			wl_msleep(1);
		if (i == 5) /* the owner holds the lock before the waiter starts */
			wl_msleep(1);
	}
	pthread_sigmask(SIG_SETMASK, &main_th.mask, NULL);

	/* A joinable thread that has already exited: only glibc's record of
	 * it is left (its tid field cleared by the kernel); joined after
	 * the restore. */
	pthread_t early;
	if (pthread_create(&early, NULL, early_main, NULL) != 0)
		return 2;
	while (!atomic_load(&early_done) || wl_thread_syscall(early_tid) != -2)
		wl_msleep(1);

	/* Wait until every thread is in its state. */
	for (int i = 0; i < NT; i++) {
		if (blocked_in[i] < 0)
			continue;
		long nr = wl_wait_in_syscall(th[i].tid, &blocked_in[i], 1, 10000);
		if (nr != blocked_in[i]) {
			fprintf(stderr, "thread %d not blocked in syscall %ld (at %ld)\n", i, blocked_in[i], nr);
			return 2;
		}
	}
	while (atomic_load(&busy_count) == 0 || atomic_load(&sleep_count) == 0)
		wl_msleep(1);
	wl_ready();
	wl_wait();

	/* Still running after restore? */
	unsigned long b0 = atomic_load(&busy_count), s0 = atomic_load(&sleep_count);
	wl_msleep(200);
	WL_CHECK(atomic_load(&busy_count) != b0, "busy thread does not run after restore");
	WL_CHECK(atomic_load(&sleep_count) != s0, "nanosleep thread does not run after restore");
	/* The blocked ones are still blocked, in the same calls. */
	for (int i = 2; i < NT; i++) {
		if (atomic_load(&th[i].woke))
			wl_fail("thread %d (%s) left its wait before being woken", i, names[i]);
		long nr = wl_wait_in_syscall(th[i].tid, &blocked_in[i], 1, 3000);
		WL_CHECK(nr == blocked_in[i], "thread %d (%s) in syscall %ld, want %ld", i, names[i], nr,
			 blocked_in[i]);
	}

	phase = 1;
	pthread_mutex_lock(&cm);
	cond_go = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&cm);
	union sigval v = { .sival_int = 1234 };
	if (pthread_sigqueue(th[4].pt, SIGRTMIN + 1, v) != 0)
		wl_fail("pthread_sigqueue to thread 4 failed");
	sem_post(&sem_wait7);
	for (int i = 0; i < 400 && !atomic_load(&th[3].woke); i++) {
		pthread_kill(th[3].pt, SIGUSR2);
		wl_msleep(5);
	}
	sem_post(&sem_own);

	check_self(&main_th);
	if (main_th.why[0])
		wl_fail("%s", main_th.why);

	for (int i = 0; i < NT; i++) {
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 5;
		void *ret = NULL;
		int r = pthread_timedjoin_np(th[i].pt, &ret, &dl);
		if (r != 0) {
			wl_fail("thread %d (%s, tid %d) not joined in 5 s (%s): woke %d checked %d, in syscall %ld",
				i, names[i], th[i].tid, strerror(r), atomic_load(&th[i].woke),
				atomic_load(&th[i].checked), wl_thread_syscall(th[i].tid));
			continue;
		}
		if (th[i].why[0])
			wl_fail("%s", th[i].why);
		if (i != 5)
			WL_CHECK(ret == (void *)(long)(1000 + i), "thread %d joined with %p", i, ret);
	}
	{
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 5;
		void *ret = NULL;
		int r = pthread_timedjoin_np(early, &ret, &dl);
		WL_CHECK(r == 0 && ret == (void *)0xea71, "joining the thread that exited before the checkpoint: %s, %p",
			 strerror(r), ret);
	}
	/* The robust mutex is consistent and free again. */
	int r = pthread_mutex_trylock(&robust);
	WL_CHECK(r == 0, "robust mutex after recovery: trylock %d (%s)", r, strerror(r));
	if (r == 0)
		pthread_mutex_unlock(&robust);
	WL_CHECK(atomic_load(&usr2_hits) > 0, "SIGUSR2 handler never ran");
	return wl_finish();
}
