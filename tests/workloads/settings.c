/*
 * Settings workload: per-process settings of a parent and its child, which
 * differ from each other.
 *
 *   settings READY_FILE RESULT_FILE [DIR]
 *
 *   parent  umask 027; cwd a new directory under DIR (default: the directory
 *           of RESULT_FILE); personality ADDR_NO_RANDOMIZE | UNAME26 |
 *           READ_IMPLIES_EXEC; comm "wl-settings"; RLIMIT_NOFILE 512/4096,
 *           RLIMIT_CORE 0/0, RLIMIT_STACK soft 4 MiB, RLIMIT_CPU soft 10 h,
 *           RLIMIT_MSGQUEUE 8192/16384 (never above the current hard limit);
 *           nice 5; SCHED_BATCH; affinity CPU 0; oom_score_adj 500;
 *           not dumpable; child subreaper; I/O priority best-effort 3;
 *           timer slack 200 us; transparent huge pages disabled;
 *           coredump_filter 0x7f (the child inherits it); after the
 *           fork, mlockall(MCL_FUTURE | MCL_ONFAULT) and KSM for all its
 *           memory (PR_SET_MEMORY_MERGE, where there is KSM); interval
 *           timers: ITIMER_REAL 1000 s then every 500 s, ITIMER_VIRTUAL
 *           3000 s (time left checked against the dump's).
 *   child   umask 077; cwd /; personality PER_LINUX; comm "wl-set-child";
 *           RLIMIT_NOFILE 256/2048; nice 7; SCHED_OTHER; affinity the last
 *           CPU; oom_score_adj 700; dumpable; parent-death signal SIGUSR2
 *           (whose handler counts: a restore must not fire it); a 20 ms
 *           periodic ITIMER_REAL that must go on firing;
 *           mlockall(MCL_FUTURE); memory-deny-write-execute where the
 *           kernel has it (6.3),
 *           checked to still refuse a writable executable mapping; and a
 *           second thread with settings of its own: nice 11, SCHED_IDLE
 *           with SCHED_RESET_ON_FORK,
 *           affinity CPU 0, I/O priority idle, timer slack 300 us (Linux
 *           keeps these per thread); a third under SCHED_DEADLINE, where
 *           the machine admits one.
 *
 * On SIGUSR1 each process compares: umask (/proc/self/status Umask), cwd
 * (getcwd and the inode of "."), personality, comm (PR_GET_NAME and
 * /proc/self/comm), all 16 rlimits, getpriority, sched_getscheduler and its
 * priority, sched_getaffinity, /proc/self/oom_score_adj, PR_GET_DUMPABLE,
 * PR_GET_CHILD_SUBREAPER, PR_GET_PDEATHSIG, and the nice/policy fields of
 * /proc/self/stat; the child also compares its second thread's nice,
 * policy and affinity, read by its tid. The parent also checks that READ_IMPLIES_EXEC acts: a
 * read-only mapping made before it was set stays "r--p", one made after the
 * restore is "r-xp". Results: "PASS" or "FAIL: why" in RESULT_FILE (the
 * child's in RESULT_FILE.child, folded into the parent's).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/time.h>
#include <linux/ioprio.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

static volatile sig_atomic_t verify_requested, pdeath_count;

static void on_usr1(int sig) { (void)sig; verify_requested = 1; }
static void on_usr2(int sig) { (void)sig; pdeath_count++; }
static volatile sig_atomic_t alarms;
static void on_alrm(int sig) { (void)sig; alarms++; }

/* Interval timers of the parent: long ones, whose time left must come back. */
struct itimers {
	struct itimerval real, virt;
};

static long us(const struct timeval *tv)
{
	return tv->tv_sec * 1000000L + tv->tv_usec;
}

static int itimers_take(struct itimers *t)
{
	return getitimer(ITIMER_REAL, &t->real) < 0 || getitimer(ITIMER_VIRTUAL, &t->virt) < 0 ? -1 : 0;
}

/*
 * Armed, the same interval, no more time left than at the dump (nor much
 * less). CPU-time timers move by clock ticks: up allows for one or two.
 */
static void itimer_compare(const char *name, const struct itimerval *b, const struct itimerval *a, long slack_us,
			   long up_us)
{
	if (us(&a->it_interval) != us(&b->it_interval) || us(&a->it_value) <= 0 ||
	    us(&a->it_value) > us(&b->it_value) + up_us ||
	    us(&a->it_value) < us(&b->it_value) - slack_us)
		FAILF("%s: %ld us left every %ld us, was %ld us every %ld us", name, us(&a->it_value),
		      us(&a->it_interval), us(&b->it_value), us(&b->it_interval));
}

static char *absolute(const char *path)
{
	char cwd[4096], *out;

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(path);
	out = malloc(strlen(cwd) + strlen(path) + 2);
	sprintf(out, "%s/%s", cwd, path);
	return out;
}

/* ---- snapshots ---- */

static const char *rlimit_names[RLIMIT_NLIMITS] = {
	"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
	"MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME",
};

struct settings {
	char umask_line[64];
	char cwd[4096];
	dev_t cwd_dev;
	ino_t cwd_ino;
	unsigned long persona;
	char comm[32], proc_comm[64];
	struct rlimit rl[RLIMIT_NLIMITS];
	int prio, policy, rtprio;
	cpu_set_t cpus;
	char oom[32];
	int dumpable, subreaper, pdeath;
	long stat_nice, stat_rtprio, stat_policy;
	long ioprio, timerslack, thp_disable, mdwe, ksm_any;
	char coredump_filter[32];
};

static int stat_fields(long *nice, long *rtprio, long *policy)
{
	char buf[4096], *p;
	int field;

	if (read_file("/proc/self/stat", buf, sizeof(buf)) <= 0 || !(p = strrchr(buf, ')')))
		return -1;
	p += 2;
	for (field = 3; p && *p; field++) {
		long v = strtol(p, NULL, 10);

		if (field == 19)
			*nice = v;
		if (field == 40)
			*rtprio = v;
		if (field == 41)
			*policy = v;
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return field > 41 ? 0 : -1;
}

static int take(struct settings *s)
{
	static char status[16384];
	struct sched_param sp;
	struct stat st;
	const char *p;

	memset(s, 0, sizeof(*s));
	if (read_file("/proc/self/status", status, sizeof(status)) <= 0 || !(p = strstr(status, "\nUmask:")))
		return -1;
	snprintf(s->umask_line, sizeof(s->umask_line), "%.*s", (int)strcspn(p + 1, "\n"), p + 1);
	if (!getcwd(s->cwd, sizeof(s->cwd)) || stat(".", &st) < 0)
		return -1;
	s->cwd_dev = st.st_dev;
	s->cwd_ino = st.st_ino;
	s->persona = (unsigned long)personality(0xffffffff);
	if (prctl(PR_GET_NAME, s->comm, 0, 0, 0) < 0 || read_file("/proc/self/comm", s->proc_comm, sizeof(s->proc_comm)) <= 0)
		return -1;
	for (int r = 0; r < RLIMIT_NLIMITS; r++)
		if (prlimit(0, r, NULL, &s->rl[r]) < 0)
			return -1;
	errno = 0;
	s->prio = getpriority(PRIO_PROCESS, 0);
	if (errno)
		return -1;
	s->policy = sched_getscheduler(0);
	if (s->policy < 0 || sched_getparam(0, &sp) < 0)
		return -1;
	s->rtprio = sp.sched_priority;
	if (sched_getaffinity(0, sizeof(s->cpus), &s->cpus) < 0)
		return -1;
	if (read_file("/proc/self/oom_score_adj", s->oom, sizeof(s->oom)) <= 0)
		return -1;
	s->dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (prctl(PR_GET_CHILD_SUBREAPER, &s->subreaper, 0, 0, 0) < 0 || prctl(PR_GET_PDEATHSIG, &s->pdeath, 0, 0, 0) < 0)
		return -1;
	s->ioprio = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
	s->timerslack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	s->thp_disable = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
	s->mdwe = prctl(PR_GET_MDWE, 0, 0, 0, 0);
	s->ksm_any = prctl(68 /* PR_GET_MEMORY_MERGE */, 0, 0, 0, 0);
	if (s->ioprio < 0 || s->timerslack < 0 || s->thp_disable < 0 ||
	    read_file("/proc/self/coredump_filter", s->coredump_filter, sizeof(s->coredump_filter)) <= 0)
		return -1;
	return stat_fields(&s->stat_nice, &s->stat_rtprio, &s->stat_policy);
}

static void cpus_text(const cpu_set_t *set, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = 0;
	for (int c = 0; c < CPU_SETSIZE && n + 8 < cap; c++)
		if (CPU_ISSET(c, set))
			n += (size_t)snprintf(out + n, cap - n, "%s%d", n ? "," : "", c);
}

static void compare(const struct settings *b, const struct settings *a)
{
	if (strcmp(a->umask_line, b->umask_line))
		FAILF("[%s], was [%s]", a->umask_line, b->umask_line);
	if (strcmp(a->cwd, b->cwd) || a->cwd_dev != b->cwd_dev || a->cwd_ino != b->cwd_ino)
		FAILF("cwd %s (inode %lu), was %s (inode %lu)", a->cwd, (unsigned long)a->cwd_ino, b->cwd,
		      (unsigned long)b->cwd_ino);
	if (a->persona != b->persona)
		FAILF("personality 0x%lx, was 0x%lx", a->persona, b->persona);
	if (strcmp(a->comm, b->comm) || strcmp(a->proc_comm, b->proc_comm))
		FAILF("comm \"%s\", was \"%s\"", a->comm, b->comm);
	for (int r = 0; r < RLIMIT_NLIMITS; r++)
		if (a->rl[r].rlim_cur != b->rl[r].rlim_cur || a->rl[r].rlim_max != b->rl[r].rlim_max)
			FAILF("RLIMIT_%s %llu/%llu, was %llu/%llu", rlimit_names[r], (unsigned long long)a->rl[r].rlim_cur,
			      (unsigned long long)a->rl[r].rlim_max, (unsigned long long)b->rl[r].rlim_cur,
			      (unsigned long long)b->rl[r].rlim_max);
	if (a->prio != b->prio)
		FAILF("nice %d, was %d", a->prio, b->prio);
	if (a->policy != b->policy || a->rtprio != b->rtprio)
		FAILF("scheduler policy %d priority %d, was %d priority %d", a->policy, a->rtprio, b->policy, b->rtprio);
	if (!CPU_EQUAL(&a->cpus, &b->cpus)) {
		char x[256], y[256];

		cpus_text(&a->cpus, x, sizeof(x));
		cpus_text(&b->cpus, y, sizeof(y));
		FAILF("CPU affinity {%s}, was {%s}", x, y);
	}
	if (strcmp(a->oom, b->oom))
		FAILF("oom_score_adj %.*s, was %.*s", (int)strcspn(a->oom, "\n"), a->oom, (int)strcspn(b->oom, "\n"), b->oom);
	if (a->dumpable != b->dumpable)
		FAILF("dumpable %d, was %d", a->dumpable, b->dumpable);
	if (a->subreaper != b->subreaper)
		FAILF("child subreaper %d, was %d", a->subreaper, b->subreaper);
	if (a->pdeath != b->pdeath)
		FAILF("parent-death signal %d, was %d", a->pdeath, b->pdeath);
	if (a->ioprio != b->ioprio)
		FAILF("I/O priority 0x%lx, was 0x%lx", a->ioprio, b->ioprio);
	if (a->timerslack != b->timerslack)
		FAILF("timer slack %ld ns, was %ld", a->timerslack, b->timerslack);
	if (a->thp_disable != b->thp_disable)
		FAILF("PR_GET_THP_DISABLE %ld, was %ld", a->thp_disable, b->thp_disable);
	if (a->mdwe != b->mdwe)
		FAILF("PR_GET_MDWE %ld, was %ld", a->mdwe, b->mdwe);
	if (a->ksm_any != b->ksm_any)
		FAILF("PR_GET_MEMORY_MERGE %ld, was %ld", a->ksm_any, b->ksm_any);
	if (strcmp(a->coredump_filter, b->coredump_filter))
		FAILF("coredump_filter %.*s, was %.*s", (int)strcspn(a->coredump_filter, "\n"), a->coredump_filter,
		      (int)strcspn(b->coredump_filter, "\n"), b->coredump_filter);
	if (a->stat_nice != b->stat_nice || a->stat_policy != b->stat_policy || a->stat_rtprio != b->stat_rtprio)
		FAILF("/proc/self/stat nice %ld policy %ld rt_priority %ld, were %ld %ld %ld", a->stat_nice,
		      a->stat_policy, a->stat_rtprio, b->stat_nice, b->stat_policy, b->stat_rtprio);
}

static struct settings before, after;

/* Lowers a limit; never asks for more than the current hard limit. */
static int lower(int res, rlim_t cur, rlim_t max)
{
	struct rlimit rl;

	if (getrlimit(res, &rl) < 0)
		return -1;
	if (max > rl.rlim_max)
		max = rl.rlim_max;
	if (cur > max)
		cur = max;
	rl.rlim_cur = cur;
	rl.rlim_max = max;
	return setrlimit(res, &rl);
}

static void wait_for_verify(void)
{
	sigset_t none;

	sigemptyset(&none);
	while (!verify_requested)
		sigsuspend(&none);
}

static int set_oom(const char *v)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	int ok = fd >= 0 && write(fd, v, strlen(v)) == (ssize_t)strlen(v);

	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/* Perms of the mapping holding addr, from /proc/self/maps. */
static void perms_of(const void *addr, char *out)
{
	static char maps[1 << 20];
	unsigned long a = (unsigned long)addr, s, e;

	strcpy(out, "none");
	if (read_file("/proc/self/maps", maps, sizeof(maps)) <= 0)
		return;
	for (char *p = maps; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (sscanf(p, "%lx-%lx %4s", &s, &e, out) == 3 && s <= a && a < e)
			return;
	strcpy(out, "none");
}

/* The child's second thread: scheduling settings of its own, read by its tid. */
struct thread_sched {
	int prio, policy;
	cpu_set_t cpus;
	long ioprio, timerslack;
};

static atomic_int worker_tid, dl_tid;

/* sched_getattr/sched_setattr's argument. */
struct wl_sched_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

/* A third thread under SCHED_DEADLINE (1 ms every 10 ms), where the machine takes one. */
static void *dl_worker(void *arg)
{
	struct wl_sched_attr sa = { .size = sizeof(sa), .policy = 6 /* SCHED_DEADLINE */, .runtime = 1000000,
				    .deadline = 10000000, .period = 10000000 };
	sigset_t all;
	cpu_set_t every;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* Deadline tasks must be free to run on every CPU of their domain. */
	CPU_ZERO(&every);
	for (int c = 0; c < CPU_SETSIZE && c < sysconf(_SC_NPROCESSORS_ONLN); c++)
		CPU_SET(c, &every);
	if (sched_setaffinity(0, sizeof(every), &every) == 0 && syscall(SYS_sched_setattr, 0, &sa, 0) == 0)
		atomic_store(&dl_tid, (int)syscall(SYS_gettid));
	else
		atomic_store(&dl_tid, -1);
	for (;;)
		pause();
	return NULL;
}

static int dl_take(pid_t tid, struct wl_sched_attr *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->size = sizeof(*sa);
	return (int)syscall(SYS_sched_getattr, tid, sa, sizeof(*sa), 0);
}

static void *worker(void *arg)
{
	struct sched_param sp = { 0 };
	sigset_t all;
	cpu_set_t set;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 11) < 0 ||
	    sched_setscheduler(0, SCHED_IDLE | SCHED_RESET_ON_FORK, &sp) < 0 ||
	    sched_setaffinity(0, sizeof(set), &set) < 0 ||
	    syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0)) < 0 ||
	    prctl(PR_SET_TIMERSLACK, 300000, 0, 0, 0) < 0)
		atomic_store(&worker_tid, -errno);
	else
		atomic_store(&worker_tid, (int)syscall(SYS_gettid));
	for (;;)
		pause();
	return NULL;
}

static int thread_take(pid_t tid, struct thread_sched *t)
{
	errno = 0;
	t->prio = getpriority(PRIO_PROCESS, (id_t)tid);
	if (errno)
		return -1;
	char path[64], text[32];

	t->policy = sched_getscheduler(tid);
	t->ioprio = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, tid);
	/* Only /proc/PID has it; a thread's tid there names the thread. */
	snprintf(path, sizeof(path), "/proc/%d/timerslack_ns", (int)tid);
	t->timerslack = read_file(path, text, sizeof(text)) > 0 ? strtol(text, NULL, 10) : -1;
	return t->policy < 0 || t->ioprio < 0 || t->timerslack < 0 ||
	       sched_getaffinity(tid, sizeof(t->cpus), &t->cpus) < 0 ? -1 : 0;
}

static void thread_compare(const struct thread_sched *b, const struct thread_sched *a)
{
	char x[256], y[256];

	if (a->prio != b->prio || a->policy != b->policy)
		FAILF("second thread: nice %d policy %d, was nice %d policy %d", a->prio, a->policy, b->prio, b->policy);
	cpus_text(&a->cpus, x, sizeof(x));
	cpus_text(&b->cpus, y, sizeof(y));
	if (!CPU_EQUAL(&a->cpus, &b->cpus))
		FAILF("second thread: CPU affinity {%s}, was {%s}", x, y);
	if (a->ioprio != b->ioprio || a->timerslack != b->timerslack)
		FAILF("second thread: I/O priority 0x%lx timer slack %ld, was 0x%lx %ld", a->ioprio, a->timerslack,
		      b->ioprio, b->timerslack);
}

/* The VmFlags of the mapping holding addr, from /proc/self/smaps ("" if none). */
static void vmflags_of(const void *addr, char *out, size_t cap)
{
	static char smaps[1 << 21];
	unsigned long a = (unsigned long)addr, s, e;
	bool in = false;

	out[0] = 0;
	if (read_file("/proc/self/smaps", smaps, sizeof(smaps)) <= 0)
		return;
	for (char *p = smaps; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (sscanf(p, "%lx-%lx ", &s, &e) == 2 && strchr(p, '-') < strchr(p, ' '))
			in = s <= a && a < e;
		else if (in && !strncmp(p, "VmFlags:", 8)) {
			snprintf(out, cap, "%.*s", (int)strcspn(p + 8, "\n"), p + 8);
			return;
		}
	}
}

/* A mapping made now is locked (mlockall(MCL_FUTURE) acts), on fault too if onfault. */
static void check_mlock_future(bool onfault)
{
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char flags[256];

	if (m == MAP_FAILED) {
		FAILF("mmap after restore: %s", strerror(errno));
		return;
	}
	vmflags_of(m, flags, sizeof(flags));
	if (!strstr(flags, " lo") || (strstr(flags, " lf") != NULL) != onfault)
		FAILF("a new mapping has VmFlags [%s]: mlockall(MCL_FUTURE%s) did not come back", flags,
		      onfault ? "|MCL_ONFAULT" : "");
	munmap(m, 4096);
}

static void child_main(const char *result)
{
	struct wl_sched_attr dlb, dla;
	pthread_t dlth;
	struct thread_sched tb, ta;
	bool has_mdwe;
	pthread_t th;
	struct sigaction sa = { .sa_handler = on_usr2 };
	struct sched_param sp = { 0 };
	char path[4200];
	cpu_set_t set;
	int last = -1;

	who = "child";
	snprintf(path, sizeof(path), "%s.child", result);
	sigaction(SIGUSR2, &sa, NULL);
	umask(077);
	if (chdir("/") < 0)
		FAILF("chdir /: %s", strerror(errno));
	personality(PER_LINUX);
	prctl(PR_SET_NAME, "wl-set-child", 0, 0, 0);
	if (lower(RLIMIT_NOFILE, 256, 2048) < 0)
		FAILF("RLIMIT_NOFILE: %s", strerror(errno));
	if (setpriority(PRIO_PROCESS, 0, 7) < 0)
		FAILF("setpriority: %s", strerror(errno));
	if (sched_setscheduler(0, SCHED_OTHER, &sp) < 0)
		FAILF("SCHED_OTHER: %s", strerror(errno));
	/* The parent limited us to CPU 0: widen to the last online CPU. */
	CPU_ZERO(&set);
	for (int c = 0; c < CPU_SETSIZE && c < sysconf(_SC_NPROCESSORS_ONLN); c++)
		last = c;
	CPU_SET(last < 0 ? 0 : last, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		FAILF("sched_setaffinity: %s", strerror(errno));
	if (set_oom("700") < 0)
		FAILF("oom_score_adj 700: %s", strerror(errno));
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGUSR2, 0, 0, 0) < 0)
		FAILF("PR_SET_PDEATHSIG: %s", strerror(errno));
	/* A periodic timer that fires: it must go on firing after the restore. */
	{
		struct sigaction al = { .sa_handler = on_alrm, .sa_flags = SA_RESTART };
		struct itimerval it = { { 0, 20000 }, { 0, 20000 } };

		if (sigaction(SIGALRM, &al, NULL) < 0 || setitimer(ITIMER_REAL, &it, NULL) < 0)
			FAILF("setitimer: %s", strerror(errno));
	}
	/* Memory-deny-write-execute (6.3): where the kernel has it, it must stay and act. */
	has_mdwe = prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) == 0;
	if (pthread_create(&th, NULL, worker, NULL))
		FAILF("pthread_create failed");
	for (int i = 0; i < 2000 && !atomic_load(&worker_tid); i++)
		usleep(1000);
	if (atomic_load(&worker_tid) <= 0)
		FAILF("second thread: cannot set its settings: %s", strerror(-atomic_load(&worker_tid)));
	if (pthread_create(&dlth, NULL, dl_worker, NULL))
		FAILF("pthread_create failed");
	for (int i = 0; i < 2000 && !atomic_load(&dl_tid); i++)
		usleep(1000);
	if (atomic_load(&dl_tid) > 0 && dl_take(atomic_load(&dl_tid), &dlb) < 0)
		FAILF("sched_getattr: %s", strerror(errno));
	if (mlockall(MCL_FUTURE) < 0)
		FAILF("mlockall: %s", strerror(errno));
	if (!why[0] && (take(&before) < 0 || thread_take(atomic_load(&worker_tid), &tb) < 0))
		FAILF("cannot read settings: %s", strerror(errno));
	write_text(path, "ready", NULL);
	if (why[0])
		_exit(report(path));
	wait_for_verify();
	if (take(&after) < 0 || thread_take(atomic_load(&worker_tid), &ta) < 0)
		FAILF("cannot read settings after restore: %s", strerror(errno));
	else
		compare(&before, &after), thread_compare(&tb, &ta);
	{
		sig_atomic_t seen = alarms;
		struct itimerval it;

		for (int i = 0; i < 100 && alarms < seen + 5; i++)
			usleep(10000);
		if (alarms < seen + 5)
			FAILF("the 20 ms interval timer fired %d times in a second after the restore", (int)(alarms - seen));
		if (getitimer(ITIMER_REAL, &it) < 0 || us(&it.it_interval) != 20000)
			FAILF("the 20 ms interval timer has an interval of %ld us", us(&it.it_interval));
	}
	check_mlock_future(false);
	if (atomic_load(&dl_tid) > 0 &&
	    (dl_take(atomic_load(&dl_tid), &dla) < 0 || dla.policy != dlb.policy || dla.runtime != dlb.runtime ||
	     dla.deadline != dlb.deadline || dla.period != dlb.period))
		FAILF("the SCHED_DEADLINE thread: policy %u runtime %llu deadline %llu period %llu, was %u %llu %llu %llu",
		      dla.policy, (unsigned long long)dla.runtime, (unsigned long long)dla.deadline,
		      (unsigned long long)dla.period, dlb.policy, (unsigned long long)dlb.runtime,
		      (unsigned long long)dlb.deadline, (unsigned long long)dlb.period);
	if (has_mdwe) {
		void *wx = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (wx != MAP_FAILED)
			FAILF("memory-deny-write-execute does not act: a writable, executable mapping was made");
	}
	if (pdeath_count)
		FAILF("received its parent-death signal %d times", (int)pdeath_count);
	_exit(report(path));
}

int main(int argc, char **argv)
{
	struct itimers it_before, it_after;
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct sched_param sp = { 0 };
	char *ready, *result, *tmp, path[4200], line[8192] = "", p1[8], p2[8];
	const char *dir;
	sigset_t usr1;
	cpu_set_t set;
	pid_t child;
	void *ro, *ro2;
	int status = 0, i;

	who = "parent";
	if (argc < 3) {
		fprintf(stderr, "usage: %s READY_FILE RESULT_FILE [DIR]\n", argv[0]);
		return 2;
	}
	ready = absolute(argv[1]);
	result = absolute(argv[2]);
	if (argc > 3) {
		dir = argv[3];
	} else {
		char *d = strdup(result);

		*strrchr(d, '/') = 0;
		dir = d[0] ? d : "/";
	}
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);

	/* A read-only mapping from before READ_IMPLIES_EXEC. */
	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro == MAP_FAILED)
		FAILF("mmap: %s", strerror(errno));

	umask(027);
	tmp = malloc(strlen(dir) + 32);
	sprintf(tmp, "%s/wl-settings.XXXXXX", dir);
	if (!mkdtemp(tmp) || chdir(tmp) < 0)
		FAILF("cannot make and enter a directory in %s: %s", dir, strerror(errno));
	if (personality(ADDR_NO_RANDOMIZE | UNAME26 | READ_IMPLIES_EXEC) < 0)
		FAILF("personality: %s", strerror(errno));
	prctl(PR_SET_NAME, "wl-settings", 0, 0, 0);
	if (lower(RLIMIT_NOFILE, 512, 4096) < 0 || lower(RLIMIT_CORE, 0, 0) < 0 ||
	    lower(RLIMIT_STACK, 4 << 20, RLIM_INFINITY) < 0 || lower(RLIMIT_CPU, 36000, RLIM_INFINITY) < 0 ||
	    lower(RLIMIT_MSGQUEUE, 8192, 16384) < 0)
		FAILF("setrlimit: %s", strerror(errno));
	if (setpriority(PRIO_PROCESS, 0, 5) < 0)
		FAILF("setpriority: %s", strerror(errno));
	if (sched_setscheduler(0, SCHED_BATCH, &sp) < 0)
		FAILF("SCHED_BATCH: %s", strerror(errno));
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		FAILF("sched_setaffinity: %s", strerror(errno));
	if (set_oom("500") < 0)
		FAILF("oom_score_adj 500: %s", strerror(errno));
	{
		int fd = open("/proc/self/coredump_filter", O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, "0x7f", 4) != 4)
			FAILF("coredump_filter: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	{
		struct itimerval real = { { 500, 0 }, { 1000, 0 } }, virt = { { 0, 0 }, { 3000, 0 } };

		if (setitimer(ITIMER_REAL, &real, NULL) < 0 || setitimer(ITIMER_VIRTUAL, &virt, NULL) < 0)
			FAILF("setitimer: %s", strerror(errno));
	}
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 3)) < 0 ||
	    prctl(PR_SET_TIMERSLACK, 200000, 0, 0, 0) < 0 || prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) < 0)
		FAILF("I/O priority, timer slack or THP disable: %s", strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		FAILF("prctl: %s", strerror(errno));

	snprintf(path, sizeof(path), "%s.child", result);
	unlink(path);
	child = fork();
	if (child == 0)
		child_main(result);
	if (child < 0)
		FAILF("fork: %s", strerror(errno));
	for (i = 0; i < 2000; i++) {
		if (read_file(path, line, sizeof(line)) > 0)
			break;
		usleep(10000);
	}
	if (strncmp(line, "ready", 5))
		FAILF("child did not get ready: %s", line);
	if (mlockall(MCL_FUTURE | MCL_ONFAULT) < 0)
		FAILF("mlockall: %s", strerror(errno));
	/* KSM for all its memory (6.4, with KSM): EINVAL elsewhere, and then nothing to check. */
	prctl(67 /* PR_SET_MEMORY_MERGE */, 1, 0, 0, 0);
	if (!why[0] && (take(&before) < 0 || itimers_take(&it_before) < 0))
		FAILF("cannot read settings: %s", strerror(errno));
	if (why[0]) {
		report(result);
		write_text(ready, "ready", NULL);
		return 1;
	}
	write_text(ready, "ready", NULL);

	wait_for_verify();

	if (take(&after) < 0 || itimers_take(&it_after) < 0) {
		FAILF("cannot read settings after restore: %s", strerror(errno));
	} else {
		compare(&before, &after);
		/* The test takes well under a minute; CPU time hardly moves. */
		itimer_compare("ITIMER_REAL", &it_before.real, &it_after.real, 60 * 1000000L, 0);
		itimer_compare("ITIMER_VIRTUAL", &it_before.virt, &it_after.virt, 10 * 1000000L, 20000);
	}
	check_mlock_future(true);
	perms_of(ro, p1);
	if (strcmp(p1, "r--p"))
		FAILF("read-only mapping from before READ_IMPLIES_EXEC is now %s", p1);
	ro2 = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	perms_of(ro2, p2);
	if (strcmp(p2, "r-xp"))
		FAILF("READ_IMPLIES_EXEC does not act: a new PROT_READ mapping is %s", p2);

	kill(child, SIGUSR1);
	for (i = 0; i < 3000 && waitpid(child, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (i == 3000) {
		kill(child, SIGKILL);
		FAILF("child did not finish");
	} else {
		line[0] = 0;
		read_file(path, line, sizeof(line));
		line[strcspn(line, "\n")] = 0;
		if (strcmp(line, "PASS"))
			FAILF("%s", line);
		else if (!WIFEXITED(status) || WEXITSTATUS(status))
			FAILF("child exit status 0x%x", status);
	}
	if (chdir("/") == 0)
		rmdir(tmp);
	return report(result);
}
