// SPDX-License-Identifier: MIT
/*
 * SysV IPC, dump side: shared memory segments, semaphore sets and message
 * queues of the tree, with their ids, keys, owners and contents, and the
 * semaphore adjustments (SEM_UNDO) of each process.
 *
 * The tree shares the machine's IPC namespace, so the objects of a dump
 * are picked (docs/ipc.md): segments a process of the tree has attached or
 * created, semaphore sets in which a process of the tree made the last
 * operation on some semaphore, message queues a process of the tree sent
 * to or received from last, and any object named by key with --ipc-key.
 *
 * Nothing here changes what the tree or anyone else sees, with two
 * exceptions said in docs/ipc.md: ckpt attaches each segment once to read
 * it (its last attach pid and times then name ckpt), and reading a
 * process's semaphore adjustments gives it an entry of zeros for each set,
 * which updates the set's sem_otime when the process exits.
 */
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "dump.h"
#include "ipc.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif
#define SEMVMX 32767
#define SCRATCH_SIZE 4096
#define OPS_PER_ZERO_TEST 11

union semun_ {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static const char *const kind_names[] = { "?", "shared memory", "semaphore set", "message queue" };

static bool in_tree(const struct dump *d, int pid)
{
	for (size_t i = 0; pid > 0 && i < d->nr_procs; i++)
		if (d->procs[i].pid == pid)
			return true;
	return false;
}

static bool key_named(const struct dump *d, int key)
{
	for (size_t i = 0; key != IPC_PRIVATE && i < d->opts->nr_ipc_keys; i++)
		if (d->opts->ipc_keys[i] == key)
			return true;
	return false;
}

static size_t tree_attachments(const struct dump *d, int id)
{
	size_t n = 0;

	for (size_t i = 0; i < d->m.vmas.n; i++)
		n += d->m.vmas.v[i]->kind == CKPT__VMA_KIND__VMA_SYSV_SHM && d->m.vmas.v[i]->sysv_shm_id == id;
	return n;
}

static bool has_vmflag(const char *flags, const char *name)
{
	for (const char *p = flags; (p = strstr(p, name)); p += 2)
		if ((p == flags || p[-1] == ' ') && (p[2] == ' ' || p[2] == '\n' || !p[2]))
			return true;
	return false;
}

int sysv_vma_flags(struct dump *d, struct dproc *dp, Ckpt__Vma *v, const char *vmflags)
{
	if (has_vmflag(vmflags, "ht"))
		return fail(d->ctx, -EOPNOTSUPP, "pid %d vma 0x%llx: SysV shared memory id %d in huge pages is not supported yet",
			    dp->pid, (unsigned long long)v->start, v->sysv_shm_id);
	/* Attached with SHM_RDONLY: mprotect can never make it writable. */
	v->has_sysv_shm_rdonly = true;
	v->sysv_shm_rdonly = !has_vmflag(vmflags, "mw");
	return 0;
}

static Ckpt__SysvObject *new_obj(struct dump *d, uint32_t kind, int id, const struct ipc_perm *perm)
{
	Ckpt__SysvObject *o = arena_alloc(&d->m.arena, sizeof(*o));

	ckpt__sysv_object__init(o);
	o->kind = kind;
	o->id = id;
	o->key = perm->__key;
	o->uid = perm->uid;
	o->gid = perm->gid;
	o->cuid = perm->cuid;
	o->cgid = perm->cgid;
	o->mode = perm->mode & 0777;
	LIST_PUSH(&d->m.sysv, o);
	return o;
}

/* The objects of one kind in our namespace: the lines of /proc/sysvipc/NAME. */
static FILE *open_list(struct dump *d, const char *name, int *r)
{
	char path[64], head[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sysvipc/%s", name);
	*r = 0;
	f = fopen(path, "re");
	if (!f && errno != ENOENT)
		*r = fail(d->ctx, -errno, "reading %s: %s", path, strerror(errno));
	if (f && !fgets(head, sizeof(head), f)) {
		fclose(f);
		f = NULL;
	}
	return f;
}

static int add_shm(struct dump *d, int id, size_t attached)
{
	struct shmid_ds ds;
	Ckpt__SysvObject *o;

	if (shmctl(id, IPC_STAT, &ds) < 0) {
		if (!attached && (errno == EINVAL || errno == EIDRM))
			return 0; /* removed meanwhile, by someone outside the frozen tree */
		return fail(d->ctx, -errno, "SysV shared memory id %d: IPC_STAT: %s", id, strerror(errno));
	}
	/*
	 * Each mapping counts once in shm_nattch. More than the tree's means
	 * a process outside has it attached: a dump that ends the tree moves
	 * the segment into the image, and that process would keep another.
	 */
	if (!d->opts->leave_running && ds.shm_nattch > attached)
		return fail(d->ctx, -EBUSY,
			    "SysV shared memory id %d (key 0x%x): attached %lu times, %zu of them by the tree; a process outside the tree uses it",
			    id, ds.shm_perm.__key, (unsigned long)ds.shm_nattch, attached);
	o = new_obj(d, SYSV_SHM, id, &ds.shm_perm);
	o->has_shm_size = o->has_shm_locked = o->has_shm_removed = o->has_shm_cpid = o->has_shm_lpid = true;
	o->shm_size = ds.shm_segsz;
	o->shm_locked = ds.shm_perm.mode & SHM_LOCKED;
	o->shm_removed = ds.shm_perm.mode & SHM_DEST;
	o->shm_cpid = (uint32_t)ds.shm_cpid;
	o->shm_lpid = (uint32_t)ds.shm_lpid;
	return 0;
}

static int collect_shm(struct dump *d)
{
	char line[512];
	int r;
	_cleanup_fclose_ FILE *f = open_list(d, "shm", &r);

	while (r == 0 && f && fgets(line, sizeof(line), f)) {
		int key, id, cpid, lpid;
		unsigned perms;
		unsigned long long size;
		size_t attached;

		if (sscanf(line, "%d %d %o %llu %d %d", &key, &id, &perms, &size, &cpid, &lpid) != 6)
			continue;
		attached = tree_attachments(d, id);
		if (attached || in_tree(d, cpid) || key_named(d, key))
			r = add_shm(d, id, attached);
	}
	if (r < 0)
		return r;
	for (size_t i = 0; i < d->m.vmas.n; i++) {
		const Ckpt__Vma *v = d->m.vmas.v[i];

		if (v->kind == CKPT__VMA_KIND__VMA_SYSV_SHM && !model_sysv(&d->m, SYSV_SHM, v->sysv_shm_id))
			return fail(d->ctx, -ENOENT, "pid %u vma 0x%llx: SysV shared memory id %d is not in this IPC namespace",
				    v->pid, (unsigned long long)v->start, v->sysv_shm_id);
	}
	return 0;
}

/* A set is the tree's if a process of the tree made the last operation on one of its semaphores. */
static bool sem_used_by_tree(const struct dump *d, int id, unsigned nsems)
{
	for (unsigned i = 0; i < nsems; i++)
		if (in_tree(d, semctl(id, (int)i, GETPID)))
			return true;
	return false;
}

static int add_sem(struct dump *d, int id)
{
	struct semid_ds ds;
	union semun_ arg = { .buf = &ds };
	_cleanup_free_ unsigned short *vals = NULL;
	Ckpt__SysvObject *o;

	if (semctl(id, 0, IPC_STAT, arg) < 0)
		return errno == EINVAL || errno == EIDRM ? 0 : fail(d->ctx, -errno, "SysV semaphore set id %d: IPC_STAT: %s", id, strerror(errno));
	if (!key_named(d, ds.sem_perm.__key) && !sem_used_by_tree(d, id, (unsigned)ds.sem_nsems))
		return 0;
	vals = xcalloc(ds.sem_nsems, sizeof(*vals));
	arg.array = vals;
	if (semctl(id, 0, GETALL, arg) < 0)
		return fail(d->ctx, -errno, "SysV semaphore set id %d: GETALL: %s", id, strerror(errno));
	o = new_obj(d, SYSV_SEM, id, &ds.sem_perm);
	o->n_sem_values = ds.sem_nsems;
	o->sem_values = arena_alloc(&d->m.arena, ds.sem_nsems * sizeof(uint32_t));
	for (size_t i = 0; i < ds.sem_nsems; i++)
		o->sem_values[i] = vals[i];
	return 0;
}

static int collect_sem(struct dump *d)
{
	char line[512];
	int r;
	_cleanup_fclose_ FILE *f = open_list(d, "sem", &r);

	while (r == 0 && f && fgets(line, sizeof(line), f)) {
		int key, id;

		if (sscanf(line, "%d %d", &key, &id) == 2)
			r = add_sem(d, id);
	}
	return r;
}

/*
 * The messages, in queue order, read with msgrcv(MSG_COPY), which copies a
 * message without taking it (a kernel built with CHECKPOINT_RESTORE).
 */
static int read_messages(struct dump *d, Ckpt__SysvObject *o, size_t cbytes)
{
	size_t bufsize = sizeof(long) + cbytes;
	_cleanup_free_ char *buf = xcalloc(1, bufsize);

	for (uint32_t i = 0; i < o->msg_qnum; i++) {
		ssize_t n = msgrcv(o->id, buf, cbytes, i, MSG_COPY | IPC_NOWAIT);
		Ckpt__SysvMsg *m;

		if (n < 0 && errno == ENOSYS)
			return fail(d->ctx, -ENOSYS,
				    "SysV message queue id %d (key 0x%x): reading its messages needs a kernel with CONFIG_CHECKPOINT_RESTORE (msgrcv MSG_COPY)",
				    o->id, o->key);
		if (n < 0)
			return fail(d->ctx, errno == ENOMSG ? -EAGAIN : -errno,
				    "SysV message queue id %d (key 0x%x): message %u: %s", o->id, o->key, i,
				    errno == ENOMSG ? "the queue changed while it was read; try again" : strerror(errno));
		m = arena_alloc(&d->m.arena, sizeof(*m));
		ckpt__sysv_msg__init(m);
		m->queue_id = o->id;
		memcpy(&m->mtype, buf, sizeof(long));
		m->data.len = (size_t)n;
		m->data.data = arena_alloc(&d->m.arena, (size_t)n + 1);
		memcpy(m->data.data, buf + sizeof(long), (size_t)n);
		LIST_PUSH(&d->m.sysv_msgs, m);
	}
	return 0;
}

static int add_msg(struct dump *d, int id)
{
	struct msqid_ds ds, again;
	Ckpt__SysvObject *o;
	int r;

	if (msgctl(id, IPC_STAT, &ds) < 0)
		return errno == EINVAL || errno == EIDRM ? 0 : fail(d->ctx, -errno, "SysV message queue id %d: IPC_STAT: %s", id, strerror(errno));
	o = new_obj(d, SYSV_MSG, id, &ds.msg_perm);
	o->has_msg_qbytes = o->has_msg_qnum = true;
	o->msg_qbytes = ds.msg_qbytes;
	o->msg_qnum = (uint32_t)ds.msg_qnum;
	r = read_messages(d, o, ds.__msg_cbytes);
	if (r < 0)
		return r;
	if (msgctl(id, IPC_STAT, &again) < 0 || again.msg_qnum != ds.msg_qnum || again.__msg_cbytes != ds.__msg_cbytes ||
	    again.msg_stime != ds.msg_stime || again.msg_rtime != ds.msg_rtime)
		return fail(d->ctx, -EAGAIN, "SysV message queue id %d (key 0x%x): changed while it was read; try again", id,
			    o->key);
	return 0;
}

static int collect_msg(struct dump *d)
{
	char line[512];
	int r;
	_cleanup_fclose_ FILE *f = open_list(d, "msg", &r);

	while (r == 0 && f && fgets(line, sizeof(line), f)) {
		int key, id, lspid, lrpid;
		unsigned perms;
		unsigned long cbytes, qnum;

		if (sscanf(line, "%d %d %o %lu %lu %d %d", &key, &id, &perms, &cbytes, &qnum, &lspid, &lrpid) != 7)
			continue;
		if (in_tree(d, lspid) || in_tree(d, lrpid) || key_named(d, key))
			r = add_msg(d, id);
	}
	return r;
}

static int check_keys_found(struct dump *d)
{
	for (size_t i = 0; i < d->opts->nr_ipc_keys; i++) {
		bool found = false;

		for (size_t k = 0; k < d->m.sysv.n; k++)
			found |= d->m.sysv.v[k]->key == d->opts->ipc_keys[i];
		if (!found)
			return fail(d->ctx, -ENOENT, "--ipc-key 0x%x: no SysV object has this key", d->opts->ipc_keys[i]);
	}
	return 0;
}

/*
 * Semaphore adjustments. The kernel shows no process's semadj values, but
 * a semop() with SEM_UNDO fails with ERANGE when it would take an
 * adjustment beyond [-32768, 32767], and a semop() of several operations
 * that fails undoes all of them. So the process runs (injected) semops
 * that always fail in the end, and whether they fail with ERANGE or with
 * EAGAIN tells whether its adjustment passes a bound we choose; nothing
 * changes, not even the semaphores' last pids or times.
 */
struct undo_probe {
	struct dump *d;
	struct dproc *dp;
	struct remote *rm;
	uint64_t scratch;
	const Ckpt__SysvObject *set;
	struct sembuf ops[SCRATCH_SIZE / sizeof(struct sembuf)];
	size_t n, max;
};

static void op(struct undo_probe *pr, size_t sem, int val, bool undo)
{
	if (val)
		pr->ops[pr->n++] = (struct sembuf){ (unsigned short)sem, (short)val,
						    (short)(IPC_NOWAIT | (undo ? SEM_UNDO : 0)) };
}

/* Runs the operations, ended by one that blocks: true if no adjustment went out of range. */
static int run_probe(struct undo_probe *pr, size_t last_sem, bool *in_range)
{
	long ret;
	int r;

	op(pr, last_sem, -1, false); /* every chain leaves its semaphores at 0: this one would block */
	r = remote_mem(pr->d->ctx, pr->dp->pid, pr->scratch, pr->ops, pr->n * sizeof(struct sembuf), true);
	if (r < 0)
		return r;
	r = remote_syscall(pr->rm, &ret, SYS_semop, (uint64_t)pr->set->id, pr->scratch, pr->n, 0, 0, 0);
	pr->n = 0;
	if (r < 0)
		return r;
	if (ret == -EAGAIN || ret == -ERANGE) {
		*in_range = ret == -EAGAIN;
		return 0;
	}
	/* No write permission: it could make no adjustment there (docs/ipc.md). */
	if (ret == -EACCES) {
		pr_debug(pr->d->ctx, "pid %d: may not alter SysV semaphore set %d: no adjustments there", pr->dp->pid,
			 pr->set->id);
		*in_range = true;
		return 0;
	}
	if (ret == -EIDRM || ret == -EINVAL)
		return fail(pr->d->ctx, -EAGAIN, "SysV semaphore set id %d: removed while the dump read it; try again",
			    pr->set->id);
	return fail(pr->d->ctx, ret ? (int)ret : -EIO, "pid %d: reading its adjustments of SysV semaphore set id %d: %s",
		    pr->dp->pid, pr->set->id, ret ? strerror((int)-ret) : "a probe went through");
}

/* Operations that leave semaphore i at 0 and pass only if its adjustment is 0. */
static void zero_test(struct undo_probe *pr, size_t i)
{
	op(pr, i, -(int)pr->set->sem_values[i], false);
	op(pr, i, SEMVMX, true);   /* adj - 32767 */
	op(pr, i, -SEMVMX, false);
	op(pr, i, 1, true);        /* adj - 32768: in range iff adj >= 0 */
	op(pr, i, -1, false);
	op(pr, i, SEMVMX, false);
	op(pr, i, -SEMVMX, true);  /* adj - 1 */
	op(pr, i, SEMVMX, false);
	op(pr, i, -SEMVMX, true);  /* adj + 32766 */
	op(pr, i, 1, false);
	op(pr, i, -1, true);       /* adj + 32767: in range iff adj <= 0 */
}

/* Is the adjustment of semaphore i at least t (-32767 <= t <= 32767)? */
static int at_least(struct undo_probe *pr, size_t i, int t, bool *yes)
{
	int s = t + SEMVMX + 1; /* adj - s >= -32768 iff adj >= t */

	op(pr, i, -(int)pr->set->sem_values[i], false);
	while (s > 0) {
		int x = s > SEMVMX ? SEMVMX : s;

		op(pr, i, x, true);
		op(pr, i, -x, false);
		s -= x;
	}
	return run_probe(pr, i, yes);
}

static int read_adj(struct undo_probe *pr, size_t i, int32_t *adj)
{
	int lo = -SEMVMX - 1, hi = SEMVMX;

	while (lo < hi) {
		int mid = lo + (hi - lo + 1) / 2;
		bool yes;
		int r = at_least(pr, i, mid, &yes);

		if (r < 0)
			return r;
		if (yes)
			lo = mid;
		else
			hi = mid - 1;
	}
	*adj = lo;
	return 0;
}

/* The adjustments of one process in one set; *any tells whether one is not 0. */
static int read_set_undo(struct undo_probe *pr, int32_t *adj, bool *any)
{
	size_t nsems = pr->set->n_sem_values, per = pr->max / OPS_PER_ZERO_TEST;
	int r;

	*any = false;
	for (size_t start = 0; start < nsems; start += per) {
		size_t end = start + per < nsems ? start + per : nsems;
		bool zero;

		for (size_t i = start; i < end; i++)
			zero_test(pr, i);
		r = run_probe(pr, end - 1, &zero);
		for (size_t i = start; r == 0 && !zero && i < end; i++) {
			bool z;

			zero_test(pr, i);
			r = run_probe(pr, i, &z);
			if (r == 0 && !z) {
				r = read_adj(pr, i, &adj[i]);
				*any = true;
			}
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static size_t semopm(void)
{
	_cleanup_free_ char *text = NULL;
	unsigned long msl, mns, opm = 32;

	if (read_text("/proc/sys/kernel/sem", &text, NULL) == 0 && sscanf(text, "%lu %lu %lu", &msl, &mns, &opm) != 3)
		opm = 32;
	if (opm > SCRATCH_SIZE / sizeof(struct sembuf))
		opm = SCRATCH_SIZE / sizeof(struct sembuf);
	return opm;
}

static int add_undo(struct dump *d, struct dproc *dp, const Ckpt__SysvObject *set, int32_t *adj)
{
	Ckpt__Process *p = dp->p;
	Ckpt__SysvSemUndo *u = arena_alloc(&d->m.arena, sizeof(*u));

	ckpt__sysv_sem_undo__init(u);
	u->sem_id = set->id;
	u->n_adj = set->n_sem_values;
	u->adj = arena_alloc(&d->m.arena, u->n_adj * sizeof(int32_t));
	memcpy(u->adj, adj, u->n_adj * sizeof(int32_t));
	p->sem_undo[p->n_sem_undo++] = u; /* room for one per set: process_undo() */
	pr_debug(d->ctx, "pid %d: has semaphore adjustments in set %d", dp->pid, set->id);
	return 0;
}

static int process_undo(struct dump *d, struct dproc *dp, size_t max_ops)
{
	struct undo_probe *pr = xcalloc(1, sizeof(*pr));
	struct remote rm;
	long ret;
	int r, r2;

	r = remote_begin(&rm, d->ctx, dp->live, dp->syscall_ip);
	if (r < 0) {
		free(pr);
		return r;
	}
	*pr = (struct undo_probe){ .d = d, .dp = dp, .rm = &rm, .max = max_ops };
	dp->p->sem_undo = arena_alloc(&d->m.arena, (d->m.sysv.n + 1) * sizeof(*dp->p->sem_undo));
	r = remote_syscall(&rm, &ret, SYS_mmap, 0, SCRATCH_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   (uint64_t)-1, 0);
	if (r == 0 && (unsigned long)ret > -4096UL)
		r = fail(d->ctx, (int)ret, "pid %d: cannot map scratch memory: %s", dp->pid, strerror((int)-ret));
	pr->scratch = r == 0 ? (uint64_t)ret : 0;
	for (size_t i = 0; r == 0 && i < d->m.sysv.n; i++) {
		_cleanup_free_ int32_t *adj = NULL;
		bool any;

		if (d->m.sysv.v[i]->kind != SYSV_SEM)
			continue;
		pr->set = d->m.sysv.v[i];
		adj = xcalloc(pr->set->n_sem_values, sizeof(int32_t));
		r = read_set_undo(pr, adj, &any);
		if (r == 0 && any)
			r = add_undo(d, dp, pr->set, adj);
	}
	if (pr->scratch) {
		r2 = remote_syscall(&rm, &ret, SYS_munmap, pr->scratch, SCRATCH_SIZE, 0, 0, 0, 0);
		r = r ? r : r2;
	}
	r2 = remote_end(&rm);
	free(pr);
	return r ? r : r2;
}

/* Threads share their process's undo list (pthreads do); processes do not (no CLONE_SYSVSEM between them). */
static int kcmp_sysvsem(pid_t a, pid_t b)
{
	return (int)syscall(SYS_kcmp, a, b, KCMP_SYSVSEM, 0, 0);
}

static int cmp_undo_list(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	int r = kcmp_sysvsem(x, y);

	return r == 1 ? -1 : r == 2 ? 1 : r == 0 ? 0 : (x > y) - (x < y);
}

static int check_undo_sharing(struct dump *d)
{
	_cleanup_free_ pid_t *live = xcalloc(d->nr_procs + 1, sizeof(pid_t));
	size_t n = 0;

	for (size_t i = 0; i < d->nr_procs; i++) {
		struct dproc *dp = &d->procs[i];

		if (dp->zombie)
			continue;
		live[n++] = dp->live;
		for (size_t t = 0; t < dp->nr_tids; t++)
			if (dp->tids[t] != dp->live && kcmp_sysvsem(dp->live, dp->tids[t]) != 0)
				return fail(d->ctx, -EOPNOTSUPP,
					    "tid %d: has SysV semaphore adjustments of its own, apart from pid %d's; not supported",
					    dp->tids[t], dp->pid);
	}
	/* Every process has an undo list now (the probes made one): equal ones are shared. */
	qsort(live, n, sizeof(pid_t), cmp_undo_list);
	for (size_t i = 1; i < n; i++)
		if (kcmp_sysvsem(live[i - 1], live[i]) == 0)
			return fail(d->ctx, -EOPNOTSUPP,
				    "pids %d and %d share their SysV semaphore adjustments (clone with CLONE_SYSVSEM); not supported",
				    live[i - 1], live[i]);
	return 0;
}

static int collect_undo(struct dump *d)
{
	size_t max_ops = semopm();
	bool sets = false;
	int r = 0;

	for (size_t i = 0; i < d->m.sysv.n; i++)
		sets |= d->m.sysv.v[i]->kind == SYSV_SEM;
	if (!sets)
		return 0;
	if (max_ops < OPS_PER_ZERO_TEST + 1)
		return fail(d->ctx, -EOPNOTSUPP, "reading semaphore adjustments needs semopm >= %d (kernel.sem)",
			    OPS_PER_ZERO_TEST + 1);
	for (size_t i = 0; r == 0 && i < d->nr_procs; i++)
		if (!d->procs[i].zombie)
			r = process_undo(d, &d->procs[i], max_ops - 1);
	if (r == 0)
		r = check_undo_sharing(d);
	/* The probes read the values they started from: those must not have moved. */
	for (size_t i = 0; r == 0 && i < d->m.sysv.n; i++) {
		const Ckpt__SysvObject *o = d->m.sysv.v[i];

		for (size_t k = 0; o->kind == SYSV_SEM && k < o->n_sem_values; k++)
			if (semctl(o->id, (int)k, GETVAL) != (int)o->sem_values[k])
				return fail(d->ctx, -EAGAIN, "SysV semaphore set id %d (key 0x%x): changed while it was read; try again",
					    o->id, o->key);
	}
	return r;
}

/* Is every process of the tree in our IPC namespace? who: one that is not. */
static bool same_ipc_ns(const struct dump *d, pid_t *who)
{
	struct stat self, st;
	char path[64];

	if (stat("/proc/self/ns/ipc", &self) < 0)
		return true;
	for (size_t i = 0; i < d->nr_procs; i++) {
		snprintf(path, sizeof(path), "/proc/%d/ns/ipc", d->procs[i].pid);
		if (!d->procs[i].zombie && stat(path, &st) == 0 && st.st_ino != self.st_ino) {
			*who = d->procs[i].pid;
			return false;
		}
	}
	return true;
}

int sysv_collect(struct dump *d)
{
	bool attached = false;
	pid_t who = 0;
	int r;

	for (size_t i = 0; i < d->m.vmas.n; i++)
		attached |= d->m.vmas.v[i]->kind == CKPT__VMA_KIND__VMA_SYSV_SHM;
	if (!same_ipc_ns(d, &who)) {
		/* Its objects are not ours to look at; unless it shows it uses some, there is nothing to save. */
		if (attached || d->opts->nr_ipc_keys)
			return fail(d->ctx, -EOPNOTSUPP,
				    "pid %d: lives in another IPC namespace; its SysV IPC objects are not supported yet", who);
		return 0;
	}
	r = collect_shm(d);
	if (r == 0)
		r = collect_sem(d);
	if (r == 0)
		r = collect_msg(d);
	if (r == 0)
		r = check_keys_found(d);
	if (r == 0)
		r = collect_undo(d);
	for (size_t i = 0; r == 0 && i < d->m.sysv.n; i++)
		pr_debug(d->ctx, "SysV %s id %d key 0x%x: saved", kind_names[d->m.sysv.v[i]->kind], d->m.sysv.v[i]->id,
			 d->m.sysv.v[i]->key);
	return r;
}

int sysv_write_records(struct dump *d)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < d->m.sysv.n; i++)
		r = img_write_msg(&d->w, REC_SYSV_OBJ, &d->m.sysv.v[i]->base);
	for (size_t i = 0; r == 0 && i < d->m.sysv_msgs.n; i++)
		r = img_write_msg(&d->w, REC_SYSV_MSG, &d->m.sysv_msgs.v[i]->base);
	return r;
}

/* Segment contents */

static int write_run(struct dump *d, const Ckpt__SysvObject *o, uint64_t off, const uint8_t *data, size_t n)
{
	Ckpt__SysvPages p = CKPT__SYSV_PAGES__INIT;
	struct iovec iov = { (void *)data, n * PAGE_SIZE };

	p.shm_id = o->id;
	p.offset = off;
	p.nr_pages = (uint32_t)n;
	d->ctx->stats.page_bytes += n * PAGE_SIZE;
	return img_write_data(&d->w, REC_SYSV_PAGES, &p.base, p.nr_pages, &p.data_hash, &iov, 1);
}

/* Bytes of the segment out in swap, from /proc/sysvipc/shm; 0 if unknown. */
static unsigned long long shm_swapped(int id)
{
	char line[512];
	unsigned long long swap = 0;
	_cleanup_fclose_ FILE *f = fopen("/proc/sysvipc/shm", "re");

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long rss, sw, size, f7, f8, f9, f10, f11, f12, f13, f14;
		int key, sid, cpid, lpid;
		unsigned perms;

		if (sscanf(line, "%d %d %o %llu %d %d %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &key, &sid,
			   &perms, &size, &cpid, &lpid, &f7, &f8, &f9, &f10, &f11, &f12, &f13, &f14, &rss, &sw) == 16 &&
		    sid == id)
			swap = sw;
	}
	return swap;
}

static bool huge_mapping(const void *addr)
{
	_cleanup_free_ char *text = NULL;
	char start[32];
	const char *p, *k;

	snprintf(start, sizeof(start), "%lx-", (unsigned long)addr);
	if (read_text("/proc/self/smaps", &text, NULL) < 0 || !(p = strstr(text, start)))
		return false;
	k = strstr(p, "KernelPageSize:");
	return k && strtoul(k + 15, NULL, 10) != 4;
}

/*
 * One chunk of the segment, seen through our attachment at base: pages the
 * kernel has (mincore, or all of them when part of the segment is in swap,
 * which mincore does not see) are copied, and runs of those that are not
 * all zeros saved. Pages never touched are not read: that would make them.
 * Each page is copied to its own place in a page buffer of the image's
 * output, which writes the runs from there (no second copy) while we go on.
 */
static int dump_chunk(struct dump *d, const Ckpt__SysvObject *o, const uint8_t *base, uint64_t off, size_t n,
		      bool all)
{
	unsigned char vec[IMG_MAX_CHUNK_PAGES];
	static const uint8_t zeros[PAGE_SIZE];
	uint8_t *buf;
	size_t run = 0;
	int r = dump_check_interrupt(d);

	if (r < 0)
		return r;
	if (!all && mincore((void *)(base + off), n * PAGE_SIZE, vec) < 0)
		return fail(d->ctx, -errno, "SysV shared memory id %d: mincore: %s", o->id, strerror(errno));
	buf = img_page_buffer(&d->w);
	if (!buf)
		return fail(d->ctx, -ENOMEM, "SysV shared memory id %d: no memory for a page buffer", o->id);
	for (size_t i = 0; i <= n; i++) {
		bool want = i < n && (all || (vec[i] & 1));

		if (want) {
			memcpy(buf + i * PAGE_SIZE, base + off + i * PAGE_SIZE, PAGE_SIZE);
			want = memcmp(buf + i * PAGE_SIZE, zeros, PAGE_SIZE) != 0;
		}
		if (want) {
			run++;
			continue;
		}
		if (run && (r = write_run(d, o, off + (i - run) * PAGE_SIZE, buf + (i - run) * PAGE_SIZE, run)) < 0)
			return r;
		run = 0;
	}
	/* Our view of these pages is no longer needed: ckpt's memory stays bounded. */
	madvise((void *)(base + off), n * PAGE_SIZE, MADV_DONTNEED);
	return 0;
}

static int dump_segment(struct dump *d, const Ckpt__SysvObject *o)
{
	uint64_t size = PAGE_ALIGN(o->shm_size);
	bool all = shm_swapped(o->id) != 0;
	uint8_t *base = shmat(o->id, NULL, SHM_RDONLY);
	int r = 0;

	if (base == (void *)-1)
		return fail(d->ctx, -errno, "SysV shared memory id %d (key 0x%x): cannot attach it to read it: %s", o->id,
			    o->key, strerror(errno));
	if (huge_mapping(base))
		r = fail(d->ctx, -EOPNOTSUPP, "SysV shared memory id %d (key 0x%x): huge pages are not supported yet",
			 o->id, o->key);
	for (uint64_t off = 0; r == 0 && off < size; off += IMG_MAX_CHUNK_PAGES * PAGE_SIZE) {
		size_t n = (size - off) / PAGE_SIZE;

		r = dump_chunk(d, o, base, off, n < IMG_MAX_CHUNK_PAGES ? n : IMG_MAX_CHUNK_PAGES, all);
	}
	shmdt(base);
	return r;
}

int sysv_write_pages(struct dump *d)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < d->m.sysv.n; i++)
		if (d->m.sysv.v[i]->kind == SYSV_SHM)
			r = dump_segment(d, d->m.sysv.v[i]);
	return r;
}

/* After a dump that ended the tree */

int sysv_stat_key(uint32_t kind, int id, int *key)
{
	union semun_ arg;
	struct shmid_ds shm;
	struct semid_ds sem;
	struct msqid_ds msg;

	switch (kind) {
	case SYSV_SHM:
		if (shmctl(id, IPC_STAT, &shm) < 0)
			return -errno;
		*key = shm.shm_perm.__key;
		return 0;
	case SYSV_SEM:
		arg.buf = &sem;
		if (semctl(id, 0, IPC_STAT, arg) < 0)
			return -errno;
		*key = sem.sem_perm.__key;
		return 0;
	case SYSV_MSG:
		if (msgctl(id, IPC_STAT, &msg) < 0)
			return -errno;
		*key = msg.msg_perm.__key;
		return 0;
	}
	return -EINVAL;
}

static bool same_object(const Ckpt__SysvObject *o)
{
	int key;

	return sysv_stat_key(o->kind, o->id, &key) == 0 && key == o->key;
}

static int remove_object(const Ckpt__SysvObject *o)
{
	switch (o->kind) {
	case SYSV_SHM:
		return shmctl(o->id, IPC_RMID, NULL);
	case SYSV_SEM:
		return semctl(o->id, 0, IPC_RMID);
	case SYSV_MSG:
		return msgctl(o->id, IPC_RMID, NULL);
	}
	return -1;
}

/*
 * The tree is dead and its objects are in the image: they go, as its
 * processes did, so that the image can be restored here with the same ids.
 */
static void sysv_remove_dumped(struct dump *d)
{
	for (size_t i = 0; i < d->m.sysv.n; i++) {
		const Ckpt__SysvObject *o = d->m.sysv.v[i];

		/* A removed segment whose users are gone has already gone with them. */
		if (!same_object(o))
			continue;
		if (remove_object(o) < 0)
			pr_warn(d->ctx, "SysV %s id %d (key 0x%x): cannot remove it: %s", kind_names[o->kind], o->id, o->key,
				strerror(errno));
	}
}

void ipc_remove_dumped(struct dump *d)
{
	sysv_remove_dumped(d);
	mqueue_remove_dumped(d);
}
