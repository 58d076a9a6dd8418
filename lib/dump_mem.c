// SPDX-License-Identifier: MIT
/*
 * Mappings and their pages. Private mappings keep only the pages the process
 * has (anonymous, or copied on write from a file); pages never touched are
 * not saved. Shared anonymous memory is saved once per object, from its
 * allocated ranges. Shared file mappings are mapped again from the file.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "dump.h"
#include "ipc.h"
#include "mem.h"
#include "vdso.h"

#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_FILE (1ULL << 61)

static uint32_t parse_vmflags(const char *flags)
{
	static const struct {
		char name[3];
		uint32_t bit;
	} map[] = {
		{ "dc", CKPT_MADV_DONTFORK }, { "wf", CKPT_MADV_WIPEONFORK },
		{ "dd", CKPT_MADV_DONTDUMP }, { "hg", CKPT_MADV_HUGEPAGE },
		{ "nh", CKPT_MADV_NOHUGEPAGE }, { "lo", CKPT_MADV_LOCKED },
		{ "lf", CKPT_MADV_LOCKONFAULT }, { "ac", CKPT_MADV_ACCOUNT },
		{ "mg", CKPT_MADV_MERGEABLE }, { "sl", CKPT_MADV_SEALED },
	};
	uint32_t bits = 0;

	for (const char *p = flags; *p; ) {
		while (*p == ' ')
			p++;
		for (size_t i = 0; i < ARRAY_SIZE(map); i++)
			if (!strncmp(p, map[i].name, 2) && (p[2] == ' ' || p[2] == '\n' || !p[2]))
				bits |= map[i].bit;
		while (*p && *p != ' ')
			p++;
	}
	return bits;
}

static dev_t parse_dev(const char *s)
{
	unsigned maj = 0, min = 0;

	sscanf(s, "%x:%x", &maj, &min);
	return makedev(maj, min);
}

static uint64_t shmem_id(struct dump *d, const struct stat *st)
{
	Ckpt__Shmem *s;

	for (size_t i = 0; i < d->m.shmems.n; i++)
		if (d->m.shmems.v[i]->dev == st->st_dev && d->m.shmems.v[i]->ino == st->st_ino)
			return d->m.shmems.v[i]->id;
	s = arena_alloc(&d->m.arena, sizeof(*s));
	ckpt__shmem__init(s);
	s->id = d->next_id++;
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	s->size = PAGE_ALIGN((uint64_t)st->st_size);
	LIST_PUSH(&d->m.shmems, s);
	return s->id;
}

/*
 * The file behind a mapping of a process whose main thread has exited:
 * map_files is gone with the leader's mm, so go by the path in maps and
 * check it still names the same inode.
 */
static int named_mapping(struct dump *d, struct dproc *dp, Ckpt__Vma *v, const char *name, dev_t dev,
			 unsigned long ino)
{
	struct stat st;

	if (stat(name, &st) < 0 || st.st_ino != ino || st.st_dev != dev)
		return fail(d->ctx, -ESTALE, "pid %d vma 0x%llx: %s is no longer the mapped file", dp->pid,
			    (unsigned long long)v->start, name);
	v->kind = CKPT__VMA_KIND__VMA_FILE;
	v->has_file_id = true;
	return dump_named_file(d, dp->pid, name, &st, &v->file_id);
}

static int classify(struct dump *d, struct dproc *dp, Ckpt__Vma *v, const char *name, bool shared, dev_t dev,
		    unsigned long ino)
{
	char link[128];
	struct stat st;

	if (!strcmp(name, "[vdso]")) {
		v->kind = CKPT__VMA_KIND__VMA_VDSO;
		dp->p->mm->has_vdso = true;
		dp->p->mm->vdso = v->start;
		return 0;
	}
	if (!strncmp(name, "[vvar", 5)) {
		v->kind = CKPT__VMA_KIND__VMA_VVAR;
		if (!dp->p->mm->has_vvar) {
			dp->p->mm->has_vvar = true;
			dp->p->mm->vvar = v->start;
		}
		return 0;
	}
	if (!strcmp(name, "[heap]")) {
		v->kind = CKPT__VMA_KIND__VMA_HEAP;
		return 0;
	}
	if (!strcmp(name, "[stack]")) {
		v->kind = CKPT__VMA_KIND__VMA_STACK;
		return 0;
	}
	if (!name[0] || !strncmp(name, "[anon", 5)) {
		if (shared)
			return fail(d->ctx, -EOPNOTSUPP, "pid %d vma 0x%llx: shared mapping without a file", dp->pid,
				    (unsigned long long)v->start);
		v->kind = CKPT__VMA_KIND__VMA_ANON;
		return 0;
	}
	if (name[0] == '[')
		return fail(d->ctx, -EOPNOTSUPP, "pid %d vma 0x%llx: special mapping %s is not supported yet",
			    dp->pid, (unsigned long long)v->start, name);
	/* "/SYSV<key> (deleted)": the inode number is the segment's id. */
	if (shared && !strncmp(name, "/SYSV", 5) && strstr(name, " (deleted)")) {
		v->kind = CKPT__VMA_KIND__VMA_SYSV_SHM;
		v->has_sysv_shm_id = true;
		v->sysv_shm_id = (int32_t)ino;
		return 0;
	}
	if (dp->leader_dead && name[0] == '/' && !strstr(name, " (deleted)"))
		return named_mapping(d, dp, v, name, dev, ino);
	if (dp->leader_dead)
		return fail(d->ctx, -EOPNOTSUPP,
			    "pid %d vma 0x%llx: %s in a process whose main thread has exited is not supported yet",
			    dp->pid, (unsigned long long)v->start, name);
	snprintf(link, sizeof(link), "/proc/%d/map_files/%llx-%llx", dp->pid, (unsigned long long)v->start,
		 (unsigned long long)v->end);
	if (stat(link, &st) < 0)
		return fail(d->ctx, -errno, "pid %d vma 0x%llx: stat %s: %s", dp->pid,
			    (unsigned long long)v->start, link, strerror(errno));
	if (shared && !strcmp(name, "/dev/zero (deleted)")) {
		v->kind = CKPT__VMA_KIND__VMA_SHMEM;
		v->has_shmem_id = true;
		v->shmem_id = shmem_id(d, &st);
		return 0;
	}
	/* memfds and unlinked files too: dump_path_file() saves them with their content. */
	v->kind = CKPT__VMA_KIND__VMA_FILE;
	v->has_file_id = true;
	snprintf(link, sizeof(link), "map_files/%llx-%llx", (unsigned long long)v->start, (unsigned long long)v->end);
	return dump_path_file(d, dp, link, &v->file_id);
}

/* Saves the vDSO so a restore on another kernel can stand in for it. */
static int dump_vdso_image(struct dump *d, struct dproc *dp, const Ckpt__Vma *v)
{
	Ckpt__MmInfo *mm = dp->p->mm;
	size_t len = v->end - v->start;
	struct vdso_info info;
	uint8_t *img;

	if (len > VDSO_MAX_SIZE)
		return fail(d->ctx, -EINVAL, "pid %d vma 0x%llx: vDSO of %zu bytes", dp->pid,
			    (unsigned long long)v->start, len);
	img = arena_alloc(&d->m.arena, len);
	if (pread(dp->memfd, img, len, (off_t)v->start) != (ssize_t)len || vdso_parse(img, len, &info) < 0)
		return fail(d->ctx, -EINVAL, "pid %d vma 0x%llx: cannot read the vDSO's symbols", dp->pid,
			    (unsigned long long)v->start);
	mm->has_vdso_image = true;
	mm->vdso_image.data = img;
	mm->vdso_image.len = len;
	return 0;
}

int dump_vmas(struct dump *d, struct dproc *dp)
{
	_cleanup_free_ char *text = NULL;
	Ckpt__Vma *cur = NULL;
	char path[64], *line, *next;
	int r;

	snprintf(path, sizeof(path), "%s/smaps", dp->dir);
	r = read_text(path, &text, NULL);
	if (r < 0)
		return fail(d->ctx, r, "pid %d: reading %s: %s", dp->pid, path, strerror(-r));
	for (line = text; line && *line; line = next) {
		unsigned long long s, e, off;
		char perms[8], dev[16];
		unsigned long ino;
		int name_at = 0;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (!strncmp(line, "VmFlags:", 8)) {
			if (cur)
				cur->madv = parse_vmflags(line + 8);
			if (cur && cur->kind == CKPT__VMA_KIND__VMA_SYSV_SHM && (r = sysv_vma_flags(d, dp, cur, line + 8)) < 0)
				return r;
			continue;
		}
		if (sscanf(line, "%llx-%llx %7s %llx %15s %lu %n", &s, &e, perms, &off, dev, &ino, &name_at) < 6)
			continue;
		if (s >= CKPT_TASK_SIZE) {
			cur = NULL; /* vsyscall: provided by the kernel */
			continue;
		}
		cur = arena_alloc(&d->m.arena, sizeof(*cur));
		ckpt__vma__init(cur);
		cur->pid = (uint32_t)dp->pid;
		cur->start = s;
		cur->end = e;
		cur->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
			    (perms[2] == 'x' ? PROT_EXEC : 0);
		cur->flags = perms[3] == 's' ? MAP_SHARED : MAP_PRIVATE;
		cur->pgoff = off;
		cur->name = arena_strdup(&d->m.arena, name_at ? line + name_at : "");
		r = classify(d, dp, cur, cur->name, perms[3] == 's', parse_dev(dev), ino);
		if (r < 0)
			return r;
		LIST_PUSH(&d->m.vmas, cur);
	}
	for (size_t i = 0; i < d->m.vmas.n; i++) {
		Ckpt__Vma *v = d->m.vmas.v[i];

		if (v->pid == (uint32_t)dp->pid && v->kind == CKPT__VMA_KIND__VMA_STACK)
			v->flags |= MAP_GROWSDOWN;
		if (v->pid == (uint32_t)dp->pid && v->kind == CKPT__VMA_KIND__VMA_VDSO &&
		    (r = dump_vdso_image(d, dp, v)) < 0)
			return r;
	}
	return 0;
}

static bool vma_has_private_pages(const Ckpt__Vma *v)
{
	if (v->flags & MAP_SHARED)
		return false;
	return v->kind == CKPT__VMA_KIND__VMA_ANON || v->kind == CKPT__VMA_KIND__VMA_HEAP ||
	       v->kind == CKPT__VMA_KIND__VMA_STACK || v->kind == CKPT__VMA_KIND__VMA_FILE;
}

static bool zero_page(const uint8_t *p)
{
	static const uint8_t zeros[PAGE_SIZE];

	return !memcmp(p, zeros, PAGE_SIZE);
}

static int write_chunk(struct dump *d, uint32_t pid, uint64_t shmem, uint64_t addr, uint8_t *data, size_t n)
{
	Ckpt__Pages p = CKPT__PAGES__INIT;
	struct iovec iov = { data, n * PAGE_SIZE };

	p.pid = pid;
	p.has_shmem_id = shmem != 0;
	p.shmem_id = shmem;
	p.addr = addr;
	p.nr_pages = (uint32_t)n;
	d->ctx->stats.page_bytes += n * PAGE_SIZE;
	return img_write_pages(&d->w, &p, &iov, 1);
}

/* Below this, a pread of /proc/PID/mem costs less than a system call run in the snapshot. */
#define SNAP_SPLICE_MIN (64u << 10)

/* Reads len bytes at off of the source into buf. */
static int src_read(struct dump *d, uint32_t pid, struct mem_src *src, uint64_t off, uint8_t *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)off, len };
	ssize_t got = -1;

	/*
	 * A snapshot shares its pages copy-on-write with the process:
	 * process_vm_readv would pin them, which makes the kernel copy each
	 * one first; vmsplice takes them without a copy. /proc/PID/mem does
	 * not pin either, but copies twice.
	 */
	if (src->snap && len >= SNAP_SPLICE_MIN && snap_read(d, src->snap, off, buf, len) == 0)
		return 0;
	/*
	 * process_vm_readv copies once; /proc/PID/mem copies twice but also
	 * reads what the process may not (PROT_NONE): the fallback.
	 */
	if (src->pid && !src->snap)
		got = process_vm_readv(src->pid, &local, 1, &remote, 1, 0);
	if (got != (ssize_t)len)
		got = pread(src->memfd, buf, len, (off_t)off);
	if (got != (ssize_t)len)
		return fail(d->ctx, got < 0 ? -errno : -EIO, "pid %u: reading memory at 0x%llx: %s", pid,
			    (unsigned long long)off, got < 0 ? strerror(errno) : "short read");
	return 0;
}

/*
 * Copies pages [addr, addr + n pages) of the source into the image. With
 * holes_ok, pages that hold only zeros are left out: restore leaves them
 * untouched, and untouched anonymous memory and shmem read as zeros. (A
 * private file mapping must keep them: a hole there shows the file.)
 */
static int emit_run(struct dump *d, uint32_t pid, struct mem_src *src, uint64_t shmem, uint64_t src_off,
		    uint64_t addr, size_t n, bool holes_ok)
{
	/* The output thread writes the page data from this buffer, not a copy. */
	uint8_t *buf = img_page_buffer(&d->w);
	size_t start = 0;
	int r = dump_check_interrupt(d);

	if (!buf)
		return fail(d->ctx, -ENOMEM, "pid %u: no memory for a page buffer", pid);
	if (r == 0)
		r = src_read(d, pid, src, src_off, buf, n * PAGE_SIZE);
	if (r < 0)
		return r;
	if (!holes_ok)
		return write_chunk(d, pid, shmem, addr, buf, n);
	for (size_t i = 0; i <= n; i++) {
		if (i < n && !zero_page(buf + i * PAGE_SIZE))
			continue;
		if (i > start && (r = write_chunk(d, pid, shmem, addr + start * PAGE_SIZE, buf + start * PAGE_SIZE,
						  i - start)) < 0)
			return r;
		start = i + 1;
	}
	return 0;
}

static int dump_vma_pages(struct dump *d, struct dproc *dp, const Ckpt__Vma *v, int pmfd, struct mem_src *src)
{
	uint64_t ents[4096];
	uint64_t run_start = 0;
	size_t run = 0;
	bool holes_ok = v->kind != CKPT__VMA_KIND__VMA_FILE;
	int r;

	for (uint64_t a = v->start; a < v->end;) {
		size_t n = (v->end - a) / PAGE_SIZE;
		ssize_t got;

		if (n > ARRAY_SIZE(ents))
			n = ARRAY_SIZE(ents);
		got = pread(pmfd, ents, n * 8, (off_t)(a / PAGE_SIZE * 8));
		if (got != (ssize_t)(n * 8))
			return fail(d->ctx, -EIO, "pid %d vma 0x%llx: reading pagemap: %s", dp->pid,
				    (unsigned long long)v->start, got < 0 ? strerror(errno) : "short read");
		for (size_t i = 0; i < n; i++, a += PAGE_SIZE) {
			bool want = (ents[i] & (PM_PRESENT | PM_SWAPPED)) && !(ents[i] & PM_FILE);

			if (want && run == 0)
				run_start = a;
			if (want)
				run++;
			if (run && (!want || run == IMG_MAX_CHUNK_PAGES)) {
				r = emit_run(d, (uint32_t)dp->pid, src, 0, run_start, run_start, run,
					     holes_ok);
				if (r < 0)
					return r;
				run = 0;
			}
		}
	}
	return run ? emit_run(d, (uint32_t)dp->pid, src, 0, run_start, run_start, run, holes_ok) : 0;
}

/* Saves the allocated ranges of one shared memory object, found with SEEK_DATA. */
static int dump_shmem_pages(struct dump *d, const Ckpt__Vma *v)
{
	char link[128];
	_cleanup_close_ int fd = -1;
	struct mem_src src = { 0 };
	off_t pos = 0, end;
	int r;

	snprintf(link, sizeof(link), "/proc/%u/map_files/%llx-%llx", v->pid, (unsigned long long)v->start,
		 (unsigned long long)v->end);
	fd = open(link, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(d->ctx, -errno, "pid %u vma 0x%llx: open %s: %s", v->pid, (unsigned long long)v->start,
			    link, strerror(errno));
	for (;;) {
		pos = lseek(fd, pos, SEEK_DATA);
		if (pos < 0)
			break; /* ENXIO: no more data */
		end = lseek(fd, pos, SEEK_HOLE);
		if (end < 0)
			return fail(d->ctx, -errno, "shared memory of pid %u: SEEK_HOLE: %s", v->pid, strerror(errno));
		pos &= ~(off_t)(PAGE_SIZE - 1);
		end = (off_t)PAGE_ALIGN((uint64_t)end);
		while (pos < end) {
			size_t n = (size_t)(end - pos) / PAGE_SIZE;

			if (n > IMG_MAX_CHUNK_PAGES)
				n = IMG_MAX_CHUNK_PAGES;
			src.memfd = fd;
			r = emit_run(d, 0, &src, v->shmem_id, (uint64_t)pos, (uint64_t)pos, n, true);
			if (r < 0)
				return r;
			pos += (off_t)(n * PAGE_SIZE);
		}
	}
	return 0;
}

int dump_shared_pages(struct dump *d)
{
	uint64_t *done = xcalloc(d->m.shmems.n + 1, sizeof(uint64_t));
	size_t nr_done = 0;
	int r = 0;

	for (size_t k = 0; r == 0 && k < d->m.vmas.n; k++) {
		const Ckpt__Vma *v = d->m.vmas.v[k];
		bool seen = false;

		if (v->kind != CKPT__VMA_KIND__VMA_SHMEM)
			continue;
		for (size_t j = 0; j < nr_done; j++)
			seen |= done[j] == v->shmem_id;
		if (!seen) {
			done[nr_done++] = v->shmem_id;
			r = dump_shmem_pages(d, v);
		}
	}
	free(done);
	return r;
}

int dump_private_pages(struct dump *d, struct dproc *dp)
{
	_cleanup_close_ int pmfd = -1;
	struct mem_src src = { .pid = dp->live, .memfd = dp->memfd };
	char path[64];
	int r = 0;

	if (dp->zombie)
		return 0;
	if (dp->snap) {
		src = (struct mem_src){ .pid = dp->snap, .memfd = dp->snap_memfd, .snap = dp };
		snprintf(path, sizeof(path), "/proc/%d/pagemap", dp->snap);
	} else {
		snprintf(path, sizeof(path), "%s/pagemap", dp->dir);
	}
	pmfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pmfd < 0)
		return fail(d->ctx, -errno, "pid %d: open %s: %s", dp->pid, path, strerror(errno));
	for (size_t k = 0; r == 0 && k < d->m.vmas.n; k++) {
		const Ckpt__Vma *v = d->m.vmas.v[k];

		if (v->pid != (uint32_t)dp->pid || !vma_has_private_pages(v))
			continue;
		if (fail_point(d->ctx, "pages"))
			return fail(d->ctx, -EIO, "pid %d: page copy: injected failure", dp->pid);
		r = dump_vma_pages(d, dp, v, pmfd, &src);
	}
	return r;
}
