// SPDX-License-Identifier: MIT
/*
 * Controlling terminals that are pseudo-terminals of the tree. A session
 * has one controlling terminal; the pty's master tells which session has
 * it (TIOCGSID) and its foreground group. Each process of that session
 * that still has a controlling terminal (/proc/PID/stat tty_nr; a process
 * can drop it with TIOCNOTTY) gets ctty_file_id. At restore the session
 * leader takes the terminal right after setsid() and the others inherit
 * it, so the leader and each holder's parent must have it too.
 */
#include <sys/sysmacros.h>

#include "pty.h"

/* Field 7 of /proc/PID/stat: the device of its controlling terminal, 0 if none. */
static int read_tty_nr(uint32_t pid, unsigned long *tty_nr)
{
	_cleanup_free_ char *text = NULL;
	char path[32];
	const char *p;
	int r;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	r = read_text(path, &text, NULL);
	if (r < 0)
		return r;
	p = strrchr(text, ')');
	/* ") S ppid pgrp session tty_nr" */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %lu", tty_nr) != 1)
		return -EIO;
	return 0;
}

/* Marks the processes of the pty's session that have it as their terminal. */
static int mark_holders(struct ckpt_ctx *ctx, struct model *m, const Ckpt__File *f, bool *any, bool *fg)
{
	const Ckpt__PtyState *ps = f->pty;

	for (size_t i = 0; i < m->procs.n; i++) {
		Ckpt__Process *p = m->procs.v[i];
		unsigned long tty_nr = 0;
		int r;

		if (p->state == 1 || p->sid != ps->sid)
			continue;
		r = read_tty_nr(p->pid, &tty_nr);
		if (r < 0)
			return fail(ctx, r, "pid %u: reading its controlling terminal: %s", p->pid, strerror(-r));
		if (!tty_nr)
			continue;
		p->has_ctty_file_id = true;
		p->ctty_file_id = f->id;
		*any = true;
		*fg |= p->pgid == ps->fg_pgrp;
	}
	return 0;
}

static int check_lineage(struct ckpt_ctx *ctx, const struct model *m, const Ckpt__File *f)
{
	for (size_t i = 0; i < m->procs.n; i++) {
		const Ckpt__Process *p = m->procs.v[i], *parent;

		if (!p->has_ctty_file_id || p->ctty_file_id != f->id || p->pid == p->sid)
			continue;
		parent = model_proc(m, p->ppid);
		if (!parent || !parent->has_ctty_file_id || parent->ctty_file_id != f->id)
			return fail(ctx, -EOPNOTSUPP,
				    "pid %u: its controlling terminal pty %u cannot be given back: its parent %u does not have it; not supported",
				    p->pid, f->pty_index, p->ppid);
	}
	return 0;
}

/* /dev/tty names the controlling terminal: the caller's at restore (--shell-job), not a pty of the tree. */
static int refuse_dev_tty(struct ckpt_ctx *ctx, const struct model *m)
{
	for (size_t i = 0; i < m->fds.n; i++) {
		const Ckpt__Fd *fd = m->fds.v[i];
		const Ckpt__File *f = model_file(m, fd->file_id);
		const Ckpt__Process *p = model_proc(m, fd->pid);

		if (f && p && f->kind == FILE_KIND_TTY && f->rdev == makedev(5, 0) && p->has_ctty_file_id)
			return fail(ctx, -EOPNOTSUPP,
				    "pid %u fd %u: /dev/tty, when the controlling terminal is a pty of the tree, is not supported yet",
				    fd->pid, fd->fd);
	}
	return 0;
}

int pty_dump_cttys(struct ckpt_ctx *ctx, struct model *m)
{
	bool some = false;

	for (size_t i = 0; i < m->files.n; i++) {
		const Ckpt__File *f = m->files.v[i];
		const Ckpt__Process *leader;
		bool any = false, fg = false;
		int r;

		if (f->kind != FILE_KIND_PTY_MASTER || !f->pty || !f->pty->sid)
			continue;
		r = mark_holders(ctx, m, f, &any, &fg);
		if (r < 0)
			return r;
		if (!any)
			continue; /* the session is outside the tree: it loses its terminal, as a pipe's outside end */
		some = true;
		leader = model_proc(m, f->pty->sid);
		if (!leader || leader->state == 1 || !leader->has_ctty_file_id)
			return fail(ctx, -EOPNOTSUPP,
				    "pty %u is the controlling terminal of session %u, whose leader is not in the tree; not supported",
				    f->pty_index, f->pty->sid);
		if (!fg)
			return fail(ctx, -EOPNOTSUPP,
				    "pty %u: its foreground process group %u has no process in the tree (a job just ended?)",
				    f->pty_index, f->pty->fg_pgrp);
		r = check_lineage(ctx, m, f);
		if (r < 0)
			return r;
	}
	return some ? refuse_dev_tty(ctx, m) : 0;
}
