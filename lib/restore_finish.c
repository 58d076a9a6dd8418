// SPDX-License-Identifier: MIT
/*
 * The last step of restore, done from outside through ptrace: every thread
 * is parked in the restorer; we stop it, give it its registers, FPU state
 * and signal mask, unmap the restorer block, and let it go.
 */
#include <fcntl.h>
#include <linux/ioprio.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "compat.h"
#include "ipc.h"
#include "locks.h"
#include "ptrace.h"
#include "res/res.h"
#include "restore.h"

/*
 * A thread dumped inside a system call has orig_rax = the call and rax =
 * -ERESTART*: it was stopped on the kernel's signal path. We give it those
 * registers back while it is stopped on that same path (an interrupt stop),
 * so the kernel decides as it would have: a signal that comes first makes
 * the call fail with EINTR (or restart, per SA_RESTART), none restarts it.
 * A restart_block call (nanosleep and friends) then runs restart_syscall
 * with nothing to continue, which returns EINTR. Except poll() without a
 * timeout: it uses restart_block too, but running it again with the same
 * arguments is all its restart would do, so it restarts as the others do
 * (programs such as script(1) take an EINTR from poll for the end).
 */

static int interrupt(struct ckpt_ctx *ctx, pid_t tid)
{
	int status, r;

	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0)
		return fail(ctx, -errno, "tid %d: PTRACE_INTERRUPT: %s", tid, strerror(errno));
	for (;;) {
		r = thread_wait_stop(tid, &status);
		if (r < 0)
			return fail(ctx, r, "tid %d: waiting for it to stop: %s", tid, strerror(-r));
		if (!WIFSTOPPED(status))
			return fail(ctx, -ESRCH, "tid %d: died while restoring (status 0x%x)", tid, status);
		if ((status >> 16) == PTRACE_EVENT_STOP)
			return 0;
		/* A signal came: keep it pending for later, it is blocked anyway. */
		if (ptrace(PTRACE_CONT, tid, 0, WSTOPSIG(status)) < 0)
			return fail(ctx, -errno, "tid %d: PTRACE_CONT: %s", tid, strerror(errno));
	}
}

static int find_block(struct ckpt_ctx *ctx, pid_t pid, pid_t tid, uint64_t ip, uint64_t *start, uint64_t *end)
{
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/maps", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return fail(ctx, -errno, "pid %d: %s: %s", pid, path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;

		if (sscanf(line, "%llx-%llx", &s, &e) == 2 && ip >= s && ip < e) {
			*start = s;
			*end = e;
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	return fail(ctx, -EFAULT, "pid %d: restorer block not found", pid);
}

/* A leader that had exited in the image exits again; it must be out of the block first. */
static int wait_leader_exit(struct restore *rs, pid_t pid)
{
	for (int i = 0; i < 5000; i++) {
		char path[64], *text = NULL, *p;
		bool gone;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, pid);
		if (read_text(path, &text, NULL) < 0)
			return 0;
		p = strrchr(text, ')');
		gone = p && (p[2] == 'Z' || p[2] == 'X');
		free(text);
		if (gone)
			return 0;
		usleep(1000);
	}
	return fail(rs->ctx, -ETIMEDOUT, "pid %d: its main thread did not exit", pid);
}

static int unmap_block(struct restore *rs, struct rproc *rp)
{
	pid_t pid = (pid_t)rp->p->pid, tid = (pid_t)rp->threads[0]->tid;
	struct user_regs_struct regs;
	struct remote rm;
	uint64_t s = 0, e = 0;
	long ret;
	int r, r2;

	if (rp->p->leader_exited && (r = wait_leader_exit(rs, pid)) < 0)
		return r;
	if (ptrace(PTRACE_GETREGS, tid, 0, &regs) < 0)
		return fail(rs->ctx, -errno, "tid %d: PTRACE_GETREGS: %s", tid, strerror(errno));
	r = find_block(rs->ctx, pid, tid, regs.rip, &s, &e);
	if (r < 0)
		return r;
	r = remote_begin(&rm, rs->ctx, tid, s + RST_SYSCALL_OFFSET);
	if (r < 0)
		return r;
	/*
	 * The restorer may have been stopped between its last report and closing
	 * the pipe; one whose fd table is shared left all of ckpt's fds open.
	 */
	r = remote_syscall(&rm, &ret, SYS_close_range, (uint64_t)rs->ctl_lo, ~0U, 0, 0, 0, 0);
	/* Now that ckpt's copies of the files are closed: closing one would drop them. */
	if (r == 0)
		r = locks_take_process(rs->ctx, &rm, &rs->m, rp->p, rp->fds, rp->nr_fds);
	/* Now that no descriptor of ckpt's is left to close, which would undo them. */
	if (r == 0)
		r = mqueue_restore_notify(rs, rp, &rm);
	if (r == 0 && (rp->p->n_itimers || rp->p->n_posix_timers))
		r = restore_timers(rs, rp, &rm);
	/* New mappings locked from now on, as they were (mlockall(MCL_FUTURE)). */
	if (r == 0 && rp->p->has_mlockall)
		r = remote_syscall(&rm, &ret, SYS_mlockall, rp->p->mlockall, 0, 0, 0, 0, 0);
	if (r == 0 && rp->p->has_mlockall && ret < 0)
		r = fail(rs->ctx, (int)ret, "pid %d: mlockall 0x%x: %s", pid, rp->p->mlockall, strerror((int)-ret));
	/*
	 * Once the memory is rebuilt: from now on the process may not make
	 * memory executable, which the restore did. (Before the unmap: these
	 * calls run on the restorer's syscall instruction.)
	 */
	if (r == 0 && rp->p->has_mdwe)
		r = remote_syscall(&rm, &ret, SYS_prctl, PR_SET_MDWE, rp->p->mdwe, 0, 0, 0, 0);
	if (r == 0 && rp->p->has_mdwe && ret < 0)
		r = fail(rs->ctx, (int)ret, "pid %d: memory-deny-write-execute 0x%x: %s", pid, rp->p->mdwe,
			 strerror((int)-ret));
	if (r == 0)
		r = remote_syscall(&rm, &ret, SYS_munmap, s, e - s, 0, 0, 0, 0);
	if (r == 0 && ret < 0)
		r = fail(rs->ctx, (int)ret, "pid %d: unmapping the restorer: %s", pid, strerror((int)-ret));
	/* Back to an interrupt stop, on the signal path, for the final registers. */
	r2 = remote_end(&rm);
	return r ? r : r2;
}

static int set_timer_slack(struct restore *rs, const Ckpt__Thread *t)
{
	char path[64], val[32];
	int fd, n, ok;

	snprintf(path, sizeof(path), "/proc/%u/timerslack_ns", t->tid); /* the thread's, by its tid */
	n = snprintf(val, sizeof(val), "%llu", (unsigned long long)t->timer_slack_ns);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ok = fd >= 0 && write(fd, val, (size_t)n) == n;
	if (!ok)
		pr_warn(rs->ctx, "tid %u: timer slack %s ns cannot be set (%s); it keeps its creator's", t->tid, val,
			strerror(errno));
	if (fd >= 0)
		close(fd);
	return 0;
}

#define SCHED_UTIL_CLAMP_ (0x20 | 0x40) /* SCHED_FLAG_UTIL_CLAMP_MIN | _MAX */

/*
 * Policy, priority, nice, flags (reset-on-fork), SCHED_DEADLINE's
 * parameters and utilization clamps, in one call. For the other policies
 * sched_getattr shows the fair scheduler's time slice as the runtime;
 * given back it would become a custom slice, so it is not.
 */
static int set_sched_attr(struct restore *rs, const Ckpt__Thread *t)
{
	bool dl = t->sched_policy == SCHED_DEADLINE;
	struct ckpt_sched_attr sa = {
		.size = sizeof(sa), .sched_policy = t->sched_policy, .sched_flags = t->sched_flags,
		.sched_nice = t->nice, .sched_priority = t->sched_priority, .sched_runtime = dl ? t->dl_runtime : 0,
		.sched_deadline = dl ? t->dl_deadline : 0, .sched_period = dl ? t->dl_period : 0,
		.sched_util_min = t->util_min, .sched_util_max = t->util_max,
	};

	/* Clamps other than the defaults (0, 1024) were set; 0, 0: a kernel without them. */
	if (t->util_max && (t->util_min || t->util_max != 1024))
		sa.sched_flags |= SCHED_UTIL_CLAMP_;
	if (syscall(SYS_sched_setattr, (pid_t)t->tid, &sa, 0) < 0)
		return fail(rs->ctx, -errno, "tid %u: scheduling policy %u flags 0x%llx%s: %s", t->tid, t->sched_policy,
			    (unsigned long long)t->sched_flags,
			    t->sched_policy == SCHED_DEADLINE ? " (SCHED_DEADLINE: is there bandwidth for it here?)" : "",
			    strerror(errno));
	return 0;
}

/*
 * A thread's own scheduling: it came from clone() with its creator's. CPUs
 * the image had may not exist here: keep those then, and say so. The
 * affinity goes first: SCHED_DEADLINE takes only a thread free to run on
 * every CPU of its domain.
 */
static int set_thread_sched(struct restore *rs, const Ckpt__Thread *t)
{
	struct sched_param sp = { .sched_priority = (int)t->sched_priority };
	pid_t tid = (pid_t)t->tid;
	int r = 0;

	if (t->has_nice && setpriority(PRIO_PROCESS, (id_t)tid, t->nice) < 0)
		return fail(rs->ctx, -errno, "tid %d: nice %d: %s", tid, t->nice, strerror(errno));
	if (t->has_cpu_affinity && sched_setaffinity(tid, t->cpu_affinity.len, (cpu_set_t *)t->cpu_affinity.data) < 0)
		pr_warn(rs->ctx, "tid %d: its CPU affinity cannot be set here (%s); it keeps its process's",
			tid, strerror(errno));
	if (t->has_sched_flags)
		r = set_sched_attr(rs, t);
	else if (t->has_sched_policy && sched_setscheduler(tid, (int)t->sched_policy, &sp) < 0)
		r = fail(rs->ctx, -errno, "tid %d: scheduler policy %u: %s", tid, t->sched_policy, strerror(errno));
	if (r == 0 && t->has_ioprio && syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid, (int)t->ioprio) < 0)
		r = fail(rs->ctx, -errno, "tid %d: I/O priority 0x%x: %s", tid, t->ioprio, strerror(errno));
	if (r == 0 && t->has_timer_slack_ns)
		r = set_timer_slack(rs, t);
	return r;
}

static int set_thread_state(struct restore *rs, const Ckpt__Thread *t)
{
	pid_t tid = (pid_t)t->tid;
	struct user_regs_struct regs;
	uint8_t xs[64 * 1024] __attribute__((aligned(64)));
	struct iovec iov = { xs, sizeof(xs) };

	memcpy(&regs, t->gpregs.data, sizeof(regs));
	if (regs.orig_rax == SYS_poll && regs.rax == (uint64_t)-516 /* ERESTART_RESTARTBLOCK */ && (int)regs.rdx < 0)
		regs.rax = (uint64_t)-514; /* ERESTARTNOHAND */
	pr_debug(rs->ctx, "tid %d: rip 0x%llx rsp 0x%llx rax 0x%llx", tid, regs.rip, regs.rsp, regs.rax);
	if (ptrace(PTRACE_SETREGS, tid, 0, &regs) < 0)
		return fail(rs->ctx, -errno, "tid %d: setting registers: %s", tid, strerror(errno));
	/* The kernel wants its own XSAVE size; the image may have another. */
	if (ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov) < 0)
		return fail(rs->ctx, -errno, "tid %d: reading the XSAVE area: %s", tid, strerror(errno));
	memcpy(xs, t->xsave.data, t->xsave.len < iov.iov_len ? t->xsave.len : iov.iov_len);
	if (ptrace(PTRACE_SETREGSET, tid, NT_X86_XSTATE, &iov) < 0)
		return fail(rs->ctx, -errno, "tid %d: setting the XSAVE area: %s", tid, strerror(errno));
	if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(uint64_t), &t->sigmask) < 0)
		return fail(rs->ctx, -errno, "tid %d: setting the signal mask: %s", tid, strerror(errno));
	return set_thread_sched(rs, t);
}

static int finish_process(struct restore *rs, struct rproc *rp)
{
	int r;

	for (size_t i = 0; i < rp->nr_threads; i++) {
		r = interrupt(rs->ctx, (pid_t)rp->threads[i]->tid);
		if (r < 0)
			return r;
	}
	r = unmap_block(rs, rp);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rp->nr_threads; i++) {
		r = set_thread_state(rs, rp->threads[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The kinds' last word on what they opened, before the tree runs (res_ops.finish). */
static int finish_files(struct restore *rs)
{
	for (size_t i = 0; i < rs->m.files.n; i++) {
		const Ckpt__File *f = rs->m.files.v[i];
		const struct res_ops *ops = res_by_kind(f->kind);
		int r;

		if (ops && ops->finish && rs->file_fds[i] >= 0 && (r = ops->finish(rs->ctx, f, rs->file_fds[i])) < 0)
			return r;
	}
	return 0;
}

int finish_tree(struct restore *rs)
{
	int r;

	for (size_t i = 0; i < rs->nr_procs; i++) {
		if (rs->procs[i].p->state == 1)
			continue;
		r = finish_process(rs, &rs->procs[i]);
		if (r < 0)
			return r;
	}
	if (fail_point(rs->ctx, "restore-finish"))
		return fail(rs->ctx, -EIO, "restore: injected failure before the tree runs");
	r = finish_files(rs);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rs->nr_procs; i++) {
		struct rproc *rp = &rs->procs[i];

		/*
		 * Stopped when dumped: queue SIGSTOP while every thread is still
		 * held on its signal path, so the group stops before any user code.
		 */
		if (rp->p->state == 2)
			kill((pid_t)rp->p->pid, SIGSTOP);
		for (size_t k = 0; k < rp->nr_threads; k++)
			thread_detach((pid_t)rp->threads[k]->tid, 0);
	}
	rs->tracing = false;
	return 0;
}
