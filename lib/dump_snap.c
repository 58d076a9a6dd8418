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
#include <poll.h>
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
#include "res/res.h"

#define RSYS(rm, ret, nr, ...) remote_syscall(rm, ret, nr, __VA_ARGS__)

#define SNAP_CLONE_FLAGS (CLONE_FILES | CLONE_FS) /* exit signal 0 */

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

/* The pump's mapping: its code on the first page, then its stack. */
#define PUMP_STACK (4 * PAGE_SIZE)
#define PUMP_MAP_SIZE (PAGE_SIZE + PUMP_STACK)
#define PUMP_POLL_MS 250

extern const uint8_t snap_pump_code[], snap_pump_code_end[];

/* A pipe made inside the snapshot; *fds its two descriptors there. */
static int remote_pipe(struct dump *d, struct dproc *dp, struct remote *rm, uint64_t at, int fds[2])
{
	long ret;
	int r = RSYS(rm, &ret, SYS_pipe2, at, O_CLOEXEC, 0, 0, 0, 0);

	if (r == 0 && ret != 0)
		r = fail(d->ctx, (int)ret, "snapshot of pid %d: pipe2: %s", dp->pid, strerror((int)-ret));
	if (r == 0 && pread(dp->snap_memfd, fds, 2 * sizeof(int), (off_t)at) != 2 * sizeof(int))
		r = fail(d->ctx, -EIO, "snapshot of pid %d: reading its pipe fds", dp->pid);
	return r;
}

/* Our copy of the snapshot's descriptor fd. */
static int take(struct dump *d, struct dproc *dp, int fd, int *out)
{
	*out = res_fd_take(dp->snap, fd);
	if (*out < 0)
		return fail(d->ctx, *out, "snapshot of pid %d: taking its fd %d: %s", dp->pid, fd, strerror(-*out));
	return 0;
}

/* The pump's code, copied in, and its stack, in one new mapping of the snapshot. */
static int pump_map(struct dump *d, struct dproc *dp, struct remote *rm, uint64_t *map)
{
	size_t code = (size_t)(snap_pump_code_end - snap_pump_code);
	long ret;
	int r = RSYS(rm, &ret, SYS_mmap, 0, PUMP_MAP_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		     (uint64_t)-1, 0);

	if (r == 0 && (unsigned long)ret > -4096UL)
		r = fail(d->ctx, (int)ret, "snapshot of pid %d: mmap: %s", dp->pid, strerror((int)-ret));
	if (r < 0)
		return r;
	*map = (uint64_t)ret;
	if (pwrite(dp->snap_memfd, snap_pump_code, code, (off_t)*map) != (ssize_t)code)
		return fail(d->ctx, -EIO, "snapshot of pid %d: writing its pump", dp->pid);
	r = RSYS(rm, &ret, SYS_mprotect, *map, PAGE_SIZE, PROT_READ | PROT_EXEC, 0, 0, 0);
	if (r == 0 && ret != 0)
		r = fail(d->ctx, (int)ret, "snapshot of pid %d: mprotect: %s", dp->pid, strerror((int)-ret));
	return r;
}

/* Lets the snapshot go, into its pump; it stays traced, so it dies with ckpt (EXITKILL). */
static int pump_start(struct dump *d, struct dproc *dp, struct remote *rm, uint64_t map, const int fds[3])
{
	struct user_regs_struct regs = rm->saved;

	regs.rip = map;
	regs.rsp = map + PUMP_MAP_SIZE - 8; /* as right after a call */
	regs.orig_rax = (uint64_t)-1;
	regs.rdi = (uint64_t)fds[0];
	regs.rsi = (uint64_t)fds[1];
	regs.rdx = (uint64_t)fds[2];
	if (ptrace(PTRACE_SETREGS, dp->snap, 0, &regs) < 0 || ptrace(PTRACE_CONT, dp->snap, 0, 0) < 0)
		return fail(d->ctx, -errno, "snapshot of pid %d: starting its pump: %s", dp->pid, strerror(errno));
	rm->active = false; /* its registers are the pump's for good */
	return 0;
}

/*
 * Starts the snapshot's pump, with three pipes: commands, pages, reports.
 * Its fd table, shared with its parent until now, is replaced by an empty
 * one first: the parent must not see the pipes, and the snapshot must hold
 * no file of the tree.
 */
static int snap_prepare(struct dump *d, struct dproc *dp)
{
	struct remote rm;
	int ctl[2], data[2], status[2];
	uint64_t map = 0;
	long ret;
	int r;

	r = remote_begin(&rm, d->ctx, dp->snap, dp->syscall_ip);
	if (r == 0)
		r = RSYS(&rm, &ret, SYS_close_range, 0, ~0U, CLOSE_RANGE_UNSHARE, 0, 0, 0);
	if (r == 0 && ret != 0)
		r = fail(d->ctx, (int)ret, "snapshot of pid %d: close_range: %s", dp->pid, strerror((int)-ret));
	if (r == 0)
		r = pump_map(d, dp, &rm, &map);
	/* pipe2 writes the fds on the pump's stack, unused until it starts */
	if (r == 0)
		r = remote_pipe(d, dp, &rm, map + PAGE_SIZE, ctl);
	if (r == 0)
		r = remote_pipe(d, dp, &rm, map + PAGE_SIZE, data);
	if (r == 0)
		r = remote_pipe(d, dp, &rm, map + PAGE_SIZE, status);
	if (r == 0)
		r = take(d, dp, ctl[1], &dp->snap_ctl);
	if (r == 0)
		r = take(d, dp, data[0], &dp->snap_pipe);
	if (r == 0)
		r = take(d, dp, status[0], &dp->snap_status);
	if (r < 0)
		return r;
	/* The most an unprivileged F_SETPIPE_SZ gives: fewer wake-ups on both sides. */
	fcntl(dp->snap_pipe, F_SETPIPE_SZ, 1 << 20);
	return pump_start(d, dp, &rm, map, (int[3]){ ctl[0], data[1], status[1] });
}

static void pump_close(struct dproc *dp)
{
	int *fds[] = { &dp->snap_ctl, &dp->snap_pipe, &dp->snap_status };

	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
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
	pump_close(dp);
	return -ENOSYS;
}

/* The pump failed: the rest is read through /proc. */
static int pump_broken(struct dump *d, struct dproc *dp, const char *why)
{
	pr_info(d->ctx, "pid %d: snapshot %d: its pump %s; its pages are read through /proc", dp->pid, dp->snap,
		why);
	pump_close(dp);
	return -EIO;
}

/*
 * Waits until one of pf is ready. The snapshot is traced: a signal sent to
 * its process group (job control, say) stops it until we let it go on.
 */
static int pump_wait(struct dump *d, struct dproc *dp, struct pollfd *pf, nfds_t n)
{
	for (;;) {
		siginfo_t si = { 0 };
		int ready = poll(pf, n, PUMP_POLL_MS), r;

		if (ready > 0)
			return 0;
		if (ready < 0 && errno != EINTR)
			return -errno;
		r = dump_check_interrupt(d);
		if (r < 0)
			return r;
		if (waitid(P_PID, (id_t)dp->snap, &si, WSTOPPED | WNOHANG | __WALL) == 0 && si.si_pid == dp->snap)
			ptrace(PTRACE_CONT, dp->snap, 0, 0); /* the signal is dropped */
	}
}

int snap_read(struct dump *d, struct dproc *dp, uint64_t addr, uint8_t *buf, size_t len)
{
	uint64_t cmd[2] = { addr, len }, spliced;
	size_t got = 0;
	int r = snap_ready(d, dp);

	if (r < 0)
		return r;
	if (write(dp->snap_ctl, cmd, sizeof(cmd)) != sizeof(cmd))
		return pump_broken(d, dp, "takes no command");
	/* Pages as they come; then its report, once the pipe is drained. */
	for (;;) {
		struct pollfd pf[2] = { { dp->snap_status, POLLIN, 0 }, { dp->snap_pipe, POLLIN, 0 } };
		ssize_t n;

		r = pump_wait(d, dp, pf, got < len ? 2 : 1);
		if (r == -EINTR)
			return r;
		if (r < 0)
			return pump_broken(d, dp, "cannot be waited for");
		if (got == len || !(pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
			break;
		n = read(dp->snap_pipe, buf + got, len - got);
		if (n <= 0)
			return pump_broken(d, dp, "ended");
		got += (size_t)n;
	}
	if (read_full(dp->snap_status, &spliced, sizeof(spliced)) < 0 || spliced > len)
		return pump_broken(d, dp, "gave no report");
	/* What it spliced before it stopped short is in the pipe. */
	if (got < spliced && read_full(dp->snap_pipe, buf + got, spliced - got) < 0)
		return pump_broken(d, dp, "ended");
	return spliced == len ? 0 : -EFAULT; /* PROT_NONE, say: the caller reads it another way */
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
	dp->snap_ctl = dp->snap_pipe = dp->snap_status = -1;
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
		pump_close(dp);
		kill_child(dp->snap);
		reap_in_parent(d, dp, tree_stopped);
		dp->snap = 0;
	}
	memcpy(d->ctx->err, err, sizeof(err));
}
