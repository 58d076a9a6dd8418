/*
 * signals: dispositions, alternate stacks, masks and pending signals.
 *
 *   signals READY RESULT
 *
 * Two threads: main (M) and T.  Set up before the checkpoint:
 *   dispositions   SIGUSR2   handler, SA_RESTART, sa_mask {SIGWINCH, RT+7}
 *                  SIGHUP    siginfo handler, SA_SIGINFO|SA_ONSTACK,
 *                            sa_mask {SIGQUIT, SIGTERM}
 *                  SIGALRM   handler, SA_NODEFER
 *                  SIGPIPE   handler, SA_RESETHAND
 *                  SIGWINCH  siginfo handler, SA_RESTART|SA_SIGINFO|
 *                            SA_ONSTACK|SA_NODEFER, sa_mask {RT+5}
 *                  RT+10     siginfo handler, SA_SIGINFO|SA_RESTART,
 *                            sa_mask all RT signals
 *                  SIGINT, SIGVTALRM  SIG_IGN
 *   sigaltstack    on M, on T (with SS_AUTODISARM) and on H
 *   H              a third thread, inside its SIGPROF handler (SA_ONSTACK,
 *                  sa_mask {SIGTTIN}) on its alt stack at checkpoint time;
 *                  after restore the handler returns through its frame and
 *                  H's mask, alt stack and interrupted frame are intact
 *   masks          both block RT+2, RT+3, RT+4, RT+6, SIGTERM, SIGQUIT,
 *                  SIGINT, SIGXCPU, SIGURG; M also RT+8; T also SIGUSR1,
 *                  RT+9, SIGTTOU
 *   pending        process-wide: RT+4 x3 (sigqueue, 64-bit values, in
 *                  order), RT+6 (77), SIGTERM (kill, twice: once), SIGQUIT
 *                  (sigqueue 55, then 56: only the first stays), SIGINT
 *                  (ignored but blocked: stays pending), RT+2 (900)
 *                  M only: RT+2 x3 (200, 201, 202), SIGURG (tgkill), RT+8
 *                  T only: RT+2 x2 (300, 301), RT+3 (310), SIGXCPU (tgkill),
 *                  RT+9 (909)
 * After restore: every one of the 64 kernel sigactions (handler, flags,
 * restorer, mask) is as before; both alt stacks and masks are as before;
 * /proc/self/task/TID/status SigPnd/ShdPnd show exactly the private and
 * shared sets; sigtimedwait dequeues exactly the queued signals in order
 * with their si_value, si_code (SI_QUEUE, SI_USER, SI_TKILL), si_pid and
 * si_uid; then the handlers run with their flags (on the alt stack, with
 * their sa_mask, SA_NODEFER, SA_RESETHAND).
 */
#include "wl.h"
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

#define RT(n) (SIGRTMIN + (n))
#define STACK_SIZE (64 * 1024)

struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

struct qsig { /* one expected dequeue */
	int sig;
	int code;
	uint64_t value;
};

static struct ksigaction saved_sa[65];
static stack_t saved_ss_main, saved_ss_t;
static sigset_t mask_main, mask_t;
static pthread_t tthread;
static pid_t main_tid, t_tid;
static volatile int phase;
static atomic_int t_done;
static char t_why[512];

/* What the handlers saw. */
struct seen {
	volatile int runs;
	volatile int on_altstack;
	volatile int code;
	uint64_t mask; /* blocked set inside the handler */
};
static struct seen seen[65];
static __thread stack_t my_ss;

static uint64_t cur_mask(void)
{
	uint64_t m = 0;
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &m, 8);
	return m;
}

static uint64_t bit(int sig)
{
	return 1ull << (sig - 1);
}

static void note(int sig, int code)
{
	char here;
	seen[sig].runs++;
	seen[sig].code = code;
	seen[sig].mask = cur_mask();
	seen[sig].on_altstack = (uintptr_t)&here >= (uintptr_t)my_ss.ss_sp &&
				(uintptr_t)&here < (uintptr_t)my_ss.ss_sp + my_ss.ss_size;
}

static void h_plain(int sig)
{
	note(sig, -1000);
}

static void h_info(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	note(sig, si->si_code);
}

static int get_ksa(int sig, struct ksigaction *k)
{
	memset(k, 0, sizeof(*k));
	return (int)syscall(SYS_rt_sigaction, sig, NULL, k, 8);
}

static void set_sa(int sig, void *h, int flags, const int *mask_sigs)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	if (flags & SA_SIGINFO)
		sa.sa_sigaction = (void (*)(int, siginfo_t *, void *))h;
	else
		sa.sa_handler = (void (*)(int))h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	for (; mask_sigs && *mask_sigs; mask_sigs++)
		sigaddset(&sa.sa_mask, *mask_sigs);
	if (sigaction(sig, &sa, NULL) != 0) {
		fprintf(stderr, "sigaction(%d): %s\n", sig, strerror(errno));
		exit(2);
	}
}

static void make_altstack_flags(stack_t *ss, int flags)
{
	void *p = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (p == MAP_FAILED)
		exit(2);
	ss->ss_sp = p;
	ss->ss_size = STACK_SIZE;
	ss->ss_flags = flags;
	if (sigaltstack(ss, NULL) != 0)
		exit(2);
	my_ss = *ss;
}

static void make_altstack(stack_t *ss)
{
	make_altstack_flags(ss, 0);
}

/* Check sigaltstack and mask of the calling thread; returns a message. */
static const char *check_thread_state(const stack_t *ss, const sigset_t *mask, char *buf, size_t n)
{
	stack_t now;
	memset(&now, 0, sizeof(now));
	sigaltstack(NULL, &now);
	if (now.ss_sp != ss->ss_sp || now.ss_size != ss->ss_size || now.ss_flags != ss->ss_flags) {
		snprintf(buf, n, "sigaltstack %p+%zu flags %d, was %p+%zu flags %d", now.ss_sp, now.ss_size,
			 now.ss_flags, ss->ss_sp, ss->ss_size, ss->ss_flags);
		return buf;
	}
	sigset_t cur;
	sigemptyset(&cur);
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	for (int s = 1; s < 65; s++) {
		if (s == 32 || s == 33)
			continue;
		if (sigismember(&cur, s) != sigismember(mask, s)) {
			snprintf(buf, n, "signal %d %s blocked", s, sigismember(&cur, s) ? "now" : "no longer");
			return buf;
		}
	}
	return NULL;
}

static uint64_t sigset_bits(const sigset_t *s)
{
	uint64_t m = 0;
	for (int i = 1; i < 65; i++)
		if (sigismember(s, i) == 1)
			m |= bit(i);
	return m;
}

/* Dequeue the expected signals in order, then nothing else of those. */
static const char *dequeue(const struct qsig *q, size_t n, char *buf, size_t bn)
{
	struct timespec zero = { 0, 0 };
	for (size_t i = 0; i < n; i++) {
		sigset_t one;
		sigemptyset(&one);
		sigaddset(&one, q[i].sig);
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		/* The raw syscall: glibc's sigtimedwait turns SI_TKILL into SI_USER. */
		int s = (int)syscall(SYS_rt_sigtimedwait, &one, &si, &zero, 8);
		if (s != q[i].sig) {
			snprintf(buf, bn, "signal %d #%zu: sigtimedwait gave %d (%s)", q[i].sig, i, s,
				 s < 0 ? strerror(errno) : "?");
			return buf;
		}
		if (si.si_code != q[i].code || si.si_pid != getpid() || si.si_uid != getuid()) {
			snprintf(buf, bn, "signal %d #%zu: si_code %d pid %d uid %d, want %d %d %d", q[i].sig, i,
				 si.si_code, si.si_pid, si.si_uid, q[i].code, getpid(), getuid());
			return buf;
		}
		if (si.si_code == SI_QUEUE && (uint64_t)(uintptr_t)si.si_value.sival_ptr != q[i].value) {
			snprintf(buf, bn, "signal %d #%zu: value %#llx, want %#llx", q[i].sig, i,
				 (unsigned long long)(uintptr_t)si.si_value.sival_ptr, (unsigned long long)q[i].value);
			return buf;
		}
		/* After the last one of this signal, nothing more of it. */
		if (i + 1 == n || q[i + 1].sig != q[i].sig) {
			s = (int)syscall(SYS_rt_sigtimedwait, &one, &si, &zero, 8);
			if (s == q[i].sig) {
				snprintf(buf, bn, "signal %d: an extra one was pending (code %d value %#llx)", s,
					 si.si_code, (unsigned long long)(uintptr_t)si.si_value.sival_ptr);
				return buf;
			}
		}
	}
	return NULL;
}

static int pending_bits(pid_t tid, const char *field, uint64_t *out)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int found = -1;
	size_t l = strlen(field);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, l) == 0 && line[l] == ':') {
			*out = strtoull(line + l + 1, NULL, 16);
			found = 0;
		}
	fclose(f);
	return found;
}

/* Thread H is inside its SIGPROF handler (on its alt stack) at checkpoint
 * time; after restore the handler returns through its signal frame. */
static pthread_t hthread;
static stack_t saved_ss_h;
static volatile int h_in_handler;
static char h_why[512];
static atomic_int h_done;

static void h_prof(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	volatile uint64_t guard = 0x600d600d600d600dull;
	h_in_handler = 1;
	while (!phase)
		wl_msleep(10);
	stack_t now;
	sigaltstack(NULL, &now);
	uint64_t m = cur_mask();
	if (!(now.ss_flags & SS_ONSTACK))
		snprintf(h_why, sizeof(h_why), "H: in the handler after restore, sigaltstack flags %d (no SS_ONSTACK)",
			 now.ss_flags);
	else if (!(m & bit(sig)) || !(m & bit(SIGTTIN)))
		snprintf(h_why, sizeof(h_why), "H: in the handler after restore, mask %#llx lacks SIGPROF/SIGTTIN",
			 (unsigned long long)m);
	else if (si->si_code != SI_TKILL || si->si_value.sival_int != 0 || guard != 0x600d600d600d600dull)
		snprintf(h_why, sizeof(h_why), "H: handler frame changed (code %d, guard %#llx)", si->si_code,
			 (unsigned long long)guard);
}

static void *h_main(void *arg)
{
	(void)arg;
	/* Everything the others have pending stays blocked here. */
	sigset_t m = mask_t;
	sigaddset(&m, RT(8));
	sigaddset(&m, RT(11));
	pthread_sigmask(SIG_SETMASK, &m, NULL);
	make_altstack(&saved_ss_h);
	volatile uint64_t local = 0x1234abcd5678ef00ull;
	raise(SIGPROF); /* stays in the handler until phase 1 */
	/* Back from the handler through its frame: the mask and the stack
	 * are as they were. */
	char buf[400];
	const char *e = check_thread_state(&saved_ss_h, &m, buf, sizeof(buf));
	if (h_why[0])
		;
	else if (e)
		snprintf(h_why, sizeof(h_why), "H: after the handler returned: %s", e);
	else if (local != 0x1234abcd5678ef00ull)
		snprintf(h_why, sizeof(h_why), "H: a local of the interrupted frame changed: %#llx",
			 (unsigned long long)local);
	atomic_store(&h_done, 1);
	return NULL;
}

static void *t_main(void *arg)
{
	(void)arg;
	pthread_sigmask(SIG_SETMASK, &mask_t, NULL);
	make_altstack_flags(&saved_ss_t, SS_AUTODISARM);
	t_tid = wl_gettid();
	while (!phase)
		wl_msleep(10);

	char buf[400];
	const char *e = check_thread_state(&saved_ss_t, &mask_t, buf, sizeof(buf));
	if (e) {
		snprintf(t_why, sizeof(t_why), "T: %s", e);
		goto out;
	}
	/* Only T's own signals are left (main took the shared ones). */
	sigset_t p;
	sigpending(&p);
	uint64_t want = bit(RT(2)) | bit(RT(3)) | bit(SIGXCPU) | bit(RT(9));
	if (sigset_bits(&p) != want) {
		snprintf(t_why, sizeof(t_why), "T: sigpending %#llx, want %#llx", (unsigned long long)sigset_bits(&p),
			 (unsigned long long)want);
		goto out;
	}
	const struct qsig tq[] = {
		{ 0, SI_QUEUE, 300 }, { 0, SI_QUEUE, 301 }, { 1, SI_QUEUE, 310 }, { 2, SI_TKILL, 0 }, { 3, SI_QUEUE, 909 },
	};
	struct qsig q[5];
	int sigs[4] = { RT(2), RT(3), SIGXCPU, RT(9) };
	for (int i = 0; i < 5; i++) {
		q[i] = tq[i];
		q[i].sig = sigs[tq[i].sig];
	}
	e = dequeue(q, 5, buf, sizeof(buf));
	if (e) {
		snprintf(t_why, sizeof(t_why), "T: %s", e);
		goto out;
	}
	sigpending(&p);
	if (sigset_bits(&p) != 0) {
		snprintf(t_why, sizeof(t_why), "T: still pending %#llx", (unsigned long long)sigset_bits(&p));
		goto out;
	}
	/* SIGWINCH: on T's alt stack, SA_NODEFER, sa_mask {RT+5}. */
	raise(SIGWINCH);
	if (seen[SIGWINCH].runs != 1 || !seen[SIGWINCH].on_altstack || seen[SIGWINCH].code != SI_TKILL ||
	    (seen[SIGWINCH].mask & bit(SIGWINCH)) || !(seen[SIGWINCH].mask & bit(RT(5))))
		snprintf(t_why, sizeof(t_why), "T: SIGWINCH handler: runs %d altstack %d code %d mask %#llx",
			 seen[SIGWINCH].runs, seen[SIGWINCH].on_altstack, seen[SIGWINCH].code,
			 (unsigned long long)seen[SIGWINCH].mask);
out:
	atomic_store(&t_done, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	main_tid = wl_gettid();

	set_sa(SIGUSR2, h_plain, SA_RESTART, (int[]){ SIGWINCH, RT(7), 0 });
	set_sa(SIGHUP, h_info, SA_SIGINFO | SA_ONSTACK, (int[]){ SIGQUIT, SIGTERM, 0 });
	set_sa(SIGALRM, h_plain, SA_NODEFER, NULL);
	set_sa(SIGPIPE, h_plain, SA_RESETHAND, NULL);
	set_sa(SIGWINCH, h_info, SA_RESTART | SA_SIGINFO | SA_ONSTACK | SA_NODEFER, (int[]){ RT(5), 0 });
	{
		int all_rt[40], n = 0;
		for (int s = SIGRTMIN; s <= SIGRTMAX && n < 39; s++)
			all_rt[n++] = s;
		all_rt[n] = 0;
		set_sa(RT(10), h_info, SA_SIGINFO | SA_RESTART, all_rt);
	}
	signal(SIGINT, SIG_IGN);
	signal(SIGVTALRM, SIG_IGN);

	const int both[] = { RT(2), RT(3), RT(4), RT(6), SIGTERM, SIGQUIT, SIGINT, SIGXCPU, SIGURG };
	sigemptyset(&mask_main);
	for (size_t i = 0; i < sizeof(both) / sizeof(both[0]); i++)
		sigaddset(&mask_main, both[i]);
	mask_t = mask_main;
	sigaddset(&mask_main, RT(8));
	sigaddset(&mask_t, SIGUSR1);
	sigaddset(&mask_t, RT(9));
	sigaddset(&mask_t, SIGTTOU);
	pthread_sigmask(SIG_SETMASK, &mask_main, NULL);
	make_altstack(&saved_ss_main);

	if (pthread_create(&tthread, NULL, t_main, NULL) != 0)
		return 2;
	set_sa(SIGPROF, h_prof, SA_SIGINFO | SA_ONSTACK, (int[]){ SIGTTIN, 0 });
	if (pthread_create(&hthread, NULL, h_main, NULL) != 0)
		return 2;
	while (!h_in_handler)
		wl_msleep(1);
	while (!t_tid)
		wl_msleep(1);

	/* Queue the pending signals. */
	union sigval v;
	pid_t me = getpid();
	for (uint64_t i = 1; i <= 3; i++) {
		v.sival_ptr = (void *)(uintptr_t)(0x1111000000000000ull + i);
		sigqueue(me, RT(4), v);
	}
	v.sival_ptr = (void *)77;
	sigqueue(me, RT(6), v);
	kill(me, SIGTERM);
	kill(me, SIGTERM);
	v.sival_ptr = (void *)55;
	sigqueue(me, SIGQUIT, v);
	v.sival_ptr = (void *)56;
	sigqueue(me, SIGQUIT, v);
	kill(me, SIGINT);
	v.sival_ptr = (void *)900;
	sigqueue(me, RT(2), v);
	for (long i = 200; i <= 202; i++) {
		v.sival_ptr = (void *)i;
		pthread_sigqueue(pthread_self(), RT(2), v);
	}
	syscall(SYS_tgkill, me, main_tid, SIGURG);
	v.sival_ptr = (void *)800;
	pthread_sigqueue(pthread_self(), RT(8), v);
	for (long i = 300; i <= 301; i++) {
		v.sival_ptr = (void *)i;
		pthread_sigqueue(tthread, RT(2), v);
	}
	v.sival_ptr = (void *)310;
	pthread_sigqueue(tthread, RT(3), v);
	syscall(SYS_tgkill, me, t_tid, SIGXCPU);
	v.sival_ptr = (void *)909;
	pthread_sigqueue(tthread, RT(9), v);

	for (int s = 1; s < 65; s++)
		get_ksa(s, &saved_sa[s]);
	wl_ready();
	wl_wait();

	char buf[400];
	const char *e;
	/* 1. dispositions */
	for (int s = 1; s < 65 && !wl_why[0]; s++) {
		struct ksigaction k;
		if (get_ksa(s, &k) != 0) {
			wl_fail("rt_sigaction(%d): %s", s, strerror(errno));
			break;
		}
		WL_CHECK(k.handler == saved_sa[s].handler && k.flags == saved_sa[s].flags &&
				 k.restorer == saved_sa[s].restorer && k.mask == saved_sa[s].mask,
			 "signal %d: handler %p flags %#lx restorer %p mask %#llx, was %p %#lx %p %#llx", s, k.handler,
			 k.flags, k.restorer, (unsigned long long)k.mask, saved_sa[s].handler, saved_sa[s].flags,
			 saved_sa[s].restorer, (unsigned long long)saved_sa[s].mask);
	}
	/* 2, 3. main's alt stack and mask (SIGUSR1 unblocked, as set) */
	if ((e = check_thread_state(&saved_ss_main, &mask_main, buf, sizeof(buf))))
		wl_fail("main: %s", e);
	/* 4. private and shared pending sets */
	uint64_t shd = bit(RT(4)) | bit(RT(6)) | bit(SIGTERM) | bit(SIGQUIT) | bit(SIGINT) | bit(RT(2));
	uint64_t pm = bit(RT(2)) | bit(SIGURG) | bit(RT(8));
	uint64_t pt = bit(RT(2)) | bit(RT(3)) | bit(SIGXCPU) | bit(RT(9));
	uint64_t got;
	if (pending_bits(main_tid, "ShdPnd", &got) != 0 || got != shd)
		wl_fail("shared pending %#llx, want %#llx", (unsigned long long)got, (unsigned long long)shd);
	if (pending_bits(main_tid, "SigPnd", &got) != 0 || got != pm)
		wl_fail("main's pending %#llx, want %#llx", (unsigned long long)got, (unsigned long long)pm);
	if (pending_bits(t_tid, "SigPnd", &got) != 0 || got != pt)
		wl_fail("T's pending %#llx, want %#llx", (unsigned long long)got, (unsigned long long)pt);
	sigset_t p;
	sigpending(&p);
	WL_CHECK(sigset_bits(&p) == (shd | pm), "main: sigpending %#llx, want %#llx",
		 (unsigned long long)sigset_bits(&p), (unsigned long long)(shd | pm));
	/* 5. main dequeues its own and the shared ones, in order */
	if (!wl_why[0]) {
		const struct qsig mq[] = {
			{ RT(2), SI_QUEUE, 200 },
			{ RT(2), SI_QUEUE, 201 },
			{ RT(2), SI_QUEUE, 202 },
			{ RT(2), SI_QUEUE, 900 },
			{ RT(4), SI_QUEUE, 0x1111000000000001ull },
			{ RT(4), SI_QUEUE, 0x1111000000000002ull },
			{ RT(4), SI_QUEUE, 0x1111000000000003ull },
			{ RT(6), SI_QUEUE, 77 },
			{ RT(8), SI_QUEUE, 800 },
			{ SIGTERM, SI_USER, 0 },
			{ SIGQUIT, SI_QUEUE, 55 },
			{ SIGURG, SI_TKILL, 0 },
			{ SIGINT, SI_USER, 0 },
		};
		if ((e = dequeue(mq, sizeof(mq) / sizeof(mq[0]), buf, sizeof(buf))))
			wl_fail("main: %s", e);
		sigpending(&p);
		WL_CHECK(sigset_bits(&p) == 0, "main: still pending %#llx", (unsigned long long)sigset_bits(&p));
	}
	/* 6. T checks itself */
	phase = 1;
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	if (pthread_timedjoin_np(hthread, NULL, &dl) != 0)
		wl_fail("thread H did not leave its handler in 5 s");
	else if (h_why[0])
		wl_fail("%s", h_why);
	if (pthread_timedjoin_np(tthread, NULL, &dl) != 0)
		wl_fail("thread T did not finish its checks in 5 s");
	else if (t_why[0])
		wl_fail("%s", t_why);
	/* 7. handlers, in main */
	if (!wl_why[0]) {
		raise(SIGHUP);
		WL_CHECK(seen[SIGHUP].runs == 1 && seen[SIGHUP].on_altstack && seen[SIGHUP].code == SI_TKILL,
			 "SIGHUP handler: runs %d altstack %d code %d", seen[SIGHUP].runs, seen[SIGHUP].on_altstack,
			 seen[SIGHUP].code);
		uint64_t hm = seen[SIGHUP].mask;
		WL_CHECK((hm & bit(SIGHUP)) && (hm & bit(SIGQUIT)) && (hm & bit(SIGTERM)) && !(hm & bit(SIGUSR1)),
			 "SIGHUP handler ran with mask %#llx", (unsigned long long)hm);
		raise(SIGUSR2);
		hm = seen[SIGUSR2].mask;
		WL_CHECK(seen[SIGUSR2].runs == 1 && !seen[SIGUSR2].on_altstack && (hm & bit(SIGUSR2)) &&
				 (hm & bit(SIGWINCH)) && (hm & bit(RT(7))),
			 "SIGUSR2 handler: runs %d altstack %d mask %#llx", seen[SIGUSR2].runs,
			 seen[SIGUSR2].on_altstack, (unsigned long long)hm);
		raise(SIGALRM);
		WL_CHECK(seen[SIGALRM].runs == 1 && !(seen[SIGALRM].mask & bit(SIGALRM)),
			 "SIGALRM (SA_NODEFER) handler: runs %d mask %#llx", seen[SIGALRM].runs,
			 (unsigned long long)seen[SIGALRM].mask);
		raise(SIGPIPE);
		struct sigaction cur;
		sigaction(SIGPIPE, NULL, &cur);
		WL_CHECK(seen[SIGPIPE].runs == 1 && cur.sa_handler == SIG_DFL,
			 "SIGPIPE (SA_RESETHAND): runs %d, disposition after %p", seen[SIGPIPE].runs,
			 (void *)cur.sa_handler);
		raise(SIGVTALRM); /* ignored: nothing happens */
		union sigval rv = { .sival_int = 5 };
		sigqueue(getpid(), RT(10), rv);
		WL_CHECK(seen[RT(10)].runs == 1 && seen[RT(10)].code == SI_QUEUE &&
				 (seen[RT(10)].mask & bit(SIGRTMAX)) && (seen[RT(10)].mask & bit(RT(1))),
			 "RT+10 handler: runs %d code %d mask %#llx", seen[RT(10)].runs, seen[RT(10)].code,
			 (unsigned long long)seen[RT(10)].mask);
	}
	return wl_finish();
}
