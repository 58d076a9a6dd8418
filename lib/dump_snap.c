// SPDX-License-Identifier: MIT
/*
 * Snapshots for --leave-running: the tree need not stay stopped while its
 * memory is written out.
 *
 * Once everything else is collected, each process is made to clone itself
 * (a system call run inside it): the child gets a copy-on-write copy of
 * the whole address space as it is at that moment, and never runs. The
 * tree then goes on while the private memory is read from these children,
 * so the image holds memory exactly as it was at the freeze, and the tree
 * is stopped only for the metadata, shared memory and the clone (page
 * tables are copied, pages are not). The cost moves to the tree: each page
 * it writes during the dump is copied once by the kernel.
 *
 * The child shares the parent's fd table and fs (CLONE_FILES|CLONE_FS), so
 * it holds no extra reference to any open file (a pipe's reader still sees
 * end of file when the last writer closes), and has no exit signal, so the
 * parent is never told about it; it is a "clone" child that wait() without
 * __WALL never sees. Once the pages are written it is killed, and its
 * zombie is reaped by a wait4() run inside the parent.
 *
 * Not snapshotted (their memory is copied while the tree is stopped):
 * shared memory (a child would see later writes), and a process with a
 * MADV_DONTFORK or MADV_WIPEONFORK mapping (missing or zero in a child).
 */
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "dump.h"
#include "mem.h"
#include "ptrace.h"

#define RSYS(rm, ret, nr, ...) remote_syscall(rm, ret, nr, __VA_ARGS__)

#define SNAP_CLONE_FLAGS (CLONE_FILES | CLONE_FS) /* exit signal 0 */
#define SNAP_PIPE_SIZE (1 << 20) /* the most an unprivileged F_SETPIPE_SZ gives */

static bool snapshot_fits(const struct dump *d, const struct dproc *dp)
{
	if (dp->zombie)
		return false;
	for (size_t i = 0; i < d->m.vmas.n; i++) {
		const Ckpt__Vma *v = d->m.vmas.v[i];

		if (v->pid == (uint32_t)dp->pid && (v->madv & (CKPT_MADV_DONTFORK | CKPT_MADV_WIPEONFORK)))
			return false;
	}
	return true;
}

/* Kills the child, if we made one, and collects it as its tracer. */
static void kill_child(pid_t child)
{
	int st;

	if (child <= 0)
		return;
	kill(child, SIGKILL);
	while (waitpid(child, &st, __WALL) < 0 && errno == EINTR)
		;
}

/*
 * Gives the snapshot a pipe of its own to vmsplice its pages into. Its fd
 * table, shared with its parent until now, is replaced by an empty one
 * first: the parent must not see the pipe, and the snapshot must hold no
 * file of the tree. Without the pipe (-1) pages are read through
 * /proc/PID/mem instead.
 */
static int snap_prepare(struct dump *d, struct dproc *dp)
{
	struct remote *rm = &dp->snap_rm;
	_cleanup_close_ int pidfd = -1;
	int fds[2];
	long ret;
	int r;

	r = remote_begin(rm, d->ctx, dp->snap, dp->syscall_ip);
	if (r == 0)
		r = RSYS(rm, &ret, SYS_close_range, 0, ~0U, CLOSE_RANGE_UNSHARE, 0, 0, 0);
	if (r == 0 && ret != 0)
		r = fail(d->ctx, (int)ret, "snapshot of pid %d: close_range: %s", dp->pid, strerror((int)-ret));
	if (r == 0)
		r = RSYS(rm, &ret, SYS_mmap, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 (uint64_t)-1, 0);
	if (r == 0 && (unsigned long)ret > -4096UL)
		r = fail(d->ctx, (int)ret, "snapshot of pid %d: mmap: %s", dp->pid, strerror((int)-ret));
	if (r < 0)
		return r;
	dp->snap_scratch = (uint64_t)ret;
	r = RSYS(rm, &ret, SYS_pipe2, dp->snap_scratch, O_CLOEXEC, 0, 0, 0, 0);
	if (r == 0 && ret != 0)
		r = fail(d->ctx, (int)ret, "snapshot of pid %d: pipe2: %s", dp->pid, strerror((int)-ret));
	if (r == 0 && pread(dp->snap_memfd, fds, sizeof(fds), (off_t)dp->snap_scratch) != sizeof(fds))
		r = fail(d->ctx, -EIO, "snapshot of pid %d: reading its pipe fds", dp->pid);
	if (r < 0)
		return r;
	pidfd = (int)syscall(SYS_pidfd_open, dp->snap, 0);
	if (pidfd >= 0)
		dp->snap_pipe = (int)syscall(SYS_pidfd_getfd, pidfd, fds[0], 0);
	if (pidfd < 0 || dp->snap_pipe < 0)
		return fail(d->ctx, -errno, "snapshot of pid %d: taking its pipe: %s", dp->pid, strerror(errno));
	dp->snap_pipe_wr = fds[1];
	dp->snap_pipe_size = fcntl(dp->snap_pipe, F_SETPIPE_SZ, SNAP_PIPE_SIZE);
	if (dp->snap_pipe_size <= 0)
		dp->snap_pipe_size = fcntl(dp->snap_pipe, F_GETPIPE_SZ);
	return 0;
}

/* Done on the first read, once the tree runs again: none of it needs the tree stopped. */
static int snap_ready(struct dump *d, struct dproc *dp)
{
	if (dp->snap_tried)
		return dp->snap_pipe >= 0 ? 0 : -ENOSYS;
	dp->snap_tried = true;
	if (snap_prepare(d, dp) == 0)
		return 0;
	pr_info(d->ctx, "pid %d: snapshot %d: %s; its pages are read through /proc", dp->pid, dp->snap, d->ctx->err);
	d->ctx->err[0] = 0;
	if (dp->snap_pipe >= 0)
		close(dp->snap_pipe);
	dp->snap_pipe = -1;
	return -ENOSYS;
}

int snap_read(struct dump *d, struct dproc *dp, uint64_t addr, uint8_t *buf, size_t len)
{
	int r = snap_ready(d, dp);

	if (r < 0)
		return r;
	while (len > 0) {
		struct iovec iov = { (void *)addr, len < (size_t)dp->snap_pipe_size ? len : (size_t)dp->snap_pipe_size };
		long ret;

		if (pwrite(dp->snap_memfd, &iov, sizeof(iov), (off_t)dp->snap_scratch) != sizeof(iov))
			return -EIO;
		r = RSYS(&dp->snap_rm, &ret, SYS_vmsplice, (uint64_t)dp->snap_pipe_wr, dp->snap_scratch, 1, 0, 0, 0);
		if (r < 0)
			return r;
		if (ret <= 0)
			return ret < 0 ? (int)ret : -EIO; /* PROT_NONE, say: the caller reads it another way */
		r = read_full(dp->snap_pipe, buf, (size_t)ret);
		if (r < 0)
			return fail(d->ctx, r, "snapshot of pid %d: reading its pipe: %s", dp->pid, strerror(-r));
		addr += (uint64_t)ret;
		buf += ret;
		len -= (size_t)ret;
	}
	return 0;
}

static int snap_one(struct dump *d, struct dproc *dp)
{
	struct remote rm;
	pid_t child = 0;
	long ret = -1;
	char path[64];
	int r, r2;

	r = remote_begin(&rm, d->ctx, dp->live, dp->syscall_ip);
	if (r < 0)
		return r;
	r = remote_clone(&rm, SNAP_CLONE_FLAGS, &child, &ret);
	if (r == 0 && (ret < 0 || child <= 0))
		r = fail(d->ctx, ret < 0 ? (int)ret : -EIO, "pid %d: clone for a snapshot: %s", dp->pid,
			 strerror(ret < 0 ? (int)-ret : EIO));
	r2 = remote_end(&rm);
	r = r ? r : r2;
	if (r == 0)
		r = thread_set_options(child, PTRACE_O_EXITKILL); /* if ckpt dies, the child must not outlive it */
	snprintf(path, sizeof(path), "/proc/%d/mem", child);
	if (r == 0 && (dp->snap_memfd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		r = fail(d->ctx, -errno, "pid %d: snapshot %d: open %s: %s", dp->pid, child, path, strerror(errno));
	if (r < 0) {
		kill_child(child);
		/* Its zombie, if any: the tree is still stopped, reap it now. */
		if (child > 0 && ret > 0 && remote_begin(&rm, d->ctx, dp->live, dp->syscall_ip) == 0) {
			remote_syscall(&rm, &ret, SYS_wait4, (uint64_t)ret, 0, __WALL | WNOHANG, 0, 0, 0);
			remote_end(&rm);
		}
		return r;
	}
	dp->snap = child;
	dp->snap_theirs = (pid_t)ret;
	dp->snap_pipe = -1;
	pr_info(d->ctx, "pid %d: copy-on-write snapshot %d taken: its memory is written while it runs", dp->pid,
		child);
	return 0;
}

void snap_take_all(struct dump *d)
{
	for (size_t i = 0; i < d->nr_procs; i++) {
		struct dproc *dp = &d->procs[i];

		if (!snapshot_fits(d, dp))
			continue;
		/* No snapshot is no failure: that process's memory is copied stopped. */
		if (snap_one(d, dp) < 0) {
			pr_info(d->ctx, "pid %d: no snapshot (%s); its memory is copied while it is stopped", dp->pid,
				 d->ctx->err);
			d->ctx->err[0] = 0;
		}
	}
}

/* Reaps the child's zombie inside dp, stopping one of its threads briefly. */
static void reap_in_parent(struct dump *d, struct dproc *dp, bool tree_stopped)
{
	enum seize_state state = SEIZED_RUNNING;
	struct remote rm;
	long ret;

	if (!tree_stopped && thread_seize(d->ctx, dp->live, &state) < 0)
		return; /* gone: its zombies went with it */
	if (remote_begin(&rm, d->ctx, dp->live, dp->syscall_ip) == 0) {
		remote_syscall(&rm, &ret, SYS_wait4, (uint64_t)dp->snap_theirs, 0, __WALL | WNOHANG, 0, 0, 0);
		remote_end(&rm);
	}
	if (!tree_stopped)
		thread_detach(dp->live, state == SEIZED_STOPPED ? SIGSTOP : 0);
}

void snap_drop_all(struct dump *d, bool tree_stopped)
{
	char err[sizeof(d->ctx->err)];

	/* Cleaning up must not replace the message of what failed. */
	memcpy(err, d->ctx->err, sizeof(err));
	for (size_t i = 0; i < d->nr_procs; i++) {
		struct dproc *dp = &d->procs[i];

		if (!dp->snap)
			continue;
		close(dp->snap_memfd);
		if (dp->snap_pipe >= 0)
			close(dp->snap_pipe);
		kill_child(dp->snap);
		reap_in_parent(d, dp, tree_stopped);
		dp->snap = 0;
	}
	memcpy(d->ctx->err, err, sizeof(err));
}
