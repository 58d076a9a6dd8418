// SPDX-License-Identifier: MIT
/*
 * What processes of the tree share: an fd table (clone with CLONE_FILES but
 * not CLONE_THREAD) and fs information, the cwd, root and umask (CLONE_FS).
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

int dump_sharing(struct dump *d)
{
	for (size_t i = 0; i < d->nr_procs; i++) {
		struct dproc *dp = &d->procs[i];
		int r;

		/* A zombie has neither; it keeps its own pid, as restore ignores it. */
		if (dp->zombie)
			continue;
		r = check_threads(d, dp, KCMP_FILES);
		if (r == 0)
			r = check_threads(d, dp, KCMP_FS);
		if (r == 0)
			r = find_group(d, i, KCMP_FILES, &dp->p->fd_table_id);
		if (r == 0)
			r = find_group(d, i, KCMP_FS, &dp->p->fs_id);
		if (r < 0)
			return r;
		dp->p->has_fs_id = true;
		if (dp->p->fd_table_id != (uint64_t)dp->pid || dp->p->fs_id != (uint64_t)dp->pid)
			pr_debug(d->ctx, "pid %d: fd table of pid %llu, fs of pid %llu", dp->pid,
				 (unsigned long long)dp->p->fd_table_id, (unsigned long long)dp->p->fs_id);
	}
	return 0;
}

/* Refused now, while the tree still runs, rather than by the restore. */
int dump_check_sharing(struct dump *d)
{
	struct share_plan sp;
	int r = share_plan(&d->m, d->ctx, &sp);

	share_plan_free(&sp);
	return r;
}
