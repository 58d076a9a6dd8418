// SPDX-License-Identifier: MIT
/*
 * SysV IPC, restore side. The coordinator checks that no object of the
 * image's ids or keys exists. The root process makes them all, before its
 * children exist, with the image's ids (the kernel's shm_next_id and
 * friends choose the id of the next object made), so that it is their
 * creator, a process of the tree, as a later dump expects. Each process
 * then takes its semaphore adjustments, and its restorer attaches its
 * segments where they were (pie/restorer.c). The coordinator fills the
 * segments from the image, and removes again those that were marked
 * removed once every process has attached them.
 */
#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include "ipc.h"
#include "restore.h"

#define SEMVMX 32767

union semun_ {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static const char *const kind_names[] = { "?", "shared memory", "semaphore set", "message queue" };
static const char *const next_id_files[] = { NULL, "/proc/sys/kernel/shm_next_id", "/proc/sys/kernel/sem_next_id",
					     "/proc/sys/kernel/msg_next_id" };

static bool id_exists(const Ckpt__SysvObject *o)
{
	int key;

	return sysv_stat_key(o->kind, o->id, &key) == 0;
}

static int key_holder(const Ckpt__SysvObject *o)
{
	if (o->key == IPC_PRIVATE)
		return -1;
	switch (o->kind) {
	case SYSV_SHM:
		return shmget(o->key, 0, 0);
	case SYSV_SEM:
		return semget(o->key, 0, 0);
	default:
		return msgget(o->key, 0);
	}
}

static unsigned long long sysctl_value(const char *name, int field)
{
	_cleanup_free_ char *text = NULL;
	char path[64];
	unsigned long long v[4] = { 0 };

	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	if (read_text(path, &text, NULL) < 0 || sscanf(text, "%llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3]) < field + 1)
		return ~0ULL;
	return v[field];
}

/* What this kernel allows; it would refuse to make the object with a less clear error. */
static int check_limits(struct restore *rs, const Ckpt__SysvObject *o)
{
	unsigned long long lim;

	if (o->kind == SYSV_SHM && o->shm_size > (lim = sysctl_value("shmmax", 0)))
		return fail(rs->ctx, -EINVAL, "SysV shared memory id %d: %llu bytes is more than kernel.shmmax (%llu) here",
			    o->id, (unsigned long long)o->shm_size, lim);
	if (o->kind == SYSV_SEM && o->n_sem_values > (lim = sysctl_value("sem", 0)))
		return fail(rs->ctx, -EINVAL, "SysV semaphore set id %d: %zu semaphores is more than kernel.sem allows (%llu) here",
			    o->id, o->n_sem_values, lim);
	if (o->kind == SYSV_MSG) {
		lim = sysctl_value("msgmax", 0);
		for (size_t i = 0; i < rs->m.sysv_msgs.n; i++)
			if (rs->m.sysv_msgs.v[i]->queue_id == o->id && rs->m.sysv_msgs.v[i]->data.len > lim)
				return fail(rs->ctx, -EINVAL,
					    "SysV message queue id %d: a message of %zu bytes is more than kernel.msgmax (%llu) here",
					    o->id, rs->m.sysv_msgs.v[i]->data.len, lim);
	}
	return 0;
}

int sysv_restore_check(struct restore *rs)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < rs->m.sysv.n; i++) {
		const Ckpt__SysvObject *o = rs->m.sysv.v[i];
		int other;

		if (id_exists(o))
			return fail(rs->ctx, -EEXIST, "SysV %s id %d exists already (key 0x%x); remove it (ipcrm) or restore elsewhere",
				    kind_names[o->kind], o->id, o->key);
		other = key_holder(o);
		if (other >= 0)
			return fail(rs->ctx, -EEXIST, "SysV %s key 0x%x is taken already (by id %d); remove it (ipcrm) or restore elsewhere",
				    kind_names[o->kind], o->key, other);
		if (access(next_id_files[o->kind], W_OK) < 0)
			return fail(rs->ctx, -errno, "SysV %s id %d: %s: %s (making it with its id needs CAP_CHECKPOINT_RESTORE)",
				    kind_names[o->kind], o->id, next_id_files[o->kind], strerror(errno));
		r = check_limits(rs, o);
	}
	rs->sysv_checked = r == 0;
	return r;
}

/* Making the objects: in the root process, in its task stage. */

struct maker {
	struct restore *rs;
	pid_t pid;
	const Ckpt__SysvObject *o;
	char msg[200];
};

#define MAKER_FAIL(mk, err, ...) (snprintf((mk)->msg, sizeof((mk)->msg), __VA_ARGS__), (err))

static int set_next_id(struct maker *mk)
{
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%d", mk->o->id), fd = open(next_id_files[mk->o->kind], O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, buf, (size_t)n) != n) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return MAKER_FAIL(mk, -e, "SysV %s id %d: %s: %s", kind_names[mk->o->kind], mk->o->id,
				  next_id_files[mk->o->kind], strerror(e));
	}
	close(fd);
	return 0;
}

static int get_object(const Ckpt__SysvObject *o, int flags)
{
	switch (o->kind) {
	case SYSV_SHM:
		return shmget(o->key, o->shm_size, flags);
	case SYSV_SEM:
		return semget(o->key, (int)o->n_sem_values, flags);
	default:
		return msgget(o->key, flags);
	}
}

static int remove_object(const Ckpt__SysvObject *o, int id)
{
	switch (o->kind) {
	case SYSV_SHM:
		return shmctl(id, IPC_RMID, NULL);
	case SYSV_SEM:
		return semctl(id, 0, IPC_RMID);
	default:
		return msgctl(id, IPC_RMID, NULL);
	}
}

/* Made as its creator (cuid, cgid), then given back to its owner. */
static int create(struct maker *mk)
{
	const Ckpt__SysvObject *o = mk->o;
	uid_t euid = geteuid();
	gid_t egid = getegid();
	bool as_creator = o->cuid != euid || o->cgid != egid;
	int id, e, r = set_next_id(mk);

	if (r < 0)
		return r;
	if (as_creator && (setresgid((gid_t)-1, o->cgid, (gid_t)-1) < 0 || setresuid((uid_t)-1, o->cuid, (uid_t)-1) < 0)) {
		e = errno;
		setresgid((gid_t)-1, egid, (gid_t)-1);
		return MAKER_FAIL(mk, -e, "SysV %s id %d: taking its creator's ids %u/%u: %s", kind_names[o->kind], o->id,
				  o->cuid, o->cgid, strerror(e));
	}
	id = get_object(o, IPC_CREAT | IPC_EXCL | (int)o->mode);
	e = errno;
	if (as_creator && (setresuid((uid_t)-1, euid, (uid_t)-1) < 0 || setresgid((gid_t)-1, egid, (gid_t)-1) < 0))
		_exit(70); /* cannot go on with the wrong ids */
	if (id < 0)
		return MAKER_FAIL(mk, -e, "SysV %s id %d (key 0x%x): %s", kind_names[o->kind], o->id, o->key, strerror(e));
	if (id != o->id) {
		remove_object(o, id);
		return MAKER_FAIL(mk, -EBUSY, "SysV %s id %d: made as id %d instead; another object holds its slot",
				  kind_names[o->kind], o->id, id);
	}
	return 0;
}

static int fill_sem(struct maker *mk)
{
	const Ckpt__SysvObject *o = mk->o;
	_cleanup_free_ unsigned short *vals = xcalloc(o->n_sem_values, sizeof(*vals));
	union semun_ arg = { .array = vals };

	for (size_t i = 0; i < o->n_sem_values; i++)
		vals[i] = (unsigned short)o->sem_values[i];
	if (semctl(o->id, 0, SETALL, arg) < 0)
		return MAKER_FAIL(mk, -errno, "SysV semaphore set id %d: SETALL: %s", o->id, strerror(errno));
	return 0;
}

static int send_msg(struct maker *mk, long mtype, const void *data, size_t len)
{
	_cleanup_free_ char *buf = xcalloc(1, sizeof(long) + len + 1);

	memcpy(buf, &mtype, sizeof(long));
	if (len)
		memcpy(buf + sizeof(long), data, len);
	if (msgsnd(mk->o->id, buf, len, IPC_NOWAIT) < 0)
		return MAKER_FAIL(mk, -errno, "SysV message queue id %d: putting back a message of %zu bytes: %s", mk->o->id,
				  len, strerror(errno));
	return 0;
}

/*
 * The messages in order. An empty message sent and taken first makes this
 * process the queue's last sender and receiver, so a later dump of the
 * restored tree finds the queue even if it holds no message.
 */
static int fill_msg(struct maker *mk)
{
	const Ckpt__SysvObject *o = mk->o;
	struct msqid_ds ds;
	uint64_t total = 0;
	long mtype;
	int r;

	for (size_t i = 0; i < mk->rs->m.sysv_msgs.n; i++)
		if (mk->rs->m.sysv_msgs.v[i]->queue_id == o->id)
			total += mk->rs->m.sysv_msgs.v[i]->data.len;
	if (msgctl(o->id, IPC_STAT, &ds) < 0)
		return MAKER_FAIL(mk, -errno, "SysV message queue id %d: IPC_STAT: %s", o->id, strerror(errno));
	/* Room for the messages first; the limit the queue had is set last (set_owner). */
	if (total > ds.msg_qbytes || o->msg_qbytes > ds.msg_qbytes) {
		ds.msg_qbytes = total > o->msg_qbytes ? total : o->msg_qbytes;
		if (msgctl(o->id, IPC_SET, &ds) < 0)
			return MAKER_FAIL(mk, -errno, "SysV message queue id %d: room for %llu bytes: %s%s", o->id,
					  (unsigned long long)ds.msg_qbytes, strerror(errno),
					  errno == EPERM ? " (above kernel.msgmnb, which needs CAP_SYS_RESOURCE)" : "");
	}
	r = send_msg(mk, 1, NULL, 0);
	if (r == 0 && msgrcv(o->id, &mtype, 0, 0, IPC_NOWAIT) < 0)
		r = MAKER_FAIL(mk, -errno, "SysV message queue id %d: %s", o->id, strerror(errno));
	for (size_t i = 0; r == 0 && i < mk->rs->m.sysv_msgs.n; i++) {
		const Ckpt__SysvMsg *m = mk->rs->m.sysv_msgs.v[i];

		if (m->queue_id == o->id)
			r = send_msg(mk, (long)m->mtype, m->data.data, m->data.len);
	}
	return r;
}

static int set_owner(struct maker *mk)
{
	const Ckpt__SysvObject *o = mk->o;
	union semun_ arg;
	struct shmid_ds shm;
	struct semid_ds sem;
	struct msqid_ds msg;
	struct ipc_perm *perm;
	int r;

	switch (o->kind) {
	case SYSV_SHM:
		r = shmctl(o->id, IPC_STAT, &shm);
		perm = &shm.shm_perm;
		break;
	case SYSV_SEM:
		arg.buf = &sem;
		r = semctl(o->id, 0, IPC_STAT, arg);
		perm = &sem.sem_perm;
		break;
	default:
		r = msgctl(o->id, IPC_STAT, &msg);
		msg.msg_qbytes = o->msg_qbytes;
		perm = &msg.msg_perm;
		break;
	}
	if (r < 0)
		return MAKER_FAIL(mk, -errno, "SysV %s id %d: IPC_STAT: %s", kind_names[o->kind], o->id, strerror(errno));
	perm->uid = o->uid;
	perm->gid = o->gid;
	perm->mode = (unsigned short)o->mode;
	r = o->kind == SYSV_SHM ? shmctl(o->id, IPC_SET, &shm) : o->kind == SYSV_SEM ? semctl(o->id, 0, IPC_SET, arg)
										 : msgctl(o->id, IPC_SET, &msg);
	if (r < 0)
		return MAKER_FAIL(mk, -errno, "SysV %s id %d: setting owner %u/%u, mode %o%s: %s", kind_names[o->kind],
				  o->id, o->uid, o->gid, o->mode, o->kind == SYSV_MSG ? " and byte limit" : "",
				  strerror(errno));
	if (o->kind == SYSV_SHM && o->shm_locked && shmctl(o->id, SHM_LOCK, NULL) < 0)
		return MAKER_FAIL(mk, -errno, "SysV shared memory id %d: SHM_LOCK: %s", o->id, strerror(errno));
	return 0;
}

void sysv_restore_create(struct restore *rs)
{
	struct maker mk = { .rs = rs, .pid = (pid_t)rs->procs[rs->root].p->pid };

	for (size_t i = 0; i < rs->m.sysv.n; i++) {
		int r;

		mk.o = rs->m.sysv.v[i];
		r = create(&mk);
		if (r == 0 && mk.o->kind == SYSV_SEM)
			r = fill_sem(&mk);
		if (r == 0 && mk.o->kind == SYSV_MSG)
			r = fill_msg(&mk);
		if (r == 0)
			r = set_owner(&mk);
		if (r < 0)
			TASK_FAIL(rs, mk.pid, r, "pid %d: %s", mk.pid, mk.msg);
	}
}

/*
 * A semop() with SEM_UNDO of -a gives the process an adjustment of a; the
 * operations around it (in the same call, so no one sees them) bring the
 * semaphore back to its value. From 0 up or from 32767 down, in steps a
 * semop can take.
 */
static int set_adj(int semid, unsigned short sem, int adj)
{
	struct sembuf ops[8];
	int val = semctl(semid, sem, GETVAL), n = 0, left = adj > 0 ? adj : -adj;
	int base = adj > 0 ? SEMVMX : 0, dir = adj > 0 ? -1 : 1;

	if (val < 0)
		return -errno;
	if (base - val)
		ops[n++] = (struct sembuf){ sem, (short)(base - val), IPC_NOWAIT };
	while (left) {
		int x = left > SEMVMX ? SEMVMX : left;

		ops[n++] = (struct sembuf){ sem, (short)(dir * x), IPC_NOWAIT | SEM_UNDO };
		left -= x;
		if (left)
			ops[n++] = (struct sembuf){ sem, (short)(-dir * x), IPC_NOWAIT };
		else if (val - (base + dir * x))
			ops[n++] = (struct sembuf){ sem, (short)(val - (base + dir * x)), IPC_NOWAIT };
	}
	return semop(semid, ops, (size_t)n) < 0 ? -errno : 0;
}

void sysv_restore_undo(struct restore *rs, struct rproc *rp)
{
	pid_t pid = (pid_t)rp->p->pid;

	for (size_t i = 0; i < rp->p->n_sem_undo; i++) {
		const Ckpt__SysvSemUndo *u = rp->p->sem_undo[i];

		for (size_t k = 0; k < u->n_adj; k++) {
			int r = u->adj[k] ? set_adj(u->sem_id, (unsigned short)k, u->adj[k]) : 0;

			if (r < 0)
				TASK_FAIL(rs, pid, r, "pid %d: adjustment %d of semaphore %zu of SysV set id %d: %s", pid,
					  u->adj[k], k, u->sem_id, strerror(-r));
		}
	}
}

/* Segment contents, written by the coordinator through an attachment of its own. */

static size_t obj_index(const struct restore *rs, const Ckpt__SysvObject *o)
{
	for (size_t i = 0; i < rs->m.sysv.n; i++)
		if (rs->m.sysv.v[i] == o)
			return i;
	abort(); /* o comes from the model */
}

int sysv_restore_pages(struct restore *rs, const Ckpt__SysvPages *p)
{
	const Ckpt__SysvObject *o = model_sysv(&rs->m, SYSV_SHM, p->shm_id);
	size_t len = (size_t)p->nr_pages * PAGE_SIZE, i;
	int r = page_order_check_sysv(&rs->page_order, rs->ctx, p);

	if (r < 0)
		return r;
	if (!o || p->offset % PAGE_SIZE || p->offset > PAGE_ALIGN(o->shm_size) || len > PAGE_ALIGN(o->shm_size) - p->offset)
		return fail(rs->ctx, -EBADMSG, "image damaged: pages of SysV shared memory id %d at 0x%llx", p->shm_id,
			    (unsigned long long)p->offset);
	if (!rs->sysv_maps)
		rs->sysv_maps = xcalloc(rs->m.sysv.n, sizeof(*rs->sysv_maps));
	i = obj_index(rs, o);
	if (!rs->sysv_maps[i]) {
		void *a = shmat(o->id, NULL, 0);

		if (a == (void *)-1)
			return fail(rs->ctx, -errno, "SysV shared memory id %d: attaching it to fill it: %s", o->id,
				    strerror(errno));
		rs->sysv_maps[i] = a;
	}
	/*
	 * Read in place: the processes that have it attached wait, and a
	 * damaged run fails the restore, which removes the segment.
	 */
	r = img_read_data(&rs->r, p->nr_pages, p->data_hash, (char *)rs->sysv_maps[i] + p->offset);
	if (r < 0)
		return r;
	/* The segment keeps the pages; our view of them goes, so our memory stays bounded. */
	madvise((char *)rs->sysv_maps[i] + p->offset, len, MADV_DONTNEED);
	rs->ctx->stats.page_bytes += len;
	return 0;
}

static void detach_all(struct restore *rs)
{
	for (size_t i = 0; rs->sysv_maps && i < rs->m.sysv.n; i++)
		if (rs->sysv_maps[i])
			shmdt(rs->sysv_maps[i]);
	free(rs->sysv_maps);
	rs->sysv_maps = NULL;
}

int sysv_restore_finish(struct restore *rs)
{
	detach_all(rs);
	/* Every process has attached what it had: the segments marked removed can be marked again. */
	for (size_t i = 0; i < rs->m.sysv.n; i++) {
		const Ckpt__SysvObject *o = rs->m.sysv.v[i];

		if (o->kind == SYSV_SHM && o->shm_removed && shmctl(o->id, IPC_RMID, NULL) < 0)
			return fail(rs->ctx, -errno, "SysV shared memory id %d: IPC_RMID: %s", o->id, strerror(errno));
	}
	return 0;
}

void ipc_restore_abort(struct restore *rs)
{
	detach_all(rs);
	/* The check found none of these ids: those that exist now are ours. */
	for (size_t i = 0; rs->sysv_checked && i < rs->m.sysv.n; i++) {
		const Ckpt__SysvObject *o = rs->m.sysv.v[i];

		if (id_exists(o))
			remove_object(o, o->id);
	}
	rs->sysv_checked = false;
	mqueue_restore_abort(rs);
}
