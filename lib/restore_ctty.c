// SPDX-License-Identifier: MIT
/*
 * Controlling terminals that are pseudo-terminals of the tree (task stage).
 * The session leader makes its pty its controlling terminal right after
 * setsid(), before it creates its children, who inherit it; a process that
 * had dropped it (TIOCNOTTY) drops the inherited one. The foreground group
 * is set by its members once they are in it: TIOCSPGRP needs the group to
 * exist in the session. Every restored process starts with all signals
 * blocked, so none of this stops it with SIGTTOU. The coordinator's copy of
 * the master serves for the ioctls: on a master they act on its slave.
 */
#include <fcntl.h>
#include <sys/ioctl.h>

#include "restore.h"

static int master_fd(struct restore *rs, const Ckpt__Process *p)
{
	return rs->file_fds[file_index(rs, p->ctty_file_id)];
}

void ctty_setup(struct restore *rs, const Ckpt__Process *p)
{
	const Ckpt__Process *parent = p->ppid ? model_proc(&rs->m, p->ppid) : NULL;
	pid_t pid = (pid_t)p->pid;
	int fd;

	if (p->state == 1)
		return;
	if (p->has_ctty_file_id && p->sid == p->pid) {
		if (ioctl(master_fd(rs, p), TIOCSCTTY, 0) < 0)
			TASK_FAIL(rs, pid, -errno, "pid %d: making pty %u its controlling terminal: %s", pid,
				  model_file(&rs->m, p->ctty_file_id)->pty_index, strerror(errno));
		return;
	}
	if (p->has_ctty_file_id || !parent || !parent->has_ctty_file_id || parent->sid != p->sid || p->sid == p->pid)
		return;
	/* Inherited from its parent, but it had none: drop it. */
	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, TIOCNOTTY) < 0)
		TASK_FAIL(rs, pid, -errno, "pid %d: dropping its controlling terminal: %s", pid, strerror(errno));
	close(fd);
}

void ctty_foreground(struct restore *rs, const Ckpt__Process *p)
{
	const Ckpt__File *f = p->has_ctty_file_id ? model_file(&rs->m, p->ctty_file_id) : NULL;
	pid_t pid = (pid_t)p->pid, pgrp = (pid_t)p->pgid;

	if (!f || f->pty->fg_pgrp != p->pgid)
		return;
	if (ioctl(master_fd(rs, p), TIOCSPGRP, &pgrp) < 0)
		TASK_FAIL(rs, pid, -errno, "pid %d: making group %d the foreground of pty %u: %s", pid, pgrp,
			  f->pty_index, strerror(errno));
}
