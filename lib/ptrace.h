/* SPDX-License-Identifier: MIT */
/*
 * Stopping threads with PTRACE_SEIZE/INTERRUPT and running system calls
 * inside them, for the few pieces of state only a process can read about
 * itself (signal handlers, sigaltstack, clear_child_tid, brk, ...).
 */
#ifndef CKPT_PTRACE_H
#define CKPT_PTRACE_H

#include <sys/user.h>

#include "internal.h"

enum seize_state {
	SEIZED_RUNNING = 0,   /* was running or sleeping */
	SEIZED_STOPPED = 1,   /* was in group stop (SIGSTOP and friends) */
};

/* Seizes tid and waits until it is stopped by PTRACE_INTERRUPT. */
int thread_seize(struct ckpt_ctx *ctx, pid_t tid, enum seize_state *state);
/* Waits for the next ptrace stop of tid; returns the wait status. */
int thread_wait_stop(pid_t tid, int *status);
int thread_detach(pid_t tid, int sig);
/* Sets our usual options (system call stops, seccomp suspended when we may) and extra. */
int thread_set_options(pid_t tid, long extra);
/*
 * For a thread stopped inside sigsuspend, ppoll, pselect6 or epoll_pwait,
 * whose signal mask is the call's temporary one: the mask it had before the
 * call, which the kernel keeps out of reach until the call ends. Reads it by
 * letting the thread restart the call (0, and *mask set) or says the thread
 * is not in such a call (-ENOENT). regs are the thread's current registers.
 */
struct user_regs_struct;
int thread_saved_sigmask(struct ckpt_ctx *ctx, pid_t tid, const struct user_regs_struct *regs, uint64_t *mask);

/*
 * A system call run inside a stopped thread. The thread's registers and
 * signal mask are saved by remote_begin and put back by remote_end, which
 * also leaves it in an interrupt stop so an interrupted system call of the
 * target restarts as the kernel would have restarted it.
 */
struct remote {
	struct ckpt_ctx *ctx;
	pid_t tid;
	uint64_t syscall_ip;  /* address of a `syscall` instruction */
	struct user_regs_struct saved;
	uint64_t saved_mask;
	bool active;
};

/* Finds an executable `syscall` instruction in pid (its vDSO first). */
/* dir is /proc/PID or /proc/PID/task/TID. */
int find_syscall_insn(struct ckpt_ctx *ctx, const char *dir, pid_t pid, uint64_t *ip);
int remote_begin(struct remote *rm, struct ckpt_ctx *ctx, pid_t tid, uint64_t syscall_ip);
/* len bytes of tid's memory at addr into buf (write: from buf into it), for the arguments of remote calls. */
int remote_mem(struct ckpt_ctx *ctx, pid_t tid, uint64_t addr, void *buf, size_t len, bool write);
int remote_syscall(struct remote *rm, long *ret, long nr, uint64_t a1, uint64_t a2,
		   uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6);
int remote_end(struct remote *rm);
/*
 * Runs clone(flags) inside the thread, tracing the child it makes: on
 * return *child is the child's pid as we see it (0 if none was made), in
 * its first ptrace stop, and *ret the call's return value in the thread.
 */
int remote_clone(struct remote *rm, uint64_t flags, pid_t *child, long *ret);

#endif
