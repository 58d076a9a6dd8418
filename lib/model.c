// SPDX-License-Identifier: MIT
/* The decoded image and the checks that make it safe to act on. */
#include <signal.h>
#include <sys/mman.h>
#include <sys/user.h>

#include "image.h"
#include "locks.h"
#include "mem.h"
#include "model.h"
#include "res/res.h"

void *arena_alloc(struct arena *a, size_t size)
{
	struct arena_block *b = xcalloc(1, sizeof(*b) + size);

	/* One block per object keeps this trivially right; dumps are small. */
	b->next = a->blocks;
	a->blocks = b;
	return b->data;
}

char *arena_strdup(struct arena *a, const char *s)
{
	size_t n = strlen(s ? s : "");
	char *p = arena_alloc(a, n + 1);

	memcpy(p, s ? s : "", n);
	return p;
}

void arena_free(struct arena *a)
{
	while (a->blocks) {
		struct arena_block *n = a->blocks->next;

		free(a->blocks);
		a->blocks = n;
	}
}

void model_free(struct model *m)
{
	arena_free(&m->arena);
	free(m->procs.v);
	free(m->threads.v);
	free(m->vmas.v);
	free(m->files.v);
	free(m->fds.v);
	free(m->shmems.v);
	free(m->sysv.v);
	free(m->sysv_msgs.v);
	for (size_t i = 0; i < m->owned.n; i++)
		protobuf_c_message_free_unpacked(m->owned.v[i], NULL);
	free(m->owned.v);
	memset(m, 0, sizeof(*m));
}

/*
 * Lookups are linear while a model is being built (dump) and binary
 * searches once model_validate() has sorted it: a hostile image may hold a
 * great many records.
 */
#define DEFINE_LOOKUP(fn, type, list, field, keytype)                              \
	type *fn(const struct model *m, keytype key)                               \
	{                                                                          \
		size_t lo = 0, hi = m->list.n;                                     \
		if (!m->sorted) {                                                  \
			for (size_t i = 0; i < m->list.n; i++)                     \
				if (m->list.v[i]->field == key)                    \
					return m->list.v[i];                       \
			return NULL;                                               \
		}                                                                  \
		while (lo < hi) {                                                  \
			size_t mid = lo + (hi - lo) / 2;                           \
			if (m->list.v[mid]->field == key)                          \
				return m->list.v[mid];                             \
			if (m->list.v[mid]->field < key)                           \
				lo = mid + 1;                                      \
			else                                                       \
				hi = mid;                                          \
		}                                                                  \
		return NULL;                                                       \
	}

DEFINE_LOOKUP(model_proc, Ckpt__Process, procs, pid, uint32_t)
DEFINE_LOOKUP(model_file, Ckpt__File, files, id, uint64_t)
DEFINE_LOOKUP(model_shmem, Ckpt__Shmem, shmems, id, uint64_t)

static int cmp_sysv_key(uint32_t kind, int32_t id, const Ckpt__SysvObject *o)
{
	if (kind != o->kind)
		return kind < o->kind ? -1 : 1;
	return id < o->id ? -1 : id > o->id;
}

Ckpt__SysvObject *model_sysv(const struct model *m, uint32_t kind, int32_t id)
{
	size_t lo = 0, hi = m->sysv.n;

	if (!m->sorted) {
		for (size_t i = 0; i < m->sysv.n; i++)
			if (!cmp_sysv_key(kind, id, m->sysv.v[i]))
				return m->sysv.v[i];
		return NULL;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_sysv_key(kind, id, m->sysv.v[mid]);

		if (!c)
			return m->sysv.v[mid];
		if (c > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

#define PID_MAX_LIMIT 4194304u

int model_read(struct model *m, struct img_reader *r, struct ckpt_ctx *ctx, uint32_t *first_type,
	       ProtobufCMessage **first_msg)
{
	for (;;) {
		ProtobufCMessage *msg;
		uint32_t type;
		int e = img_read_next(r, &type, &msg);

		if (e < 0)
			return e;
		if (img_rec_has_data(type) || type == REC_TRAILER) {
			if (!m->header) {
				img_free_msg(msg);
				return fail(ctx, -EBADMSG, "image damaged: no header record");
			}
			*first_type = type;
			*first_msg = msg;
			return 0;
		}
		LIST_PUSH(&m->owned, msg);
		if ((type == REC_HEADER) != (m->header == NULL))
			return fail(ctx, -EBADMSG, "image damaged: header record %s",
				    m->header ? "repeated" : "is not first");
		switch (type) {
		case REC_HEADER: m->header = (Ckpt__Header *)msg; break;
		case REC_PROCESS: LIST_PUSH(&m->procs, (Ckpt__Process *)msg); break;
		case REC_THREAD: LIST_PUSH(&m->threads, (Ckpt__Thread *)msg); break;
		case REC_VMA: LIST_PUSH(&m->vmas, (Ckpt__Vma *)msg); break;
		case REC_FILE: LIST_PUSH(&m->files, (Ckpt__File *)msg); break;
		case REC_FD: LIST_PUSH(&m->fds, (Ckpt__Fd *)msg); break;
		case REC_SHMEM: LIST_PUSH(&m->shmems, (Ckpt__Shmem *)msg); break;
		case REC_SYSV_OBJ: LIST_PUSH(&m->sysv, (Ckpt__SysvObject *)msg); break;
		case REC_SYSV_MSG: LIST_PUSH(&m->sysv_msgs, (Ckpt__SysvMsg *)msg); break;
		}
	}
}

/*
 * Every File of a memfd or unlinked file names the object's record, of its
 * kind, which names itself and describes what restore creates.
 */
static bool valid_object(const struct model *m, const Ckpt__File *f)
{
	const Ckpt__File *o;

	if (f->kind != FILE_KIND_MEMFD && f->kind != FILE_KIND_UNLINKED)
		return !f->has_object_id && !f->memfd;
	o = f->has_object_id ? model_file(m, f->object_id) : NULL;
	if (!o || o->kind != f->kind || !o->has_object_id || o->object_id != o->id)
		return false;
	if (o != f)
		return !f->memfd;
	if (f->size > FILE_OBJECT_MAX_SIZE || !f->has_uid || !f->has_gid || !f->path || f->path[0] != '/')
		return false;
	if (f->kind == FILE_KIND_MEMFD)
		return f->memfd && strlen(f->memfd->name) <= MEMFD_NAME_MAX && !(f->memfd->seals & ~MEMFD_SEALS_ALL);
	return !f->memfd;
}

static int validate_header(const struct model *m, struct ckpt_ctx *ctx)
{
	const Ckpt__Header *h = m->header;

	if (strcmp(h->arch, "x86_64"))
		return fail(ctx, -EPROTONOSUPPORT, "image is for %.32s, this is x86_64", h->arch);
	if (h->page_size != PAGE_SIZE)
		return fail(ctx, -EPROTONOSUPPORT, "image has %u-byte pages, this machine %lu", h->page_size, PAGE_SIZE);
	if (h->nr_processes != m->procs.n || h->nr_threads != m->threads.n)
		return fail(ctx, -EBADMSG, "image damaged: header counts %u processes and %u threads, found %zu and %zu",
			    h->nr_processes, h->nr_threads, m->procs.n, m->threads.n);
	if (h->xsave_size > 64 * 1024)
		return fail(ctx, -EBADMSG, "image damaged: XSAVE size %u", h->xsave_size);
	if (!model_proc(m, h->root_pid))
		return fail(ctx, -EBADMSG, "image damaged: root pid %u has no process record", h->root_pid);
	return 0;
}

static int validate_creds(struct ckpt_ctx *ctx, uint32_t pid, const Ckpt__Creds *c)
{
	if (c->n_uid != 4 || c->n_gid != 4 || c->n_groups > 65536)
		return fail(ctx, -EBADMSG, "image damaged: credentials of %u", pid);
	return 0;
}

/* A pty master of the image, whose session is the process's. */
static bool valid_ctty(const struct model *m, const Ckpt__Process *p)
{
	const Ckpt__File *f = model_file(m, p->ctty_file_id);

	return f && f->kind == 15 && f->pty && f->pty->sid == p->sid && f->pty->fg_pgrp < PID_MAX_LIMIT;
}

/* At most one of each kind, with times setitimer takes (under 2^31 s). */
static bool itimers_valid(const Ckpt__Process *p)
{
	unsigned seen = 0;

	for (size_t i = 0; i < p->n_itimers; i++) {
		const Ckpt__ITimer *t = p->itimers[i];

		if (t->which > 2 || (seen & 1u << t->which) || (t->value_us == 0 && t->interval_us == 0) ||
		    t->value_us >= (1ULL << 31) * 1000000 ||
		    t->interval_us >= (1ULL << 31) * 1000000)
			return false;
		seen |= 1u << t->which;
	}
	return true;
}

/* Ids at most once, notifications timer_create takes, signal numbers in range. */
static bool posix_timers_valid(const Ckpt__Process *p)
{
	if (p->n_posix_timers > 4096)
		return false;
	for (size_t i = 0; i < p->n_posix_timers; i++) {
		const Ckpt__PosixTimer *t = p->posix_timers[i];
		uint32_t how = t->notify & ~(uint32_t)SIGEV_THREAD_ID;

		if (t->id < 0 || (how != SIGEV_SIGNAL && how != SIGEV_NONE) || t->signo > 64 ||
		    (t->notify & ~(uint32_t)(SIGEV_THREAD_ID | SIGEV_NONE)) ||
		    ((t->notify & SIGEV_THREAD_ID) != 0) != t->has_notify_tid)
			return false;
		for (size_t j = 0; j < i; j++)
			if (p->posix_timers[j]->id == t->id)
				return false;
	}
	return true;
}

static int validate_proc(const struct model *m, struct ckpt_ctx *ctx, const Ckpt__Process *p)
{
	if (p->pid == 0 || p->pid >= PID_MAX_LIMIT || p->pgid >= PID_MAX_LIMIT || p->sid >= PID_MAX_LIMIT)
		return fail(ctx, -EBADMSG, "image damaged: process id %u", p->pid);
	if (p->state > 2 || p->exit_signal > 64)
		return fail(ctx, -EBADMSG, "image damaged: state of process %u", p->pid);
	if ((p->ppid == 0) != (p->pid == m->header->root_pid))
		return fail(ctx, -EBADMSG, "image damaged: parent of process %u", p->pid);
	if (validate_creds(ctx, p->pid, p->creds) < 0)
		return -EBADMSG;
	if (p->state == 1)
		return 0;
	if (!p->mm || p->nr_threads == 0 || p->nr_threads > 100000 || p->n_sigactions > 64 || p->n_rlimits > 16 ||
	    (p->has_thp_disable && (p->thp_disable & ~3u || !(p->thp_disable & 1))) || (p->has_mdwe && p->mdwe & ~3u) ||
	    !itimers_valid(p) || !posix_timers_valid(p) ||
	    (p->has_mlockall && (p->mlockall & ~(uint32_t)(MCL_FUTURE | MCL_ONFAULT) || !(p->mlockall & MCL_FUTURE))) ||
	    p->cpu_affinity.len > 1024 || p->n_shared_sigpending > 100000)
		return fail(ctx, -EBADMSG, "image damaged: process %u", p->pid);
	for (size_t i = 0; i < p->n_sigactions; i++)
		if (p->sigactions[i]->sig < 1 || p->sigactions[i]->sig > 64)
			return fail(ctx, -EBADMSG, "image damaged: signal action of process %u", p->pid);
	for (size_t i = 0; i < p->n_rlimits; i++)
		if (p->rlimits[i]->resource >= 16)
			return fail(ctx, -EBADMSG, "image damaged: rlimit of process %u", p->pid);
	for (size_t i = 0; i < p->n_shared_sigpending; i++)
		if (p->shared_sigpending[i].len != 128)
			return fail(ctx, -EBADMSG, "image damaged: pending signal of process %u", p->pid);
	if (!model_file(m, p->cwd_file_id) || !model_file(m, p->root_file_id) || !model_file(m, p->mm->exe_file_id))
		return fail(ctx, -EBADMSG, "image damaged: cwd, root or exe of process %u", p->pid);
	if (p->mm->auxv.len > 8192 || p->mm->auxv.len % 16)
		return fail(ctx, -EBADMSG, "image damaged: auxv of process %u", p->pid);
	if (p->has_ctty_file_id && !valid_ctty(m, p))
		return fail(ctx, -EBADMSG, "image damaged: controlling terminal of process %u", p->pid);
	return 0;
}

static int validate_thread(const struct model *m, struct ckpt_ctx *ctx, const Ckpt__Thread *t)
{
	const Ckpt__Process *p = model_proc(m, t->pid);

	if (!p || p->state == 1 || t->tid == 0 || t->tid >= PID_MAX_LIMIT)
		return fail(ctx, -EBADMSG, "image damaged: thread %u of process %u", t->tid, t->pid);
	if (t->gpregs.len != 27 * 8 || t->xsave.len < 576 || t->xsave.len > 64 * 1024 || t->n_sigpending > 100000)
		return fail(ctx, -EBADMSG, "image damaged: registers of thread %u", t->tid);
	for (size_t i = 0; i < t->n_sigpending; i++)
		if (t->sigpending[i].len != 128)
			return fail(ctx, -EBADMSG, "image damaged: pending signal of thread %u", t->tid);
	if (t->rseq_len > 4096 || t->robust_list_len > 4096 || t->seccomp_mode > 2 || t->n_seccomp_filters > 1024 ||
	    (t->has_cpu_affinity && (t->cpu_affinity.len == 0 || t->cpu_affinity.len > 1024)) ||
	    (t->has_ioprio && t->ioprio >> 13 > 3) ||
	    (t->n_seccomp_filters > 0) != (t->seccomp_mode == 2))
		return fail(ctx, -EBADMSG, "image damaged: thread %u", t->tid);
	for (size_t i = 0; i < t->n_seccomp_filters; i++) {
		size_t len = t->seccomp_filters[i]->prog.len;

		if (len == 0 || len % 8 || len > 4096 * 8)
			return fail(ctx, -EBADMSG, "image damaged: seccomp filter of thread %u", t->tid);
	}
	return validate_creds(ctx, t->tid, t->creds);
}

static int cmp_vma(const void *a, const void *b)
{
	const Ckpt__Vma *x = *(Ckpt__Vma *const *)a, *y = *(Ckpt__Vma *const *)b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int validate_vmas(const struct model *m, struct ckpt_ctx *ctx)
{
	for (size_t i = 0; i < m->vmas.n; i++) {
		const Ckpt__Vma *v = m->vmas.v[i];
		const Ckpt__Process *p = model_proc(m, v->pid);

		if (!p || p->state == 1)
			return fail(ctx, -EBADMSG, "image damaged: vma 0x%llx of unknown process %u",
				    (unsigned long long)v->start, v->pid);
		if (v->start >= v->end || v->end > 0x7ffffffff000ULL || (v->start | v->end | v->pgoff) % PAGE_SIZE ||
		    v->prot & ~7u || (v->flags & ~0x103u) || !(v->flags & 3) || (v->flags & 3) == 3 ||
		    (v->kind > CKPT__VMA_KIND__VMA_VSYSCALL && v->kind != CKPT__VMA_KIND__VMA_SYSV_SHM) ||
		    v->madv & ~(uint32_t)CKPT_MADV_ALL)
			return fail(ctx, -EBADMSG, "image damaged: pid %u vma 0x%llx", v->pid, (unsigned long long)v->start);
		if (v->kind == CKPT__VMA_KIND__VMA_FILE && (!v->has_file_id || !model_file(m, v->file_id)))
			return fail(ctx, -EBADMSG, "image damaged: pid %u vma 0x%llx has no file", v->pid,
				    (unsigned long long)v->start);
		if (v->kind == CKPT__VMA_KIND__VMA_SHMEM) {
			const Ckpt__Shmem *s = v->has_shmem_id ? model_shmem(m, v->shmem_id) : NULL;

			if (!s || v->pgoff > s->size || v->end - v->start > s->size - v->pgoff || !(v->flags & 1))
				return fail(ctx, -EBADMSG, "image damaged: pid %u vma 0x%llx shared memory", v->pid,
					    (unsigned long long)v->start);
		}
		if (v->kind == CKPT__VMA_KIND__VMA_SYSV_SHM) {
			const Ckpt__SysvObject *o = v->has_sysv_shm_id ? model_sysv(m, SYSV_SHM, v->sysv_shm_id) : NULL;
			uint64_t size = o ? PAGE_ALIGN(o->shm_size) : 0;

			if (!o || v->pgoff > size || v->end - v->start > size - v->pgoff || !(v->flags & 1) ||
			    (v->sysv_shm_rdonly && (v->prot & PROT_WRITE)))
				return fail(ctx, -EBADMSG, "image damaged: pid %u vma 0x%llx SysV shared memory", v->pid,
					    (unsigned long long)v->start);
		}
	}
	for (size_t i = 1; i < m->vmas.n; i++) {
		const Ckpt__Vma *a = m->vmas.v[i - 1], *b = m->vmas.v[i];

		if (a->pid == b->pid && a->end > b->start)
			return fail(ctx, -EBADMSG, "image damaged: pid %u vmas 0x%llx and 0x%llx overlap", a->pid,
				    (unsigned long long)a->start, (unsigned long long)b->start);
	}
	return 0;
}

static int cmp_proc(const void *a, const void *b)
{
	uint32_t x = (*(Ckpt__Process *const *)a)->pid, y = (*(Ckpt__Process *const *)b)->pid;

	return x < y ? -1 : x > y;
}

static int cmp_thread(const void *a, const void *b)
{
	uint32_t x = (*(Ckpt__Thread *const *)a)->tid, y = (*(Ckpt__Thread *const *)b)->tid;

	return x < y ? -1 : x > y;
}

static int cmp_file(const void *a, const void *b)
{
	uint64_t x = (*(Ckpt__File *const *)a)->id, y = (*(Ckpt__File *const *)b)->id;

	return x < y ? -1 : x > y;
}

static int cmp_shmem(const void *a, const void *b)
{
	uint64_t x = (*(Ckpt__Shmem *const *)a)->id, y = (*(Ckpt__Shmem *const *)b)->id;

	return x < y ? -1 : x > y;
}

static int cmp_sysv(const void *a, const void *b)
{
	const Ckpt__SysvObject *y = *(Ckpt__SysvObject *const *)b;
	const Ckpt__SysvObject *x = *(Ckpt__SysvObject *const *)a;

	return cmp_sysv_key(x->kind, x->id, y);
}

static int cmp_fd(const void *a, const void *b)
{
	const Ckpt__Fd *x = *(Ckpt__Fd *const *)a, *y = *(Ckpt__Fd *const *)b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

#define SORT_LIST(list, cmp)                                                     \
	do {                                                                     \
		if ((list).n)                                                    \
			qsort((list).v, (list).n, sizeof(*(list).v), cmp);       \
	} while (0)

/* Sorts the records for lookups; a key found twice means a repeated record. */
static int sort_model(struct model *m, struct ckpt_ctx *ctx)
{
	SORT_LIST(m->procs, cmp_proc);
	SORT_LIST(m->threads, cmp_thread);
	SORT_LIST(m->files, cmp_file);
	SORT_LIST(m->shmems, cmp_shmem);
	SORT_LIST(m->fds, cmp_fd);
	SORT_LIST(m->vmas, cmp_vma);
	SORT_LIST(m->sysv, cmp_sysv);
	m->sorted = true;
	for (size_t i = 1; i < m->sysv.n; i++)
		if (!cmp_sysv(&m->sysv.v[i], &m->sysv.v[i - 1]))
			return fail(ctx, -EBADMSG, "image damaged: SysV object %d recorded twice", m->sysv.v[i]->id);
	for (size_t i = 1; i < m->procs.n; i++)
		if (m->procs.v[i]->pid == m->procs.v[i - 1]->pid)
			return fail(ctx, -EBADMSG, "image damaged: process %u recorded twice", m->procs.v[i]->pid);
	for (size_t i = 1; i < m->threads.n; i++)
		if (m->threads.v[i]->tid == m->threads.v[i - 1]->tid)
			return fail(ctx, -EBADMSG, "image damaged: thread %u recorded twice", m->threads.v[i]->tid);
	for (size_t i = 1; i < m->files.n; i++)
		if (m->files.v[i]->id == m->files.v[i - 1]->id)
			return fail(ctx, -EBADMSG, "image damaged: file %llu recorded twice",
				    (unsigned long long)m->files.v[i]->id);
	for (size_t i = 1; i < m->shmems.n; i++)
		if (m->shmems.v[i]->id == m->shmems.v[i - 1]->id)
			return fail(ctx, -EBADMSG, "image damaged: shared memory %llu recorded twice",
				    (unsigned long long)m->shmems.v[i]->id);
	for (size_t i = 1; i < m->fds.n; i++)
		if (!cmp_fd(&m->fds.v[i], &m->fds.v[i - 1]))
			return fail(ctx, -EBADMSG, "image damaged: pid %u fd %u recorded twice", m->fds.v[i]->pid,
				    m->fds.v[i]->fd);
	return 0;
}

static size_t proc_idx(const struct model *m, const Ckpt__Process *p)
{
	size_t lo = 0, hi = m->procs.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->procs.v[mid]->pid == p->pid)
			return mid;
		if (m->procs.v[mid]->pid < p->pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

/* Every process leads up to the root, without a loop: linear in the tree. */
static int check_tree(const struct model *m, struct ckpt_ctx *ctx)
{
	uint8_t *state = xcalloc(m->procs.n, 1); /* 0 unseen, 1 on the walk, 2 leads to the root */
	size_t *walk = xcalloc(m->procs.n, sizeof(size_t));
	int r = 0;

	for (size_t i = 0; r == 0 && i < m->procs.n; i++) {
		size_t depth = 0, j = i;

		while (state[j] == 0) {
			const Ckpt__Process *parent;

			state[j] = 1;
			walk[depth++] = j;
			if (!m->procs.v[j]->ppid)
				break;
			parent = model_proc(m, m->procs.v[j]->ppid);
			if (!parent || state[proc_idx(m, parent)] == 1) {
				r = fail(ctx, -EBADMSG, "image damaged: process %u is not in the tree", m->procs.v[i]->pid);
				break;
			}
			j = proc_idx(m, parent);
		}
		while (depth)
			state[walk[--depth]] = 2;
	}
	free(state);
	free(walk);
	return r;
}

static int check_threads(const struct model *m, struct ckpt_ctx *ctx)
{
	uint32_t *count = xcalloc(m->procs.n, sizeof(uint32_t));
	bool *main_thread = xcalloc(m->procs.n, sizeof(bool));
	int r = 0;

	for (size_t i = 0; r == 0 && i < m->threads.n; i++) {
		const Ckpt__Thread *t = m->threads.v[i];
		const Ckpt__Process *p = model_proc(m, t->pid);

		r = validate_thread(m, ctx, t);
		if (r == 0 && p) {
			count[proc_idx(m, p)]++;
			main_thread[proc_idx(m, p)] |= t->tid == t->pid;
		}
	}
	for (size_t i = 0; r == 0 && i < m->procs.n; i++) {
		const Ckpt__Process *p = m->procs.v[i];

		if (p->state != 1 && (count[i] != p->nr_threads || main_thread[i] == p->leader_exited))
			r = fail(ctx, -EBADMSG, "image damaged: process %u has %u thread records for %u threads", p->pid,
				 count[i], p->nr_threads);
	}
	free(count);
	free(main_thread);
	return r;
}

/* Index of pid's first Fd record (the records are sorted by pid, then fd). */
static size_t first_fd(const struct model *m, uint32_t pid)
{
	size_t lo = 0, hi = m->fds.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->fds.v[mid]->pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool same_fds(const struct model *m, uint32_t a, uint32_t b)
{
	for (size_t i = first_fd(m, a), k = first_fd(m, b);; i++, k++) {
		bool end_a = i >= m->fds.n || m->fds.v[i]->pid != a, end_b = k >= m->fds.n || m->fds.v[k]->pid != b;
		const Ckpt__Fd *x, *y;

		if (end_a || end_b)
			return end_a && end_b;
		x = m->fds.v[i];
		y = m->fds.v[k];
		if (x->fd != y->fd || x->file_id != y->file_id || x->cloexec != y->cloexec)
			return false;
	}
}

/* The live process that a group id names, if it leads its group. */
static const Ckpt__Process *group_first(const struct model *m, uint64_t id, bool fs)
{
	const Ckpt__Process *q = id && id < PID_MAX_LIMIT ? model_proc(m, (uint32_t)id) : NULL;

	if (!q || q->state == 1)
		return NULL;
	if (fs)
		return q->has_fs_id && q->fs_id == q->pid ? q : NULL;
	return q->fd_table_id == q->pid ? q : NULL;
}

/*
 * Processes that share an fd table, or a cwd, root and umask, name the first
 * of them, which names itself. Restore installs the table, or sets the fs,
 * once for all of them: they must agree on it.
 */
static int check_sharing(const struct model *m, struct ckpt_ctx *ctx)
{
	for (size_t i = 0; i < m->procs.n; i++) {
		const Ckpt__Process *p = m->procs.v[i], *q;

		if (p->state == 1)
			continue;
		if (p->fd_table_id != p->pid &&
		    (!(q = group_first(m, p->fd_table_id, false)) || !same_fds(m, p->pid, q->pid)))
			return fail(ctx, -EBADMSG, "image damaged: process %u shares the fd table of process %llu",
				    p->pid, (unsigned long long)p->fd_table_id);
		if (p->has_fs_id && p->fs_id != p->pid &&
		    (!(q = group_first(m, p->fs_id, true)) || q->cwd_file_id != p->cwd_file_id ||
		     q->root_file_id != p->root_file_id || q->umask != p->umask))
			return fail(ctx, -EBADMSG, "image damaged: process %u shares the cwd, root and umask of process %llu",
				    p->pid, (unsigned long long)p->fs_id);
	}
	return 0;
}

int model_validate(struct model *m, struct ckpt_ctx *ctx)
{
	int r = validate_header(m, ctx);

	if (r == 0)
		r = sort_model(m, ctx);
	if (r == 0)
		r = check_tree(m, ctx);
	for (size_t i = 0; r == 0 && i < m->procs.n; i++)
		r = validate_proc(m, ctx, m->procs.v[i]);
	if (r == 0)
		r = check_threads(m, ctx);
	for (size_t i = 0; r == 0 && i < m->files.n; i++) {
		const Ckpt__File *f = m->files.v[i];

		if (f->id == 0 || (f->path && strlen(f->path) >= 4096) ||
		    (f->has_pipe_data && (!f->has_pipe_size || f->pipe_data.len > f->pipe_size)) ||
		    f->pipe_size > (1u << 30) || f->n_epoll_targets > (1u << 20) || !valid_object(m, f))
			r = fail(ctx, -EBADMSG, "image damaged: file record %llu", (unsigned long long)f->id);
	}
	for (size_t i = 0; r == 0 && i < m->fds.n; i++) {
		const Ckpt__Fd *fd = m->fds.v[i];
		const Ckpt__Process *p = model_proc(m, fd->pid);

		if (!p || p->state == 1 || fd->fd >= (1u << 20) || !model_file(m, fd->file_id))
			r = fail(ctx, -EBADMSG, "image damaged: pid %u fd %u", fd->pid, fd->fd);
	}
	if (r == 0)
		r = check_sharing(m, ctx);
	for (size_t i = 0; r == 0 && i < m->shmems.n; i++)
		if (m->shmems.v[i]->size > (1ULL << 40) || m->shmems.v[i]->size % PAGE_SIZE)
			r = fail(ctx, -EBADMSG, "image damaged: shared memory %llu",
				 (unsigned long long)m->shmems.v[i]->id);
	if (r == 0)
		r = locks_validate(m, ctx);
	if (r == 0)
		r = model_validate_ipc(m, ctx);
	return r ? r : validate_vmas(m, ctx);
}

/* Runs of one key (a pid, a shmem, a file, a SysV segment) come in increasing order without overlap. */
static int order_check(struct page_order *po, struct ckpt_ctx *ctx, uint64_t key, uint64_t addr, uint32_t nr_pages,
		       const char *what, unsigned long long id)
{
	uint64_t len = (uint64_t)nr_pages * PAGE_SIZE;
	struct page_cursor *c = NULL;

	if (po->last < po->n && po->v[po->last].key == key)
		c = &po->v[po->last];
	for (size_t i = 0; !c && i < po->n; i++)
		if (po->v[i].key == key) {
			c = &po->v[i];
			po->last = i;
		}
	if (!c) {
		c = array_push(&po->v, &po->n, &po->cap, sizeof(*c));
		c->key = key;
		po->last = po->n - 1;
	} else if (addr < c->end) {
		return fail(ctx, -EBADMSG, "image damaged: pages of %s %llu at 0x%llx repeated or out of order", what,
			    id, (unsigned long long)addr);
	}
	if (addr + len < addr)
		return fail(ctx, -EBADMSG, "image damaged: pages at 0x%llx wrap around", (unsigned long long)addr);
	c->end = addr + len;
	return 0;
}

int page_order_check(struct page_order *po, struct ckpt_ctx *ctx, const Ckpt__Pages *p)
{
	uint64_t key = p->pid ? p->pid : (1ULL << 63) | p->shmem_id;

	return order_check(po, ctx, key, p->addr, p->nr_pages, p->pid ? "pid" : "shared memory",
			   (unsigned long long)(p->pid ? p->pid : p->shmem_id));
}

/* SysV segments have keys of their own: neither a pid nor a shmem id (bit 63). */
int page_order_check_sysv(struct page_order *po, struct ckpt_ctx *ctx, const Ckpt__SysvPages *p)
{
	return order_check(po, ctx, (1ULL << 62) | (uint32_t)p->shm_id, p->offset, p->nr_pages,
			   "SysV shared memory", (unsigned long long)(uint32_t)p->shm_id);
}

/* A FileData record: of the object record of a memfd or unlinked file, inside its size, in order. */
static int check_file_data(const struct model *m, struct page_order *po, struct ckpt_ctx *ctx,
			   const Ckpt__FileData *d, const Ckpt__File **out)
{
	const Ckpt__File *f = model_file(m, d->file_id);
	uint64_t len = (uint64_t)d->nr_pages * PAGE_SIZE;

	if (!f || !file_has_content(f) || d->offset % PAGE_SIZE || len > PAGE_ALIGN(f->size) ||
	    d->offset > PAGE_ALIGN(f->size) - len)
		return fail(ctx, -EBADMSG, "image damaged: file data of file %llu at offset %llu",
			    (unsigned long long)d->file_id, (unsigned long long)d->offset);
	*out = f;
	return order_check(po, ctx, d->file_id, d->offset, d->nr_pages, "file", (unsigned long long)d->file_id);
}

int model_read_file_data(const struct model *m, struct img_reader *r, struct ckpt_ctx *ctx, uint32_t *type,
			 ProtobufCMessage **msg, file_data_fn put, void *arg)
{
	struct page_order po = { 0 };
	_cleanup_free_ uint8_t *buf = NULL;
	int e = 0;

	while (e == 0 && *type == REC_FILEDATA) {
		const Ckpt__FileData *d = (const Ckpt__FileData *)*msg;
		const Ckpt__File *f = NULL;
		size_t len = (size_t)d->nr_pages * PAGE_SIZE;

		if (!buf)
			buf = xcalloc(IMG_MAX_CHUNK_PAGES, PAGE_SIZE);
		e = check_file_data(m, &po, ctx, d, &f);
		if (e == 0)
			e = img_read_data(r, d->nr_pages, d->data_hash, buf);
		/* Bytes past the file's end are padding. */
		if (e == 0 && len > f->size - d->offset)
			len = f->size > d->offset ? (size_t)(f->size - d->offset) : 0;
		if (e == 0 && put)
			e = put(arg, f, d, buf, len);
		img_free_msg(*msg);
		*msg = NULL;
		if (e == 0)
			e = img_read_next(r, type, msg);
	}
	page_order_free(&po);
	return e;
}

void page_order_free(struct page_order *po)
{
	free(po->v);
	memset(po, 0, sizeof(*po));
}
