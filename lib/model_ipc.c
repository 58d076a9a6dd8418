// SPDX-License-Identifier: MIT
/*
 * The checks of an image's IPC records: SysV objects, their messages, the
 * semaphore adjustments of processes, SysV attachments and POSIX message
 * queues. Restore creates kernel objects from these values, so every one
 * it trusts is bounded here.
 */
#include <signal.h>
#include <sys/mman.h>

#include "image.h"
#include "model.h"
#include "res/res.h"

/* Limits of the kernel (its ipc/ sources, include/linux/ipc_namespace.h). */
#define SEMVMX 32767
#define SEM_MAX_NSEMS 65536u       /* above any SEMMSL a sysctl accepts */
#define SHM_MAX_SIZE (1ULL << 40)
#define MQ_HARD_MSGMAX 65536u
#define MQ_HARD_MSGSIZEMAX (16u << 20)
#define MQ_PRIO_MAX_ 32768u
#define SIGEV_SIGNAL_ 0u
#define SIGEV_NONE_ 1u

static const char *const sysv_names[] = { "?", "shared memory", "semaphore set", "message queue" };

static int bad_obj(struct ckpt_ctx *ctx, const Ckpt__SysvObject *o, const char *what)
{
	return fail(ctx, -EBADMSG, "image damaged: SysV %s id %d: %s", sysv_names[o->kind <= 3 ? o->kind : 0],
		    o->id, what);
}

static int validate_obj(const struct model *m, struct ckpt_ctx *ctx, const Ckpt__SysvObject *o)
{
	(void)m;
	if (o->kind < SYSV_SHM || o->kind > SYSV_MSG || o->id < 0)
		return bad_obj(ctx, o, "kind or id");
	if (o->mode & ~0777u)
		return bad_obj(ctx, o, "mode");
	switch (o->kind) {
	case SYSV_SHM:
		if (!o->has_shm_size || o->shm_size == 0 || o->shm_size > SHM_MAX_SIZE || o->n_sem_values ||
		    o->has_msg_qbytes || (o->shm_removed && o->key != 0))
			return bad_obj(ctx, o, "segment");
		break;
	case SYSV_SEM:
		if (o->n_sem_values == 0 || o->n_sem_values > SEM_MAX_NSEMS || o->has_shm_size || o->has_msg_qbytes)
			return bad_obj(ctx, o, "semaphores");
		for (size_t i = 0; i < o->n_sem_values; i++)
			if (o->sem_values[i] > SEMVMX)
				return bad_obj(ctx, o, "semaphore value");
		break;
	case SYSV_MSG:
		if (!o->has_msg_qbytes || o->msg_qbytes > INT32_MAX || o->has_shm_size || o->n_sem_values)
			return bad_obj(ctx, o, "queue");
		break;
	}
	return 0;
}

/* A key other than IPC_PRIVATE names one object of a kind. */
static int check_keys(const struct model *m, struct ckpt_ctx *ctx)
{
	for (size_t i = 0; i < m->sysv.n; i++)
		for (size_t k = i + 1; k < m->sysv.n && m->sysv.v[k]->kind == m->sysv.v[i]->kind; k++)
			if (m->sysv.v[i]->key && m->sysv.v[i]->key == m->sysv.v[k]->key)
				return bad_obj(ctx, m->sysv.v[k], "its key is another object's");
	return 0;
}

/* Index of a SysV object in the sorted list, or SIZE_MAX. */
static size_t sysv_index(const struct model *m, uint32_t kind, int32_t id)
{
	const Ckpt__SysvObject *o = model_sysv(m, kind, id);

	for (size_t lo = 0, hi = m->sysv.n; o && lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->sysv.v[mid] == o)
			return mid;
		if (m->sysv.v[mid]->kind < kind || (m->sysv.v[mid]->kind == kind && m->sysv.v[mid]->id < id))
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

/* Messages name a queue, and each queue has as many as it says. */
static int check_msgs(const struct model *m, struct ckpt_ctx *ctx)
{
	uint32_t *count = xcalloc(m->sysv.n + 1, sizeof(uint32_t));
	int r = 0;

	for (size_t i = 0; r == 0 && i < m->sysv_msgs.n; i++) {
		const Ckpt__SysvMsg *msg = m->sysv_msgs.v[i];
		size_t q = sysv_index(m, SYSV_MSG, msg->queue_id);

		if (q == SIZE_MAX || msg->mtype < 1 || msg->data.len > INT32_MAX)
			r = fail(ctx, -EBADMSG, "image damaged: message %zu of SysV message queue %d", i, msg->queue_id);
		else
			count[q]++;
	}
	for (size_t i = 0; r == 0 && i < m->sysv.n; i++)
		if (m->sysv.v[i]->kind == SYSV_MSG ? count[i] != m->sysv.v[i]->msg_qnum : m->sysv.v[i]->has_msg_qnum)
			r = bad_obj(ctx, m->sysv.v[i], "number of messages");
	free(count);
	return r;
}

static int check_sem_undo(const struct model *m, struct ckpt_ctx *ctx, const Ckpt__Process *p)
{
	if (p->n_sem_undo > m->sysv.n)
		return fail(ctx, -EBADMSG, "image damaged: semaphore adjustments of process %u", p->pid);
	for (size_t i = 0; i < p->n_sem_undo; i++) {
		const Ckpt__SysvSemUndo *u = p->sem_undo[i];
		const Ckpt__SysvObject *s = model_sysv(m, SYSV_SEM, u->sem_id);

		if (!s || u->n_adj != s->n_sem_values || p->state == 1)
			return fail(ctx, -EBADMSG, "image damaged: semaphore adjustments of process %u for set %d",
				    p->pid, u->sem_id);
		for (size_t k = 0; k < u->n_adj; k++)
			if (u->adj[k] < -SEMVMX - 1 || u->adj[k] > SEMVMX)
				return fail(ctx, -EBADMSG, "image damaged: semaphore adjustment of process %u", p->pid);
		for (size_t k = 0; k < i; k++)
			if (p->sem_undo[k]->sem_id == u->sem_id)
				return fail(ctx, -EBADMSG, "image damaged: process %u adjusts set %d twice", p->pid,
					    u->sem_id);
	}
	return 0;
}

/* (pid, queue) of every descriptor of a message queue, sorted: who holds which queue. */
struct holder {
	uint32_t pid;
	uint64_t ino;
};

static int cmp_holder(const void *a, const void *b)
{
	const struct holder *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static struct holder *queue_holders(const struct model *m, size_t *n)
{
	struct holder *h = xcalloc(m->fds.n + 1, sizeof(*h));

	*n = 0;
	for (size_t i = 0; i < m->fds.n; i++) {
		const Ckpt__File *f = model_file(m, m->fds.v[i]->file_id);

		if (f && f->kind == FILE_KIND_MQUEUE)
			h[(*n)++] = (struct holder){ m->fds.v[i]->pid, f->ino };
	}
	if (*n)
		qsort(h, *n, sizeof(*h), cmp_holder);
	return h;
}

static int check_mqueue(const struct model *m, struct ckpt_ctx *ctx, const Ckpt__File *f, const struct holder *h,
			size_t nh)
{
	const Ckpt__MqNotify *n = f->mq_notify;

	if (!f->has_mq_maxmsg && !f->has_mq_msgsize && !f->n_mq_messages && !n)
		return 0;
	if (!f->has_mq_maxmsg || !f->has_mq_msgsize || !f->mq_maxmsg || f->mq_maxmsg > MQ_HARD_MSGMAX ||
	    !f->mq_msgsize || f->mq_msgsize > MQ_HARD_MSGSIZEMAX || f->n_mq_messages > f->mq_maxmsg || !f->path)
		return fail(ctx, -EBADMSG, "image damaged: message queue of file record %llu", (unsigned long long)f->id);
	for (size_t i = 0; i < f->n_mq_messages; i++) {
		if (f->mq_messages[i]->prio >= MQ_PRIO_MAX_ || f->mq_messages[i]->data.len > f->mq_msgsize)
			return fail(ctx, -EBADMSG, "image damaged: message %zu of queue %.64s", i, f->path);
	}
	if (n) {
		const Ckpt__Process *p = model_proc(m, n->pid);

		struct holder key = { n->pid, f->ino };

		/* It registers again on a descriptor of its own (lib/ipc_mqueue.c). */
		if (!p || p->state == 1 || n->notify > SIGEV_NONE_ ||
		    (n->notify == SIGEV_SIGNAL_ && (n->signo < 1 || n->signo > 64)) ||
		    !bsearch(&key, h, nh, sizeof(*h), cmp_holder))
			return fail(ctx, -EBADMSG, "image damaged: notification of queue %.64s", f->path);
	}
	return 0;
}

int model_validate_ipc(const struct model *m, struct ckpt_ctx *ctx)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < m->sysv.n; i++)
		r = validate_obj(m, ctx, m->sysv.v[i]);
	if (r == 0)
		r = check_keys(m, ctx);
	if (r == 0)
		r = check_msgs(m, ctx);
	for (size_t i = 0; r == 0 && i < m->procs.n; i++)
		r = check_sem_undo(m, ctx, m->procs.v[i]);
	if (r == 0) {
		size_t nh;
		struct holder *h = queue_holders(m, &nh);

		for (size_t i = 0; r == 0 && i < m->files.n; i++)
			r = check_mqueue(m, ctx, m->files.v[i], h, nh);
		free(h);
	}
	return r;
}
