// SPDX-License-Identifier: MIT
/*
 * Who creates whom, with which clone flags, so that processes that shared
 * an fd table (Process.fd_table_id) or fs (fs_id) share them again.
 * clone3 with CLONE_FILES or CLONE_FS shares the creator's table or fs, and
 * the creator is normally the parent, so:
 *  - a process whose parent is in its group is made by the parent with the
 *    flag: it has the parent's table or fs from its first instruction;
 *  - in each group, one process has its parent outside the group (the
 *    head): it gets a table (fs) of its own, as any process does;
 *  - other processes whose parent is outside the group must be the head's
 *    siblings: the head makes them with CLONE_PARENT and the flag, so they
 *    are children of their parent with the head's table (fs).
 * Anything else (members under different parents outside the group, a
 * process that would need two creators, a sibling with another exit signal
 * or session, a member that only a session helper could make) is refused.
 */
#include <sched.h>

#include "share.h"

enum share_kind { SHARE_FILES, SHARE_FS, NR_SHARE };

struct planner {
	const struct model *m;
	struct ckpt_ctx *ctx;
	size_t n;
	size_t *parent;             /* index, SIZE_MAX for the root */
	size_t *group[NR_SHARE];    /* index of the process the group id names; SIZE_MAX: none */
	size_t *members[NR_SHARE];  /* per group index: how many */
	size_t *head[NR_SHARE];     /* per group index: its head */
	uint32_t outside_sid;       /* the root's session when its leader is not in the tree */
};

static const char *const kind_name[NR_SHARE] = { "fd table", "cwd, root and umask" };

static const Ckpt__Process *proc(const struct planner *pl, size_t i)
{
	return pl->m->procs.v[i];
}

static size_t index_of(const struct planner *pl, uint64_t pid)
{
	const Ckpt__Process *p = pid && pid < UINT32_MAX ? model_proc(pl->m, (uint32_t)pid) : NULL;

	for (size_t i = 0; p && i < pl->n; i++)
		if (pl->m->procs.v[i] == p)
			return i;
	return SIZE_MAX;
}

static uint64_t group_id(const Ckpt__Process *p, enum share_kind k)
{
	if (k == SHARE_FILES)
		return p->fd_table_id;
	return p->has_fs_id ? p->fs_id : p->pid;
}

/* Whether i and j (SIZE_MAX: ckpt) are live processes of one shared group. */
static bool same_group(const struct planner *pl, size_t i, size_t j, enum share_kind k)
{
	return i < pl->n && j < pl->n && pl->group[k][i] < pl->n && pl->group[k][i] == pl->group[k][j];
}

static size_t nr_members(const struct planner *pl, size_t i, enum share_kind k)
{
	return pl->group[k][i] < pl->n ? pl->members[k][pl->group[k][i]] : 1;
}

static void find_groups(struct planner *pl, enum share_kind k)
{
	for (size_t i = 0; i < pl->n; i++) {
		pl->head[k][i] = SIZE_MAX;
		pl->group[k][i] = proc(pl, i)->state == 1 ? SIZE_MAX : index_of(pl, group_id(proc(pl, i), k));
		if (pl->group[k][i] < pl->n && proc(pl, pl->group[k][i])->state == 1)
			pl->group[k][i] = SIZE_MAX;
		if (pl->group[k][i] < pl->n)
			pl->members[k][pl->group[k][i]]++;
	}
	for (size_t i = 0; i < pl->n; i++) {
		size_t g = pl->group[k][i];

		if (g < pl->n && pl->head[k][g] == SIZE_MAX && !same_group(pl, i, pl->parent[i], k))
			pl->head[k][g] = i;
	}
}

/* Sets *sibling to the sibling that must create i for its group of kind k, if any. */
static int needs_sibling(const struct planner *pl, size_t i, enum share_kind k, size_t *sibling)
{
	const Ckpt__Process *p = proc(pl, i);
	size_t head;

	if (nr_members(pl, i, k) < 2 || same_group(pl, i, pl->parent[i], k))
		return 0;
	head = pl->head[k][pl->group[k][i]];
	if (head == i)
		return 0;
	if (head >= pl->n || proc(pl, head)->ppid != p->ppid)
		return fail(pl->ctx, -EOPNOTSUPP,
			    "pid %u shares its %s with pid %u, which is neither its parent nor its sibling, and their parents "
			    "do not share it; ckpt cannot make them share it again",
			    p->pid, kind_name[k], head < pl->n ? proc(pl, head)->pid : (uint32_t)group_id(p, k));
	if (*sibling != SIZE_MAX && *sibling != head)
		return fail(pl->ctx, -EOPNOTSUPP,
			    "pid %u shares its fd table with its sibling %u but its cwd, root and umask with its sibling %u; "
			    "ckpt cannot make it from both",
			    p->pid, proc(pl, *sibling)->pid, proc(pl, head)->pid);
	*sibling = head;
	return 0;
}

/* Made by sibling s with CLONE_PARENT: it takes s's exit signal and starts in s's session. */
static int check_sibling_made(const struct planner *pl, size_t i, size_t s)
{
	const Ckpt__Process *p = proc(pl, i), *sp = proc(pl, s);

	if (p->exit_signal != sp->exit_signal)
		return fail(pl->ctx, -EOPNOTSUPP,
			    "pid %u shares with its sibling %u, which must make it (CLONE_PARENT), but their exit signals differ (%u, %u)",
			    p->pid, sp->pid, p->exit_signal, sp->exit_signal);
	if (p->sid != sp->sid && p->sid != p->pid)
		return fail(pl->ctx, -EOPNOTSUPP,
			    "pid %u shares with its sibling %u, which must make it (CLONE_PARENT), but they are in sessions %u and %u",
			    p->pid, sp->pid, p->sid, sp->sid);
	return 0;
}

/* Restore makes a child in a session whose leader is gone through a helper, which would share its own. */
static bool made_by_session_helper(const struct planner *pl, size_t i, size_t creator)
{
	const Ckpt__Process *p = proc(pl, i);

	return p->sid != p->pid && p->sid != proc(pl, creator)->sid && p->sid != pl->outside_sid &&
	       !model_proc(pl->m, p->sid);
}

static int plan_one(const struct planner *pl, size_t i, struct share_plan *sp)
{
	const Ckpt__Process *p = proc(pl, i);
	size_t sibling = SIZE_MAX;
	int r;

	sp->creator[i] = pl->parent[i];
	if (p->state == 1)
		return 0;
	sp->files_shared[i] = nr_members(pl, i, SHARE_FILES) > 1;
	for (enum share_kind k = 0; k < NR_SHARE; k++) {
		r = needs_sibling(pl, i, k, &sibling);
		if (r < 0)
			return r;
	}
	if (sibling != SIZE_MAX) {
		r = check_sibling_made(pl, i, sibling);
		if (r < 0)
			return r;
		sp->creator[i] = sibling;
		sp->flags[i] |= CLONE_PARENT;
	}
	if (sp->creator[i] >= pl->n)
		return 0; /* the root: ckpt makes it, and shares nothing with it */
	for (enum share_kind k = 0; k < NR_SHARE; k++) {
		if (nr_members(pl, i, k) < 2)
			continue;
		if (same_group(pl, i, sp->creator[i], k))
			sp->flags[i] |= k == SHARE_FILES ? CLONE_FILES : CLONE_FS;
		else if (pl->head[k][pl->group[k][i]] != i)
			return fail(pl->ctx, -EOPNOTSUPP,
				    "pid %u shares its %s with pid %u but must be made by pid %u, which does not; "
				    "ckpt cannot make them share it again",
				    p->pid, kind_name[k], proc(pl, pl->group[k][i])->pid, proc(pl, sp->creator[i])->pid);
	}
	if ((sp->flags[i] & (CLONE_FILES | CLONE_FS)) && !(sp->flags[i] & CLONE_PARENT) &&
	    made_by_session_helper(pl, i, sp->creator[i]))
		return fail(pl->ctx, -EOPNOTSUPP,
			    "pid %u shares its fd table or fs with its parent but is in session %u, whose leader is gone; "
			    "ckpt cannot make it that way",
			    p->pid, p->sid);
	return 0;
}

static void planner_init(struct planner *pl, const struct model *m, struct ckpt_ctx *ctx)
{
	pl->m = m;
	pl->ctx = ctx;
	pl->n = m->procs.n;
	pl->parent = xcalloc(pl->n + 1, sizeof(size_t));
	for (enum share_kind k = 0; k < NR_SHARE; k++) {
		pl->group[k] = xcalloc(pl->n + 1, sizeof(size_t));
		pl->members[k] = xcalloc(pl->n + 1, sizeof(size_t));
		pl->head[k] = xcalloc(pl->n + 1, sizeof(size_t));
	}
	for (size_t i = 0; i < pl->n; i++) {
		const Ckpt__Process *p = proc(pl, i);

		pl->parent[i] = index_of(pl, p->ppid);
		/* A shell job's session: its leader is outside, and the tree stays in it. */
		if (!p->ppid && p->sid != p->pid && !model_proc(m, p->sid))
			pl->outside_sid = p->sid;
	}
	for (enum share_kind k = 0; k < NR_SHARE; k++)
		find_groups(pl, k);
}

static void planner_free(struct planner *pl)
{
	free(pl->parent);
	for (enum share_kind k = 0; k < NR_SHARE; k++) {
		free(pl->group[k]);
		free(pl->members[k]);
		free(pl->head[k]);
	}
}

int share_plan(const struct model *m, struct ckpt_ctx *ctx, struct share_plan *sp)
{
	struct planner pl = { 0 };
	int r = 0;

	planner_init(&pl, m, ctx);
	sp->creator = xcalloc(pl.n + 1, sizeof(size_t));
	sp->flags = xcalloc(pl.n + 1, sizeof(uint64_t));
	sp->files_shared = xcalloc(pl.n + 1, sizeof(bool));
	for (size_t i = 0; r == 0 && i < pl.n; i++)
		r = plan_one(&pl, i, sp);
	planner_free(&pl);
	return r;
}

void share_plan_free(struct share_plan *sp)
{
	free(sp->creator);
	free(sp->flags);
	free(sp->files_shared);
	memset(sp, 0, sizeof(*sp));
}
