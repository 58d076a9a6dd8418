// SPDX-License-Identifier: MIT
/*
 * The tree's shape in the task stage: children with their pids, sessions and
 * process groups, zombies. A session or group whose leader is gone from the
 * image is made by a short-lived helper that takes the leader's pid:
 *  - a session helper, a child of the subreaper that adopted the session's
 *    orphans, calls setsid(), forks those orphans and exits, so they end up
 *    in the session and back with their parent;
 *  - a group helper, a child of a member, makes the group, and is killed
 *    once the member has joined it.
 * Every process then checks its ids, so a tree that cannot be rebuilt fails
 * the restore instead of running with wrong ones.
 *
 * A process that shares its fd table or fs with its parent is made with
 * CLONE_FILES / CLONE_FS; one that shares them with a sibling (and not the
 * parent) is made by that sibling with CLONE_PARENT too (lib/share.c).
 */
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "compat.h"
#include "restore.h"
#include "share.h"

/* Who makes each process and how, so that those that shared an fd table or fs share it again. */
int plan_sharing(struct restore *rs)
{
	struct share_plan sp;
	int r = share_plan(&rs->m, rs->ctx, &sp);

	for (size_t i = 0; r == 0 && i < rs->nr_procs; i++) {
		rs->procs[i].creator = sp.creator[i];
		rs->procs[i].clone_flags = sp.flags[i];
		rs->procs[i].files_shared = sp.files_shared[i];
	}
	share_plan_free(&sp);
	return r;
}

bool made_by(const struct restore *rs, const struct rproc *creator, const struct rproc *c)
{
	return c->creator == (size_t)(creator - rs->procs);
}

pid_t clone_with_pid(pid_t pid, uint32_t exit_signal, uint64_t flags)
{
	uint64_t tid = (uint64_t)pid;
	struct ckpt_clone_args ca = {
		.flags = flags,
		.exit_signal = exit_signal,
		.set_tid = (uint64_t)&tid,
		.set_tid_size = 1,
	};

	return (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
}

void become_zombie(const Ckpt__Process *p)
{
	int st = (int)p->exit_code;

	prctl(PR_SET_NAME, p->comm);
	if (WIFSIGNALED(st)) {
		sigset_t all;

		signal(WTERMSIG(st), SIG_DFL);
		sigfillset(&all);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		prctl(PR_SET_DUMPABLE, 0); /* no core file for a replayed death */
		kill(getpid(), WTERMSIG(st));
	}
	_exit(WEXITSTATUS(st));
}

void set_session(struct restore *rs, const Ckpt__Process *p)
{
	pid_t pid = (pid_t)p->pid;

	if (p->sid == p->pid && setsid() < 0)
		TASK_FAIL(rs, pid, -errno, "pid %d: setsid: %s", pid, strerror(errno));
	if (p->pgid == p->pid && getpgrp() != pid && setpgid(0, 0) < 0)
		TASK_FAIL(rs, pid, -errno, "pid %d: setpgid: %s", pid, strerror(errno));
	ctty_setup(rs, p);
}

static void drain_sigchld(void)
{
	sigset_t chld;
	struct timespec zero = { 0, 0 };

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	while (sigtimedwait(&chld, NULL, &zero) == SIGCHLD)
		;
}

/* Made by a session helper: wait until the helper is gone and the parent has us. */
void wait_adopted(struct restore *rs, const struct rproc *rp)
{
	pid_t pid = (pid_t)rp->p->pid;

	for (int i = 0; i < 5000 && getppid() != rp->parent_pid; i++)
		usleep(1000);
	if (getppid() != rp->parent_pid)
		TASK_FAIL(rs, pid, -EINVAL, "pid %d: session %u has no leader and was not given back to pid %d", pid,
			  rp->p->sid, rp->parent_pid);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != rp->parent_pid)
		_exit(70);
}

/* A child that must be made inside a session whose leader is gone. */
static bool needs_session_helper(const struct restore *rs, const struct rproc *rp, const struct rproc *c)
{
	return made_by(rs, rp, c) && c->p->sid != c->p->pid && c->p->sid != rp->p->sid && leader_missing(rs, c->p->sid, true);
}

/* With CLONE_PARENT, clone3 wants exit signal 0: the child takes ours, which restore checked is its own. */
static void spawn(struct restore *rs, struct rproc *rp, size_t ci)
{
	struct rproc *c = &rs->procs[ci];
	bool sibling = c->clone_flags & CLONE_PARENT;
	pid_t got = clone_with_pid((pid_t)c->p->pid, sibling ? 0 : c->p->exit_signal, c->clone_flags);

	if (got == 0)
		task_main(rs, ci);
	if (got < 0)
		TASK_FAIL(rs, (pid_t)rp->p->pid, -errno, "pid %u: cannot create %s with pid %u: %s", rp->p->pid,
			  sibling ? "its sibling" : "child", c->p->pid, strerror(errno));
}

static void session_helper(struct restore *rs, struct rproc *rp, uint32_t sid)
{
	pid_t pid = (pid_t)rp->p->pid, h;
	int st;

	if (!rp->p->child_subreaper)
		TASK_FAIL(rs, pid, -EOPNOTSUPP,
			  "pid %d: children in session %u, whose leader is gone, can only be restored under a subreaper",
			  pid, sid);
	h = clone_with_pid((pid_t)sid, SIGCHLD, 0);
	if (h < 0)
		TASK_FAIL(rs, pid, -errno, "pid %d: cannot make a helper for session %u: %s", pid, sid, strerror(errno));
	if (h == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (setsid() < 0)
			TASK_FAIL(rs, pid, -errno, "session helper %u: setsid: %s", sid, strerror(errno));
		for (size_t i = 0; i < rp->nr_children; i++) {
			struct rproc *c = &rs->procs[rp->children[i]];

			if (c->p->sid == sid && needs_session_helper(rs, rp, c)) {
				c->via_helper = (pid_t)sid;
				spawn(rs, rp, rp->children[i]);
			}
		}
		_exit(0);
	}
	if (waitpid(h, &st, 0) != h || !WIFEXITED(st) || WEXITSTATUS(st))
		TASK_FAIL(rs, pid, -EIO, "pid %d: the helper for session %u failed", pid, sid);
}

void make_children(struct restore *rs, struct rproc *rp)
{
	pid_t pid = (pid_t)rp->p->pid;
	struct rproc *parent = rp->p->ppid ? proc_by_pid(rs, (int32_t)rp->p->ppid) : NULL;

	/* Siblings that share our fd table or fs are made by us, as children of our parent. */
	for (size_t i = 0; parent && i < parent->nr_children; i++)
		if (made_by(rs, rp, &rs->procs[parent->children[i]]))
			spawn(rs, rp, parent->children[i]);
	for (size_t i = 0; i < rp->nr_children; i++)
		if (made_by(rs, rp, &rs->procs[rp->children[i]]) && !needs_session_helper(rs, rp, &rs->procs[rp->children[i]]))
			spawn(rs, rp, rp->children[i]);
	for (size_t i = 0; i < rp->nr_children; i++) {
		const struct rproc *c = &rs->procs[rp->children[i]];
		bool first = true;

		if (!needs_session_helper(rs, rp, c))
			continue;
		for (size_t k = 0; k < i; k++)
			if (rs->procs[rp->children[k]].p->sid == c->p->sid && needs_session_helper(rs, rp, &rs->procs[rp->children[k]]))
				first = false;
		if (first)
			session_helper(rs, rp, c->p->sid);
	}
	/* Zombies must be dead (and adopted) before we go on; their SIGCHLD is not ours to keep. */
	for (size_t i = 0; i < rp->nr_children; i++) {
		const struct rproc *c = &rs->procs[rp->children[i]];
		siginfo_t si;
		int tries = 0;

		if (c->p->state != 1)
			continue;
		while (waitid(P_PID, (id_t)c->p->pid, &si, WEXITED | WNOWAIT) < 0 && errno != EINTR && ++tries < 5000)
			usleep(1000);
		if (tries >= 5000)
			TASK_FAIL(rs, pid, -ECHILD, "pid %d: zombie child %u did not come back", pid, c->p->pid);
	}
	drain_sigchld();
}

/* Makes group pgid, whose leader is gone, with a helper that holds it until we are in. */
static bool join_via_helper(const Ckpt__Process *p)
{
	pid_t h = clone_with_pid((pid_t)p->pgid, SIGCHLD, 0);
	bool joined = false;
	int st;

	if (h < 0)
		return false; /* a fellow member's helper has the pid: join that */
	if (h == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (setpgid(0, 0) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	for (int i = 0; i < 2000 && !joined; i++) {
		joined = setpgid(0, (pid_t)p->pgid) == 0;
		if (!joined)
			usleep(500);
	}
	kill(h, SIGKILL);
	waitpid(h, &st, 0);
	drain_sigchld();
	return joined;
}

void join_group(struct restore *rs, const Ckpt__Process *p)
{
	pid_t pid = (pid_t)p->pid;
	bool missing = leader_missing(rs, p->pgid, false);

	if (p->pgid == p->pid || (pid_t)p->pgid == getpgrp() || p->pgid == rs->outside_pgid)
		return;
	/* A leader in the image may not have made its group yet; a missing one needs a helper. */
	for (int i = 0; i < 2000; i++) {
		if (setpgid(0, (pid_t)p->pgid) == 0)
			return;
		if (missing && join_via_helper(p))
			return;
		usleep(1000);
	}
	TASK_FAIL(rs, pid, -errno, "pid %d: cannot join process group %u: %s", pid, p->pgid, strerror(errno));
}

void check_ids(struct restore *rs, const Ckpt__Process *p)
{
	pid_t pid = (pid_t)p->pid;

	if (p->sid != rs->outside_sid && getsid(0) != (pid_t)p->sid)
		TASK_FAIL(rs, pid, -EINVAL, "pid %d: ended up in session %d instead of %u", pid, getsid(0), p->sid);
	if (p->pgid != rs->outside_pgid && getpgrp() != (pid_t)p->pgid)
		TASK_FAIL(rs, pid, -EINVAL, "pid %d: ended up in process group %d instead of %u", pid, getpgrp(),
			  p->pgid);
}
