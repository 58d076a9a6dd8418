// SPDX-License-Identifier: MIT
/*
 * Restore coordinator. Everything in the image but page data is read and
 * checked before the first process exists. Then the tree is created (each
 * process makes its own children, see restore_task.c), memory is filled from
 * the image stream while the processes wait, and the tree is let go only
 * when the image has been read to its verified end. On any failure every
 * process of the tree is killed and reaped.
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "compat.h"
#include "ipc.h"
#include "locks.h"
#include "mem.h"
#include "res/res.h"
#include "restore.h"

#define STAGE_TIMEOUT_MS 60000

size_t file_index(const struct restore *rs, uint64_t id)
{
	for (size_t i = 0; i < rs->m.files.n; i++)
		if (rs->m.files.v[i]->id == id)
			return i;
	abort(); /* validated before use */
}

size_t shmem_index(const struct restore *rs, uint64_t id)
{
	for (size_t i = 0; i < rs->m.shmems.n; i++)
		if (rs->m.shmems.v[i]->id == id)
			return i;
	abort();
}

static int cmp_fd(const void *a, const void *b)
{
	const Ckpt__Fd *x = *(Ckpt__Fd *const *)a, *y = *(Ckpt__Fd *const *)b;

	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

static int read_vdso_image(struct restore *rs, struct rproc *rp)
{
	const Ckpt__MmInfo *mm = rp->p->mm;
	const Ckpt__Vma *vdso = NULL;

	if (!mm || !mm->has_vdso_image)
		return 0;
	for (size_t i = 0; i < rp->nr_vmas; i++)
		if (rp->vmas[i]->kind == CKPT__VMA_KIND__VMA_VDSO)
			vdso = rp->vmas[i];
	rp->old_vdso = xcalloc(1, sizeof(*rp->old_vdso));
	if (!vdso || vdso->end - vdso->start != mm->vdso_image.len || mm->vdso_image.len > VDSO_MAX_SIZE ||
	    vdso_parse(mm->vdso_image.data, mm->vdso_image.len, rp->old_vdso) < 0)
		return fail(rs->ctx, -EBADMSG, "image damaged: vDSO of pid %u", rp->p->pid);
	return 0;
}

/* Groups records by process; threads[0] is the main thread. */
static int build_procs(struct restore *rs)
{
	struct model *m = &rs->m;

	rs->nr_procs = m->procs.n;
	rs->procs = xcalloc(m->procs.n, sizeof(*rs->procs));
	for (size_t i = 0; i < m->procs.n; i++) {
		struct rproc *rp = &rs->procs[i];

		rp->p = m->procs.v[i];
		rp->memfd = -1;
		if (rp->p->pid == m->header->root_pid)
			rs->root = i;
		rp->threads = xcalloc(m->threads.n, sizeof(*rp->threads));
		rp->vmas = xcalloc(m->vmas.n, sizeof(*rp->vmas));
		rp->fds = xcalloc(m->fds.n, sizeof(*rp->fds));
		rp->children = xcalloc(m->procs.n, sizeof(*rp->children));
		for (size_t k = 0; k < m->threads.n; k++)
			if (m->threads.v[k]->pid == rp->p->pid) {
				if (m->threads.v[k]->tid == rp->p->pid && rp->nr_threads) {
					rp->threads[rp->nr_threads++] = rp->threads[0];
					rp->threads[0] = m->threads.v[k];
				} else {
					rp->threads[rp->nr_threads++] = m->threads.v[k];
				}
			}
		for (size_t k = 0; k < m->vmas.n; k++)
			if (m->vmas.v[k]->pid == rp->p->pid)
				rp->vmas[rp->nr_vmas++] = m->vmas.v[k];
		for (size_t k = 0; k < m->fds.n; k++)
			if (m->fds.v[k]->pid == rp->p->pid)
				rp->fds[rp->nr_fds++] = m->fds.v[k];
		qsort(rp->fds, rp->nr_fds, sizeof(*rp->fds), cmp_fd);
		if (read_vdso_image(rs, rp) < 0)
			return -EBADMSG;
	}
	for (size_t i = 0; i < m->procs.n; i++) {
		struct rproc *rp = &rs->procs[i];

		for (size_t k = 0; k < m->procs.n; k++)
			if (rs->procs[k].p->ppid == rp->p->pid) {
				rp->children[rp->nr_children++] = k;
				rs->procs[k].parent_pid = (pid_t)rp->p->pid;
			}
	}
	rs->procs[rs->root].parent_pid = getpid();
	/* A shell job's session and group are not ours to remake: it joins ckpt restore's. */
	{
		const Ckpt__Process *root = rs->procs[rs->root].p;

		if (root->sid != root->pid && !model_proc(m, root->sid))
			rs->outside_sid = root->sid;
		if (root->pgid != root->pid && !model_proc(m, root->pgid))
			rs->outside_pgid = root->pgid;
	}
	return 0;
}

static int check_cpu(struct restore *rs)
{
	uint32_t lo, hi;
	uint64_t xcr0;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	xcr0 = ((uint64_t)hi << 32) | lo;
	if (rs->m.header->xfeatures & ~xcr0)
		return fail(rs->ctx, -EOPNOTSUPP,
			    "the image needs CPU state features 0x%llx that this CPU lacks (it has 0x%llx)",
			    (unsigned long long)rs->m.header->xfeatures, (unsigned long long)xcr0);
	return 0;
}

bool leader_missing(const struct restore *rs, uint32_t id, bool session)
{
	return id != (session ? rs->outside_sid : rs->outside_pgid) && !model_proc(&rs->m, id);
}

static int wait_pid_free(struct restore *rs, uint32_t id, int wait_ms, const char *what)
{
	char path[32];
	int waited = 0;

	snprintf(path, sizeof(path), "/proc/%u", id);
	while (access(path, F_OK) == 0) {
		if (waited >= wait_ms)
			return fail(rs->ctx, -EBUSY, "pid %u%s is in use by another process", id, what);
		usleep(10000);
		waited += 10;
	}
	return 0;
}

/*
 * Original pids must be free (the machine's init may still be reaping them),
 * and so must those of gone session and group leaders: helpers take them.
 */
static int check_pids(struct restore *rs)
{
	int wait_ms = rs->opts->pid_wait_ms > 0 ? rs->opts->pid_wait_ms : 3000;
	int r = 0;

	for (size_t i = 0; r == 0 && i < rs->m.procs.n; i++) {
		const Ckpt__Process *p = rs->m.procs.v[i];

		r = wait_pid_free(rs, p->pid, wait_ms, "");
		if (r == 0 && leader_missing(rs, p->sid, true))
			r = wait_pid_free(rs, p->sid, wait_ms, " (for a helper that remakes its session)");
		if (r == 0 && leader_missing(rs, p->pgid, false))
			r = wait_pid_free(rs, p->pgid, wait_ms, " (for a helper that remakes its process group)");
	}
	for (size_t i = 0; r == 0 && i < rs->m.threads.n; i++)
		r = wait_pid_free(rs, rs->m.threads.v[i]->tid, wait_ms, "");
	return r;
}

static bool has_cap(const struct restore *rs, int cap)
{
	return rs->own_caps & (1ULL << cap);
}

static int check_creds_allowed(struct restore *rs, uint32_t id, const Ckpt__Creds *c)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	getresuid(&ruid, &euid, &suid);
	getresgid(&rgid, &egid, &sgid);
	for (int i = 0; i < 4; i++) {
		if (!has_cap(rs, CAP_SETUID) && c->uid[i] != ruid && c->uid[i] != euid && c->uid[i] != suid)
			return fail(rs->ctx, -EPERM, "pid %u: the image asks for uid %u, which uid %u may not take",
				    id, c->uid[i], euid);
		if (!has_cap(rs, CAP_SETGID) && c->gid[i] != rgid && c->gid[i] != egid && c->gid[i] != sgid)
			return fail(rs->ctx, -EPERM, "pid %u: the image asks for gid %u, which uid %u may not take",
				    id, c->gid[i], euid);
	}
	if ((c->cap_prm | c->cap_eff | c->cap_inh | c->cap_amb) & ~rs->own_caps)
		return fail(rs->ctx, -EPERM, "pid %u: the image asks for capabilities 0x%llx that ckpt does not have", id,
			    (unsigned long long)((c->cap_prm | c->cap_eff | c->cap_inh | c->cap_amb) & ~rs->own_caps));
	return 0;
}

/* Restore gives no one more than they could take themselves. */
static int check_privileges(struct restore *rs)
{
	int r = 0;

	if (!has_cap(rs, CAP_CHECKPOINT_RESTORE) && !has_cap(rs, CAP_SYS_ADMIN))
		return fail(rs->ctx, -EPERM, "restoring with the original pids needs CAP_CHECKPOINT_RESTORE");
	for (size_t i = 0; r == 0 && i < rs->m.procs.n; i++)
		r = check_creds_allowed(rs, rs->m.procs.v[i]->pid, rs->m.procs.v[i]->creds);
	for (size_t i = 0; r == 0 && i < rs->m.threads.n; i++)
		r = check_creds_allowed(rs, rs->m.threads.v[i]->tid, rs->m.threads.v[i]->creds);
	return r;
}

static int check_rlimits(struct restore *rs)
{
	for (size_t i = 0; i < rs->m.procs.n; i++) {
		const Ckpt__Process *p = rs->m.procs.v[i];

		for (size_t k = 0; k < p->n_rlimits; k++) {
			struct rlimit own;

			if (getrlimit((int)p->rlimits[k]->resource, &own) < 0)
				continue;
			if (own.rlim_max != RLIM_INFINITY && p->rlimits[k]->max > own.rlim_max)
				return fail(rs->ctx, -EPERM,
					    "pid %u: rlimit %u hard limit %llu is above ours (%llu) and raising it needs CAP_SYS_RESOURCE",
					    p->pid, p->rlimits[k]->resource, (unsigned long long)p->rlimits[k]->max,
					    (unsigned long long)own.rlim_max);
		}
	}
	return 0;
}

/* Moves fd to at least rs->ctl_lo, out of the way of every restored fd. */
static int high_fd(struct restore *rs, int fd)
{
	int n = fcntl(fd, F_DUPFD_CLOEXEC, rs->ctl_lo);

	close(fd);
	return n < 0 ? fail(rs->ctx, -errno, "moving an fd to %d: %s", rs->ctl_lo, strerror(errno)) : n;
}

static bool file_mapped_shared_writable(const struct restore *rs, uint64_t id)
{
	for (size_t i = 0; i < rs->m.vmas.n; i++) {
		const Ckpt__Vma *v = rs->m.vmas.v[i];

		if (v->has_file_id && v->file_id == id && (v->flags & MAP_SHARED) && (v->prot & PROT_WRITE))
			return true;
	}
	return false;
}

static bool file_needs_map_fd(const struct restore *rs, uint64_t id)
{
	for (size_t i = 0; i < rs->m.vmas.n; i++)
		if (rs->m.vmas.v[i]->has_file_id && rs->m.vmas.v[i]->file_id == id)
			return true;
	for (size_t i = 0; i < rs->m.procs.n; i++)
		if (rs->m.procs.v[i]->mm && rs->m.procs.v[i]->mm->exe_file_id == id)
			return true;
	return false;
}

/* A mapped file must be the one that was dumped, unless the caller accepts a changed one. */
static int open_map_fd(struct restore *rs, const Ckpt__File *f)
{
	int flags = file_mapped_shared_writable(rs, f->id) ? O_RDWR : O_RDONLY;
	char user[64], how[96];
	struct stat st;
	int fd;

	if (!f->path)
		return fail(rs->ctx, -EBADMSG, "file %llu has no path", (unsigned long long)f->id);
	fd = open(f->path, flags | O_CLOEXEC);
	if (fd < 0)
		return fail(rs->ctx, -errno, "%s: mapped file %s: %s", file_user(&rs->m, f->id, user, sizeof(user)),
			    f->path, strerror(errno));
	/*
	 * Size and modification time must match: a file changed in place keeps
	 * its inode, a copy on another machine (with its times kept) does not.
	 */
	if (fstat(fd, &st) < 0) {
		close(fd);
		return fail(rs->ctx, -errno, "mapped file %s: %s", f->path, strerror(errno));
	}
	if (file_changed(f, &st) && !rs->opts->allow_file_changes) {
		close(fd);
		return fail(rs->ctx, -ESTALE, "%s: mapped file %s changed since the dump (%s); --allow-file-changes accepts that",
			    file_user(&rs->m, f->id, user, sizeof(user)), f->path, file_change(f, &st, how, sizeof(how)));
	}
	return high_fd(rs, fd);
}

/* What mappings and an exe of f map: the kind's own fd (a memfd's), or the file reopened by path. */
static int map_fd(struct restore *rs, const struct res_ops *ops, const Ckpt__File *f, int *out)
{
	int fd, r;

	if (ops->map_fd) {
		r = ops->map_fd(rs->ctx, &rs->rr, f, &fd);
		if (r < 0)
			return r;
		fd = high_fd(rs, fd);
	} else {
		fd = open_map_fd(rs, f);
	}
	if (fd < 0)
		return fd;
	*out = fd;
	return 0;
}

static int open_one_file(struct restore *rs, size_t i)
{
	const Ckpt__File *f = rs->m.files.v[i];
	const struct res_ops *ops = res_by_kind(f->kind);
	int fd, r;

	if (!ops)
		return fail(rs->ctx, -EBADMSG, "file %llu: unknown kind %u", (unsigned long long)f->id, f->kind);
	r = ops->open(rs->ctx, &rs->rr, f, &fd);
	if (r < 0)
		return r;
	rs->file_fds[i] = high_fd(rs, fd);
	if (rs->file_fds[i] < 0)
		return rs->file_fds[i];
	r = locks_take_file(rs->ctx, &rs->m, f, rs->file_fds[i]);
	if (r == 0 && file_needs_map_fd(rs, f->id))
		r = map_fd(rs, ops, f, &rs->map_fds[i]);
	return r;
}

/* Kinds that may need other kinds' Files (descriptors in flight in a socket) come last. */
static int open_files(struct restore *rs)
{
	struct res_restore *rr = &rs->rr;
	size_t n = rs->m.files.n;
	int r = 0;

	rr->ctx = rs->ctx;
	rr->m = &rs->m;
	rr->opts = rs->opts;
	rr->fd_floor = rs->ctl_lo;
	rs->file_fds = xcalloc(n, sizeof(int));
	rs->map_fds = xcalloc(n, sizeof(int));
	rr->file_fds = rs->file_fds;
	for (size_t i = 0; i < n; i++)
		rs->file_fds[i] = rs->map_fds[i] = -1;
	for (int last = 0; last < 2; last++)
		for (size_t i = 0; r == 0 && i < n; i++) {
			const struct res_ops *ops = res_by_kind(rs->m.files.v[i]->kind);

			if (!ops || ops->open_last == last)
				r = open_one_file(rs, i);
		}
	return r;
}

/*
 * The content of memfds and unlinked files, which follows the model, goes
 * into the files made for them before any process exists; then they are
 * sealed, and the kinds' own fds closed.
 */
static int fill_files(struct restore *rs, uint32_t *type, ProtobufCMessage **msg)
{
	int r = model_read_file_data(&rs->m, &rs->r, rs->ctx, type, msg, object_put_data, &rs->rr);

	if (r == 0)
		r = objects_finish(rs->ctx, &rs->rr);
	res_restore_done(&rs->rr);
	return r;
}

/* Shared anonymous memory: a shmem object made here and mapped by each user. */
static int make_shmem(struct restore *rs)
{
	rs->shmem_fds = xcalloc(rs->m.shmems.n + 1, sizeof(int));
	for (size_t i = 0; i < rs->m.shmems.n; i++) {
		uint64_t size = rs->m.shmems.v[i]->size;
		char path[96];
		void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		int fd;

		if (p == MAP_FAILED)
			return fail(rs->ctx, -errno, "shared memory of %llu bytes: %s", (unsigned long long)size,
				    strerror(errno));
		snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)p,
			 (unsigned long)p + size);
		fd = open(path, O_RDWR | O_CLOEXEC);
		munmap(p, size);
		if (fd < 0)
			return fail(rs->ctx, -errno, "reopening shared memory: %s", strerror(errno));
		rs->shmem_fds[i] = high_fd(rs, fd);
		if (rs->shmem_fds[i] < 0)
			return rs->shmem_fds[i];
	}
	return 0;
}

static int setup_control(struct restore *rs)
{
	struct rlimit nofile;
	uint32_t max_fd = 2;
	int pfd[2], efd;

	for (size_t i = 0; i < rs->m.fds.n; i++)
		if (rs->m.fds.v[i]->fd > max_fd)
			max_fd = rs->m.fds.v[i]->fd;
	/* Our fds live above every restored one; the restorer closes them. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	rs->ctl_lo = (int)max_fd + 1;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return fail(rs->ctx, -errno, "pipe: %s", strerror(errno));
	rs->report_wr = high_fd(rs, pfd[1]);
	if (rs->report_wr < 0)
		return rs->report_wr;
	rs->report_rd = high_fd(rs, pfd[0]);
	if (rs->report_rd < 0)
		return rs->report_rd;
	for (int i = 0; i < 2; i++) {
		efd = eventfd(0, EFD_SEMAPHORE | EFD_CLOEXEC);
		if (efd < 0)
			return fail(rs->ctx, -errno, "eventfd: %s", strerror(errno));
		rs->go_fd[i] = high_fd(rs, efd);
		if (rs->go_fd[i] < 0)
			return rs->go_fd[i];
	}
	return 0;
}

static size_t live_procs(const struct restore *rs)
{
	size_t n = 0;

	for (size_t i = 0; i < rs->nr_procs; i++)
		n += rs->procs[i].p->state != 1;
	return n;
}

struct rproc *proc_by_pid(struct restore *rs, int32_t pid)
{
	for (size_t i = 0; i < rs->nr_procs; i++)
		if ((int32_t)rs->procs[i].p->pid == pid)
			return &rs->procs[i];
	return NULL;
}

static const char *const step_names[] = {
	[STEP_NONE] = "setup", [STEP_PARK_VDSO] = "moving the vDSO aside", [STEP_UNMAP] = "unmapping ckpt",
	[STEP_MMAP] = "mapping vma", [STEP_MADVISE] = "madvise on vma", [STEP_VDSO] = "placing the vDSO at",
	[STEP_MPROTECT] = "mprotect on vma", [STEP_MLOCK] = "mlock on vma", [STEP_MM_MAP] = "PR_SET_MM_MAP",
	[STEP_CLONE] = "creating thread", [STEP_THREAD] = "thread state of", [STEP_SIGNALS] = "queueing signal",
	[STEP_CREDS] = "credentials, step", [STEP_RLIMIT] = "rlimit", [STEP_PRCTL] = "prctl", [STEP_GO] = "waiting",
	[STEP_VDSO_PROXY] = "placing vDSO trampolines at", [STEP_SECCOMP] = "seccomp filters of thread",
	[STEP_SHMAT] = "attaching SysV shared memory at", [STEP_MSEAL] = "sealing vma (mseal, Linux 6.10)",
};

static int report_error(struct restore *rs, const struct rst_report *r)
{
	char msg[sizeof(r->msg) + 1];

	memcpy(msg, r->msg, sizeof(r->msg));
	msg[sizeof(r->msg)] = 0;
	if (msg[0])
		return fail(rs->ctx, r->err < 0 ? r->err : -EIO, "%s", msg);
	return fail(rs->ctx, r->err < 0 ? r->err : -EIO, "pid %d: restorer failed %s 0x%llx: %s", r->pid,
		    r->step >= 0 && r->step < (int)ARRAY_SIZE(step_names) && step_names[r->step] ? step_names[r->step]
												    : "?",
		    (unsigned long long)r->detail, strerror(r->err < 0 ? -r->err : EIO));
}

/* Waits until every live process has reported stage. */
static int wait_stage(struct restore *rs, int stage)
{
	size_t want = live_procs(rs), have = 0;
	int idle_ms = 0;

	for (size_t i = 0; i < rs->nr_procs; i++)
		have += rs->procs[i].p->state != 1 && rs->procs[i].stage >= stage;
	while (have < want) {
		struct pollfd pfd = { rs->report_rd, POLLIN, 0 };
		struct rst_report r;
		struct rproc *rp;
		int n = poll(&pfd, 1, 100), st;

		if (n < 0 && errno != EINTR)
			return fail(rs->ctx, -errno, "poll: %s", strerror(errno));
		if (n <= 0) {
			idle_ms += 100;
			if (waitpid((pid_t)rs->procs[rs->root].p->pid, &st, WNOHANG | __WALL) > 0)
				return fail(rs->ctx, -ECHILD, "pid %u: died while restoring (status 0x%x)",
					    rs->procs[rs->root].p->pid, st);
			if (idle_ms >= STAGE_TIMEOUT_MS)
				return fail(rs->ctx, -ETIMEDOUT, "restore made no progress for %d s", idle_ms / 1000);
			continue;
		}
		if (read_full(rs->report_rd, &r, sizeof(r)) < 0)
			return fail(rs->ctx, -EIO, "reading reports of the restored processes");
		if (r.stage == RST_ERROR)
			return report_error(rs, &r);
		rp = proc_by_pid(rs, r.pid);
		if (!rp || r.stage != stage)
			return fail(rs->ctx, -EIO, "unexpected report %d from pid %d", r.stage, r.pid);
		rp->stage = stage;
		have++;
		idle_ms = 0;
	}
	return 0;
}

static int go(struct restore *rs, int phase)
{
	uint64_t n = live_procs(rs);

	return write(rs->go_fd[phase], &n, sizeof(n)) == sizeof(n) ? 0 : fail(rs->ctx, -errno, "eventfd: %s", strerror(errno));
}

static int seize_all(struct restore *rs)
{
	rs->tracing = true;
	for (size_t i = 0; i < rs->nr_procs; i++)
		for (size_t k = 0; k < rs->procs[i].nr_threads; k++) {
			pid_t tid = (pid_t)rs->procs[i].threads[k]->tid;

			/* Seccomp filters the threads install next must not judge the rest of the restore. */
			if (ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_SUSPEND_SECCOMP) < 0)
				return fail(rs->ctx, -errno, "tid %d: cannot seize: %s", tid, strerror(errno));
		}
	return 0;
}

static int create_root(struct restore *rs)
{
	struct rproc *rp = &rs->procs[rs->root];
	uint64_t tid = rp->p->pid;
	struct ckpt_clone_args ca = {
		.exit_signal = SIGCHLD,
		.set_tid = (uint64_t)&tid,
		.set_tid_size = 1,
	};
	pid_t pid;

	fflush(NULL);
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0)
		return fail(rs->ctx, -errno, "pid %u: cannot create it: %s", rp->p->pid, strerror(errno));
	if (pid == 0)
		task_main(rs, rs->root);
	return 0;
}

static void kill_tree(struct restore *rs)
{
	int st;

	for (size_t i = 0; i < rs->nr_procs; i++) {
		struct rproc *rp = &rs->procs[i];

		if (rp->stage > 0 || i == rs->root)
			kill((pid_t)rp->p->pid, SIGKILL);
	}
	/* We are their subreaper: every one of them comes back to us to be reaped. */
	while (waitpid(-1, &st, __WALL) > 0 || errno == EINTR)
		;
}

static int run_restore(struct restore *rs, uint32_t type, ProtobufCMessage *msg)
{
	int r = create_root(rs);

	if (r == 0)
		r = wait_stage(rs, RST_MAPPED);
	if (r == 0 && fail_point(rs->ctx, "restore-tree"))
		r = fail(rs->ctx, -EIO, "restore: injected failure once the tree exists");
	if (r == 0)
		r = fill_memory(rs, type, msg);
	else
		img_free_msg(msg);
	if (r == 0)
		r = sysv_restore_finish(rs);
	if (r == 0 && (r = go(rs, 0)) == 0)
		r = wait_stage(rs, RST_THREADS);
	if (r == 0 && fail_point(rs->ctx, "restore-threads"))
		r = fail(rs->ctx, -EIO, "restore: injected failure once the threads exist");
	if (r == 0)
		r = seize_all(rs);
	if (r == 0 && (r = go(rs, 1)) == 0)
		r = wait_stage(rs, RST_DONE);
	if (r == 0)
		r = finish_tree(rs);
	return r;
}

static int prepare(struct restore *rs, uint32_t *type, ProtobufCMessage **msg)
{
	int r = img_reader_open(&rs->r, rs->ctx, rs->opts->in_fd);

	if (r == 0)
		r = model_read(&rs->m, &rs->r, rs->ctx, type, msg);
	if (r == 0)
		r = model_validate(&rs->m, rs->ctx);
	if (r == 0)
		r = check_cpu(rs);
	if (r == 0)
		r = check_privileges(rs);
	if (r == 0)
		r = check_rlimits(rs);
	if (r == 0)
		r = build_procs(rs);
	if (r == 0)
		r = plan_sharing(rs);
	if (r == 0)
		r = check_pids(rs);
	if (r == 0)
		r = sysv_restore_check(rs);
	if (r == 0)
		r = setup_control(rs);
	if (r == 0)
		r = open_files(rs);
	if (r == 0)
		r = fill_files(rs, type, msg);
	if (r == 0)
		r = make_shmem(rs);
	return r;
}

static uint64_t own_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return 0;
	return ((uint64_t)d[1].effective << 32) | d[0].effective;
}

static void cleanup(struct restore *rs)
{
	res_restore_done(&rs->rr);
	for (size_t i = 0; rs->file_fds && i < rs->m.files.n; i++) {
		if (rs->file_fds[i] >= 0)
			close(rs->file_fds[i]);
		if (rs->map_fds[i] >= 0)
			close(rs->map_fds[i]);
	}
	for (size_t i = 0; rs->shmem_fds && i < rs->m.shmems.n; i++)
		if (rs->shmem_fds[i] > 0)
			close(rs->shmem_fds[i]);
	for (size_t i = 0; i < rs->nr_procs; i++) {
		if (rs->procs[i].memfd >= 0)
			close(rs->procs[i].memfd);
		free(rs->procs[i].old_vdso);
		free(rs->procs[i].threads);
		free(rs->procs[i].vmas);
		free(rs->procs[i].fds);
		free(rs->procs[i].children);
	}
	free(rs->procs);
	free(rs->file_fds);
	free(rs->map_fds);
	free(rs->shmem_fds);
	if (rs->report_rd > 0)
		close(rs->report_rd);
	if (rs->report_wr > 0)
		close(rs->report_wr);
	for (int i = 0; i < 2; i++)
		if (rs->go_fd[i] > 0)
			close(rs->go_fd[i]);
	img_reader_close(&rs->r);
	page_order_free(&rs->page_order);
	model_free(&rs->m);
}

int ckpt_restore(struct ckpt_ctx *ctx, const struct ckpt_restore_opts *opts, pid_t *root, int *status)
{
	struct restore rs = { .ctx = ctx, .opts = opts, .report_rd = -1, .report_wr = -1, .go_fd = { -1, -1 } };
	ProtobufCMessage *msg = NULL;
	uint64_t t0 = now_ns();
	sigset_t all, old;
	uint32_t type = 0;
	int r;

	ctx->err[0] = 0;
	memset(&ctx->stats, 0, sizeof(ctx->stats));
	rs.own_caps = own_caps();
	r = prepare(&rs, &type, &msg);
	if (r < 0) {
		img_free_msg(msg);
		ipc_restore_abort(&rs);
		cleanup(&rs);
		return r;
	}
	*root = (pid_t)rs.m.header->root_pid;
	ctx->stats.processes = (unsigned)rs.m.procs.n;
	ctx->stats.threads = (unsigned)rs.m.threads.n;
	/* Processes start with every signal blocked; orphans come back to us. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	r = run_restore(&rs, type, msg);
	if (r < 0) {
		kill_tree(&rs);
		ipc_restore_abort(&rs);
	}
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	ctx->stats.total_ns = now_ns() - t0;
	ctx->stats.image_bytes = rs.r.off;
	cleanup(&rs);
	if (r < 0 || opts->detach)
		return r;
	while (waitpid(*root, status, 0) < 0) {
		if (errno != EINTR)
			return fail(ctx, -errno, "waiting for pid %d: %s", *root, strerror(errno));
	}
	return 0;
}
