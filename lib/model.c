// SPDX-License-Identifier: MIT
/* The decoded image and the checks that make it safe to act on. */
#include <signal.h>
#include <sys/mman.h>
#include <sys/user.h>

#include "image.h"
#include "mem.h"
#include "model.h"

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
	for (size_t i = 0; i < m->owned.n; i++)
		protobuf_c_message_free_unpacked(m->owned.v[i], NULL);
	free(m->owned.v);
	memset(m, 0, sizeof(*m));
}

Ckpt__Process *model_proc(const struct model *m, uint32_t pid)
{
	for (size_t i = 0; i < m->procs.n; i++)
		if (m->procs.v[i]->pid == pid)
			return m->procs.v[i];
	return NULL;
}

Ckpt__File *model_file(const struct model *m, uint64_t id)
{
	for (size_t i = 0; i < m->files.n; i++)
		if (m->files.v[i]->id == id)
			return m->files.v[i];
	return NULL;
}

Ckpt__Shmem *model_shmem(const struct model *m, uint64_t id)
{
	for (size_t i = 0; i < m->shmems.n; i++)
		if (m->shmems.v[i]->id == id)
			return m->shmems.v[i];
	return NULL;
}

#define PID_MAX_LIMIT 4194304u

static int check_unique(struct ckpt_ctx *ctx, const struct model *m, uint32_t type, const ProtobufCMessage *msg)
{
	switch (type) {
	case REC_PROCESS:
		if (model_proc(m, ((const Ckpt__Process *)msg)->pid))
			return fail(ctx, -EBADMSG, "image damaged: process %u recorded twice",
				    ((const Ckpt__Process *)msg)->pid);
		break;
	case REC_THREAD:
		for (size_t i = 0; i < m->threads.n; i++)
			if (m->threads.v[i]->tid == ((const Ckpt__Thread *)msg)->tid)
				return fail(ctx, -EBADMSG, "image damaged: thread %u recorded twice", m->threads.v[i]->tid);
		break;
	case REC_FILE:
		if (model_file(m, ((const Ckpt__File *)msg)->id))
			return fail(ctx, -EBADMSG, "image damaged: file %llu recorded twice",
				    (unsigned long long)((const Ckpt__File *)msg)->id);
		break;
	case REC_SHMEM:
		if (model_shmem(m, ((const Ckpt__Shmem *)msg)->id))
			return fail(ctx, -EBADMSG, "image damaged: shared memory %llu recorded twice",
				    (unsigned long long)((const Ckpt__Shmem *)msg)->id);
		break;
	}
	return 0;
}

int model_read(struct model *m, struct img_reader *r, struct ckpt_ctx *ctx, uint32_t *first_type,
	       ProtobufCMessage **first_msg)
{
	for (;;) {
		ProtobufCMessage *msg;
		uint32_t type;
		int e = img_read_next(r, &type, &msg);

		if (e < 0)
			return e;
		if (type == REC_PAGES || type == REC_TRAILER) {
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
		e = check_unique(ctx, m, type, msg);
		if (e < 0)
			return e;
		switch (type) {
		case REC_HEADER: m->header = (Ckpt__Header *)msg; break;
		case REC_PROCESS: LIST_PUSH(&m->procs, (Ckpt__Process *)msg); break;
		case REC_THREAD: LIST_PUSH(&m->threads, (Ckpt__Thread *)msg); break;
		case REC_VMA: LIST_PUSH(&m->vmas, (Ckpt__Vma *)msg); break;
		case REC_FILE: LIST_PUSH(&m->files, (Ckpt__File *)msg); break;
		case REC_FD: LIST_PUSH(&m->fds, (Ckpt__Fd *)msg); break;
		case REC_SHMEM: LIST_PUSH(&m->shmems, (Ckpt__Shmem *)msg); break;
		}
	}
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

static int validate_proc(const struct model *m, struct ckpt_ctx *ctx, const Ckpt__Process *p)
{
	const Ckpt__Process *q = p;
	size_t hops = 0;

	if (p->pid == 0 || p->pid >= PID_MAX_LIMIT || p->pgid >= PID_MAX_LIMIT || p->sid >= PID_MAX_LIMIT)
		return fail(ctx, -EBADMSG, "image damaged: process id %u", p->pid);
	if (p->state > 2 || p->exit_signal > 64)
		return fail(ctx, -EBADMSG, "image damaged: state of process %u", p->pid);
	if ((p->ppid == 0) != (p->pid == m->header->root_pid))
		return fail(ctx, -EBADMSG, "image damaged: parent of process %u", p->pid);
	while (q->ppid) {
		q = model_proc(m, q->ppid);
		if (!q || ++hops > m->procs.n)
			return fail(ctx, -EBADMSG, "image damaged: process %u is not in the tree", p->pid);
	}
	if (validate_creds(ctx, p->pid, p->creds) < 0)
		return -EBADMSG;
	if (p->state == 1)
		return 0;
	if (!p->mm || p->nr_threads == 0 || p->nr_threads > 100000 || p->n_sigactions > 64 || p->n_rlimits > 16 ||
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
		    v->kind > CKPT__VMA_KIND__VMA_VSYSCALL || v->madv & ~(uint32_t)CKPT_MADV_ALL)
			return fail(ctx, -EBADMSG, "image damaged: pid %u vma 0x%llx", v->pid, (unsigned long long)v->start);
		if (v->kind == CKPT__VMA_KIND__VMA_FILE && (!v->has_file_id || !model_file(m, v->file_id)))
			return fail(ctx, -EBADMSG, "image damaged: pid %u vma 0x%llx has no file", v->pid,
				    (unsigned long long)v->start);
		if (v->kind == CKPT__VMA_KIND__VMA_SHMEM) {
			const Ckpt__Shmem *s = v->has_shmem_id ? model_shmem(m, v->shmem_id) : NULL;

			if (!s || v->pgoff + (v->end - v->start) > s->size || !(v->flags & 1))
				return fail(ctx, -EBADMSG, "image damaged: pid %u vma 0x%llx shared memory", v->pid,
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

int model_validate(const struct model *m, struct ckpt_ctx *ctx)
{
	int r = validate_header(m, ctx);

	if (r < 0)
		return r;
	for (size_t i = 0; i < m->procs.n; i++) {
		const Ckpt__Process *p = m->procs.v[i];
		size_t nt = 0;
		bool main_thread = false;

		r = validate_proc(m, ctx, p);
		if (r < 0)
			return r;
		for (size_t k = 0; k < m->threads.n; k++)
			if (m->threads.v[k]->pid == p->pid) {
				nt++;
				main_thread |= m->threads.v[k]->tid == p->pid;
			}
		if (p->state != 1 && (nt != p->nr_threads || main_thread == p->leader_exited))
			return fail(ctx, -EBADMSG, "image damaged: process %u has %zu thread records for %u threads",
				    p->pid, nt, p->nr_threads);
	}
	for (size_t i = 0; i < m->threads.n; i++) {
		r = validate_thread(m, ctx, m->threads.v[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < m->files.n; i++) {
		const Ckpt__File *f = m->files.v[i];

		if (f->id == 0 || (f->path && strlen(f->path) >= 4096) ||
		    (f->has_pipe_data && (!f->has_pipe_size || f->pipe_data.len > f->pipe_size)) ||
		    f->pipe_size > (1u << 30) || f->n_epoll_targets > (1u << 20))
			return fail(ctx, -EBADMSG, "image damaged: file record %llu", (unsigned long long)f->id);
	}
	for (size_t i = 0; i < m->fds.n; i++) {
		const Ckpt__Fd *fd = m->fds.v[i];
		const Ckpt__Process *p = model_proc(m, fd->pid);

		if (!p || p->state == 1 || fd->fd >= (1u << 20) || !model_file(m, fd->file_id))
			return fail(ctx, -EBADMSG, "image damaged: pid %u fd %u", fd->pid, fd->fd);
		for (size_t k = 0; k < i; k++)
			if (m->fds.v[k]->pid == fd->pid && m->fds.v[k]->fd == fd->fd)
				return fail(ctx, -EBADMSG, "image damaged: pid %u fd %u recorded twice", fd->pid, fd->fd);
	}
	for (size_t i = 0; i < m->shmems.n; i++)
		if (m->shmems.v[i]->size > (1ULL << 40) || m->shmems.v[i]->size % PAGE_SIZE)
			return fail(ctx, -EBADMSG, "image damaged: shared memory %llu",
				    (unsigned long long)m->shmems.v[i]->id);
	if (m->vmas.n) /* qsort(NULL, 0, ...) is undefined */
		qsort(((struct model *)m)->vmas.v, m->vmas.n, sizeof(*m->vmas.v), cmp_vma);
	return validate_vmas(m, ctx);
}
