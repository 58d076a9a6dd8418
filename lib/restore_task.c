// SPDX-License-Identifier: MIT
/*
 * The task stage: code that runs in every restored process while it is
 * still a copy of ckpt. It puts the process in its session and group,
 * creates its children with their pids, sets up descriptors and settings
 * that libc can set, builds the restorer block and jumps into it.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "compat.h"
#include "ipc.h"
#include "mem.h"
#include "res/res.h"
#include "restore.h"
#include "restore_vdso.h"

extern const char restorer_blob[], restorer_blob_end[];

_Static_assert(CKPT__VMA_KIND__VMA_SYSV_SHM == RST_KIND_SYSV_SHM, "the restorer knows SysV attachments by this kind");

void task_report(struct restore *rs, pid_t pid, int stage, int err, const char *fmt, ...)
{
	struct rst_report r = { .pid = pid, .stage = stage, .err = err };
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(r.msg, sizeof(r.msg), fmt, ap);
		va_end(ap);
	}
	if (write(rs->report_wr, &r, sizeof(r)) < 0)
		_exit(71);
}


static void install_fds(struct restore *rs, struct rproc *rp)
{
	pid_t pid = (pid_t)rp->p->pid;
	int next = 0;

	for (size_t i = 0; i < rp->nr_fds; i++) {
		const Ckpt__Fd *fd = rp->fds[i];
		int src = rs->file_fds[file_index(rs, fd->file_id)];

		if (dup3(src, (int)fd->fd, fd->cloexec ? O_CLOEXEC : 0) < 0)
			TASK_FAIL(rs, pid, -errno, "pid %d fd %u: %s", pid, fd->fd, strerror(errno));
	}
	/* Close what the image does not have below our own fds: fds are sorted. */
	for (size_t i = 0; i < rp->nr_fds; i++) {
		if ((int)rp->fds[i]->fd > next)
			syscall(SYS_close_range, next, rp->fds[i]->fd - 1, 0);
		next = (int)rp->fds[i]->fd + 1;
	}
	if (next < rs->ctl_lo)
		syscall(SYS_close_range, next, rs->ctl_lo - 1, 0);
}

/* State that names other fds by number (epoll watches), once all are in place. */
static void attach_fds(struct restore *rs, struct rproc *rp)
{
	pid_t pid = (pid_t)rp->p->pid;

	for (size_t i = 0; i < rp->nr_fds; i++) {
		const Ckpt__Fd *fd = rp->fds[i];
		const Ckpt__File *f = model_file(&rs->m, fd->file_id);
		const struct res_ops *ops = res_by_kind(f->kind);
		char msg[200];
		bool first = true;
		int r;

		if (!ops || !ops->attach || !f->has_owner_pid || f->owner_pid != rp->p->pid)
			continue;
		for (size_t k = 0; k < i; k++)
			first &= rp->fds[k]->file_id != fd->file_id;
		if (first && (r = ops->attach(f, rp->p->pid, (int)fd->fd, msg, sizeof(msg))) < 0)
			TASK_FAIL(rs, pid, r, "%s", msg);
	}
}

static void set_fs(struct restore *rs, const Ckpt__Process *p)
{
	pid_t pid = (pid_t)p->pid;
	const Ckpt__File *root = model_file(&rs->m, p->root_file_id);

	if (root->path && strcmp(root->path, "/") && chroot(root->path) < 0)
		TASK_FAIL(rs, pid, -errno, "pid %d: chroot %s: %s", pid, root->path, strerror(errno));
	if (fchdir(rs->file_fds[file_index(rs, p->cwd_file_id)]) < 0)
		TASK_FAIL(rs, pid, -errno, "pid %d: chdir: %s", pid, strerror(errno));
	umask(p->umask);
}

static void set_settings(struct restore *rs, const Ckpt__Process *p)
{
	pid_t pid = (pid_t)p->pid;
	struct sched_param sp = { .sched_priority = (int)p->sched_priority };
	char buf[32];
	int fd;

	if (setpriority(PRIO_PROCESS, 0, p->nice) < 0)
		TASK_FAIL(rs, pid, -errno, "pid %d: nice %d: %s", pid, p->nice, strerror(errno));
	/* SCHED_DEADLINE needs its parameters, and makes fork fail: its threads get it at the end. */
	if (p->sched_policy != SCHED_DEADLINE && sched_setscheduler(0, (int)p->sched_policy, &sp) < 0)
		TASK_FAIL(rs, pid, -errno, "pid %d: scheduler policy %u: %s", pid, p->sched_policy, strerror(errno));
	if (p->has_thp_disable && prctl(PR_SET_THP_DISABLE, p->thp_disable & 1, p->thp_disable & ~1u, 0, 0) < 0)
		TASK_FAIL(rs, pid, -errno, "pid %d: disabling transparent huge pages (0x%x): %s", pid, p->thp_disable,
			  strerror(errno));
	/* Before the memory is rebuilt: every mapping of such a process is mergeable. */
	if (p->has_ksm_merge_any && p->ksm_merge_any && prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) < 0)
		TASK_FAIL(rs, pid, -errno, "pid %d: KSM merging of all its memory (PR_SET_MEMORY_MERGE): %s", pid,
			  strerror(errno));
	/* CPUs the image had may not exist here: keep ours then. */
	if (p->cpu_affinity.len)
		sched_setaffinity(0, p->cpu_affinity.len, (cpu_set_t *)p->cpu_affinity.data);
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		int n = snprintf(buf, sizeof(buf), "%d", p->oom_score_adj);

		/* Lowering it needs CAP_SYS_RESOURCE; restore checked and warned. */
		if (write(fd, buf, (size_t)n) < 0 && errno != EACCES && errno != EPERM)
			TASK_FAIL(rs, pid, -errno, "pid %d: oom_score_adj: %s", pid, strerror(errno));
		close(fd);
	}
	if (p->has_coredump_filter) {
		int n = snprintf(buf, sizeof(buf), "0x%x", p->coredump_filter);

		fd = open("/proc/self/coredump_filter", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, buf, (size_t)n) != n)
			TASK_FAIL(rs, pid, -errno, "pid %d: coredump_filter 0x%x: %s", pid, p->coredump_filter,
				  strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	/* Handlers ckpt itself had (a sanitizer's, say) must not stay behind. */
	for (int sig = 1; sig <= 64; sig++) {
		uint64_t dfl[4] = { 0 };

		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, dfl, NULL, 8);
	}
	for (size_t i = 0; i < p->n_sigactions; i++) {
		const Ckpt__SigAction *sa = p->sigactions[i];
		uint64_t ks[4] = { sa->handler, sa->flags, sa->restorer, sa->mask };

		if (sa->sig == SIGKILL || sa->sig == SIGSTOP)
			continue;
		if (syscall(SYS_rt_sigaction, sa->sig, ks, NULL, 8) < 0)
			TASK_FAIL(rs, pid, -errno, "pid %d: sigaction %u: %s", pid, sa->sig, strerror(errno));
	}
}

/* Drops glibc's rseq registration: its area is about to be unmapped. */
static void unregister_rseq(void)
{
	extern const ptrdiff_t __rseq_offset __attribute__((weak));
	extern const unsigned int __rseq_size __attribute__((weak));
	static const unsigned sizes[] = { 32, 20 };
	char *area;

	if (!&__rseq_size || !__rseq_size)
		return;
	area = (char *)__builtin_thread_pointer() + __rseq_offset;
	if (syscall(SYS_rseq, area, __rseq_size, 1, 0x53053053) == 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		if (syscall(SYS_rseq, area, sizes[i], 1, 0x53053053) == 0)
			return;
}

struct range {
	uint64_t s, e;
};

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->s < y->s ? -1 : x->s > y->s;
}

/* A free place, in both our layout and the image's, for the restorer block. */
static uint64_t find_hole(struct rproc *rp, uint64_t len)
{
	struct range *r = NULL;
	size_t n = 0, cap = 0;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");
	uint64_t cand = CKPT_TASK_SIZE;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long s, e;

		if (sscanf(line, "%llx-%llx", &s, &e) == 2 && s < CKPT_TASK_SIZE) {
			struct range *x = array_push(&r, &n, &cap, sizeof(*r));

			x->s = s;
			x->e = e;
		}
	}
	if (f)
		fclose(f);
	for (size_t i = 0; i < rp->nr_vmas; i++) {
		struct range *x = array_push(&r, &n, &cap, sizeof(*r));

		x->s = rp->vmas[i]->start;
		x->e = rp->vmas[i]->end;
	}
	qsort(r, n, sizeof(*r), cmp_range);
	/* Walk down from the top; leave a page between us and anything. */
	for (size_t i = n; i-- > 0;) {
		if (r[i].e + PAGE_SIZE <= cand && cand - r[i].e - PAGE_SIZE >= len) {
			free(r);
			return (cand - len) & ~(PAGE_SIZE - 1);
		}
		if (r[i].s < cand)
			cand = r[i].s > PAGE_SIZE ? r[i].s - PAGE_SIZE : 0;
	}
	free(r);
	return cand > len + (1UL << 20) ? cand - len : 0;
}

static void fill_creds(struct restore *rs, struct rst_creds *c, const Ckpt__Creds *src, uint32_t securebits)
{
	for (int i = 0; i < 4; i++) {
		c->uid[i] = src->uid[i];
		c->gid[i] = src->gid[i];
		c->change |= src->uid[i] != 0 || src->gid[i] != 0;
	}
	c->cap_eff = src->cap_eff;
	c->cap_prm = src->cap_prm;
	c->cap_inh = src->cap_inh;
	c->cap_bnd = src->cap_bnd;
	c->cap_amb = src->cap_amb;
	c->securebits = securebits; /* read once per process, from its main thread */
	c->no_new_privs = src->no_new_privs;
	c->change |= src->cap_eff != rs->own_caps || src->cap_prm != rs->own_caps || src->cap_inh ||
		     src->cap_bnd != rs->own_caps || src->cap_amb || securebits || src->no_new_privs;
}

struct layout {
	uint64_t args, vmas, threads, sig, seccomp, groups, auxv, stacks, parking, proxy, total;
};

static uint64_t seccomp_bytes(const struct rproc *rp)
{
	uint64_t n = 0;

	for (size_t i = 0; i < rp->nr_threads; i++)
		for (size_t k = 0; k < rp->threads[i]->n_seccomp_filters; k++)
			n += 8 + rp->threads[i]->seccomp_filters[k]->prog.len;
	return n;
}

static uint64_t sigpending_bytes(struct rproc *rp)
{
	uint64_t n = rp->p->n_shared_sigpending;

	for (size_t i = 0; i < rp->nr_threads; i++)
		n += rp->threads[i]->n_sigpending;
	return n * 128;
}

/* Threads the restorer runs: with an exited leader, one more that exits again. */
static size_t restorer_threads(const struct rproc *rp)
{
	return rp->nr_threads + (rp->p->leader_exited ? 1 : 0);
}

static void plan_layout(struct rproc *rp, struct layout *l, uint64_t vdso_len, uint64_t proxy_len)
{
	uint64_t code = PAGE_ALIGN((uint64_t)(restorer_blob_end - restorer_blob));

	l->args = code;
	l->vmas = PAGE_ALIGN(l->args + sizeof(struct rst_args));
	l->threads = l->vmas + rp->nr_vmas * sizeof(struct rst_vma);
	l->sig = l->threads + restorer_threads(rp) * sizeof(struct rst_thread);
	l->seccomp = l->sig + sigpending_bytes(rp);
	l->groups = PAGE_ALIGN(l->seccomp + seccomp_bytes(rp));
	l->auxv = l->groups + 65536 * 4;
	l->stacks = PAGE_ALIGN(l->auxv + rp->p->mm->auxv.len + 16);
	l->parking = l->stacks + restorer_threads(rp) * RST_THREAD_STACK;
	l->proxy = PAGE_ALIGN(l->parking + vdso_len);
	l->total = PAGE_ALIGN(l->proxy + proxy_len);
}

static void fill_vmas(struct restore *rs, struct rproc *rp, struct rst_args *a, struct rst_vma *out)
{
	a->nr_vmas = 0;
	for (size_t i = 0; i < rp->nr_vmas; i++) {
		const Ckpt__Vma *v = rp->vmas[i];
		struct rst_vma *o;

		if (v->kind == CKPT__VMA_KIND__VMA_VDSO || v->kind == CKPT__VMA_KIND__VMA_VVAR ||
		    v->kind == CKPT__VMA_KIND__VMA_VSYSCALL)
			continue;
		o = &out[a->nr_vmas++];
		o->start = v->start;
		o->end = v->end;
		o->pgoff = v->pgoff;
		o->prot = v->prot;
		o->flags = v->flags;
		o->madv = v->madv;
		o->kind = v->kind;
		o->fd = -1;
		if (v->kind == CKPT__VMA_KIND__VMA_FILE)
			o->fd = rs->map_fds[file_index(rs, v->file_id)];
		else if (v->kind == CKPT__VMA_KIND__VMA_SHMEM)
			o->fd = rs->shmem_fds[shmem_index(rs, v->shmem_id)];
		if (v->kind == CKPT__VMA_KIND__VMA_SYSV_SHM) {
			o->shmid = v->sysv_shm_id;
			o->shm_size = PAGE_ALIGN(model_sysv(&rs->m, SYSV_SHM, v->sysv_shm_id)->shm_size);
			o->shm_rdonly = v->sysv_shm_rdonly;
		}
	}
}

static void fill_threads(struct restore *rs, struct rproc *rp, struct rst_args *a, char *block,
			 const struct layout *l)
{
	struct rst_thread *t = (struct rst_thread *)(block + l->threads);
	uint64_t sig_off = l->sig, sc_off = l->seccomp;

	size_t extra = rp->p->leader_exited ? 1 : 0;

	a->nr_threads = (uint32_t)restorer_threads(rp);
	a->leader_exits = (uint32_t)extra;
	if (extra) {
		/* The leader only builds the process, then exits as it had. */
		t->tid = rp->p->pid;
		t->ss_flags = 2; /* SS_DISABLE */
		t->stack_top = a->block_start + l->stacks + RST_THREAD_STACK - 64;
		snprintf(t->comm, sizeof(t->comm), "%s", rp->p->comm);
		fill_creds(rs, &t->creds, rp->p->creds, rp->p->creds->securebits);
		t++;
	}
	for (size_t i = 0; i < rp->nr_threads; i++, t++) {
		const Ckpt__Thread *src = rp->threads[i];

		t->tid = src->tid;
		t->clear_child_tid = src->clear_child_tid;
		t->robust_list = src->robust_list;
		t->robust_list_len = src->robust_list_len;
		t->rseq = src->has_rseq ? src->rseq : 0;
		t->rseq_len = src->rseq_len;
		t->rseq_sig = src->rseq_sig;
		t->ss_sp = src->altstack_sp;
		t->ss_size = src->altstack_size;
		t->ss_flags = src->altstack_flags;
		t->stack_top = a->block_start + l->stacks + (i + 1 + extra) * RST_THREAD_STACK - 64;
		snprintf(t->comm, sizeof(t->comm), "%s", src->comm);
		fill_creds(rs, &t->creds, src->creds, rp->p->creds->securebits);
		t->seccomp_mode = src->seccomp_mode;
		t->nr_filters = (uint32_t)src->n_seccomp_filters;
		t->filters_off = sc_off;
		for (size_t k = 0; k < src->n_seccomp_filters; k++) {
			const Ckpt__SeccompFilter *sf = src->seccomp_filters[k];
			uint32_t hdr[2] = { (uint32_t)(sf->prog.len / 8), (uint32_t)sf->flags };

			memcpy(block + sc_off, hdr, 8);
			memcpy(block + sc_off + 8, sf->prog.data, sf->prog.len);
			sc_off += 8 + sf->prog.len;
		}
		t->nr_sigpending = (uint32_t)src->n_sigpending;
		t->sigpending_off = sig_off;
		for (size_t k = 0; k < src->n_sigpending; k++, sig_off += 128)
			memcpy(block + sig_off, src->sigpending[k].data, 128);
	}
	a->nr_shared_sigpending = (uint32_t)rp->p->n_shared_sigpending;
	a->shared_sigpending_off = sig_off;
	for (size_t k = 0; k < rp->p->n_shared_sigpending; k++, sig_off += 128)
		memcpy(block + sig_off, rp->p->shared_sigpending[k].data, 128);
}

static void fill_mm(struct restore *rs, struct rproc *rp, struct rst_args *a, char *block, const struct layout *l)
{
	const Ckpt__MmInfo *mm = rp->p->mm;

	if (mm->auxv.len)
		memcpy(block + l->auxv, mm->auxv.data, mm->auxv.len);
	a->set_mm = 1;
	a->mm = (struct rst_mm_map){
		.start_code = mm->start_code, .end_code = mm->end_code,
		.start_data = mm->start_data, .end_data = mm->end_data,
		.start_brk = mm->start_brk, .brk = mm->brk, .start_stack = mm->start_stack,
		.arg_start = mm->arg_start, .arg_end = mm->arg_end,
		.env_start = mm->env_start, .env_end = mm->env_end,
		.auxv = a->block_start + l->auxv, .auxv_size = (uint32_t)mm->auxv.len,
		.exe_fd = (uint32_t)rs->map_fds[file_index(rs, mm->exe_file_id)],
	};
}

static void fill_process(struct restore *rs, struct rproc *rp, struct rst_args *a, char *block,
			 const struct layout *l)
{
	const Ckpt__Process *p = rp->p;
	uint32_t *groups = (uint32_t *)(block + l->groups);

	a->nr_groups = (uint32_t)p->creds->n_groups;
	a->groups_off = l->groups;
	if (p->creds->n_groups)
		memcpy(groups, p->creds->groups, p->creds->n_groups * sizeof(uint32_t));
	for (int i = 0; i < RST_NR_RLIMITS; i++)
		a->rlimits[i].set = 0;
	for (size_t i = 0; i < p->n_rlimits; i++) {
		struct rst_rlimit *rl = &a->rlimits[p->rlimits[i]->resource];

		rl->cur = p->rlimits[i]->cur;
		rl->max = p->rlimits[i]->max;
		rl->set = 1;
	}
	a->personality = p->personality;
	a->pdeath_signal = p->pdeath_signal;
	a->dumpable = p->dumpable;
	a->child_subreaper = p->has_child_subreaper ? p->child_subreaper : 0;
	fill_mm(rs, rp, a, block, l);
}

static void __attribute__((noreturn)) enter_restorer(struct restore *rs, struct rproc *rp)
{
	pid_t pid = (pid_t)rp->p->pid;
	struct vdso_layout cur;
	struct layout l;
	struct rst_args *a;
	char *block, why[160];
	uint64_t addr, vdso_len = 0, proxy_len, vdso_free = 0;

	vdso_current(&cur);
	if (cur.n)
		vdso_len = cur.r[cur.n - 1][1] - cur.r[0][0];
	proxy_len = vdso_proxy_len(rs, rp, &cur);
	plan_layout(rp, &l, vdso_len, proxy_len);
	addr = find_hole(rp, l.total);
	if (!addr)
		TASK_FAIL(rs, pid, -ENOMEM, "pid %d: no room for the restorer", pid);
	block = mmap((void *)addr, l.total, PROT_READ | PROT_WRITE | PROT_EXEC,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (block == MAP_FAILED)
		TASK_FAIL(rs, pid, -errno, "pid %d: mapping the restorer at 0x%llx: %s", pid,
			  (unsigned long long)addr, strerror(errno));
	memcpy(block, restorer_blob, (size_t)(restorer_blob_end - restorer_blob));
	a = (struct rst_args *)(block + l.args);
	a->block_start = (uint64_t)block;
	a->block_len = l.total;
	a->pid = (uint32_t)pid;
	a->report_fd = rs->report_wr;
	a->go_fd[0] = rs->go_fd[0];
	a->go_fd[1] = rs->go_fd[1];
	a->ctl_fd_lo = (uint32_t)rs->ctl_lo;
	a->keep_ctl_fds = rp->files_shared;
	a->parking = (uint64_t)block + l.parking;
	a->proxy_off = l.proxy;
	if (proxy_len && !(vdso_free = find_hole(rp, vdso_len)))
		TASK_FAIL(rs, pid, -ENOMEM, "pid %d: no room for the vDSO", pid);
	if (vdso_setup(rp, &cur, a, (uint8_t *)block + l.proxy, proxy_len, vdso_free, why, sizeof(why)) < 0)
		TASK_FAIL(rs, pid, -ENOEXEC, "pid %d: %s", pid, why);
	a->vmas_off = l.vmas;
	a->threads_off = l.threads;
	fill_vmas(rs, rp, a, (struct rst_vma *)(block + l.vmas));
	fill_threads(rs, rp, a, block, &l);
	fill_process(rs, rp, a, block, &l);
	unregister_rseq();
	__asm__ volatile("mov %0, %%rsp\n\tjmp *%1\n"
			 :
			 : "r"(((struct rst_thread *)(block + l.threads))[0].stack_top - 8), "r"(block), "D"(a)
			 : "memory");
	__builtin_unreachable();
}

void task_main(struct restore *rs, size_t idx)
{
	struct rproc *rp = &rs->procs[idx];
	const Ckpt__Process *p = rp->p;
	pid_t pid = (pid_t)p->pid;

	if (!rp->via_helper)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != rp->parent_pid && !(rp->via_helper && getppid() == rp->via_helper))
		_exit(70); /* the coordinator is gone already */
	if (getpid() != pid)
		TASK_FAIL(rs, pid, -EINVAL, "pid %d: created as pid %d", pid, getpid());
	rs->ctx->log = NULL; /* fds are about to change under stdio */
	if (p->child_subreaper)
		prctl(PR_SET_CHILD_SUBREAPER, 1); /* before helpers leave orphans to us */
	set_session(rs, p);
	/* Before any other process of the tree exists: they may use them at once. */
	if (idx == rs->root)
		sysv_restore_create(rs);
	if (rp->via_helper)
		wait_adopted(rs, rp);
	if (p->state == 1) {
		join_group(rs, p);
		check_ids(rs, p);
		become_zombie(p);
	}
	/*
	 * A table shared with processes we make is complete before they exist:
	 * they never change it, so nothing of theirs lands in it half-done.
	 */
	if (rp->files_shared && !(rp->clone_flags & CLONE_FILES))
		install_fds(rs, rp);
	make_children(rs, rp);
	sysv_restore_undo(rs, rp);
	join_group(rs, p);
	check_ids(rs, p);
	ctty_foreground(rs, p);
	if (!rp->files_shared)
		install_fds(rs, rp);
	attach_fds(rs, rp);
	/* Made with CLONE_FS: the one that made the fs sets it for all. */
	if (!(rp->clone_flags & CLONE_FS))
		set_fs(rs, p);
	set_settings(rs, p);
	enter_restorer(rs, rp);
}
