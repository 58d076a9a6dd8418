// SPDX-License-Identifier: MIT
/*
 * What processes of the tree share: an fd table (clone with CLONE_FILES but
 * not CLONE_THREAD) and fs information, the cwd, root and umask (CLONE_FS);
 * an address space (CLONE_VM) is refused.
 * kcmp tells whether two tasks share one. Each process records the first
 * process of the tree, in its order (parents before children), that shares
 * it: Process.fd_table_id and fs_id. Restore creates the others of a group
 * from it with the same flags (lib/restore_share.c).
 *
 * Threads are restored with CLONE_FILES | CLONE_FS: a thread made without
 * them, with a table or fs of its own, cannot come back and is refused.
 */
#include <linux/kcmp.h>
#include <sys/syscall.h>

#include "dump.h"
#include "share.h"

/* 1: tasks a and b share the object, 0: they do not, -errno: kcmp failed. */
static int shares(pid_t a, pid_t b, int type)
{
	long r = syscall(SYS_kcmp, a, b, type, 0, 0);

	if (r < 0)
		return -errno;
	return r == 0;
}

static const char *what(int type)
{
	return type == KCMP_FILES ? "fd table" : "cwd, root and umask (fs)";
}

static int check_threads(struct dump *d, const struct dproc *dp, int type)
{
	for (size_t t = 0; t < dp->nr_tids; t++) {
		int r;

		if (dp->tids[t] == dp->live)
			continue;
		r = shares(dp->live, dp->tids[t], type);
		if (r < 0)
			return fail(d->ctx, r, "pid %d tid %d: kcmp: %s; cannot tell whether it shares its %s", dp->pid,
				    dp->tids[t], strerror(-r), what(type));
		if (r == 0)
			return fail(d->ctx, -EOPNOTSUPP,
				    "pid %d tid %d: the thread has its own %s (made without CLONE_%s); not supported",
				    dp->pid, dp->tids[t], what(type), type == KCMP_FILES ? "FILES" : "FS");
	}
	return 0;
}

/* The group of process i: the pid of the first process before it that shares, or its own. */
static int find_group(struct dump *d, size_t i, int type, uint64_t *id)
{
	const struct dproc *dp = &d->procs[i];

	*id = (uint64_t)dp->pid;
	for (size_t j = 0; j < i; j++) {
		const struct dproc *other = &d->procs[j];
		int r;

		if (other->zombie)
			continue;
		r = shares(other->live, dp->live, type);
		if (r < 0)
			return fail(d->ctx, r, "pid %d: kcmp with pid %d: %s; cannot tell whether they share a %s",
				    dp->pid, other->pid, strerror(-r), what(type));
		if (r) {
			*id = type == KCMP_FILES ? other->p->fd_table_id : other->p->fs_id;
			return 0;
		}
	}
	return 0;
}

static uint64_t *group_id(struct dproc *dp, int type)
{
	return type == KCMP_FILES ? &dp->p->fd_table_id : &dp->p->fs_id;
}

/* Pairwise, n² kcmp calls: for a kernel whose kcmp does not order (it returns 3). */
static int groups_pairwise(struct dump *d, int type)
{
	for (size_t i = 0; i < d->nr_procs; i++) {
		int r = d->procs[i].zombie ? 0 : find_group(d, i, type, group_id(&d->procs[i], type));

		if (r < 0)
			return r;
	}
	return 0;
}

struct kcmp_order {
	struct dump *d;
	int type;
	int err;          /* the first failure; -EDOM: kcmp gave no order */
};

static int by_kernel_object(const void *x, const void *y, void *arg)
{
	const struct dproc *a = *(struct dproc *const *)x, *b = *(struct dproc *const *)y;
	struct kcmp_order *o = arg;
	long r = syscall(SYS_kcmp, a->live, b->live, o->type, 0, 0);

	if (r == 1 || r == 2)
		return r == 1 ? -1 : 1;
	if (r < 0 && !o->err)
		o->err = fail(o->d->ctx, -errno, "pid %d: kcmp with pid %d: %s; cannot tell whether they share a %s",
			      a->pid, b->pid, strerror(errno), what(o->type));
	else if (r == 3 && !o->err)
		o->err = -EDOM;
	return 0;
}

/* The live processes into live, sorted by kcmp's order of o->type (o->err: how that went); their number. */
static size_t sort_live(struct dump *d, struct dproc **live, struct kcmp_order *o)
{
	size_t n = 0;

	for (size_t i = 0; i < d->nr_procs; i++)
		if (!d->procs[i].zombie)
			live[n++] = &d->procs[i];
	qsort_r(live, n, sizeof(*live), by_kernel_object, o);
	return n;
}

/*
 * kcmp orders what it compares (by a scrambled kernel address), so sorting
 * the processes by it puts those that share one object side by side: n log n
 * calls where comparing every pair took n², 10,000 for a tree of 100.
 */
static int find_groups(struct dump *d, int type)
{
	_cleanup_free_ struct dproc **live = xcalloc(d->nr_procs + 1, sizeof(*live));
	struct kcmp_order o = { d, type, 0 };
	size_t n = sort_live(d, live, &o);

	if (o.err == -EDOM)
		return groups_pairwise(d, type);
	for (size_t i = 0, j; o.err == 0 && i < n; i = j) {
		struct dproc *first = live[i];

		for (j = i + 1; j < n && by_kernel_object(&live[i], &live[j], &o) == 0 && o.err == 0; j++)
			if (live[j] < first)
				first = live[j]; /* the group goes by its first process in tree order */
		for (size_t k = i; k < j; k++)
			*group_id(live[k], type) = (uint64_t)first->pid;
	}
	return o.err == -EDOM ? groups_pairwise(d, type) : o.err;
}

/*
 * Processes that share one address space (clone with CLONE_VM but not
 * CLONE_THREAD) would come back with a copy each: refused. Sorted by
 * kcmp's order, sharers sit side by side.
 */
static int no_shared_memory(struct dump *d)
{
	_cleanup_free_ struct dproc **live = xcalloc(d->nr_procs + 1, sizeof(*live));
	struct kcmp_order o = { d, KCMP_VM, 0 };
	size_t n = sort_live(d, live, &o);
	bool ordered;

	if (o.err < 0 && o.err != -EDOM)
		return o.err;
	ordered = o.err == 0; /* else every pair is compared */
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n && (!ordered || j == i + 1); j++) {
			int r = shares(live[i]->live, live[j]->live, KCMP_VM);

			if (r < 0)
				return fail(d->ctx, r, "pid %d: kcmp with pid %d: %s; cannot tell whether they share memory",
					    live[i]->pid, live[j]->pid, strerror(-r));
			if (r)
				return fail(d->ctx, -EOPNOTSUPP,
					    "pid %d and pid %d share their memory (clone with CLONE_VM, not a thread); not supported yet",
					    live[i]->pid, live[j]->pid);
		}
	return 0;
}

int dump_sharing(struct dump *d)
{
	int r;

	for (size_t i = 0; i < d->nr_procs; i++) {
		struct dproc *dp = &d->procs[i];

		/* A zombie has neither; it keeps its own pid, as restore ignores it. */
		if (dp->zombie)
			continue;
		r = check_threads(d, dp, KCMP_FILES);
		if (r == 0)
			r = check_threads(d, dp, KCMP_FS);
		if (r < 0)
			return r;
		dp->p->has_fs_id = true;
	}
	r = no_shared_memory(d);
	if (r == 0)
		r = find_groups(d, KCMP_FILES);
	if (r == 0)
		r = find_groups(d, KCMP_FS);
	for (size_t i = 0; r == 0 && i < d->nr_procs; i++) {
		const struct dproc *dp = &d->procs[i];

		if (!dp->zombie && (dp->p->fd_table_id != (uint64_t)dp->pid || dp->p->fs_id != (uint64_t)dp->pid))
			pr_debug(d->ctx, "pid %d: fd table of pid %llu, fs of pid %llu", dp->pid,
				 (unsigned long long)dp->p->fd_table_id, (unsigned long long)dp->p->fs_id);
	}
	return r;
}

/* Refused now, while the tree still runs, rather than by the restore. */
int dump_check_sharing(struct dump *d)
{
	struct share_plan sp;
	int r = share_plan(&d->m, d->ctx, &sp);

	share_plan_free(&sp);
	return r;
}
