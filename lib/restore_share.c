// SPDX-License-Identifier: MIT
/*
 * fd tables and fs (cwd, root, umask) shared between processes: who creates
 * whom, with which clone flags. clone3 with CLONE_FILES or CLONE_FS shares
 * the creator's table or fs, and the creator is normally the parent, so:
 *  - a process whose parent is in its group is made by the parent with the
 *    flag: it has the parent's table or fs from its first instruction;
 *  - in each group, one process has its parent outside the group: it gets a
 *    table (fs) of its own, as any process does, and sets it up;
 *  - other processes with their parent outside the group must be its
 *    siblings: it makes them with CLONE_PARENT and the flag, so they become
 *    children of their parent with its table (fs).
 * Anything else (two groups that want different creators, members whose
 * parents differ and are not in the group) is refused before a process
 * exists. The process that sets a table up (install_fds) does so before it
 * makes any child, so the members made with CLONE_FILES find it complete and
 * never touch it; the fs is set once, by the one made without CLONE_FS.
 */
#include <sched.h>

#include "restore.h"

enum share_kind { SHARE_FILES, SHARE_FS };

static uint64_t group_of(const Ckpt__Process *p, enum share_kind k)
{
	if (k == SHARE_FILES)
		return p->fd_table_id;
	return p->has_fs_id ? p->fs_id : p->pid;
}

static const char *kind_name(enum share_kind k)
{
	return k == SHARE_FILES ? "fd table" : "cwd, root and umask";
}

static bool same_group(const struct restore *rs, size_t a, size_t b, enum share_kind k)
{
	return a < rs->nr_procs && b < rs->nr_procs && rs->procs[a].p->state != 1 && rs->procs[b].p->state != 1 &&
	       group_of(rs->procs[a].p, k) == group_of(rs->procs[b].p, k);
}

static size_t index_of(const struct restore *rs, uint32_t pid)
{
	const struct rproc *rp = pid ? proc_by_pid((struct restore *)rs, (int32_t)pid) : NULL;

	return rp ? (size_t)(rp - rs->procs) : SIZE_MAX;
}

static size_t parent_of(const struct restore *rs, size_t i)
{
	return index_of(rs, rs->procs[i].p->ppid);
}

/* The member of i's group that gets the table (fs) first: the lowest whose parent is outside. */
static size_t group_head(const struct restore *rs, size_t i, enum share_kind k, size_t *members)
{
	size_t head = SIZE_MAX;

	*members = 0;
	for (size_t j = 0; j < rs->nr_procs; j++) {
		if (!same_group(rs, i, j, k))
			continue;
		(*members)++;
		if (head == SIZE_MAX && !same_group(rs, j, parent_of(rs, j), k))
			head = j;
	}
	return head;
}

/* Sets *sibling to the sibling that must create i for its group of kind k, if any. */
static int needs_sibling(struct restore *rs, size_t i, enum share_kind k, size_t *sibling)
{
	const Ckpt__Process *p = rs->procs[i].p;
	size_t members, head = group_head(rs, i, k, &members);

	if (members < 2 || same_group(rs, i, parent_of(rs, i), k) || head == i)
		return 0;
	if (head == SIZE_MAX || rs->procs[head].p->ppid != p->ppid)
		return fail(rs->ctx, -EOPNOTSUPP,
			    "pid %u shares its %s with pid %u, which is neither its parent nor a sibling with it in the group; "
			    "ckpt cannot create them that way",
			    p->pid, kind_name(k), head == SIZE_MAX ? (uint32_t)group_of(p, k) : rs->procs[head].p->pid);
	if (*sibling != SIZE_MAX && *sibling != head)
		return fail(rs->ctx, -EOPNOTSUPP,
			    "pid %u shares its fd table with pid %u but its cwd, root and umask with pid %u; "
			    "ckpt cannot create it from both",
			    p->pid, rs->procs[*sibling].p->pid, rs->procs[head].p->pid);
	*sibling = head;
	return 0;
}

/* Made by sibling s with CLONE_PARENT: it inherits s's exit signal and session. */
static int check_sibling_made(struct restore *rs, size_t i, size_t s)
{
	const Ckpt__Process *p = rs->procs[i].p, *sp = rs->procs[s].p;

	if (p->exit_signal != sp->exit_signal)
		return fail(rs->ctx, -EOPNOTSUPP,
			    "pid %u shares with its sibling %u, which must create it (CLONE_PARENT), but their exit signals differ (%u, %u)",
			    p->pid, sp->pid, p->exit_signal, sp->exit_signal);
	if (p->sid != sp->sid && p->sid != p->pid)
		return fail(rs->ctx, -EOPNOTSUPP,
			    "pid %u shares with its sibling %u, which must create it (CLONE_PARENT), but it is in session %u and the sibling in %u",
			    p->pid, sp->pid, p->sid, sp->sid);
	return 0;
}

static int plan_one(struct restore *rs, size_t i)
{
	struct rproc *rp = &rs->procs[i];
	size_t sibling = SIZE_MAX, members;
	int r;

	rp->creator = parent_of(rs, i);
	if (rp->p->state == 1)
		return 0;
	group_head(rs, i, SHARE_FILES, &members);
	rp->files_shared = members > 1;
	r = needs_sibling(rs, i, SHARE_FILES, &sibling);
	if (r == 0)
		r = needs_sibling(rs, i, SHARE_FS, &sibling);
	if (r == 0 && sibling != SIZE_MAX)
		r = check_sibling_made(rs, i, sibling);
	if (r < 0)
		return r;
	if (sibling != SIZE_MAX) {
		rp->creator = sibling;
		rp->clone_flags |= CLONE_PARENT;
	}
	if (rp->creator >= rs->nr_procs)
		return 0; /* the root: the tree shares nothing with ckpt */
	for (enum share_kind k = SHARE_FILES; k <= SHARE_FS; k++) {
		size_t head = group_head(rs, i, k, &members);

		if (members < 2)
			continue;
		if (same_group(rs, i, rp->creator, k))
			rp->clone_flags |= k == SHARE_FILES ? CLONE_FILES : CLONE_FS;
		else if (head != i)
			return fail(rs->ctx, -EOPNOTSUPP,
				    "pid %u shares its %s with pid %u, but is created by pid %u, which does not; "
				    "ckpt cannot create it that way",
				    rp->p->pid, kind_name(k), (uint32_t)group_of(rp->p, k), rs->procs[rp->creator].p->pid);
	}
	/* A session helper would create it, and share the helper's table or fs, not ours. */
	if ((rp->clone_flags & (CLONE_FILES | CLONE_FS)) && !(rp->clone_flags & CLONE_PARENT) &&
	    rp->p->sid != rp->p->pid && rp->p->sid != rs->procs[rp->creator].p->sid && leader_missing(rs, rp->p->sid, true))
		return fail(rs->ctx, -EOPNOTSUPP,
			    "pid %u shares its fd table or fs with its parent but is in session %u, whose leader is gone; "
			    "ckpt cannot create it that way",
			    rp->p->pid, rp->p->sid);
	return 0;
}

int plan_sharing(struct restore *rs)
{
	for (size_t i = 0; i < rs->nr_procs; i++) {
		int r = plan_one(rs, i);

		if (r < 0)
			return r;
	}
	return 0;
}

bool made_by(const struct restore *rs, const struct rproc *creator, const struct rproc *c)
{
	return c->creator == (size_t)(creator - rs->procs);
}
