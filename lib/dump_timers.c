// SPDX-License-Identifier: MIT
/*
 * A process's timers: interval timers (setitimer, alarm) and POSIX timers
 * (timer_create), read inside it (getitimer, timer_gettime) while the tree
 * is stopped, with what /proc/PID/timers says of the POSIX ones. The
 * restore makes them again just before the tree runs, with the time they
 * had left (lib/restore_timers.c): time spent checkpointed does not count.
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include "compat.h"
#include "dump.h"
#include "ptrace.h"

#define RSYS(rm, ret, nr, ...) remote_syscall(rm, ret, nr, __VA_ARGS__)

/* One timer's lines of /proc/PID/timers, from its "ID:" line on. */
static int parse_posix_timer(const char *l, Ckpt__PosixTimer *t)
{
	char how[16], whom[8];
	unsigned long long value;
	int id, signo, n, clock;

	if (sscanf(l, "ID: %d signal: %d/%llx notify: %15[a-z]/%7[a-z].%d ClockID: %d", &id, &signo, &value, how, whom,
		   &n, &clock) != 7)
		return -EINVAL;
	t->id = id;
	t->signo = (uint32_t)signo;
	t->sigev_value = value;
	t->clock = clock;
	if (!strcmp(how, "signal"))
		t->notify = SIGEV_SIGNAL;
	else if (!strcmp(how, "none"))
		t->notify = SIGEV_NONE;
	else
		return -EOPNOTSUPP;
	if (!strcmp(whom, "tid")) {
		t->notify |= SIGEV_THREAD_ID;
		t->has_notify_tid = true;
		t->notify_tid = (uint32_t)n;
	}
	return 0;
}

/*
 * POSIX timers (timer_create): what /proc/PID/timers says of each, and its
 * time left and interval, from timer_gettime run inside the process. The
 * restore makes them again with the same ids.
 */
static int dump_posix_timers(struct dump *d, struct dproc *dp, struct remote *rm, uint64_t scratch)
{
	_cleanup_free_ char *text = NULL;
	Ckpt__Process *p = dp->p;
	char path[64];
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/timers", dp->dir);
	if (read_text(path, &text, NULL) < 0)
		return 0; /* a kernel without CONFIG_CHECKPOINT_RESTORE: nothing to tell */
	for (const char *l = strstr(text, "ID:"); l; l = strstr(l + 3, "\nID:"))
		n++;
	if (n > 4096)
		return fail(d->ctx, -EOPNOTSUPP, "pid %d: %zu POSIX timers; at most 4096 are supported", dp->pid, n);
	/* A restore on this kernel could not give them their ids: refuse now, while the tree lives. */
	if (n && prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_GET, 0, 0, 0) < 0)
		return fail(d->ctx, -EOPNOTSUPP,
			    "pid %d: %zu POSIX timers; bringing them back needs Linux 6.15 (PR_TIMER_CREATE_RESTORE_IDS), which this kernel is not",
			    dp->pid, n);
	p->posix_timers = arena_alloc(&d->m.arena, sizeof(*p->posix_timers) * (n + 1));
	for (const char *l = strstr(text, "ID:"); l; l = strstr(l + 1, "\nID:")) {
		Ckpt__PosixTimer *t = arena_alloc(&d->m.arena, sizeof(*t));
		struct itimerspec its;
		long ret;
		int r;

		ckpt__posix_timer__init(t);
		l += *l == '\n';
		r = parse_posix_timer(l, t);
		if (r < 0)
			return fail(d->ctx, r, "pid %d: POSIX timer: cannot read \"%.*s\" in %s", dp->pid,
				    (int)strcspn(l, "\n"), l, path);
		r = RSYS(rm, &ret, SYS_timer_gettime, (uint64_t)t->id, scratch, 0, 0, 0, 0);
		if (r == 0 && ret < 0)
			r = fail(d->ctx, (int)ret, "pid %d: POSIX timer %d: timer_gettime: %s", dp->pid, t->id,
				 strerror((int)-ret));
		if (r == 0)
			r = dump_read_remote(d, dp, scratch, &its, sizeof(its));
		if (r < 0)
			return r;
		t->value_ns = (uint64_t)its.it_value.tv_sec * 1000000000 + (uint64_t)its.it_value.tv_nsec;
		t->interval_ns = (uint64_t)its.it_interval.tv_sec * 1000000000 + (uint64_t)its.it_interval.tv_nsec;
		p->posix_timers[p->n_posix_timers++] = t;
		if (p->n_posix_timers == n)
			break;
	}
	return 0;
}

/* The armed interval timers (setitimer, alarm): time left and interval. */
static int dump_itimers(struct dump *d, struct dproc *dp, struct remote *rm, uint64_t scratch)
{
	static const int which[] = { ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF };
	Ckpt__Process *p = dp->p;
	int r = 0;

	p->itimers = arena_alloc(&d->m.arena, sizeof(*p->itimers) * ARRAY_SIZE(which));
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(which); i++) {
		struct itimerval it;
		Ckpt__ITimer *t;
		long ret;

		r = RSYS(rm, &ret, SYS_getitimer, (uint64_t)which[i], scratch, 0, 0, 0, 0);
		if (r == 0 && ret < 0)
			r = fail(d->ctx, (int)ret, "pid %d: getitimer: %s", dp->pid, strerror((int)-ret));
		if (r == 0)
			r = dump_read_remote(d, dp, scratch, &it, sizeof(it));
		/*
		 * Time left 0 with an interval: a periodic ITIMER_REAL that expired
		 * while its SIGALRM waits, pending (the tree is stopped); the kernel
		 * arms it again when that signal is taken. Kept: the restore makes
		 * it due at once, and the pending signal comes back.
		 */
		if (r < 0 || (!it.it_value.tv_sec && !it.it_value.tv_usec && !it.it_interval.tv_sec &&
			      !it.it_interval.tv_usec))
			continue; /* disarmed */
		t = arena_alloc(&d->m.arena, sizeof(*t));
		ckpt__itimer__init(t);
		t->which = (uint32_t)which[i];
		t->value_us = (uint64_t)it.it_value.tv_sec * 1000000 + (uint64_t)it.it_value.tv_usec;
		t->interval_us = (uint64_t)it.it_interval.tv_sec * 1000000 + (uint64_t)it.it_interval.tv_usec;
		p->itimers[p->n_itimers++] = t;
	}
	return r;
}

int dump_timers(struct dump *d, struct dproc *dp, struct remote *rm, uint64_t scratch)
{
	int r = dump_posix_timers(d, dp, rm, scratch);

	return r < 0 ? r : dump_itimers(d, dp, rm, scratch);
}
