// SPDX-License-Identifier: MIT
/*
 * The freestanding restorer. It runs in the process being restored after
 * ckpt's own memory is gone, so it uses no libc and no memory outside its
 * block. It rebuilds the address space, creates the threads and gives each
 * its kernel-side state, then parks every thread for the tracer (ckpt
 * restore), which sets the registers and unmaps this block.
 */
#include <asm/unistd.h>
#include <linux/capability.h>
#include <linux/futex.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <linux/securebits.h>
#include <stddef.h>

#include "restorer.h"
#include "syscall.h"

#define PAGE 4096UL
#define TASK_END 0x7ffffffff000UL
#define MADV_DONTFORK_ 10
#define MADV_DONTDUMP_ 16
#define MADV_WIPEONFORK_ 18
#define MADV_HUGEPAGE_ 14
#define MADV_NOHUGEPAGE_ 15
#define MADV_MERGEABLE_ 12
#define NR_MSEAL_ 462
#define MLOCK_ONFAULT_ 1
#define SS_DISABLE_ 2
#define SS_ONSTACK_ 1
#define SIGTRAP_ 5
#define SHM_RDONLY_ 010000
#define SHM_REMAP_ 040000

/* The same bits as lib/mem.h. */
#define M_DONTFORK (1 << 0)
#define M_WIPEONFORK (1 << 1)
#define M_DONTDUMP (1 << 2)
#define M_HUGEPAGE (1 << 3)
#define M_NOHUGEPAGE (1 << 4)
#define M_LOCKED (1 << 5)
#define M_LOCKONFAULT (1 << 6)
#define M_ACCOUNT (1 << 7)
#define M_MERGEABLE (1 << 8)
#define M_SEALED (1 << 9)

void rst_main(struct rst_args *a) __attribute__((noreturn, used));
long rst_clone_thread(void *ca, unsigned long size, void (*fn)(void *, void *), void *a, void *t);

/* The compiler may emit calls to these for struct copies. */
void *memcpy(void *d, const void *s, unsigned long n)
{
	char *dp = d;
	const char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memset(void *d, int c, unsigned long n)
{
	char *dp = d;

	while (n--)
		*dp++ = (char)c;
	return d;
}

static void *at(struct rst_args *a, uint64_t off)
{
	return (char *)a->block_start + off;
}

static void report(struct rst_args *a, int stage, long err, int step, uint64_t detail)
{
	struct rst_report r = { (int32_t)a->pid, stage, (int32_t)err, step, detail };

	sys3(__NR_write, a->report_fd, &r, sizeof(r));
}

static void __attribute__((noreturn)) die(struct rst_args *a, long err, int step, uint64_t detail)
{
	report(a, RST_ERROR, err, step, detail);
	for (;;)
		sys1(__NR_exit_group, 70);
}

static int failed(long r)
{
	return r < 0 && r > -4096;
}

#define CHECK(a, expr, step, detail)                      \
	do {                                              \
		long r_ = (long)(expr);                   \
		if (failed(r_))                           \
			die(a, r_, step, (uint64_t)(detail)); \
	} while (0)

static void futex_wait(int32_t *addr, int32_t val)
{
	sys6(__NR_futex, (long)addr, FUTEX_WAIT, val, 0, 0, 0);
}

static void futex_wake(int32_t *addr)
{
	sys6(__NR_futex, (long)addr, FUTEX_WAKE, 0x7fffffff, 0, 0, 0);
}

/* Waits until *addr reaches at least want. */
static void wait_at_least(int32_t *addr, int32_t want)
{
	int32_t v;

	while ((v = __atomic_load_n(addr, __ATOMIC_ACQUIRE)) < want)
		futex_wait(addr, v);
}

static void bump(int32_t *addr)
{
	__atomic_fetch_add(addr, 1, __ATOMIC_RELEASE);
	futex_wake(addr);
}

static void park_vdso(struct rst_args *a)
{
	uint64_t base = a->nr_vdso_cur ? a->vdso_cur[0][0] : 0;

	for (uint32_t i = 0; i < a->nr_vdso_cur; i++) {
		uint64_t s = a->vdso_cur[i][0], len = a->vdso_cur[i][1] - s;

		CHECK(a, sys5(__NR_mremap, s, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, a->parking + (s - base)),
		      STEP_PARK_VDSO, s);
	}
}

/* Moves the parked vDSO of this kernel to where the image had its own. */
static void place_vdso(struct rst_args *a)
{
	uint64_t base = a->nr_vdso_cur ? a->vdso_cur[0][0] : 0;

	for (uint32_t i = 0; i < a->nr_vdso_cur; i++) {
		uint64_t s = a->vdso_cur[i][0], len = a->vdso_cur[i][1] - s;
		uint64_t parked = a->parking + (s - base);

		uint64_t target = a->vdso_target + (s - base);

		if (a->vdso_target)
			CHECK(a, sys5(__NR_mremap, parked, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, target), STEP_VDSO, target);
		else
			CHECK(a, sys2(__NR_munmap, parked, len), STEP_VDSO, parked);
	}
}

/* Trampolines at the old vDSO's functions, for code that kept their addresses. */
static void place_vdso_proxy(struct rst_args *a)
{
	if (!a->proxy_len)
		return;
	CHECK(a, sys6(__NR_mmap, a->proxy_addr, a->proxy_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), STEP_VDSO_PROXY, a->proxy_addr);
	memcpy((void *)a->proxy_addr, at(a, a->proxy_off), a->proxy_len);
	CHECK(a, sys3(__NR_mprotect, a->proxy_addr, a->proxy_len, PROT_READ | PROT_EXEC), STEP_VDSO_PROXY,
	      a->proxy_addr);
}

static void unmap_all_but_block(struct rst_args *a)
{
	uint64_t end = a->block_start + a->block_len;

	CHECK(a, sys2(__NR_munmap, 0, a->block_start), STEP_UNMAP, 0);
	if (end < TASK_END)
		CHECK(a, sys2(__NR_munmap, end, TASK_END - end), STEP_UNMAP, end);
}

static void madvise_vma(struct rst_args *a, const struct rst_vma *v)
{
	static const struct {
		uint32_t bit;
		int advice;
	} adv[] = {
		{ M_DONTFORK, MADV_DONTFORK_ },   { M_WIPEONFORK, MADV_WIPEONFORK_ },
		{ M_DONTDUMP, MADV_DONTDUMP_ },   { M_HUGEPAGE, MADV_HUGEPAGE_ },
		{ M_NOHUGEPAGE, MADV_NOHUGEPAGE_ }, { M_MERGEABLE, MADV_MERGEABLE_ },
	};

	for (unsigned i = 0; i < sizeof(adv) / sizeof(adv[0]); i++)
		if (v->madv & adv[i].bit)
			CHECK(a, sys3(__NR_madvise, v->start, v->end - v->start, adv[i].advice), STEP_MADVISE, v->start);
}

/*
 * A private mapping that was ever writable is mapped writable first, so it
 * is accounted (VM_ACCOUNT) as the original was, then protected; the kernel
 * then keeps apart the same neighbours it kept apart before. ckpt fills
 * memory through /proc/PID/mem, which needs no write permission.
 */
static uint32_t fill_prot(const struct rst_vma *v)
{
	if (v->kind == RST_KIND_SYSV_SHM) /* what shmat gives */
		return v->shm_rdonly ? PROT_READ : PROT_READ | PROT_WRITE;
	if (!(v->flags & MAP_SHARED) && (v->madv & M_ACCOUNT))
		return v->prot | PROT_READ | PROT_WRITE;
	return v->prot;
}

/*
 * A SysV attachment: shmat at its place, as the process had it. Part of a
 * segment (the rest unmapped, or split by mprotect): attached where the
 * kernel likes, the part moved into place, the rest detached.
 */
static void map_sysv(struct rst_args *a, const struct rst_vma *v)
{
	uint64_t len = v->end - v->start;
	long flags = v->shm_rdonly ? SHM_RDONLY_ : 0, base;

	if (v->pgoff == 0 && len == v->shm_size) {
		base = sys3(__NR_shmat, v->shmid, v->start, flags | SHM_REMAP_);
		CHECK(a, base, STEP_SHMAT, v->start);
		if ((uint64_t)base != v->start)
			die(a, -22, STEP_SHMAT, v->start);
		return;
	}
	if (v->pgoff > v->shm_size || len > v->shm_size - v->pgoff)
		die(a, -22, STEP_SHMAT, v->start);
	base = sys3(__NR_shmat, v->shmid, 0, flags);
	CHECK(a, base, STEP_SHMAT, v->start);
	CHECK(a, sys5(__NR_mremap, base + v->pgoff, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, v->start), STEP_SHMAT,
	      v->start);
	if (v->pgoff)
		CHECK(a, sys2(__NR_munmap, base, v->pgoff), STEP_SHMAT, v->start);
	if (v->pgoff + len < v->shm_size)
		CHECK(a, sys2(__NR_munmap, base + v->pgoff + len, v->shm_size - v->pgoff - len), STEP_SHMAT, v->start);
}

static void map_vmas(struct rst_args *a)
{
	struct rst_vma *v = at(a, a->vmas_off);

	for (uint32_t i = 0; i < a->nr_vmas; i++, v++) {
		uint32_t flags = v->flags | MAP_FIXED;
		long r;

		if (v->kind == RST_KIND_SYSV_SHM) {
			map_sysv(a, v);
			madvise_vma(a, v);
			continue;
		}
		if (v->fd < 0)
			flags |= MAP_ANONYMOUS;
		r = sys6(__NR_mmap, v->start, v->end - v->start, fill_prot(v), flags, v->fd, v->fd < 0 ? 0 : v->pgoff);
		CHECK(a, r, STEP_MMAP, v->start);
		if ((uint64_t)r != v->start)
			die(a, -22, STEP_MMAP, v->start);
		madvise_vma(a, v);
	}
}

static void protect_vmas(struct rst_args *a)
{
	struct rst_vma *v = at(a, a->vmas_off);

	for (uint32_t i = 0; i < a->nr_vmas; i++, v++) {
		if (fill_prot(v) != v->prot)
			CHECK(a, sys3(__NR_mprotect, v->start, v->end - v->start, v->prot), STEP_MPROTECT, v->start);
		if (v->madv & M_LOCKONFAULT)
			CHECK(a, sys3(__NR_mlock2, v->start, v->end - v->start, MLOCK_ONFAULT_), STEP_MLOCK, v->start);
		else if (v->madv & M_LOCKED)
			CHECK(a, sys2(__NR_mlock, v->start, v->end - v->start), STEP_MLOCK, v->start);
		/* Last: a sealed mapping takes no more mprotect, mlock or unmap. */
		if (v->madv & M_SEALED)
			CHECK(a, sys3(NR_MSEAL_, v->start, v->end - v->start, 0), STEP_MSEAL, v->start);
	}
}

static void queue_signals(struct rst_args *a, uint32_t tid, uint32_t nr, uint64_t off)
{
	const unsigned char *si = at(a, off);

	for (uint32_t i = 0; i < nr; i++, si += 128) {
		int sig = *(const int32_t *)si;

		if (tid)
			CHECK(a, sys4(__NR_rt_tgsigqueueinfo, a->pid, tid, sig, si), STEP_SIGNALS, sig);
		else
			CHECK(a, sys3(__NR_rt_sigqueueinfo, a->pid, sig, si), STEP_SIGNALS, sig);
	}
}

static void set_creds(struct rst_args *a, const struct rst_creds *c)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = {
		{ (uint32_t)c->cap_eff, (uint32_t)c->cap_prm, (uint32_t)c->cap_inh },
		{ (uint32_t)(c->cap_eff >> 32), (uint32_t)(c->cap_prm >> 32), (uint32_t)(c->cap_inh >> 32) },
	};

	if (!c->change)
		return;
	for (int cap = 0; cap < 64; cap++)
		if (!(c->cap_bnd & (1ULL << cap))) {
			long r = sys2(__NR_prctl, PR_CAPBSET_DROP, cap);

			if (failed(r) && r != -22) /* EINVAL: beyond this kernel's last cap */
				die(a, r, STEP_CREDS, cap);
		}
	CHECK(a, sys2(__NR_prctl, PR_SET_SECUREBITS, c->securebits | SECBIT_KEEP_CAPS), STEP_CREDS, 1);
	CHECK(a, sys2(__NR_setgroups, a->nr_groups, at(a, a->groups_off)), STEP_CREDS, 2);
	CHECK(a, sys3(__NR_setresgid, c->gid[0], c->gid[1], c->gid[2]), STEP_CREDS, 3);
	sys1(__NR_setfsgid, c->gid[3]);
	CHECK(a, sys3(__NR_setresuid, c->uid[0], c->uid[1], c->uid[2]), STEP_CREDS, 4);
	sys1(__NR_setfsuid, c->uid[3]);
	CHECK(a, sys2(__NR_capset, &hdr, data), STEP_CREDS, 5);
	if (!(c->securebits & SECBIT_KEEP_CAPS))
		CHECK(a, sys2(__NR_prctl, PR_SET_KEEPCAPS, 0), STEP_CREDS, 6);
	for (int cap = 0; cap < 64; cap++)
		if (c->cap_amb & (1ULL << cap))
			CHECK(a, sys6(__NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0, 0), STEP_CREDS, 7);
	if (c->no_new_privs)
		CHECK(a, sys6(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0), STEP_CREDS, 8);
}

/*
 * The thread's seccomp filters, oldest first. Installed while still
 * privileged; the tracer has seccomp suspended for us, so they judge
 * nothing until the thread is let go.
 */
static void install_seccomp(struct rst_args *a, const struct rst_thread *t)
{
	const unsigned char *p = at(a, t->filters_off);

	if (t->seccomp_mode == 1)
		CHECK(a, sys2(__NR_prctl, PR_SET_SECCOMP, 1 /* SECCOMP_MODE_STRICT */), STEP_SECCOMP, t->tid);
	for (uint32_t i = 0; t->seccomp_mode == 2 && i < t->nr_filters; i++) {
		uint32_t insns = *(const uint32_t *)p, flags = *(const uint32_t *)(p + 4);
		struct {
			unsigned short len;
			const void *filter;
		} prog = { (unsigned short)insns, p + 8 };

		CHECK(a, sys3(__NR_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, flags, &prog), STEP_SECCOMP, t->tid);
		p += 8 + (uint64_t)insns * 8;
	}
}

/* Per-thread kernel state that needs no privilege and no other thread. */
static void thread_state(struct rst_args *a, struct rst_thread *t)
{
	uint64_t ss[3] = { t->ss_sp, (uint64_t)(t->ss_flags & ~SS_ONSTACK_), t->ss_size };

	if (t->robust_list_len)
		CHECK(a, sys2(__NR_set_robust_list, t->robust_list, t->robust_list_len), STEP_THREAD, t->tid);
	sys1(__NR_set_tid_address, t->clear_child_tid);
	if (t->rseq)
		CHECK(a, sys4(__NR_rseq, t->rseq, t->rseq_len, 0, t->rseq_sig), STEP_THREAD, t->rseq);
	if (t->ss_flags & SS_DISABLE_) {
		ss[0] = 0;
		ss[2] = 0;
		ss[1] = SS_DISABLE_;
	}
	CHECK(a, sys2(__NR_sigaltstack, ss, 0), STEP_THREAD, t->ss_sp);
	sys2(__NR_prctl, PR_SET_NAME, t->comm);
	queue_signals(a, t->tid, t->nr_sigpending, t->sigpending_off);
}

static void __attribute__((noreturn)) park(struct rst_args *a)
{
	for (;;)
		futex_wait(&a->park, 0);
}

static void thread_main(void *ap, void *tp)
{
	struct rst_args *a = ap;
	struct rst_thread *t = tp;

	thread_state(a, t);
	bump(&a->threads_ready);
	wait_at_least(&a->release, 1);
	install_seccomp(a, t);
	set_creds(a, &t->creds);
	bump(&a->threads_done);
	park(a);
}

static void create_threads(struct rst_args *a)
{
	struct rst_thread *t = at(a, a->threads_off);

	for (uint32_t i = 1; i < a->nr_threads; i++) {
		uint64_t tid = t[i].tid;
		struct {
			uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
				set_tid_size;
		} ca = {
			.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM,
			.stack = t[i].stack_top - RST_THREAD_STACK,
			.stack_size = RST_THREAD_STACK,
			.set_tid = (uint64_t)&tid,
			.set_tid_size = 1,
		};
		long r = rst_clone_thread(&ca, sizeof(ca), thread_main, a, &t[i]);

		CHECK(a, r, STEP_CLONE, tid);
	}
}

static void wait_go(struct rst_args *a, int phase)
{
	uint64_t v;

	CHECK(a, sys3(__NR_read, a->go_fd[phase], &v, sizeof(v)), STEP_GO, phase);
}

static void process_settings(struct rst_args *a)
{
	for (int i = 0; i < RST_NR_RLIMITS; i++)
		if (a->rlimits[i].set)
			CHECK(a, sys4(__NR_prlimit64, 0, i, &a->rlimits[i], 0), STEP_RLIMIT, i);
	queue_signals(a, 0, a->nr_shared_sigpending, a->shared_sigpending_off);
}

static void process_prctls(struct rst_args *a)
{
	CHECK(a, sys2(__NR_prctl, PR_SET_PDEATHSIG, a->pdeath_signal), STEP_PRCTL, 1);
	CHECK(a, sys2(__NR_prctl, PR_SET_DUMPABLE, a->dumpable), STEP_PRCTL, 2);
	CHECK(a, sys2(__NR_prctl, PR_SET_CHILD_SUBREAPER, a->child_subreaper), STEP_PRCTL, 3);
}

void rst_main(struct rst_args *a)
{
	struct rst_thread *self = at(a, a->threads_off);

	park_vdso(a);
	unmap_all_but_block(a);
	map_vmas(a);
	place_vdso(a);
	place_vdso_proxy(a);
	report(a, RST_MAPPED, 0, 0, 0);
	wait_go(a, 0);

	protect_vmas(a);
	/* Only now: READ_IMPLIES_EXEC would have changed the mappings above. */
	CHECK(a, sys1(__NR_personality, a->personality), STEP_PRCTL, 0);
	if (a->set_mm)
		CHECK(a, sys6(__NR_prctl, PR_SET_MM, PR_SET_MM_MAP, (long)&a->mm, sizeof(a->mm), 0, 0), STEP_MM_MAP, 0);
	create_threads(a);
	thread_state(a, self);
	wait_at_least(&a->threads_ready, (int32_t)a->nr_threads - 1);
	report(a, RST_THREADS, 0, 0, 0);
	wait_go(a, 1);

	__atomic_store_n(&a->release, 1, __ATOMIC_RELEASE);
	futex_wake(&a->release);
	process_settings(a);
	install_seccomp(a, self);
	set_creds(a, &self->creds);
	process_prctls(a);
	wait_at_least(&a->threads_done, (int32_t)a->nr_threads - 1);
	/*
	 * All of ckpt's fds but the report pipe go; the tracer takes it from here.
	 * In a table shared with other processes they may still be waiting on
	 * them: ckpt closes them once every process is done (restore_finish.c).
	 */
	if (!a->keep_ctl_fds && (uint32_t)a->report_fd > a->ctl_fd_lo)
		sys3(__NR_close_range, a->ctl_fd_lo, a->report_fd - 1, 0);
	if (!a->keep_ctl_fds)
		sys3(__NR_close_range, a->report_fd + 1, ~0U, 0);
	report(a, RST_DONE, 0, 0, 0);
	if (!a->keep_ctl_fds)
		sys1(__NR_close, a->report_fd);
	if (a->leader_exits)
		for (;;)
			sys1(__NR_exit, 0); /* this thread only: the leader becomes a zombie again */
	park(a);
}
