// SPDX-License-Identifier: MIT
/*
 * Per-process and per-thread state: ids, credentials, settings, signal
 * handlers and pending signals, registers. Most comes from /proc and ptrace;
 * what only the process can read about itself is read by system calls run
 * inside it (see ptrace.h).
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/ioprio.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "compat.h"
#include "dump.h"

#define NR_RLIMITS 16
#define SCRATCH_SIZE 4096

struct kernel_sigaction {
	uint64_t handler, flags, restorer, mask;
};

static uint64_t parse_hex_field(const char *status, const char *key)
{
	const char *p = status_field(status, key);

	return p ? strtoull(p, NULL, 16) : 0;
}

static void parse_ids(struct arena *a, const char *status, const char *key, uint32_t **out, size_t *n)
{
	const char *p = status_field(status, key);
	uint32_t tmp[4096];
	size_t k = 0;
	char *end;

	while (p && k < ARRAY_SIZE(tmp)) {
		unsigned long v = strtoul(p, &end, 10);

		if (end == p)
			break;
		tmp[k++] = (uint32_t)v;
		p = end;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\n')
			break;
	}
	*out = arena_alloc(a, k * sizeof(uint32_t) + 1);
	memcpy(*out, tmp, k * sizeof(uint32_t));
	*n = k;
}

static int read_creds(struct dump *d, pid_t pid, pid_t tid, Ckpt__Creds **out)
{
	_cleanup_free_ char *st = NULL;
	Ckpt__Creds *c = arena_alloc(&d->m.arena, sizeof(*c));
	char path[64];
	const char *p;
	int r;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/status", pid);
	r = read_text(path, &st, NULL);
	if (r < 0)
		return fail(d->ctx, r, "pid %d: reading %s: %s", pid, path, strerror(-r));
	ckpt__creds__init(c);
	parse_ids(&d->m.arena, st, "Uid", &c->uid, &c->n_uid);
	parse_ids(&d->m.arena, st, "Gid", &c->gid, &c->n_gid);
	parse_ids(&d->m.arena, st, "Groups", &c->groups, &c->n_groups);
	if (c->n_uid != 4 || c->n_gid != 4)
		return fail(d->ctx, -EINVAL, "pid %d: cannot parse Uid/Gid of %s", pid, path);
	c->cap_inh = parse_hex_field(st, "CapInh");
	c->cap_prm = parse_hex_field(st, "CapPrm");
	c->cap_eff = parse_hex_field(st, "CapEff");
	c->cap_bnd = parse_hex_field(st, "CapBnd");
	c->cap_amb = parse_hex_field(st, "CapAmb");
	p = status_field(st, "NoNewPrivs");
	c->no_new_privs = p && *p == '1';
	*out = c;
	return 0;
}

int dump_read_remote(struct dump *d, struct dproc *dp, uint64_t addr, void *buf, size_t len)
{
	ssize_t n = pread(dp->memfd, buf, len, (off_t)addr);

	if (n != (ssize_t)len)
		return fail(d->ctx, -EIO, "pid %d: reading scratch memory: %s", dp->pid,
			    n < 0 ? strerror(errno) : "short read");
	return 0;
}

#define RSYS(rm, ret, nr, ...) remote_syscall(rm, ret, nr, __VA_ARGS__)

/*
 * Signals whose action may differ from the default: those caught or
 * ignored, and SIGCHLD, whose SA_NOCLDSTOP/SA_NOCLDWAIT matter even with
 * the default action. Only these are asked about, inside the process.
 */
static uint64_t handled_signals(const struct dproc *dp)
{
	_cleanup_free_ char *st = NULL;
	char path[96];
	uint64_t set = 1ULL << (SIGCHLD - 1);

	snprintf(path, sizeof(path), "%s/status", dp->dir);
	if (read_text(path, &st, NULL) < 0)
		return ~0ULL; /* ask about every signal */
	return set | parse_hex_field(st, "SigCgt") | parse_hex_field(st, "SigIgn");
}

/* rlimits from /proc/PID/limits: one line per resource, in RLIMIT_* order. */
static int read_rlimits(struct dump *d, struct dproc *dp)
{
	_cleanup_free_ char *text = NULL;
	Ckpt__Process *p = dp->p;
	char path[96], *line;
	int r;

	snprintf(path, sizeof(path), "%s/limits", dp->dir);
	r = read_text(path, &text, NULL);
	if (r < 0)
		return fail(d->ctx, r, "pid %d: reading %s: %s", dp->pid, path, strerror(-r));
	p->rlimits = arena_alloc(&d->m.arena, NR_RLIMITS * sizeof(*p->rlimits));
	line = strchr(text, '\n'); /* past the header */
	for (uint32_t res = 0; res < NR_RLIMITS && line; res++) {
		char soft[32], hard[32];
		Ckpt__Rlimit *rl;

		line++;
		if (strlen(line) < 26 || sscanf(line + 25, "%31s %31s", soft, hard) != 2)
			return fail(d->ctx, -EINVAL, "pid %d: cannot parse %s", dp->pid, path);
		rl = arena_alloc(&d->m.arena, sizeof(*rl));
		ckpt__rlimit__init(rl);
		rl->resource = res;
		rl->cur = strcmp(soft, "unlimited") ? strtoull(soft, NULL, 10) : UINT64_MAX;
		rl->max = strcmp(hard, "unlimited") ? strtoull(hard, NULL, 10) : UINT64_MAX;
		p->rlimits[p->n_rlimits++] = rl;
		line = strchr(line, '\n');
	}
	if (p->n_rlimits != NR_RLIMITS)
		return fail(d->ctx, -EINVAL, "pid %d: %s has %zu limits", dp->pid, path, p->n_rlimits);
	return 0;
}

/* State only the process can tell: handlers, brk, a few prctls, its timers. */
static int remote_process_state(struct dump *d, struct dproc *dp, struct remote *rm, uint64_t scratch)
{
	Ckpt__Process *p = dp->p;
	struct arena *a = &d->m.arena;
	long ret;
	int r;

	uint64_t set = handled_signals(dp);

	p->sigactions = arena_alloc(a, 64 * sizeof(*p->sigactions));
	for (int sig = 1; sig <= 64; sig++) {
		struct kernel_sigaction ks;
		Ckpt__SigAction *sa;

		if (sig == SIGKILL || sig == SIGSTOP || !(set & (1ULL << (sig - 1))))
			continue;
		r = RSYS(rm, &ret, SYS_rt_sigaction, (uint64_t)sig, 0, scratch, 8, 0, 0);
		if (r < 0)
			return r;
		if (ret < 0)
			return fail(d->ctx, (int)ret, "pid %d: rt_sigaction(%d): %s", dp->pid, sig, strerror((int)-ret));
		r = dump_read_remote(d, dp, scratch, &ks, sizeof(ks));
		if (r < 0)
			return r;
		if (!ks.handler && !ks.flags && !ks.mask && !ks.restorer)
			continue; /* SIG_DFL, nothing to restore */
		sa = arena_alloc(a, sizeof(*sa));
		ckpt__sig_action__init(sa);
		sa->sig = (uint32_t)sig;
		sa->handler = ks.handler;
		sa->flags = ks.flags;
		sa->restorer = ks.restorer;
		sa->mask = ks.mask;
		p->sigactions[p->n_sigactions++] = sa;
	}
	r = RSYS(rm, &ret, SYS_brk, 0, 0, 0, 0, 0, 0);
	if (r < 0)
		return r;
	p->mm->brk = (uint64_t)ret;
	r = read_rlimits(d, dp);
	if (r < 0)
		return r;
	r = RSYS(rm, &ret, SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0, 0);
	if (r < 0)
		return r;
	p->creds->securebits = ret < 0 ? 0 : (uint32_t)ret;
	r = RSYS(rm, &ret, SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0, 0);
	if (r < 0)
		return r;
	p->dumpable = ret < 0 ? 1 : (uint32_t)ret;
	r = RSYS(rm, &ret, SYS_prctl, PR_GET_PDEATHSIG, scratch, 0, 0, 0, 0);
	if (r < 0 || (r = dump_read_remote(d, dp, scratch, &p->pdeath_signal, 4)) < 0)
		return r;
	r = RSYS(rm, &ret, SYS_prctl, PR_GET_CHILD_SUBREAPER, scratch, 0, 0, 0, 0);
	if (r < 0 || (r = dump_read_remote(d, dp, scratch, &p->child_subreaper, 4)) < 0)
		return r;
	p->has_child_subreaper = true;
	r = RSYS(rm, &ret, SYS_prctl, PR_GET_THP_DISABLE, 0, 0, 0, 0, 0);
	if (r < 0)
		return r;
	p->has_thp_disable = ret > 0;
	p->thp_disable = ret > 0 ? (uint32_t)ret : 0;
	/* Kernels before 6.3 have no memory-deny-write-execute: EINVAL. */
	r = RSYS(rm, &ret, SYS_prctl, PR_GET_MDWE, 0, 0, 0, 0, 0);
	if (r < 0)
		return r;
	p->has_mdwe = ret > 0;
	p->mdwe = ret > 0 ? (uint32_t)ret : 0;
	return dump_timers(d, dp, rm, scratch);
}

static int remote_thread_state(struct dump *d, struct dproc *dp, struct remote *rm, uint64_t scratch,
			       Ckpt__Thread *t)
{
	struct {
		uint64_t sp;
		int32_t flags;
		int32_t pad;
		uint64_t size;
	} ss;
	long ret;
	int r;

	r = RSYS(rm, &ret, SYS_prctl, PR_GET_TID_ADDRESS, scratch, 0, 0, 0, 0);
	if (r < 0)
		return r;
	if (ret == 0 && (r = dump_read_remote(d, dp, scratch, &t->clear_child_tid, 8)) < 0)
		return r;
	r = RSYS(rm, &ret, SYS_sigaltstack, 0, scratch, 0, 0, 0, 0);
	if (r < 0)
		return r;
	if (ret < 0)
		return fail(d->ctx, (int)ret, "tid %d: sigaltstack: %s", t->tid, strerror((int)-ret));
	r = dump_read_remote(d, dp, scratch, &ss, sizeof(ss));
	if (r < 0)
		return r;
	t->altstack_sp = ss.sp;
	t->altstack_flags = (uint32_t)ss.flags;
	t->altstack_size = ss.size;
	return 0;
}

static int peek_siginfo(struct dump *d, pid_t tid, bool shared, uint8_t ***out, size_t *n)
{
	uint8_t si[128 * 32];
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	for (uint64_t off = 0;; ) {
		struct {
			uint64_t off;
			uint32_t flags;
			int32_t nr;
		} args = { off, shared ? 1u : 0u, 32 };
		long got = ptrace(PTRACE_PEEKSIGINFO, tid, &args, si);

		if (got < 0)
			return fail(d->ctx, -errno, "tid %d: PTRACE_PEEKSIGINFO: %s", tid, strerror(errno));
		if (got == 0)
			return 0;
		for (long i = 0; i < got; i++) {
			uint8_t *copy = arena_alloc(&d->m.arena, 128);

			memcpy(copy, si + i * 128, 128);
			*(uint8_t **)array_push(out, n, &cap, sizeof(uint8_t *)) = copy;
		}
		off += (uint64_t)got;
	}
}

/* The thread's seccomp mode and filters, oldest first. */
static int dump_seccomp(struct dump *d, struct dproc *dp, Ckpt__Thread *t)
{
	_cleanup_free_ char *st = NULL;
	char path[96];
	const char *p;
	long n;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/task/%u/status", dp->pid, t->tid);
	r = read_text(path, &st, NULL);
	if (r < 0)
		return fail(d->ctx, r, "tid %u: reading %s: %s", t->tid, path, strerror(-r));
	p = status_field(st, "Seccomp");
	t->has_seccomp_mode = true;
	t->seccomp_mode = p ? (uint32_t)atoi(p) : 0;
	if (t->seccomp_mode != 2)
		return 0;
	p = status_field(st, "Seccomp_filters");
	n = p ? atol(p) : 0;
	if (n <= 0 || n > 1024)
		return fail(d->ctx, -EINVAL, "tid %u: %ld seccomp filters", t->tid, n);
	t->seccomp_filters = arena_alloc(&d->m.arena, (size_t)n * sizeof(*t->seccomp_filters));
	t->n_seccomp_filters = (size_t)n;
	for (long i = 0; i < n; i++) {
		/* Index 0 is the newest filter. */
		Ckpt__SeccompFilter *f = arena_alloc(&d->m.arena, sizeof(*f));
		struct __ptrace_seccomp_metadata md = { .filter_off = (uint64_t)i };
		long len = ptrace(PTRACE_SECCOMP_GET_FILTER, t->tid, i, NULL);

		ckpt__seccomp_filter__init(f);
		if (len <= 0 || len > 4096)
			return fail(d->ctx, len < 0 ? -errno : -EINVAL, "tid %u: seccomp filter %ld: %s", t->tid, i,
				    len < 0 ? strerror(errno) : "bad length");
		f->prog.len = (size_t)len * 8;
		f->prog.data = arena_alloc(&d->m.arena, f->prog.len);
		if (ptrace(PTRACE_SECCOMP_GET_FILTER, t->tid, i, f->prog.data) != len)
			return fail(d->ctx, -errno, "tid %u: reading seccomp filter %ld: %s", t->tid, i, strerror(errno));
		if (ptrace(PTRACE_SECCOMP_GET_METADATA, t->tid, sizeof(md), &md) > 0)
			f->flags = md.flags;
		t->seccomp_filters[n - 1 - i] = f;
	}
	return 0;
}

static int dump_thread_regs(struct dump *d, struct dproc *dp, Ckpt__Thread *t)
{
	struct arena *a = &d->m.arena;
	pid_t tid = (pid_t)t->tid;
	struct user_regs_struct *regs = arena_alloc(a, sizeof(*regs));
	uint8_t *xs = arena_alloc(a, 64 * 1024);
	struct iovec iov = { xs, 64 * 1024 };
	struct ckpt_rseq_config rc = { 0 };
	uint64_t head = 0;
	size_t len = 0;
	char path[96];
	_cleanup_free_ char *comm = NULL;
	_cleanup_free_ uint8_t **pend = NULL;
	size_t npend;
	int r;

	if (ptrace(PTRACE_GETREGS, tid, 0, regs) < 0)
		return fail(d->ctx, -errno, "tid %d: PTRACE_GETREGS: %s", tid, strerror(errno));
	pr_debug(d->ctx, "tid %d: rip 0x%llx rsp 0x%llx rax 0x%llx orig 0x%llx", tid, regs->rip, regs->rsp, regs->rax, regs->orig_rax);
	t->gpregs.data = (uint8_t *)regs;
	t->gpregs.len = sizeof(*regs);
	if (ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov) < 0)
		return fail(d->ctx, -errno, "tid %d: reading the XSAVE area: %s", tid, strerror(errno));
	t->xsave.data = xs;
	t->xsave.len = iov.iov_len;
	r = thread_saved_sigmask(d->ctx, tid, regs, &t->sigmask);
	if (r == 0 && ptrace(PTRACE_GETREGS, tid, 0, regs) < 0)
		return fail(d->ctx, -errno, "tid %d: PTRACE_GETREGS: %s", tid, strerror(errno));
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == -ENOENT && ptrace(PTRACE_GETSIGMASK, tid, sizeof(uint64_t), &t->sigmask) < 0)
		return fail(d->ctx, -errno, "tid %d: PTRACE_GETSIGMASK: %s", tid, strerror(errno));
	pr_debug(d->ctx, "tid %d: signal mask 0x%llx%s", tid, (unsigned long long)t->sigmask,
		 r == 0 ? " (from before its sigsuspend-like call)" : "");
	if (syscall(SYS_get_robust_list, tid, &head, &len) < 0)
		return fail(d->ctx, -errno, "tid %d: get_robust_list: %s", tid, strerror(errno));
	t->robust_list = head;
	t->robust_list_len = len;
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, sizeof(rc), &rc) > 0 && rc.rseq_abi_pointer) {
		t->has_rseq = t->has_rseq_len = t->has_rseq_sig = true;
		t->rseq = rc.rseq_abi_pointer;
		t->rseq_len = rc.rseq_abi_size;
		t->rseq_sig = rc.signature;
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", dp->pid, tid);
	r = read_text(path, &comm, NULL);
	if (r < 0)
		return fail(d->ctx, r, "tid %d: reading comm: %s", tid, strerror(-r));
	comm[strcspn(comm, "\n")] = 0;
	t->comm = arena_strdup(a, comm);
	r = peek_siginfo(d, tid, false, &pend, &npend);
	if (r < 0)
		return r;
	t->n_sigpending = npend;
	t->sigpending = arena_alloc(a, npend * sizeof(ProtobufCBinaryData) + 1);
	for (size_t i = 0; i < npend; i++) {
		t->sigpending[i].data = pend[i];
		t->sigpending[i].len = 128;
	}
	r = dump_seccomp(d, dp, t);
	return r < 0 ? r : read_creds(d, dp->pid, tid, &t->creds);
}

/* Without CAP_SYS_ADMIN seccomp stays in force while traced: our calls could kill the target. */
static int check_seccomp_suspended(struct dump *d, struct dproc *dp)
{
	if (have_cap(CAP_SYS_ADMIN))
		return 0;
	for (size_t i = 0; i < dp->nr_tids; i++) {
		_cleanup_free_ char *st = NULL;
		char path[96];
		const char *p;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", dp->pid, dp->tids[i]);
		if (read_text(path, &st, NULL) == 0 && (p = status_field(st, "Seccomp")) && *p != '0')
			return fail(d->ctx, -EPERM, "tid %d: runs under seccomp; dumping it needs CAP_SYS_ADMIN",
				    dp->tids[i]);
	}
	return 0;
}

static int read_int_file(const char *dir, const char *name, long long *v, int base)
{
	_cleanup_free_ char *text = NULL;
	char path[96];
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	r = read_text(path, &text, NULL);
	if (r < 0)
		return r;
	*v = strtoll(text, NULL, base);
	return 0;
}

/*
 * Nice value, scheduling policy, CPU affinity, I/O priority and timer
 * slack belong to each thread: a worker pinned to a CPU of its own must
 * come back pinned there.
 */
static int thread_sched(struct dump *d, struct dproc *dp, Ckpt__Thread *t)
{
	struct ckpt_sched_attr sa = { .size = sizeof(sa) };
	cpu_set_t set;
	long long f[42], slack;
	char state, dir[64];
	long io;
	int r = parse_stat(dp->pid, (pid_t)t->tid, &state, f, 42);

	if (r < 0)
		return fail(d->ctx, r, "pid %d tid %u: reading stat: %s", dp->pid, t->tid, strerror(-r));
	t->has_nice = t->has_sched_policy = t->has_sched_priority = true;
	t->nice = (int32_t)f[19];
	t->sched_priority = (uint32_t)f[40];
	t->sched_policy = (uint32_t)f[41];
	/* The rest of its scheduling: SCHED_DEADLINE's parameters, reset-on-fork, clamps. */
	if (syscall(SYS_sched_getattr, (pid_t)t->tid, &sa, sizeof(sa), 0) == 0) {
		t->sched_policy = sa.sched_policy;
		t->sched_priority = sa.sched_priority;
		t->has_sched_flags = t->has_dl_runtime = t->has_dl_deadline = t->has_dl_period = true;
		t->has_util_min = t->has_util_max = true;
		t->sched_flags = sa.sched_flags;
		t->dl_runtime = sa.sched_runtime;
		t->dl_deadline = sa.sched_deadline;
		t->dl_period = sa.sched_period;
		t->util_min = sa.sched_util_min;
		t->util_max = sa.sched_util_max;
	}
	if (sched_getaffinity((pid_t)t->tid, sizeof(set), &set) == 0) {
		t->has_cpu_affinity = true;
		t->cpu_affinity.data = arena_alloc(&d->m.arena, sizeof(set));
		memcpy(t->cpu_affinity.data, &set, sizeof(set));
		t->cpu_affinity.len = sizeof(set);
	}
	/* An I/O priority only if one was set: class NONE follows the nice value. */
	io = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, (int)t->tid);
	if (io > 0 && IOPRIO_PRIO_CLASS(io) != IOPRIO_CLASS_NONE) {
		t->has_ioprio = true;
		t->ioprio = (uint32_t)io;
	}
	/* Only /proc/PID has it; a thread's tid there names the thread. */
	snprintf(dir, sizeof(dir), "/proc/%u", t->tid);
	if (read_int_file(dir, "timerslack_ns", &slack, 10) == 0 && slack > 0) {
		t->has_timer_slack_ns = true;
		t->timer_slack_ns = (uint64_t)slack;
	}
	return 0;
}

static long vmlck_kb(const struct dproc *dp)
{
	_cleanup_free_ char *st = NULL;
	char path[64];
	const char *v;

	snprintf(path, sizeof(path), "%s/status", dp->dir);
	if (read_text(path, &st, NULL) < 0 || !(v = status_field(st, "VmLck")))
		return -1;
	return strtol(v, NULL, 10);
}

/*
 * mlockall(MCL_FUTURE) shows only in what it does to new mappings: the
 * scratch page just mapped is locked (VmLck grew), and, without
 * MCL_ONFAULT, already faulted in (pagemap).
 */
static void mlock_future(struct dproc *dp, uint64_t scratch, long vmlck_before)
{
	long after = vmlck_kb(dp);
	uint64_t ent = 0;
	char path[64];
	int fd;

	if (vmlck_before < 0 || after <= vmlck_before)
		return;
	dp->p->has_mlockall = true;
	dp->p->mlockall = MCL_FUTURE;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", dp->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && pread(fd, &ent, sizeof(ent), (off_t)(scratch / PAGE_SIZE * 8)) == sizeof(ent) &&
	    !(ent >> 63))
		dp->p->mlockall |= MCL_ONFAULT;
	if (fd >= 0)
		close(fd);
}

static int collect_threads(struct dump *d, struct dproc *dp)
{
	uint64_t scratch = 0;
	struct remote rm;
	long ret, vmlck;
	int r, r2;

	r = check_seccomp_suspended(d, dp);
	if (r < 0)
		return r;
	r = find_syscall_insn(d->ctx, dp->dir, dp->pid, &dp->syscall_ip);
	if (r < 0)
		return r;
	r = remote_begin(&rm, d->ctx, dp->live, dp->syscall_ip);
	if (r < 0)
		return r;
	vmlck = vmlck_kb(dp);
	r = RSYS(&rm, &ret, SYS_mmap, 0, SCRATCH_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0);
	if (r == 0 && (unsigned long)ret > -4096UL)
		r = fail(d->ctx, (int)ret, "pid %d: cannot map scratch memory: %s", dp->pid, strerror((int)-ret));
	if (r == 0) {
		scratch = (uint64_t)ret;
		mlock_future(dp, scratch, vmlck);
		r = remote_process_state(d, dp, &rm, scratch);
	}
	for (size_t i = 0; r == 0 && i < dp->nr_tids; i++) {
		Ckpt__Thread *t = arena_alloc(&d->m.arena, sizeof(*t));
		struct remote trm;

		ckpt__thread__init(t);
		t->pid = (uint32_t)dp->pid;
		t->tid = (uint32_t)dp->tids[i];
		if (i == 0) {
			r = remote_thread_state(d, dp, &rm, scratch, t);
		} else {
			r = remote_begin(&trm, d->ctx, dp->tids[i], dp->syscall_ip);
			if (r == 0)
				r = remote_thread_state(d, dp, &trm, scratch, t);
			r2 = remote_end(&trm);
			r = r ? r : r2;
		}
		if (r == 0)
			r = thread_sched(d, dp, t);
		if (r == 0)
			LIST_PUSH(&d->m.threads, t);
	}
	if (scratch) {
		r2 = RSYS(&rm, &ret, SYS_munmap, scratch, SCRATCH_SIZE, 0, 0, 0, 0);
		r = r ? r : r2;
	}
	r2 = remote_end(&rm);
	r = r ? r : r2;
	/* Registers only now: every thread is back in its own state. */
	for (size_t i = d->m.threads.n - dp->nr_tids; r == 0 && i < d->m.threads.n; i++)
		r = dump_thread_regs(d, dp, d->m.threads.v[i]);
	return r;
}

static int dump_mm_info(struct dump *d, struct dproc *dp, const long long *f)
{
	Ckpt__MmInfo *mm = arena_alloc(&d->m.arena, sizeof(*mm));
	_cleanup_free_ char *auxv = NULL;
	char path[64];
	size_t len;
	int r;

	ckpt__mm_info__init(mm);
	mm->start_code = (uint64_t)f[26];
	mm->end_code = (uint64_t)f[27];
	mm->start_stack = (uint64_t)f[28];
	mm->start_data = (uint64_t)f[45];
	mm->end_data = (uint64_t)f[46];
	mm->start_brk = (uint64_t)f[47];
	mm->arg_start = (uint64_t)f[48];
	mm->arg_end = (uint64_t)f[49];
	mm->env_start = (uint64_t)f[50];
	mm->env_end = (uint64_t)f[51];
	snprintf(path, sizeof(path), "%s/auxv", dp->dir);
	r = read_text(path, &auxv, &len);
	if (r < 0)
		return fail(d->ctx, r, "pid %d: reading auxv: %s", dp->pid, strerror(-r));
	mm->auxv.data = arena_alloc(&d->m.arena, len + 1);
	memcpy(mm->auxv.data, auxv, len);
	mm->auxv.len = len;
	dp->p->mm = mm;
	return dump_path_file(d, dp, "exe", &mm->exe_file_id);
}

/* PR_SET_MEMORY_MERGE (6.4) shows in ksm_stat only. */
static bool ksm_merge_any(const char *dir)
{
	_cleanup_free_ char *text = NULL;
	char path[64];
	const char *v;

	snprintf(path, sizeof(path), "%s/ksm_stat", dir);
	return read_text(path, &text, NULL) == 0 && (v = strstr(text, "ksm_merge_any: ")) && !strncmp(v + 15, "yes", 3);
}

static int dump_settings(struct dump *d, struct dproc *dp)
{
	Ckpt__Process *p = dp->p;
	_cleanup_free_ char *st = NULL;
	cpu_set_t set;
	char path[64];
	const char *u;
	long long v;
	int r;

	snprintf(path, sizeof(path), "%s/status", dp->dir);
	r = read_text(path, &st, NULL);
	if (r < 0)
		return fail(d->ctx, r, "pid %d: reading status: %s", dp->pid, strerror(-r));
	u = status_field(st, "Umask");
	p->umask = u ? (uint32_t)strtoul(u, NULL, 8) : 022;
	if (read_int_file(dp->dir, "personality", &v, 16) == 0)
		p->personality = (uint32_t)v;
	if (read_int_file(dp->dir, "oom_score_adj", &v, 10) == 0)
		p->oom_score_adj = (int32_t)v;
	if (ksm_merge_any(dp->dir))
		p->has_ksm_merge_any = p->ksm_merge_any = true;
	if (read_int_file(dp->dir, "coredump_filter", &v, 16) == 0) {
		p->has_coredump_filter = true;
		p->coredump_filter = (uint32_t)v;
	}
	if (sched_getaffinity(dp->live, sizeof(set), &set) == 0) {
		p->cpu_affinity.data = arena_alloc(&d->m.arena, sizeof(set));
		memcpy(p->cpu_affinity.data, &set, sizeof(set));
		p->cpu_affinity.len = sizeof(set);
	}
	r = dump_path_file(d, dp, "cwd", &p->cwd_file_id);
	return r < 0 ? r : dump_path_file(d, dp, "root", &p->root_file_id);
}

/*
 * A process in a namespace other than ckpt's would come back in ckpt's:
 * another hostname, other mounts and files at its paths, other pids, other
 * ids and network. Namespaces are not saved yet, so such a tree is
 * refused now rather than restored wrong. (IPC namespaces: ipc_sysv.c.)
 */
static int check_namespaces(struct dump *d, const struct dproc *dp)
{
	static const struct {
		const char *name, *what;
	} ns[] = {
		{ "mnt", "mount namespace" }, { "uts", "UTS namespace (hostname)" }, { "pid", "PID namespace" },
		{ "pid_for_children", "PID namespace for its children (unshare(CLONE_NEWPID))" },
		{ "user", "user namespace" }, { "net", "network namespace" }, { "cgroup", "cgroup namespace" },
		{ "time", "time namespace" }, { "time_for_children", "time namespace for its children" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		struct stat self, st;
		char path[96];

		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i].name);
		if (stat(path, &self) < 0)
			continue; /* a kernel without that kind */
		snprintf(path, sizeof(path), "%s/ns/%s", dp->dir, ns[i].name);
		if (stat(path, &st) == 0 && (st.st_ino != self.st_ino || st.st_dev != self.st_dev))
			return fail(d->ctx, -EOPNOTSUPP,
				    "pid %d: its %s is not ckpt's; namespaces are not supported yet",
				    dp->pid, ns[i].what);
	}
	return 0;
}

int dump_process(struct dump *d, struct dproc *dp)
{
	Ckpt__Process *p = arena_alloc(&d->m.arena, sizeof(*p));
	_cleanup_free_ char *comm = NULL;
	_cleanup_free_ uint8_t **pend = NULL;
	long long f[53];
	char state, path[96];
	size_t npend;
	int r;

	ckpt__process__init(p);
	dp->p = p;
	r = parse_stat(dp->pid, 0, &state, f, 53);
	if (r == 0 && dp->leader_dead) {
		/* A dead leader has no mm: those fields come from a live thread. */
		static const int mm_fields[] = { 26, 27, 28, 45, 46, 47, 48, 49, 50, 51 };
		long long ft[53];

		r = parse_stat(dp->pid, dp->live, &state, ft, 53);
		for (size_t i = 0; i < ARRAY_SIZE(mm_fields); i++)
			f[mm_fields[i]] = ft[mm_fields[i]];
	}
	if (r < 0)
		return fail(d->ctx, r, "pid %d: reading stat: %s", dp->pid, strerror(-r));
	p->pid = (uint32_t)dp->pid;
	p->ppid = dp->pid == d->opts->pid ? 0 : (uint32_t)f[4];
	p->pgid = (uint32_t)f[5];
	p->sid = (uint32_t)f[6];
	p->nice = (int32_t)f[19];
	p->sched_priority = (uint32_t)f[40];
	p->sched_policy = (uint32_t)f[41];
	p->exit_signal = (uint32_t)f[38];
	p->fd_table_id = (uint64_t)dp->pid;
	snprintf(path, sizeof(path), "/proc/%d/comm", dp->pid);
	if (read_text(path, &comm, NULL) == 0)
		comm[strcspn(comm, "\n")] = 0;
	p->comm = arena_strdup(&d->m.arena, comm);
	r = read_creds(d, dp->pid, dp->leader_dead ? dp->live : 0, &p->creds);
	if (r < 0)
		return r;
	LIST_PUSH(&d->m.procs, p);
	if (dp->zombie) {
		p->state = 1;
		p->has_exit_code = true;
		p->exit_code = (uint32_t)f[52];
		p->cpu_affinity.len = 0;
		return 0;
	}
	r = check_namespaces(d, dp);
	if (r < 0)
		return r;
	p->state = dp->state == SEIZED_STOPPED ? 2 : 0;
	p->nr_threads = (uint32_t)dp->nr_tids;
	p->has_leader_exited = dp->leader_dead;
	p->leader_exited = dp->leader_dead;
	snprintf(path, sizeof(path), "%s/mem", dp->dir);
	dp->memfd = open(path, O_RDONLY | O_CLOEXEC);
	if (dp->memfd < 0)
		return fail(d->ctx, -errno, "pid %d: open %s: %s", dp->pid, path, strerror(errno));
	r = dump_mm_info(d, dp, f);
	if (r == 0)
		r = dump_settings(d, dp);
	if (r == 0)
		r = collect_threads(d, dp);
	if (r < 0)
		return r;
	r = peek_siginfo(d, dp->live, true, &pend, &npend);
	if (r < 0)
		return r;
	p->n_shared_sigpending = npend;
	p->shared_sigpending = arena_alloc(&d->m.arena, npend * sizeof(ProtobufCBinaryData) + 1);
	for (size_t i = 0; i < npend; i++) {
		p->shared_sigpending[i].data = pend[i];
		p->shared_sigpending[i].len = 128;
	}
	return 0;
}
