// SPDX-License-Identifier: MIT
/* PTRACE_SEIZE/INTERRUPT stops and system calls run inside a stopped thread. */
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "compat.h"
#include "ptrace.h"

int thread_wait_stop(pid_t tid, int *status)
{
	for (;;) {
		pid_t r = waitpid(tid, status, __WALL);

		if (r == tid)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -errno : -ECHILD;
	}
}

/*
 * A thread in an uninterruptible wait (a vfork parent waits for its child
 * like this) does not stop until the wait ends: give up after a while.
 */
#define SEIZE_TIMEOUT_MS 10000

static int wait_stop_timed(pid_t tid, int *status)
{
	for (long waited_us = 0; waited_us < SEIZE_TIMEOUT_MS * 1000L;) {
		pid_t r = waitpid(tid, status, __WALL | WNOHANG);

		if (r == tid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		usleep(waited_us < 10000 ? 50 : 2000);
		waited_us += waited_us < 10000 ? 50 : 2000;
	}
	return -ETIMEDOUT;
}

static const char *wchan_of(pid_t tid, char *buf, size_t len)
{
	char path[64], *text = NULL;

	snprintf(path, sizeof(path), "/proc/%d/wchan", tid);
	snprintf(buf, len, "?");
	if (read_text(path, &text, NULL) == 0)
		snprintf(buf, len, "%s", text);
	free(text);
	return buf;
}

/* A thread that has exited (a zombie) cannot be seized: EPERM, not ESRCH. */
static bool thread_exiting(pid_t tid)
{
	char path[64], *text = NULL, *p;
	bool gone;

	snprintf(path, sizeof(path), "/proc/%d/stat", tid);
	if (read_text(path, &text, NULL) < 0)
		return true;
	p = strrchr(text, ')');
	gone = !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
	free(text);
	return gone;
}

static pid_t tracer_of(pid_t tid)
{
	char path[64], *text = NULL;
	const char *p;
	pid_t t = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	if (read_text(path, &text, NULL) == 0 && (p = status_field(text, "TracerPid")))
		t = atoi(p);
	free(text);
	return t;
}

int thread_seize(struct ckpt_ctx *ctx, pid_t tid, enum seize_state *state)
{
	int status, r;
	pid_t tracer;

	/*
	 * The target's seccomp filters must not judge the calls we run in it;
	 * suspending them needs CAP_SYS_ADMIN, without which a target under
	 * seccomp is refused when its state is read.
	 */
	if (ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_SUSPEND_SECCOMP) < 0 &&
	    (errno != EPERM || ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD) < 0)) {
		if (errno == ESRCH || (errno == EPERM && thread_exiting(tid)))
			return -ESRCH; /* gone, or on its way out: not ours to dump */
		if (errno == EPERM && (tracer = tracer_of(tid)) > 0)
			return fail(ctx, -EBUSY, "tid %d: already traced by pid %d; ckpt cannot dump a traced process",
				    tid, tracer);
		return fail(ctx, -errno, "tid %d: cannot trace it: %s%s", tid, strerror(errno),
			    errno == EPERM ? " (the caller may not ptrace it)" : "");
	}
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0)
		return fail(ctx, -errno, "tid %d: PTRACE_INTERRUPT: %s", tid, strerror(errno));
	for (;;) {
		char wchan[64];

		r = wait_stop_timed(tid, &status);
		if (r == -ETIMEDOUT) {
			bool vfork;

			wchan_of(tid, wchan, sizeof(wchan));
			vfork = strstr(wchan, "vfork") || strstr(wchan, "kernel_clone");
			return fail(ctx, r, "tid %d: does not stop: it waits in %s%s", tid, wchan,
				    vfork ? " (a vfork parent, until its child execs or exits)" : "");
		}
		if (r < 0)
			return r == -ECHILD ? -ESRCH : fail(ctx, r, "tid %d: wait: %s", tid, strerror(-r));
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return -ESRCH;
		if (!WIFSTOPPED(status))
			continue;
		if ((status >> 16) == PTRACE_EVENT_STOP) {
			int sig = WSTOPSIG(status);

			*state = (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
					 ? SEIZED_STOPPED : SEIZED_RUNNING;
			return 0;
		}
		/*
		 * A signal-delivery stop came before our interrupt: let the
		 * signal go on as it would have, our interrupt stays pending.
		 */
		if (ptrace(PTRACE_CONT, tid, 0, WSTOPSIG(status)) < 0)
			return fail(ctx, -errno, "tid %d: PTRACE_CONT: %s", tid, strerror(errno));
	}
}

int thread_detach(pid_t tid, int sig)
{
	return ptrace(PTRACE_DETACH, tid, 0, sig) < 0 ? -errno : 0;
}

static bool swaps_mask(const struct user_regs_struct *regs)
{
	long nr = (long)regs->orig_rax, ret = (long)regs->rax;

	if (ret != -514 /* ERESTARTNOHAND */ && ret != -512 /* ERESTARTSYS */)
		return false;
	if (nr == SYS_rt_sigsuspend)
		return true;
	/* The others swap masks only when given one. */
	if (nr == SYS_ppoll || nr == SYS_epoll_pwait || nr == SYS_epoll_pwait2)
		return regs->r8 != 0 || (nr == SYS_ppoll && regs->r10 != 0);
	if (nr == SYS_pselect6)
		return regs->r9 != 0;
	return false;
}

int thread_saved_sigmask(struct ckpt_ctx *ctx, pid_t tid, const struct user_regs_struct *regs, uint64_t *mask)
{
	int status, r, sig = 0;
	bool got = false;

	if (!swaps_mask(regs))
		return -ENOENT;
	/*
	 * Resumed, the kernel puts the saved mask back and restarts the call;
	 * at its entry the mask is the real one. Then the call blocks again
	 * with its temporary mask and our interrupt stops it as before.
	 */
	if (ptrace(PTRACE_SYSCALL, tid, 0, 0) < 0)
		return fail(ctx, -errno, "tid %d: PTRACE_SYSCALL: %s", tid, strerror(errno));
	for (;;) {
		r = thread_wait_stop(tid, &status);
		if (r < 0 || !WIFSTOPPED(status))
			return fail(ctx, r < 0 ? r : -ESRCH, "tid %d: died while its signal mask was read", tid);
		if ((status >> 16) == PTRACE_EVENT_STOP && got)
			return 0;
		if (!got && ptrace(PTRACE_GETSIGMASK, tid, sizeof(*mask), mask) == 0)
			got = true;
		/* A syscall stop, or a signal the real mask lets in: it goes on as it would have. */
		sig = WSTOPSIG(status) == (SIGTRAP | 0x80) || (status >> 16) ? 0 : WSTOPSIG(status);
		if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0 || ptrace(PTRACE_CONT, tid, 0, sig) < 0)
			return fail(ctx, -errno, "tid %d: re-stopping: %s", tid, strerror(errno));
	}
}

static bool find_in_range(int memfd, uint64_t start, uint64_t end, uint64_t *ip)
{
	uint8_t buf[8192];

	while (start < end) {
		size_t n = end - start < sizeof(buf) ? end - start : sizeof(buf);
		ssize_t r = pread(memfd, buf, n, (off_t)start);

		if (r < 2)
			return false;
		for (ssize_t i = 0; i + 1 < r; i++)
			if (buf[i] == 0x0f && buf[i + 1] == 0x05) {
				*ip = start + (uint64_t)i;
				return true;
			}
		start += (uint64_t)r - 1;
	}
	return false;
}

int find_syscall_insn(struct ckpt_ctx *ctx, const char *dir, pid_t pid, uint64_t *ip)
{
	char path[96], line[512];
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_close_ int memfd = -1;
	int pass;

	snprintf(path, sizeof(path), "%s/mem", dir);
	memfd = open(path, O_RDONLY | O_CLOEXEC);
	if (memfd < 0)
		return fail(ctx, -errno, "pid %d: open %s: %s", pid, path, strerror(errno));
	snprintf(path, sizeof(path), "%s/maps", dir);
	/* The vDSO first: running code there changes no page of the target. */
	for (pass = 0; pass < 2; pass++) {
		f = fopen(path, "re");
		if (!f)
			return fail(ctx, -errno, "pid %d: open %s: %s", pid, path, strerror(errno));
		while (fgets(line, sizeof(line), f)) {
			unsigned long long s, e;
			char perms[8];

			if (sscanf(line, "%llx-%llx %7s", &s, &e, perms) != 3 || perms[2] != 'x')
				continue;
			if (s >= 0xffffffffff600000ULL)
				continue; /* vsyscall: emulated, no real syscall there */
			if ((pass == 0) != (strstr(line, "[vdso]") != NULL))
				continue;
			if (find_in_range(memfd, s, e, ip))
				return 0;
		}
		fclose(f);
		f = NULL;
	}
	return fail(ctx, -ENOENT, "pid %d: no syscall instruction found in executable memory", pid);
}

int remote_mem(struct ckpt_ctx *ctx, pid_t tid, uint64_t addr, void *buf, size_t len, bool write)
{
	struct iovec local = { buf, len }, remote = { (void *)addr, len };
	ssize_t n = write ? process_vm_writev(tid, &local, 1, &remote, 1, 0)
			  : process_vm_readv(tid, &local, 1, &remote, 1, 0);

	if (n == (ssize_t)len)
		return 0;
	return fail(ctx, n < 0 ? -errno : -EIO, "tid %d: %s its memory at 0x%llx: %s", tid,
		    write ? "writing" : "reading", (unsigned long long)addr, n < 0 ? strerror(errno) : "short");
}

int remote_begin(struct remote *rm, struct ckpt_ctx *ctx, pid_t tid, uint64_t syscall_ip)
{
	uint64_t all = ~0ULL;

	memset(rm, 0, sizeof(*rm));
	rm->ctx = ctx;
	rm->tid = tid;
	rm->syscall_ip = syscall_ip;
	if (ptrace(PTRACE_GETREGS, tid, 0, &rm->saved) < 0)
		return fail(ctx, -errno, "tid %d: PTRACE_GETREGS: %s", tid, strerror(errno));
	if (ptrace(PTRACE_GETSIGMASK, tid, sizeof(uint64_t), &rm->saved_mask) < 0)
		return fail(ctx, -errno, "tid %d: PTRACE_GETSIGMASK: %s", tid, strerror(errno));
	/* No signal may be delivered while we borrow the thread. */
	if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(uint64_t), &all) < 0)
		return fail(ctx, -errno, "tid %d: PTRACE_SETSIGMASK: %s", tid, strerror(errno));
	rm->active = true;
	return 0;
}

static int wait_syscall_stop(struct remote *rm, const char *what)
{
	int status, r;

	for (;;) {
		if (ptrace(PTRACE_SYSCALL, rm->tid, 0, 0) < 0)
			return fail(rm->ctx, -errno, "tid %d: PTRACE_SYSCALL: %s", rm->tid, strerror(errno));
		r = thread_wait_stop(rm->tid, &status);
		if (r < 0)
			return fail(rm->ctx, r, "tid %d: waiting for %s: %s", rm->tid, what, strerror(-r));
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return fail(rm->ctx, -ESRCH, "tid %d: died during an injected system call", rm->tid);
		if (WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80))
			return 0;
		if (WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_STOP)
			continue; /* a stray interrupt stop: go on */
		return fail(rm->ctx, -EIO, "tid %d: unexpected stop 0x%x during an injected system call",
			    rm->tid, status);
	}
}

int remote_syscall(struct remote *rm, long *ret, long nr, uint64_t a1, uint64_t a2,
		   uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	struct user_regs_struct regs = rm->saved;
	int r;

	regs.rip = rm->syscall_ip;
	regs.rax = (uint64_t)nr;
	regs.orig_rax = (uint64_t)-1; /* no restart of what the thread was doing */
	regs.rdi = a1;
	regs.rsi = a2;
	regs.rdx = a3;
	regs.r10 = a4;
	regs.r8 = a5;
	regs.r9 = a6;
	if (ptrace(PTRACE_SETREGS, rm->tid, 0, &regs) < 0)
		return fail(rm->ctx, -errno, "tid %d: PTRACE_SETREGS: %s", rm->tid, strerror(errno));
	r = wait_syscall_stop(rm, "syscall entry");
	if (r < 0)
		return r;
	r = wait_syscall_stop(rm, "syscall exit");
	if (r < 0)
		return r;
	if (ptrace(PTRACE_GETREGS, rm->tid, 0, &regs) < 0)
		return fail(rm->ctx, -errno, "tid %d: PTRACE_GETREGS: %s", rm->tid, strerror(errno));
	*ret = (long)regs.rax;
	return 0;
}

int remote_end(struct remote *rm)
{
	int status, r;

	if (!rm->active)
		return 0;
	rm->active = false;
	if (ptrace(PTRACE_SETREGS, rm->tid, 0, &rm->saved) < 0)
		return fail(rm->ctx, -errno, "tid %d: restoring registers: %s", rm->tid, strerror(errno));
	/*
	 * Leave the syscall-exit stop for an interrupt stop: on the way there
	 * the kernel takes the signal path, which is where it restarts a
	 * system call the thread was in when we seized it.
	 */
	if (ptrace(PTRACE_INTERRUPT, rm->tid, 0, 0) < 0 || ptrace(PTRACE_CONT, rm->tid, 0, 0) < 0)
		return fail(rm->ctx, -errno, "tid %d: re-stopping: %s", rm->tid, strerror(errno));
	for (;;) {
		r = thread_wait_stop(rm->tid, &status);
		if (r < 0)
			return fail(rm->ctx, r, "tid %d: re-stopping: %s", rm->tid, strerror(-r));
		if (WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_STOP)
			break;
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return fail(rm->ctx, -ESRCH, "tid %d: died", rm->tid);
		if (ptrace(PTRACE_CONT, rm->tid, 0, WIFSTOPPED(status) && !(status >> 16) ? WSTOPSIG(status) : 0) < 0)
			return fail(rm->ctx, -errno, "tid %d: re-stopping: %s", rm->tid, strerror(errno));
	}
	/* Signals that came meanwhile stay pending until the thread runs again. */
	if (ptrace(PTRACE_SETSIGMASK, rm->tid, sizeof(uint64_t), &rm->saved_mask) < 0)
		return fail(rm->ctx, -errno, "tid %d: restoring the signal mask: %s", rm->tid, strerror(errno));
	return 0;
}

int thread_set_options(pid_t tid, long extra)
{
	if (ptrace(PTRACE_SETOPTIONS, tid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_SUSPEND_SECCOMP | extra) == 0)
		return 0;
	if (errno == EPERM && ptrace(PTRACE_SETOPTIONS, tid, 0, PTRACE_O_TRACESYSGOOD | extra) == 0)
		return 0;
	return -errno;
}

/* Waits until the new child stops for the first time, attached to us. */
static int wait_new_child(struct remote *rm, pid_t child)
{
	int status, r;

	for (;;) {
		r = thread_wait_stop(child, &status);
		if (r < 0)
			return fail(rm->ctx, r, "tid %d: its clone %d: %s", rm->tid, child, strerror(-r));
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return fail(rm->ctx, -ESRCH, "tid %d: its clone %d died", rm->tid, child);
		if (WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_STOP)
			return 0;
		/* A signal sent to it before its first stop: it stays pending. */
		if (ptrace(PTRACE_CONT, child, 0, 0) < 0)
			return fail(rm->ctx, -errno, "tid %d: its clone %d: %s", rm->tid, child, strerror(errno));
	}
}

int remote_clone(struct remote *rm, uint64_t flags, pid_t *child, long *ret)
{
	struct user_regs_struct regs = rm->saved;
	unsigned long msg = 0;
	int status, r, exits = 0;

	*child = 0;
	regs.rip = rm->syscall_ip;
	regs.rax = SYS_clone;
	regs.orig_rax = (uint64_t)-1;
	regs.rdi = flags;
	regs.rsi = regs.rdx = regs.r10 = regs.r8 = 0; /* same stack (never used), no tid words, no tls */
	r = thread_set_options(rm->tid, PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK);
	if (r < 0)
		return fail(rm->ctx, r, "tid %d: PTRACE_SETOPTIONS: %s", rm->tid, strerror(-r));
	if (ptrace(PTRACE_SETREGS, rm->tid, 0, &regs) < 0) {
		r = fail(rm->ctx, -errno, "tid %d: PTRACE_SETREGS: %s", rm->tid, strerror(errno));
		goto out;
	}
	/* Entry stop, the clone event (when a child was made), exit stop. */
	while (exits < 2) {
		if (ptrace(PTRACE_SYSCALL, rm->tid, 0, 0) < 0) {
			r = fail(rm->ctx, -errno, "tid %d: PTRACE_SYSCALL: %s", rm->tid, strerror(errno));
			goto out;
		}
		r = thread_wait_stop(rm->tid, &status);
		if (r < 0) {
			r = fail(rm->ctx, r, "tid %d: waiting for clone: %s", rm->tid, strerror(-r));
			goto out;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			r = fail(rm->ctx, -ESRCH, "tid %d: died during an injected clone", rm->tid);
			goto out;
		}
		if (WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80)) {
			exits++;
		} else if ((status >> 16) == PTRACE_EVENT_CLONE || (status >> 16) == PTRACE_EVENT_FORK) {
			if (ptrace(PTRACE_GETEVENTMSG, rm->tid, 0, &msg) == 0)
				*child = (pid_t)msg;
		} else if ((status >> 16) != PTRACE_EVENT_STOP) {
			r = fail(rm->ctx, -EIO, "tid %d: unexpected stop 0x%x during an injected clone", rm->tid,
				 status);
			goto out;
		}
	}
	if (ptrace(PTRACE_GETREGS, rm->tid, 0, &regs) < 0) {
		r = fail(rm->ctx, -errno, "tid %d: PTRACE_GETREGS: %s", rm->tid, strerror(errno));
		goto out;
	}
	*ret = (long)regs.rax;
	if (*child > 0)
		r = wait_new_child(rm, *child);
out:
	if (thread_set_options(rm->tid, 0) < 0 && r == 0)
		r = fail(rm->ctx, -errno, "tid %d: PTRACE_SETOPTIONS: %s", rm->tid, strerror(errno));
	return r;
}
