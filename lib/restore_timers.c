// SPDX-License-Identifier: MIT
/*
 * A process's timers made again (lib/dump_timers.c), by system calls run in
 * it just before it runs, with the time they had left: time spent
 * checkpointed does not count. POSIX timers get their ids back through
 * PR_TIMER_CREATE_RESTORE_IDS (Linux 6.15); on an older kernel a process
 * that had some cannot be restored, and says so.
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include "compat.h"
#include "ptrace.h"
#include "restore.h"

/* The kernel's struct sigevent, as timer_create reads it. */
struct k_sigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};

/* What one timer_create and timer_settime read, written at scratch. */
struct timer_args {
	struct k_sigevent sev;
	int32_t id;
	int32_t pad;
	struct itimerspec its;
};

static int make_posix_timer(struct restore *rs, pid_t pid, struct remote *rm, uint64_t scratch,
			    const Ckpt__PosixTimer *t)
{
	struct timer_args a = {
		.sev = { .value = t->sigev_value, .signo = (int32_t)t->signo, .notify = (int32_t)t->notify,
			 .tid = (int32_t)t->notify_tid },
		.id = t->id,
		.its = { { (time_t)(t->interval_ns / 1000000000), (long)(t->interval_ns % 1000000000) },
			 { (time_t)(t->value_ns / 1000000000), (long)(t->value_ns % 1000000000) } },
	};
	int32_t got = -1;
	long ret;
	int r = remote_mem(rs->ctx, pid, scratch, &a, sizeof(a), true);

	if (r == 0)
		r = remote_syscall(rm, &ret, SYS_timer_create, (uint64_t)(int64_t)t->clock, scratch,
				   scratch + offsetof(struct timer_args, id), 0, 0, 0);
	if (r == 0 && ret < 0)
		r = fail(rs->ctx, (int)ret, "pid %d: POSIX timer %d (clock %d): timer_create: %s", pid, t->id,
			 t->clock, strerror((int)-ret));
	if (r == 0)
		r = remote_mem(rs->ctx, pid, scratch + offsetof(struct timer_args, id), &got, sizeof(got), false);
	if (r == 0 && got != t->id)
		r = fail(rs->ctx, -EEXIST, "pid %d: POSIX timer %d came back as %d", pid, t->id, got);
	if (r == 0 && t->value_ns)
		r = remote_syscall(rm, &ret, SYS_timer_settime, (uint64_t)t->id, 0,
				   scratch + offsetof(struct timer_args, its), 0, 0, 0);
	if (r == 0 && t->value_ns && ret < 0)
		r = fail(rs->ctx, (int)ret, "pid %d: POSIX timer %d: timer_settime: %s", pid, t->id,
			 strerror((int)-ret));
	return r;
}

/*
 * Makes the process's POSIX timers again with their ids (the kernel takes
 * a chosen id only in PR_TIMER_CREATE_RESTORE_IDS mode, 6.15), armed with
 * the time they had left: time spent checkpointed does not count.
 */
static int restore_posix_timers(struct restore *rs, struct rproc *rp, struct remote *rm, uint64_t scratch)
{
	pid_t pid = (pid_t)rp->p->pid;
	long ret;
	int r = remote_syscall(rm, &ret, SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0,
			       0, 0);

	if (r == 0 && ret < 0)
		return fail(rs->ctx, (int)ret,
			    "pid %d: its POSIX timers cannot get their ids back on this kernel (PR_TIMER_CREATE_RESTORE_IDS, Linux 6.15): %s",
			    pid, strerror((int)-ret));
	for (size_t i = 0; r == 0 && i < rp->p->n_posix_timers; i++)
		r = make_posix_timer(rs, pid, rm, scratch, rp->p->posix_timers[i]);
	if (remote_syscall(rm, &ret, SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0,
			   0) == 0 && ret < 0 && r == 0)
		r = fail(rs->ctx, (int)ret, "pid %d: leaving timer restore mode: %s", pid, strerror((int)-ret));
	return r;
}

/* Arms the process's interval timers again with the time they had left. */
static int restore_itimers(struct restore *rs, struct rproc *rp, struct remote *rm, uint64_t scratch)
{
	pid_t pid = (pid_t)rp->p->pid;
	long ret;
	int r = 0;

	for (size_t i = 0; r == 0 && i < rp->p->n_itimers; i++) {
		const Ckpt__ITimer *t = rp->p->itimers[i];
		struct itimerval it = {
			.it_interval = { (time_t)(t->interval_us / 1000000), (suseconds_t)(t->interval_us % 1000000) },
			.it_value = { (time_t)(t->value_us / 1000000), (suseconds_t)(t->value_us % 1000000) },
		};

		/*
		 * Expired, its signal pending: setitimer cannot keep an interval
		 * without a time left. Due at once, it only adds to that pending
		 * signal, and taking the signal arms it again, as the kernel would.
		 */
		if (!t->value_us)
			it.it_value.tv_usec = 1;
		r = remote_mem(rs->ctx, pid, scratch, &it, sizeof(it), true);
		if (r == 0)
			r = remote_syscall(rm, &ret, SYS_setitimer, t->which, scratch, 0, 0, 0, 0);
		if (r == 0 && ret < 0)
			r = fail(rs->ctx, (int)ret, "pid %d: setitimer %u: %s", pid, t->which, strerror((int)-ret));
	}
	return r;
}

int restore_timers(struct restore *rs, struct rproc *rp, struct remote *rm)
{
	pid_t pid = (pid_t)rp->p->pid;
	uint64_t scratch;
	long ret;
	int r, r2;

	r = remote_syscall(rm, &ret, SYS_mmap, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   (uint64_t)-1, 0);
	if (r == 0 && (unsigned long)ret > -4096UL)
		r = fail(rs->ctx, (int)ret, "pid %d: cannot map scratch memory: %s", pid, strerror((int)-ret));
	if (r < 0)
		return r;
	scratch = (uint64_t)ret;
	r = rp->p->n_posix_timers ? restore_posix_timers(rs, rp, rm, scratch) : 0;
	if (r == 0)
		r = restore_itimers(rs, rp, rm, scratch);
	r2 = remote_syscall(rm, &ret, SYS_munmap, scratch, PAGE_SIZE, 0, 0, 0, 0);
	return r ? r : r2;
}
