// SPDX-License-Identifier: MIT
/*
 * ckpt info: read a whole image, check every record and every page
 * checksum, then describe it as text or as one JSON object. Nothing is
 * printed before the image has been read to its end, so a damaged image
 * gives an error and no partial description.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>

#include "image.h"
#include "mem.h"
#include "locks.h"
#include "model.h"
#include "res/res.h"

#define NO_INDEX ((size_t)-1)
/* The kernel sets it in fdinfo; glibc defines O_LARGEFILE as 0 on x86_64. */
#define KERNEL_O_LARGEFILE 0100000u

struct info {
	struct ckpt_ctx *ctx;
	struct model m;
	struct img_reader r;
	FILE *out;
	uint64_t *proc_bytes;   /* page bytes, by index in m.procs */
	uint64_t *vma_bytes;    /* by index in m.vmas (sorted by pid, start) */
	uint64_t *shmem_bytes;  /* by index in m.shmems */
	uint64_t *sysv_bytes;   /* by index in m.sysv (sorted by kind, id) */
	uint64_t page_bytes;
	uint64_t file_data_bytes; /* content of memfds and unlinked files */
	size_t *order;          /* m.procs indices, parents before children */
	unsigned *depth;        /* depth in the tree, by position in order */
	size_t nr_order;
	struct page_order pages;
};

/* Lookups */

static size_t proc_index(const struct model *m, uint32_t pid)
{
	for (size_t i = 0; i < m->procs.n; i++)
		if (m->procs.v[i]->pid == pid)
			return i;
	return NO_INDEX;
}

static size_t shmem_index(const struct model *m, uint64_t id)
{
	for (size_t i = 0; i < m->shmems.n; i++)
		if (m->shmems.v[i]->id == id)
			return i;
	return NO_INDEX;
}

/*
 * First mapping of pid that ends above addr. model_validate() sorted the
 * mappings by (pid, start) and checked that they do not overlap, so their
 * ends are sorted too.
 */
static size_t first_vma(const struct model *m, uint32_t pid, uint64_t addr)
{
	size_t lo = 0, hi = m->vmas.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const Ckpt__Vma *v = m->vmas.v[mid];

		if (v->pid < pid || (v->pid == pid && v->end <= addr))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Reading */

static int count_shmem_pages(struct info *in, const Ckpt__Pages *p, uint64_t len)
{
	size_t i = p->has_shmem_id ? shmem_index(&in->m, p->shmem_id) : NO_INDEX;
	const Ckpt__Shmem *s = i == NO_INDEX ? NULL : in->m.shmems.v[i];

	if (!s || p->addr > s->size || len > s->size - p->addr)
		return fail(in->ctx, -EBADMSG, "image damaged: pages of shared memory %llu at offset 0x%llx",
			    (unsigned long long)p->shmem_id, (unsigned long long)p->addr);
	in->shmem_bytes[i] += len;
	return 0;
}

static int count_proc_pages(struct info *in, const Ckpt__Pages *p, uint64_t len)
{
	const struct model *m = &in->m;
	size_t pi = proc_index(m, p->pid), i;
	uint64_t end, covered = 0;

	if (pi == NO_INDEX || p->addr >= CKPT_TASK_SIZE || len > CKPT_TASK_SIZE - p->addr)
		return fail(in->ctx, -EBADMSG, "image damaged: pages of pid %u at 0x%llx", p->pid,
			    (unsigned long long)p->addr);
	end = p->addr + len;
	for (i = first_vma(m, p->pid, p->addr); i < m->vmas.n; i++) {
		const Ckpt__Vma *v = m->vmas.v[i];
		uint64_t lo, hi;

		if (v->pid != p->pid || v->start >= end)
			break;
		lo = v->start > p->addr ? v->start : p->addr;
		hi = v->end < end ? v->end : end;
		in->vma_bytes[i] += hi - lo;
		covered += hi - lo;
	}
	if (covered != len)
		return fail(in->ctx, -EBADMSG, "image damaged: pid %u pages at 0x%llx lie outside its mappings",
			    p->pid, (unsigned long long)p->addr);
	in->proc_bytes[pi] += len;
	return 0;
}

static int count_pages(struct info *in, const Ckpt__Pages *p)
{
	uint64_t len = (uint64_t)p->nr_pages * PAGE_SIZE;
	int r;

	if (p->addr % PAGE_SIZE)
		return fail(in->ctx, -EBADMSG, "image damaged: pages record at 0x%llx is not page aligned",
			    (unsigned long long)p->addr);
	r = page_order_check(&in->pages, in->ctx, p);
	if (r < 0)
		return r;
	r = p->pid ? count_proc_pages(in, p, len) : count_shmem_pages(in, p, len);
	if (r == 0)
		in->page_bytes += len;
	return r;
}

/* Contents of a SysV segment lie inside it, in order. */
static int count_sysv_pages(struct info *in, const Ckpt__SysvPages *p)
{
	const Ckpt__SysvObject *o = model_sysv(&in->m, SYSV_SHM, p->shm_id);
	uint64_t len = (uint64_t)p->nr_pages * PAGE_SIZE;
	int r;

	if (!o || p->offset % PAGE_SIZE || p->offset > PAGE_ALIGN(o->shm_size) || len > PAGE_ALIGN(o->shm_size) - p->offset)
		return fail(in->ctx, -EBADMSG, "image damaged: pages of SysV shared memory id %d at 0x%llx", p->shm_id,
			    (unsigned long long)p->offset);
	r = page_order_check_sysv(&in->pages, in->ctx, p);
	if (r < 0)
		return r;
	for (size_t i = 0; i < in->m.sysv.n; i++)
		if (in->m.sysv.v[i] == o)
			in->sysv_bytes[i] += len;
	in->page_bytes += len;
	return 0;
}

/* Reads the page records up to the trailer, which img_read_next() checks. */
static int read_pages(struct info *in, uint32_t type, ProtobufCMessage *msg)
{
	int r = 0;

	while (type == REC_PAGES || type == REC_SYSV_PAGES) {
		if (type == REC_SYSV_PAGES) {
			const Ckpt__SysvPages *sp = (const Ckpt__SysvPages *)msg;

			r = count_sysv_pages(in, sp);
			if (r == 0)
				r = img_skip_data(&in->r, sp->nr_pages, sp->data_hash);
		} else {
			r = count_pages(in, (Ckpt__Pages *)msg);
			if (r == 0)
				r = img_skip_page_data(&in->r, (Ckpt__Pages *)msg);
		}
		img_free_msg(msg);
		msg = NULL;
		if (r == 0)
			r = img_read_next(&in->r, &type, &msg);
		if (r < 0)
			return r;
	}
	img_free_msg(msg);
	if (type != REC_TRAILER)
		return fail(in->ctx, -EBADMSG, "image damaged: %s record after the page data", img_rec_name(type));
	return 0;
}

static int count_file_data(void *arg, const Ckpt__File *f, const Ckpt__FileData *d, const void *data, size_t len)
{
	struct info *in = arg;

	(void)f;
	(void)d;
	(void)data;
	in->file_data_bytes += len;
	return 0;
}

static int read_image(struct info *in, int fd)
{
	ProtobufCMessage *msg = NULL;
	uint32_t type = 0;
	int r;

	r = img_reader_open(&in->r, in->ctx, fd);
	if (r == 0)
		r = model_read(&in->m, &in->r, in->ctx, &type, &msg);
	if (r == 0)
		r = model_validate(&in->m, in->ctx);
	if (r == 0)
		r = model_read_file_data(&in->m, &in->r, in->ctx, &type, &msg, count_file_data, in);
	if (r < 0) {
		img_free_msg(msg);
		return r;
	}
	in->proc_bytes = xcalloc(in->m.procs.n, sizeof(uint64_t));
	in->vma_bytes = xcalloc(in->m.vmas.n, sizeof(uint64_t));
	in->shmem_bytes = xcalloc(in->m.shmems.n, sizeof(uint64_t));
	in->sysv_bytes = xcalloc(in->m.sysv.n, sizeof(uint64_t));
	return read_pages(in, type, msg);
}

/*
 * Orders the processes parents first, without recursion: a damaged or
 * hostile image may describe a very deep tree. model_validate() checked
 * that every process leads up to the root, so each is visited once.
 */
static void order_tree(struct info *in)
{
	const struct proc_list *pl = &in->m.procs;
	size_t n = pl->n, top = 1;
	_cleanup_free_ size_t *stack = xcalloc(n, sizeof(size_t));
	_cleanup_free_ size_t *scan = xcalloc(n, sizeof(size_t));

	in->order = xcalloc(n, sizeof(size_t));
	in->depth = xcalloc(n, sizeof(unsigned));
	stack[0] = proc_index(&in->m, in->m.header->root_pid);
	if (n == 0 || stack[0] == NO_INDEX)
		return;
	in->order[in->nr_order++] = stack[0];
	while (top) {
		uint32_t pid = pl->v[stack[top - 1]]->pid;
		size_t k = scan[top - 1];

		while (k < n && pl->v[k]->ppid != pid)
			k++;
		if (k == n || top == n || in->nr_order == n) {
			top--;
			continue;
		}
		scan[top - 1] = k + 1;
		stack[top] = k;
		scan[top++] = 0;
		in->depth[in->nr_order] = (unsigned)(top - 1);
		in->order[in->nr_order++] = k;
	}
}

static int cmp_fd(const void *a, const void *b)
{
	const Ckpt__Fd *x = *(Ckpt__Fd *const *)a, *y = *(Ckpt__Fd *const *)b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

/* Names and formats shared by both outputs */

static const char *state_name(uint32_t state)
{
	static const char *const names[] = { "alive", "zombie", "stopped" };

	return state < ARRAY_SIZE(names) ? names[state] : "unknown";
}

static const char *vma_kind_name(uint32_t kind)
{
	static const char *const names[] = {
		[CKPT__VMA_KIND__VMA_ANON] = "anon",   [CKPT__VMA_KIND__VMA_FILE] = "file",
		[CKPT__VMA_KIND__VMA_SHMEM] = "shmem", [CKPT__VMA_KIND__VMA_HEAP] = "heap",
		[CKPT__VMA_KIND__VMA_STACK] = "stack", [CKPT__VMA_KIND__VMA_VDSO] = "vdso",
		[CKPT__VMA_KIND__VMA_VVAR] = "vvar",   [CKPT__VMA_KIND__VMA_VSYSCALL] = "vsyscall",
		[CKPT__VMA_KIND__VMA_SYSV_SHM] = "sysv",
	};

	return kind < ARRAY_SIZE(names) && names[kind] ? names[kind] : "unknown";
}

static const char *const madv_names[] = {
	"dontfork", "wipeonfork", "dontdump", "hugepage", "nohugepage", "locked", "lockonfault", "accounted",
	"mergeable", "sealed",
};

static const char *file_kind_name(uint32_t kind)
{
	const struct res_ops *ops = res_by_kind(kind);

	return ops ? ops->name : "unknown";
}

/* What a File without a path is, if its kind can say. */
static const char *file_desc(const Ckpt__File *f, char *buf, size_t len)
{
	const struct res_ops *ops = res_by_kind(f->kind);

	if (!ops || !ops->describe)
		return "?";
	ops->describe(f, buf, len);
	return buf;
}

static const char *prot_str(const Ckpt__Vma *v, char buf[5])
{
	buf[0] = v->prot & PROT_READ ? 'r' : '-';
	buf[1] = v->prot & PROT_WRITE ? 'w' : '-';
	buf[2] = v->prot & PROT_EXEC ? 'x' : '-';
	buf[3] = v->flags & MAP_SHARED ? 's' : 'p';
	buf[4] = 0;
	return buf;
}

static const char *open_flags_str(uint32_t flags, char *buf, size_t len)
{
	static const struct {
		uint32_t bits;
		const char *name;
	} names[] = {
		{ O_APPEND, "O_APPEND" },       { O_NONBLOCK, "O_NONBLOCK" }, { O_SYNC, "O_SYNC" },
		{ O_DSYNC, "O_DSYNC" },         { O_ASYNC, "O_ASYNC" },       { O_DIRECT, "O_DIRECT" },
		{ KERNEL_O_LARGEFILE, "O_LARGEFILE" }, { O_TMPFILE, "O_TMPFILE" },   { O_DIRECTORY, "O_DIRECTORY" },
		{ O_NOFOLLOW, "O_NOFOLLOW" },   { O_NOATIME, "O_NOATIME" },   { O_CREAT, "O_CREAT" },
		{ O_EXCL, "O_EXCL" },           { O_NOCTTY, "O_NOCTTY" },     { O_TRUNC, "O_TRUNC" },
	};
	static const char *const acc[] = { "O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE" };
	size_t n;

	if (flags & O_PATH) {
		n = (size_t)snprintf(buf, len, "O_PATH");
		flags &= ~(uint32_t)(O_PATH | O_ACCMODE);
	} else {
		n = (size_t)snprintf(buf, len, "%s", acc[flags & O_ACCMODE]);
		flags &= ~(uint32_t)O_ACCMODE;
	}
	for (size_t i = 0; i < ARRAY_SIZE(names) && n < len; i++)
		if ((flags & names[i].bits) == names[i].bits) {
			n += (size_t)snprintf(buf + n, len - n, "|%s", names[i].name);
			flags &= ~names[i].bits;
		}
	if (flags && n < len)
		snprintf(buf + n, len - n, "|0%o", flags);
	return buf;
}

static const char *size_str(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%llu%s", (unsigned long long)bytes, bytes ? "B" : "");
		return buf;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, v == (double)(uint64_t)v ? "%.0f%c" : "%.1f%c", v, units[u]);
	return buf;
}

static const char *time_str(uint64_t unix_ns, char *buf, size_t len)
{
	time_t t = (time_t)(unix_ns / 1000000000ULL);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "@%llu", (unsigned long long)(unix_ns / 1000000000ULL));
	return buf;
}

static const char *file_path(const struct model *m, uint64_t id)
{
	const Ckpt__File *f = model_file(m, id);

	return f && f->path ? f->path : "";
}

/* Text output */

/* Prints a string from the image; control characters are shown escaped. */
static void t_str(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
}

static void t_header(struct info *in)
{
	const Ckpt__Header *h = in->m.header;
	char when[64];

	fprintf(in->out, "ckpt image, format version %u, written by ckpt ", h->format_version);
	t_str(in->out, h->tool_version);
	fprintf(in->out, "\n  created:   %s on host \"", time_str(h->created_unix_ns, when, sizeof(when)));
	t_str(in->out, h->hostname);
	fputs("\"\n  kernel:    ", in->out);
	t_str(in->out, h->kernel);
	fputs(" (", in->out);
	t_str(in->out, h->arch);
	fputs(")\n  cpu:       ", in->out);
	t_str(in->out, h->cpu_model ? h->cpu_model : "unknown");
	fprintf(in->out, "\n  xfeatures: 0x%llx, XSAVE area %u bytes", (unsigned long long)h->xfeatures,
		h->xsave_size);
	if (h->has_cpu_flags)
		fprintf(in->out, ", cpu flags 0x%llx", (unsigned long long)h->cpu_flags);
	fprintf(in->out, "\n  tree:      root pid %u, %u processes, %u threads\n", h->root_pid, h->nr_processes,
		h->nr_threads);
}

static void t_creds(FILE *out, const Ckpt__Creds *c)
{
	fprintf(out, "uid %u/%u/%u/%u gid %u/%u/%u/%u", c->uid[0], c->uid[1], c->uid[2], c->uid[3], c->gid[0],
		c->gid[1], c->gid[2], c->gid[3]);
}

static void t_tree(struct info *in)
{
	fputs("\nprocess tree:\n", in->out);
	for (size_t i = 0; i < in->nr_order; i++) {
		const Ckpt__Process *p = in->m.procs.v[in->order[i]];

		/* Indented by depth, up to a point: a hostile chain must not square the output. */
		fprintf(in->out, "  %*s%u ", (int)(2 * (in->depth[i] < 32 ? in->depth[i] : 32)), "", p->pid);
		t_str(in->out, p->comm);
		fprintf(in->out, " [%s] ", state_name(p->state));
		t_creds(in->out, p->creds);
		fprintf(in->out, " pgid %u sid %u", p->pgid, p->sid);
		if (p->state == 1 && p->has_exit_code)
			fprintf(in->out, " wait status 0x%x", p->exit_code);
		else if (p->state != 1)
			fprintf(in->out, " threads %u", p->nr_threads);
		fputc('\n', in->out);
	}
}

static void t_threads(struct info *in, const Ckpt__Process *p)
{
	fputs("  threads:\n", in->out);
	for (size_t i = 0; i < in->m.threads.n; i++) {
		const Ckpt__Thread *t = in->m.threads.v[i];

		if (t->pid != p->pid)
			continue;
		fprintf(in->out, "    %u ", t->tid);
		t_str(in->out, t->comm);
		fputc('\n', in->out);
	}
}

static void t_madv(FILE *out, uint32_t madv)
{
	const char *sep = " [";

	for (size_t b = 0; b < ARRAY_SIZE(madv_names); b++)
		if (madv & (1u << b)) {
			fprintf(out, "%s%s", sep, madv_names[b]);
			sep = ",";
		}
	if (madv)
		fputc(']', out);
}

static void t_vmas(struct info *in, const Ckpt__Process *p)
{
	const struct model *m = &in->m;
	char prot[5], size[32], saved[32];

	fputs("  mappings:\n", in->out);
	for (size_t i = first_vma(m, p->pid, 0); i < m->vmas.n && m->vmas.v[i]->pid == p->pid; i++) {
		const Ckpt__Vma *v = m->vmas.v[i];
		const char *name = v->name && v->name[0] ? v->name : v->has_file_id ? file_path(m, v->file_id) : "";

		fprintf(in->out, "    %012llx-%012llx %s %6s %-5s saved %6s", (unsigned long long)v->start,
			(unsigned long long)v->end, prot_str(v, prot), size_str(v->end - v->start, size, sizeof(size)),
			vma_kind_name(v->kind), size_str(in->vma_bytes[i], saved, sizeof(saved)));
		if (name[0])
			fputc(' ', in->out);
		t_str(in->out, name);
		t_madv(in->out, v->madv);
		fputc('\n', in->out);
	}
}

static void t_fds(struct info *in, const Ckpt__Process *p)
{
	char flags[256], desc[512];

	fputs("  descriptors:\n", in->out);
	for (size_t i = 0; i < in->m.fds.n; i++) {
		const Ckpt__Fd *fd = in->m.fds.v[i];
		const Ckpt__File *f = model_file(&in->m, fd->file_id);

		if (fd->pid != p->pid || !f)
			continue;
		fprintf(in->out, "    %u -> ", fd->fd);
		t_str(in->out, f->path ? f->path : file_desc(f, desc, sizeof(desc)));
		fprintf(in->out, " (%s) %s pos %llu%s\n", file_kind_name(f->kind),
			open_flags_str(f->flags, flags, sizeof(flags)), (unsigned long long)f->pos,
			fd->cloexec ? " cloexec" : "");
		for (size_t k = 0; k < f->n_locks; k++)
			fprintf(in->out, "      lock %s\n", lock_str(f->locks[k], flags, sizeof(flags)));
	}
	for (size_t k = 0; k < p->n_locks; k++)
		fprintf(in->out, "    lock %s\n", lock_str(p->locks[k], flags, sizeof(flags)));
}

static void t_sem_undo(struct info *in, const Ckpt__Process *p)
{
	for (size_t i = 0; i < p->n_sem_undo; i++) {
		const Ckpt__SysvSemUndo *u = p->sem_undo[i];

		fprintf(in->out, "  semaphore adjustments in SysV set %d:", u->sem_id);
		/* A hostile image may hold many: the first ones are enough to read. */
		for (size_t k = 0; k < u->n_adj && k < 64; k++)
			fprintf(in->out, " %d", u->adj[k]);
		fputs(u->n_adj > 64 ? " ...\n" : "\n", in->out);
	}
}

static const char *const itimer_names[] = { "ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF" };

static const char *notify_name(uint32_t notify)
{
	switch (notify) {
	case SIGEV_NONE: return "none";
	case SIGEV_SIGNAL: return "signal";
	case SIGEV_SIGNAL | SIGEV_THREAD_ID: return "signal to thread";
	default: return "?";
	}
}

static void t_timers(struct info *in, const Ckpt__Process *p)
{
	if (!p->n_itimers && !p->n_posix_timers)
		return;
	fputs("  timers:\n", in->out);
	for (size_t i = 0; i < p->n_itimers; i++) {
		const Ckpt__ITimer *t = p->itimers[i];

		fprintf(in->out, "    %s: %.6f s left, every %.6f s\n", t->which < 3 ? itimer_names[t->which] : "?",
			(double)t->value_us / 1e6, (double)t->interval_us / 1e6);
	}
	for (size_t i = 0; i < p->n_posix_timers; i++) {
		const Ckpt__PosixTimer *t = p->posix_timers[i];

		fprintf(in->out, "    POSIX timer %d: clock %d, notify %s", t->id, t->clock, notify_name(t->notify));
		if (t->has_notify_tid)
			fprintf(in->out, " %u", t->notify_tid);
		fprintf(in->out, ", signal %u, value 0x%llx: %.9f s left, every %.9f s\n", t->signo,
			(unsigned long long)t->sigev_value, (double)t->value_ns / 1e9, (double)t->interval_ns / 1e9);
	}
}

static void t_process(struct info *in, size_t pi)
{
	const Ckpt__Process *p = in->m.procs.v[pi];
	char saved[32];

	fprintf(in->out, "\nprocess %u (", p->pid);
	t_str(in->out, p->comm);
	fprintf(in->out, ") %s\n", state_name(p->state));
	if (p->state == 1)
		return;
	fputs("  exe ", in->out);
	t_str(in->out, file_path(&in->m, p->mm->exe_file_id));
	fputs(", cwd ", in->out);
	t_str(in->out, file_path(&in->m, p->cwd_file_id));
	fputs(", root ", in->out);
	t_str(in->out, file_path(&in->m, p->root_file_id));
	fputc('\n', in->out);
	if (p->has_ctty_file_id && model_file(&in->m, p->ctty_file_id) && model_file(&in->m, p->ctty_file_id)->pty)
		fprintf(in->out, "  controlling terminal: pty %u, foreground group %u\n",
			model_file(&in->m, p->ctty_file_id)->pty_index, model_file(&in->m, p->ctty_file_id)->pty->fg_pgrp);
	t_threads(in, p);
	t_timers(in, p);
	t_vmas(in, p);
	t_fds(in, p);
	t_sem_undo(in, p);
	fprintf(in->out, "  page data: %s\n", size_str(in->proc_bytes[pi], saved, sizeof(saved)));
}

static const char *const sysv_kind_names[] = { "?", "shm", "sem", "msg" };

static void t_sysv(struct info *in)
{
	char a[32], b[32];

	if (in->m.sysv.n)
		fputs("\nSysV IPC:\n", in->out);
	for (size_t i = 0; i < in->m.sysv.n; i++) {
		const Ckpt__SysvObject *o = in->m.sysv.v[i];

		fprintf(in->out, "  %s id %d key 0x%08x mode %03o owner %u/%u creator %u/%u", sysv_kind_names[o->kind], o->id,
			(unsigned)o->key, o->mode, o->uid, o->gid, o->cuid, o->cgid);
		if (o->kind == SYSV_SHM)
			fprintf(in->out, ": size %s, saved %s%s%s", size_str(o->shm_size, a, sizeof(a)),
				size_str(in->sysv_bytes[i], b, sizeof(b)), o->shm_locked ? ", locked" : "",
				o->shm_removed ? ", removed" : "");
		else if (o->kind == SYSV_SEM)
			fprintf(in->out, ": %zu semaphores", o->n_sem_values);
		else
			fprintf(in->out, ": %u messages, limit %llu bytes", o->msg_qnum, (unsigned long long)o->msg_qbytes);
		fputc('\n', in->out);
	}
}

static void t_mqueues(struct info *in)
{
	bool first = true;

	for (size_t i = 0; i < in->m.files.n; i++) {
		const Ckpt__File *f = in->m.files.v[i];
		size_t bytes = 0;

		if (!f->has_mq_maxmsg)
			continue;
		if (first)
			fputs("\nPOSIX message queues:\n", in->out);
		first = false;
		for (size_t k = 0; k < f->n_mq_messages; k++)
			bytes += f->mq_messages[k]->data.len;
		fputs("  ", in->out);
		t_str(in->out, f->path);
		fprintf(in->out, "%s: %zu messages (%zu bytes), at most %llu of %llu bytes", f->mq_unlinked ? " (unlinked)" : "",
			f->n_mq_messages, bytes, (unsigned long long)f->mq_maxmsg, (unsigned long long)f->mq_msgsize);
		if (f->mq_notify && f->mq_notify->notify)
			fprintf(in->out, ", notifies pid %u without a signal", f->mq_notify->pid);
		else if (f->mq_notify)
			fprintf(in->out, ", notifies pid %u with signal %u, value 0x%llx", f->mq_notify->pid,
				f->mq_notify->signo, (unsigned long long)f->mq_notify->value);
		fputc('\n', in->out);
	}
}

static void t_totals(struct info *in)
{
	char a[32], b[32];

	t_sysv(in);
	t_mqueues(in);

	if (in->m.shmems.n)
		fputs("\nshared memory:\n", in->out);
	for (size_t i = 0; i < in->m.shmems.n; i++)
		fprintf(in->out, "  id %llu: size %s, saved %s\n", (unsigned long long)in->m.shmems.v[i]->id,
			size_str(in->m.shmems.v[i]->size, a, sizeof(a)), size_str(in->shmem_bytes[i], b, sizeof(b)));
	fprintf(in->out, "\npage data:  %llu bytes (%s)\n", (unsigned long long)in->page_bytes,
		size_str(in->page_bytes, a, sizeof(a)));
	if (in->file_data_bytes)
		fprintf(in->out, "file data:  %llu bytes (%s)\n", (unsigned long long)in->file_data_bytes,
			size_str(in->file_data_bytes, a, sizeof(a)));
	fprintf(in->out, "image size: %llu bytes (%s)\n", (unsigned long long)in->r.off,
		size_str(in->r.off, b, sizeof(b)));
}

static void print_text(struct info *in)
{
	t_header(in);
	t_tree(in);
	for (size_t i = 0; i < in->nr_order; i++)
		t_process(in, in->order[i]);
	t_totals(in);
}

/* JSON output: a tiny emitter, indented, nesting known in advance. */

#define JSON_MAX_DEPTH 8

struct json {
	FILE *f;
	int depth;
	bool first[JSON_MAX_DEPTH];
};

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	uint32_t cp, min;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	/* Stops at the terminating NUL: it is not a continuation byte. */
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Writes s as a JSON string; bytes that are not UTF-8 become U+FFFD. */
static void j_escape(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	fputc('"', f);
	while (*p) {
		size_t n = utf8_len(p);

		if (n == 0) {
			fputs("\\ufffd", f);
			n = 1;
		} else if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p);
		} else if (*p == '\n') {
			fputs("\\n", f);
		} else if (*p == '\t') {
			fputs("\\t", f);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
		} else {
			fwrite(p, 1, n, f);
		}
		p += n;
	}
	fputc('"', f);
}

static void j_key(struct json *j, const char *key)
{
	if (j->depth < 0)
		return;
	fputs(j->first[j->depth] ? "\n" : ",\n", j->f);
	j->first[j->depth] = false;
	fprintf(j->f, "%*s", 2 * (j->depth + 1), "");
	if (key) {
		j_escape(j->f, key);
		fputs(": ", j->f);
	}
}

static void j_open(struct json *j, const char *key, char c)
{
	j_key(j, key);
	fputc(c, j->f);
	j->first[++j->depth] = true; /* the nesting is fixed by this file */
}

static void j_close(struct json *j, char c)
{
	if (!j->first[j->depth])
		fprintf(j->f, "\n%*s", 2 * j->depth, "");
	fputc(c, j->f);
	j->depth--;
}

static void j_u64(struct json *j, const char *key, uint64_t v)
{
	j_key(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

static void j_str(struct json *j, const char *key, const char *s)
{
	j_key(j, key);
	if (s)
		j_escape(j->f, s);
	else
		fputs("null", j->f);
}

static void j_bool(struct json *j, const char *key, bool v)
{
	j_key(j, key);
	fputs(v ? "true" : "false", j->f);
}

/* Short arrays of scalars go on one line. */
static void j_u32_array(struct json *j, const char *key, const uint32_t *v, size_t n)
{
	j_key(j, key);
	fputc('[', j->f);
	for (size_t i = 0; i < n; i++)
		fprintf(j->f, "%s%u", i ? ", " : "", v[i]);
	fputc(']', j->f);
}

static void j_i32_array(struct json *j, const char *key, const int32_t *v, size_t n)
{
	j_key(j, key);
	fputc('[', j->f);
	for (size_t i = 0; i < n; i++)
		fprintf(j->f, "%s%d", i ? ", " : "", v[i]);
	fputc(']', j->f);
}

static void j_madv(struct json *j, uint32_t madv)
{
	const char *sep = "";

	j_key(j, "madv");
	fputc('[', j->f);
	for (size_t b = 0; b < ARRAY_SIZE(madv_names); b++)
		if (madv & (1u << b)) {
			fputs(sep, j->f);
			j_escape(j->f, madv_names[b]);
			sep = ", ";
		}
	fputc(']', j->f);
}

static void j_header(struct json *j, const struct info *in)
{
	const Ckpt__Header *h = in->m.header;
	char when[64];

	j_u64(j, "format_version", h->format_version);
	j_str(j, "tool_version", h->tool_version);
	j_str(j, "arch", h->arch);
	j_str(j, "kernel", h->kernel);
	j_str(j, "cpu_model", h->cpu_model);
	j_u64(j, "xfeatures", h->xfeatures);
	j_u64(j, "xsave_size", h->xsave_size);
	if (h->has_cpu_flags)
		j_u64(j, "cpu_flags", h->cpu_flags);
	j_u64(j, "page_size", h->page_size);
	j_u64(j, "created_unix_ns", h->created_unix_ns);
	j_str(j, "created", time_str(h->created_unix_ns, when, sizeof(when)));
	j_str(j, "hostname", h->hostname);
	j_u64(j, "root_pid", h->root_pid);
	j_u64(j, "nr_processes", h->nr_processes);
	j_u64(j, "nr_threads", h->nr_threads);
}

static void j_threads(struct json *j, const struct info *in, const Ckpt__Process *p)
{
	j_open(j, "threads", '[');
	for (size_t i = 0; i < in->m.threads.n; i++) {
		const Ckpt__Thread *t = in->m.threads.v[i];

		if (t->pid != p->pid)
			continue;
		j_open(j, NULL, '{');
		j_u64(j, "tid", t->tid);
		j_str(j, "comm", t->comm);
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void j_vma(struct json *j, const struct info *in, size_t i)
{
	const Ckpt__Vma *v = in->m.vmas.v[i];
	char prot[5];

	j_open(j, NULL, '{');
	j_u64(j, "start", v->start);
	j_u64(j, "end", v->end);
	j_str(j, "prot", prot_str(v, prot));
	j_u64(j, "size", v->end - v->start);
	j_str(j, "kind", vma_kind_name(v->kind));
	j_str(j, "name", v->name ? v->name : "");
	if (v->has_file_id)
		j_str(j, "file", file_path(&in->m, v->file_id));
	if (v->has_shmem_id)
		j_u64(j, "shmem_id", v->shmem_id);
	j_u64(j, "pgoff", v->pgoff);
	j_madv(j, v->madv);
	j_u64(j, "saved_bytes", in->vma_bytes[i]);
	j_close(j, '}');
}

static void j_fds(struct json *j, const struct info *in, const Ckpt__Process *p)
{
	char flags[256], desc[256];

	j_open(j, "fds", '[');
	for (size_t i = 0; i < in->m.fds.n; i++) {
		const Ckpt__Fd *fd = in->m.fds.v[i];
		const Ckpt__File *f = model_file(&in->m, fd->file_id);

		if (fd->pid != p->pid || !f)
			continue;
		j_open(j, NULL, '{');
		j_u64(j, "fd", fd->fd);
		j_str(j, "path", f->path);
		if (!f->path && file_desc(f, desc, sizeof(desc)))
			j_str(j, "description", file_desc(f, desc, sizeof(desc)));
		j_str(j, "kind", file_kind_name(f->kind));
		j_u64(j, "flags", f->flags);
		j_str(j, "flags_text", open_flags_str(f->flags, flags, sizeof(flags)));
		j_u64(j, "pos", f->pos);
		j_bool(j, "cloexec", fd->cloexec);
		j_u64(j, "file_id", f->id);
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void j_timers(struct json *j, const Ckpt__Process *p)
{
	j_open(j, "itimers", '[');
	for (size_t i = 0; i < p->n_itimers; i++) {
		j_open(j, NULL, '{');
		j_str(j, "which", p->itimers[i]->which < 3 ? itimer_names[p->itimers[i]->which] : "?");
		j_u64(j, "value_us", p->itimers[i]->value_us);
		j_u64(j, "interval_us", p->itimers[i]->interval_us);
		j_close(j, '}');
	}
	j_close(j, ']');
	j_open(j, "posix_timers", '[');
	for (size_t i = 0; i < p->n_posix_timers; i++) {
		const Ckpt__PosixTimer *t = p->posix_timers[i];

		j_open(j, NULL, '{');
		j_u64(j, "id", (uint64_t)t->id);
		j_u64(j, "clock", (uint64_t)(uint32_t)t->clock);
		j_str(j, "notify", notify_name(t->notify));
		if (t->has_notify_tid)
			j_u64(j, "notify_tid", t->notify_tid);
		j_u64(j, "signal", t->signo);
		j_u64(j, "sigev_value", t->sigev_value);
		j_u64(j, "value_ns", t->value_ns);
		j_u64(j, "interval_ns", t->interval_ns);
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void j_live_process(struct json *j, const struct info *in, size_t pi)
{
	const Ckpt__Process *p = in->m.procs.v[pi];
	const struct model *m = &in->m;

	j_str(j, "exe", file_path(m, p->mm->exe_file_id));
	j_str(j, "cwd", file_path(m, p->cwd_file_id));
	j_str(j, "root", file_path(m, p->root_file_id));
	j_threads(j, in, p);
	j_timers(j, p);
	j_open(j, "mappings", '[');
	for (size_t i = first_vma(m, p->pid, 0); i < m->vmas.n && m->vmas.v[i]->pid == p->pid; i++)
		j_vma(j, in, i);
	j_close(j, ']');
	j_fds(j, in, p);
	j_open(j, "sem_undo", '[');
	for (size_t i = 0; i < p->n_sem_undo; i++) {
		j_open(j, NULL, '{');
		j_u64(j, "sem_id", (uint64_t)p->sem_undo[i]->sem_id);
		j_i32_array(j, "adj", p->sem_undo[i]->adj, p->sem_undo[i]->n_adj);
		j_close(j, '}');
	}
	j_close(j, ']');
	j_u64(j, "page_bytes", in->proc_bytes[pi]);
}

static void j_process(struct json *j, const struct info *in, size_t pos)
{
	size_t pi = in->order[pos];
	const Ckpt__Process *p = in->m.procs.v[pi];

	j_open(j, NULL, '{');
	j_u64(j, "pid", p->pid);
	j_u64(j, "ppid", p->ppid);
	j_u64(j, "depth", in->depth[pos]);
	j_u64(j, "pgid", p->pgid);
	j_u64(j, "sid", p->sid);
	j_str(j, "comm", p->comm);
	j_str(j, "state", state_name(p->state));
	if (p->has_exit_code)
		j_u64(j, "exit_code", p->exit_code);
	j_u32_array(j, "uid", p->creds->uid, p->creds->n_uid);
	j_u32_array(j, "gid", p->creds->gid, p->creds->n_gid);
	j_u64(j, "nr_threads", p->nr_threads);
	if (p->state != 1)
		j_live_process(j, in, pi);
	j_close(j, '}');
}

static void j_sysv(struct json *j, const struct info *in)
{
	j_open(j, "sysv", '[');
	for (size_t i = 0; i < in->m.sysv.n; i++) {
		const Ckpt__SysvObject *o = in->m.sysv.v[i];

		j_open(j, NULL, '{');
		j_str(j, "kind", sysv_kind_names[o->kind]);
		j_u64(j, "id", (uint64_t)o->id);
		j_u64(j, "key", (uint32_t)o->key);
		j_u64(j, "mode", o->mode);
		j_u64(j, "uid", o->uid);
		j_u64(j, "gid", o->gid);
		j_u64(j, "cuid", o->cuid);
		j_u64(j, "cgid", o->cgid);
		if (o->kind == SYSV_SHM) {
			j_u64(j, "size", o->shm_size);
			j_bool(j, "locked", o->shm_locked);
			j_bool(j, "removed", o->shm_removed);
			j_u64(j, "saved_bytes", in->sysv_bytes[i]);
		} else if (o->kind == SYSV_SEM) {
			j_u32_array(j, "values", o->sem_values, o->n_sem_values);
		} else {
			j_u64(j, "qbytes", o->msg_qbytes);
			j_u64(j, "messages", o->msg_qnum);
		}
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void j_mqueues(struct json *j, const struct info *in)
{
	j_open(j, "mqueues", '[');
	for (size_t i = 0; i < in->m.files.n; i++) {
		const Ckpt__File *f = in->m.files.v[i];

		if (!f->has_mq_maxmsg)
			continue;
		j_open(j, NULL, '{');
		j_str(j, "name", f->path);
		j_bool(j, "unlinked", f->mq_unlinked);
		j_u64(j, "file_id", f->id);
		j_u64(j, "maxmsg", f->mq_maxmsg);
		j_u64(j, "msgsize", f->mq_msgsize);
		j_open(j, "messages", '[');
		for (size_t k = 0; k < f->n_mq_messages; k++) {
			j_open(j, NULL, '{');
			j_u64(j, "prio", f->mq_messages[k]->prio);
			j_u64(j, "bytes", f->mq_messages[k]->data.len);
			j_close(j, '}');
		}
		j_close(j, ']');
		if (f->mq_notify) {
			j_open(j, "notify", '{');
			j_u64(j, "pid", f->mq_notify->pid);
			j_u64(j, "notify", f->mq_notify->notify);
			j_u64(j, "signo", f->mq_notify->signo);
			j_u64(j, "value", f->mq_notify->value);
			j_close(j, '}');
		}
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void print_json(struct info *in)
{
	struct json j = { .f = in->out, .depth = -1 };

	j_open(&j, NULL, '{');
	j_header(&j, in);
	j_open(&j, "processes", '[');
	for (size_t i = 0; i < in->nr_order; i++)
		j_process(&j, in, i);
	j_close(&j, ']');
	j_open(&j, "shmems", '[');
	for (size_t i = 0; i < in->m.shmems.n; i++) {
		j_open(&j, NULL, '{');
		j_u64(&j, "id", in->m.shmems.v[i]->id);
		j_u64(&j, "size", in->m.shmems.v[i]->size);
		j_u64(&j, "saved_bytes", in->shmem_bytes[i]);
		j_close(&j, '}');
	}
	j_close(&j, ']');
	j_sysv(&j, in);
	j_mqueues(&j, in);
	j_u64(&j, "page_bytes", in->page_bytes);
	j_u64(&j, "file_data_bytes", in->file_data_bytes);
	j_u64(&j, "image_bytes", in->r.off);
	j_close(&j, '}');
	fputc('\n', in->out);
}

static void info_free(struct info *in)
{
	img_reader_close(&in->r);
	page_order_free(&in->pages);
	model_free(&in->m);
	free(in->proc_bytes);
	free(in->vma_bytes);
	free(in->shmem_bytes);
	free(in->sysv_bytes);
	free(in->order);
	free(in->depth);
}

static int describe(struct info *in, bool json)
{
	order_tree(in);
	if (in->m.fds.n)
		qsort(in->m.fds.v, in->m.fds.n, sizeof(*in->m.fds.v), cmp_fd);
	if (json)
		print_json(in);
	else
		print_text(in);
	if (fflush(in->out) || ferror(in->out))
		return fail(in->ctx, errno ? -errno : -EIO, "writing the description: %s",
			    strerror(errno ? errno : EIO));
	return 0;
}

int ckpt_info(struct ckpt_ctx *ctx, int in_fd, FILE *out, bool json)
{
	struct info in = { .ctx = ctx, .out = out };
	int r;

	ctx->err[0] = 0;
	memset(&ctx->stats, 0, sizeof(ctx->stats));
	r = read_image(&in, in_fd);
	if (r == 0) {
		ctx->stats.processes = (unsigned)in.m.procs.n;
		ctx->stats.threads = (unsigned)in.m.threads.n;
		ctx->stats.page_bytes = in.page_bytes;
		ctx->stats.image_bytes = in.r.off;
		errno = 0;
		r = describe(&in, json);
	}
	if (r < 0)
		fail(ctx, r, "reading the image: %s", strerror(-r));
	info_free(&in);
	return r;
}
