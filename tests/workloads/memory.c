/*
 * Memory workload: the address space of a two-process tree.
 *
 *   memory READY_FILE RESULT_FILE [DIR]
 *
 * DIR (default: the directory of RESULT_FILE) receives two data files.
 *
 * The root sets up, before forking its child:
 *   - 4 MiB of patterned private anonymous memory (the child later writes
 *     one page of its copy: copy-on-write must stay private to each),
 *   - 16 pages of MAP_SHARED|MAP_ANONYMOUS memory, 10 of them patterned,
 *     6 never touched, shared with the child,
 *   - two private mappings of a file (one at offset 0, one at offset 2
 *     pages) with some pages written (copied on write), some only read and
 *     some never touched,
 *   - a shared mapping of a file, written through the mapping,
 *   - heap data from malloc and from sbrk,
 *   - a 64 MiB region of which only every 37th page was written,
 *   - a PROT_NONE guard page between two writable pages, a read-only region,
 *   - one region each with MADV_DONTFORK, MADV_WIPEONFORK, MADV_DONTDUMP,
 *     MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_MERGEABLE (with KSM), an
 *     mlock()ed region, and a read-only region sealed with mseal (6.10),
 *   - 1500 nested stack frames holding patterned locals; READY is written
 *     from the deepest one.
 * Each process snapshots /proc/self/smaps just before it is ready.
 *
 * On SIGUSR1, each process first compares /proc/self/smaps with its
 * snapshot: every mapping line (addresses, permissions, offset, device,
 * inode, name) must be identical, and so must the VmFlags dc wf dd hg nh lo
 * lf gd of every mapping. The only allowed difference: for shared anonymous
 * memory ("/dev/zero (deleted)") the device and inode may differ, because
 * that names the kernel's shmem object, which a restore necessarily creates
 * anew. Then the contents are checked, the shared memory is used in both
 * directions (parent writes after restore, child sees it; child writes,
 * parent sees it), the shared file mapping is written and read through the
 * file, sbrk is grown, protections are probed with a fault handler, and a
 * fresh child is forked to check that DONTFORK and WIPEONFORK still act.
 *
 * The workload writes "PASS" or "FAIL: why" to RESULT_FILE (the child to
 * RESULT_FILE.child, folded into the parent's verdict), then exits.
 * Nothing after the snapshots allocates memory until the comparison is
 * done, so that the layout stays the same without a checkpoint too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "report.h"

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

#define MAGIC_CHILD_PRE 0xC0FFEE01u
#define MAGIC_PARENT_PRE 0xBEEF0002u
#define MAGIC_PARENT_POST 0x5EED0003u
#define MAGIC_CHILD_POST 0xFACE0004u

static volatile sig_atomic_t verify_requested;
static long pg;
static const char *ready_path, *result_path;
static char dir[1024];

static void on_usr1(int sig) { (void)sig; verify_requested = 1; }

/* ---- patterns ---- */

static uint64_t xs(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void fill(void *p, size_t n, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t v = xs(&x);
		memcpy((char *)p + i, &v, 8);
	}
}

/* Returns the offset of the first difference from fill(seed), or -1. */
static long check_fill(const void *p, size_t n, uint64_t seed)
{
	uint64_t x = seed | 1, v;

	for (size_t i = 0; i + 8 <= n; i += 8) {
		memcpy(&v, (const char *)p + i, 8);
		if (v != xs(&x))
			return (long)i;
	}
	return -1;
}

/* Page i of p gets fill(base + i): any page can be checked on its own. */
static void fill_pages(char *p, size_t from, size_t to, uint64_t base)
{
	for (size_t i = from; i < to; i++)
		fill(p + i * (size_t)pg, (size_t)pg, base + i);
}

/* Returns the first page that differs, or -1. */
static long check_pages(const char *p, size_t from, size_t to, uint64_t base)
{
	for (size_t i = from; i < to; i++)
		if (check_fill(p + i * (size_t)pg, (size_t)pg, base + i) >= 0)
			return (long)i;
	return -1;
}

static int all_bytes(const void *p, size_t n, unsigned char c)
{
	for (size_t i = 0; i < n; i++)
		if (((const unsigned char *)p)[i] != c)
			return 0;
	return 1;
}

/* A mapping with an unmapped page on each side, so that it never merges. */
static void *isolated(size_t len, int prot, int flags)
{
	char *p = mmap(NULL, len + 2 * (size_t)pg, prot, flags | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	munmap(p, (size_t)pg);
	munmap(p + pg + len, (size_t)pg);
	return p + pg;
}

/* ---- smaps snapshots ---- */

#define MAX_VMAS 512
#define SMAPS_CAP (1 << 20)

enum {
	VF_DC = 1, VF_WF = 2, VF_DD = 4, VF_HG = 8, VF_NH = 16, VF_LO = 32, VF_LF = 64, VF_GD = 128, VF_MG = 256, VF_SL = 512,
};

struct vma_snap {
	unsigned long start, end;
	char line[320];
	unsigned flags;
};

struct snapshot {
	int n;
	struct vma_snap v[MAX_VMAS];
};

static char smaps_buf[SMAPS_CAP];
static struct snapshot snap_before, snap_after;

static unsigned parse_vmflags(const char *p)
{
	static const char names[][3] = { "dc", "wf", "dd", "hg", "nh", "lo", "lf", "gd", "mg", "sl" };
	unsigned bits = 0;

	while (*p && *p != '\n') {
		while (*p == ' ')
			p++;
		for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (p[0] == names[i][0] && p[1] == names[i][1] && (p[2] == ' ' || p[2] == '\n' || !p[2]))
				bits |= 1u << i;
		while (*p && *p != ' ' && *p != '\n')
			p++;
	}
	return bits;
}

static int take_snapshot(struct snapshot *s)
{
	ssize_t n = read_file("/proc/self/smaps", smaps_buf, sizeof(smaps_buf));
	char *line, *next;

	s->n = 0;
	if (n <= 0 || (size_t)n >= sizeof(smaps_buf) - 1)
		return -1;
	for (line = smaps_buf; line && *line; line = next) {
		unsigned long a, b;
		char c;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (!strncmp(line, "VmFlags:", 8)) {
			if (s->n)
				s->v[s->n - 1].flags = parse_vmflags(line + 8);
			continue;
		}
		if (sscanf(line, "%lx-%lx %c", &a, &b, &c) == 3 && strchr(line, '-') < strchr(line, ' ')) {
			if (s->n == MAX_VMAS)
				return -1;
			s->v[s->n].start = a;
			s->v[s->n].end = b;
			s->v[s->n].flags = 0;
			size_t len = strlen(line);

			if (len >= sizeof(s->v[s->n].line))
				len = sizeof(s->v[s->n].line) - 1;
			memcpy(s->v[s->n].line, line, len);
			s->v[s->n].line[len] = 0;
			s->n++;
		}
	}
	return 0;
}

/* Splits a maps line into its six fields; name may be empty. */
static void split_line(const char *line, char *range, char *perms, char *off, char *dev, char *ino,
		       const char **name)
{
	int pos = 0;

	range[0] = perms[0] = off[0] = dev[0] = ino[0] = 0;
	sscanf(line, "%63s %7s %31s %31s %31s %n", range, perms, off, dev, ino, &pos);
	*name = pos ? line + pos : "";
}

static void flag_names(unsigned bits, char *out)
{
	static const char names[][3] = { "dc", "wf", "dd", "hg", "nh", "lo", "lf", "gd", "mg", "sl" };

	out[0] = 0;
	for (unsigned k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (bits & (1u << k))
			strcat(strcat(out, " "), names[k]);
}

static const struct vma_snap *find_start(const struct snapshot *s, unsigned long start)
{
	for (int i = 0; i < s->n; i++)
		if (s->v[i].start == start)
			return &s->v[i];
	return NULL;
}

/*
 * The main stack may grow down between the snapshots, with or without a
 * checkpoint: the SIGUSR1 frame that starts the check is pushed below the
 * deepest point the stack had reached. Its end, not its start, identifies it.
 */
static const struct vma_snap *find_stack(const struct snapshot *s, const struct vma_snap *x)
{
	if (!strstr(x->line, "[stack]"))
		return NULL;
	for (int i = 0; i < s->n; i++)
		if (strstr(s->v[i].line, "[stack]") && s->v[i].end == x->end)
			return &s->v[i];
	return NULL;
}

static int stack_grew(const struct vma_snap *before, const struct vma_snap *after)
{
	return after && before && after->end == before->end && after->start < before->start;
}

/*
 * Every mapping of the snapshot must be there again with the same line and
 * the same tracked VmFlags, and there must be no other mapping. Mappings are
 * matched by start address so that one difference does not hide the rest.
 */
static void compare_snapshots(const char *who)
{
	const struct snapshot *b = &snap_before, *a = &snap_after;

	if (take_snapshot(&snap_after) < 0) {
		FAILF("%s: cannot read /proc/self/smaps after", who);
		return;
	}
	for (int i = 0; i < b->n; i++) {
		const struct vma_snap *x = &b->v[i], *y = find_start(a, x->start);
		char r1[64], p1[8], o1[32], d1[32], i1[32], r2[64], p2[8], o2[32], d2[32], i2[32];
		const char *n1, *n2;

		if (!y && stack_grew(x, find_stack(a, x)))
			continue;
		if (!y) {
			FAILF("%s: mapping [%s] is gone", who, x->line);
			continue;
		}
		split_line(x->line, r1, p1, o1, d1, i1, &n1);
		split_line(y->line, r2, p2, o2, d2, i2, &n2);
		/* Shared anonymous memory is a new shmem object after a restore. */
		if (strcmp(r1, r2) || strcmp(p1, p2) || strcmp(o1, o2) || strcmp(n1, n2) ||
		    (strcmp(n1, "/dev/zero (deleted)") && (strcmp(d1, d2) || strcmp(i1, i2)))) {
			FAILF("%s: mapping was [%s] now [%s]", who, x->line, y->line);
			continue;
		}
		if (x->flags != y->flags) {
			char was[40], now[40];

			flag_names(x->flags, was);
			flag_names(y->flags, now);
			FAILF("%s: VmFlags of %s (%s) were [%s ] now [%s ]", who, r1, n1[0] ? n1 : "anonymous", was, now);
		}
	}
	for (int i = 0; i < a->n; i++)
		if (!find_start(b, a->v[i].start) && !stack_grew(find_stack(b, &a->v[i]), &a->v[i]))
			FAILF("%s: new mapping [%s]", who, a->v[i].line);
}

static unsigned flags_at(const struct snapshot *s, const void *addr)
{
	unsigned long a = (unsigned long)addr;

	for (int i = 0; i < s->n; i++)
		if (s->v[i].start <= a && a < s->v[i].end)
			return s->v[i].flags;
	return ~0u;
}

static const char *perms_at(const struct snapshot *s, const void *addr, char *out)
{
	unsigned long a = (unsigned long)addr;

	strcpy(out, "none");
	for (int i = 0; i < s->n; i++)
		if (s->v[i].start <= a && a < s->v[i].end)
			sscanf(s->v[i].line, "%*s %4s", out);
	return out;
}

/* ---- pagemap ---- */

/*
 * Fills out[i] with 1 if page i of [p, p + n pages) is present or swapped.
 * The pagemap descriptor is not kept open: it is not what this test is about.
 */
static int residency(const void *p, size_t npages, unsigned char *out)
{
	static uint64_t ents[4096];
	uintptr_t a = (uintptr_t)p;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	for (size_t done = 0; done < npages;) {
		size_t n = npages - done < 4096 ? npages - done : 4096;
		off_t off = (off_t)((a / (uintptr_t)pg + done) * 8);

		if (pread(fd, ents, n * 8, off) != (ssize_t)(n * 8)) {
			close(fd);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			out[done + i] = (ents[i] >> 62) != 0;
		done += n;
	}
	close(fd);
	return 0;
}

/* ---- probing protections ---- */

static sigjmp_buf probe_env;
static volatile sig_atomic_t probing;

static void on_segv(int sig)
{
	if (probing)
		siglongjmp(probe_env, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* 1 if the access faults, 0 if it does not. */
static int faults(volatile char *p, int write)
{
	struct sigaction sa = { .sa_handler = on_segv }, old_segv, old_bus;
	int r;

	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	if (sigsetjmp(probe_env, 1) == 0) {
		probing = 1;
		if (write)
			*p = *p;
		else
			(void)*p;
		r = 0;
	} else {
		r = 1;
	}
	probing = 0;
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	return r;
}

/* ---- the state ---- */

#define PRIV_LEN (4u << 20)
#define SHM_PAGES 16
#define SHM_PATTERNED 10
#define FILE_PAGES 8
#define SHFILE_PAGES 4
#define SPARSE_LEN (64u << 20)
#define SPARSE_STEP 37
#define NCHUNKS 20
#define SBRK_PAGES 16
#define DEPTH 1500

struct shm_ctl {
	volatile uint32_t child_pre, parent_pre, child_ready, parent_post, child_post;
};

static char *priv;             /* 4 MiB private anonymous */
static char *shm;              /* shared anonymous; page 0 holds struct shm_ctl */
static char *fpriv, *fpriv2;   /* private file mappings (offset 0 and 2 pages) */
static char *fshared;          /* shared file mapping */
static int fpriv_fd = -1, fshared_fd = -1;
static char fpriv_path[1200], fshared_path[1200];
static char *chunks[NCHUNKS];
static char *sbrk_area;
static void *brk_before;
static char *sparse;
static unsigned char sparse_res[SPARSE_LEN / 4096 + 1];
static char *guard, *rdonly;
static char *m_dontfork, *m_wipe, *m_dontdump, *m_huge, *m_nohuge, *m_locked, *m_merge, *m_sealed;
static int huge_ok, lock_ok, merge_ok, seal_ok;
static char vmlck_before[64];
static pid_t child_pid;
static long stack_errors;
static int stack_checked;

static struct shm_ctl *ctl(void) { return (struct shm_ctl *)shm; }

static void status_line(const char *key, char *out, size_t cap)
{
	static char buf[16384];
	const char *p;
	size_t klen = strlen(key);

	out[0] = 0;
	if (read_file("/proc/self/status", buf, sizeof(buf)) <= 0)
		return;
	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, key, klen) && p[klen] == ':') {
			snprintf(out, cap, "%.*s", (int)strcspn(p, "\n"), p);
			return;
		}
}

static unsigned char file_byte(int page) { return (unsigned char)('a' + page); }

static int setup_files(void)
{
	char page[65536];

	if ((size_t)pg > sizeof(page))
		return -1;
	snprintf(fpriv_path, sizeof(fpriv_path), "%s/wl-memory-private.%d", dir, (int)getpid());
	snprintf(fshared_path, sizeof(fshared_path), "%s/wl-memory-shared.%d", dir, (int)getpid());
	fpriv_fd = open(fpriv_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	fshared_fd = open(fshared_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fpriv_fd < 0 || fshared_fd < 0)
		return -1;
	for (int i = 0; i < FILE_PAGES; i++) {
		memset(page, file_byte(i), (size_t)pg);
		if (pwrite(fpriv_fd, page, (size_t)pg, (off_t)i * pg) != pg)
			return -1;
	}
	if (ftruncate(fshared_fd, (off_t)SHFILE_PAGES * pg) < 0)
		return -1;
	fpriv = mmap(NULL, (size_t)FILE_PAGES * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fpriv_fd, 0);
	fpriv2 = mmap(NULL, 3 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fpriv_fd, 2 * pg);
	fshared = mmap(NULL, (size_t)SHFILE_PAGES * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fshared_fd, 0);
	if (fpriv == MAP_FAILED || fpriv2 == MAP_FAILED || fshared == MAP_FAILED)
		return -1;
	/* The descriptors are not part of this test. */
	close(fpriv_fd);
	close(fshared_fd);
	fpriv_fd = fshared_fd = -1;
	/* Pages 2 and 5 copied on write, 0 and 7 only read, the rest untouched. */
	memset(fpriv + 2 * pg, 'X', (size_t)pg);
	memset(fpriv + 5 * pg + 100, 'Y', 200);
	if (fpriv[0] != 'a' || fpriv[7 * pg] != file_byte(7))
		return -1;
	/* fpriv2 maps file pages 2..4: its page 1 (file page 3) is written. */
	memset(fpriv2 + pg, 'Z', (size_t)pg);
	memcpy(fshared + 10, "before-0", 8);
	memcpy(fshared + 2 * pg + 100, "before-2", 8);
	return 0;
}

static void check_files(void)
{
	char buf[65536];
	int fd;

	for (int i = 0; i < FILE_PAGES; i++) {
		const char *p = fpriv + (size_t)i * pg;
		int ok;

		if (i == 2)
			ok = all_bytes(p, (size_t)pg, 'X');
		else if (i == 5)
			ok = all_bytes(p, 100, file_byte(5)) && all_bytes(p + 100, 200, 'Y') &&
			     all_bytes(p + 300, (size_t)pg - 300, file_byte(5));
		else
			ok = all_bytes(p, (size_t)pg, file_byte(i));
		if (!ok)
			FAILF("private file mapping: page %d has wrong contents (first byte 0x%02x)", i,
			      (unsigned char)p[0]);
	}
	if (!all_bytes(fpriv2, (size_t)pg, file_byte(2)) || !all_bytes(fpriv2 + pg, (size_t)pg, 'Z') ||
	    !all_bytes(fpriv2 + 2 * pg, (size_t)pg, file_byte(4)))
		FAILF("private file mapping at offset 2 pages: wrong contents");
	/* The file itself was never written. */
	fd = open(fpriv_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		FAILF("cannot open %s: %s", fpriv_path, strerror(errno));
	} else {
		for (int i = 0; i < FILE_PAGES; i++)
			if (pread(fd, buf, (size_t)pg, (off_t)i * pg) != pg || !all_bytes(buf, (size_t)pg, file_byte(i)))
				FAILF("file %s: page %d was changed by a private mapping", fpriv_path, i);
		close(fd);
	}
	/* Shared file mapping: old writes in the file, new ones reach it, both ways. */
	fd = open(fshared_path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		FAILF("cannot open %s: %s", fshared_path, strerror(errno));
		return;
	}
	if (memcmp(fshared + 10, "before-0", 8) || memcmp(fshared + 2 * pg + 100, "before-2", 8))
		FAILF("shared file mapping lost its contents");
	if (pread(fd, buf, 8, 10) != 8 || memcmp(buf, "before-0", 8) || pread(fd, buf, 8, 2 * pg + 100) != 8 ||
	    memcmp(buf, "before-2", 8))
		FAILF("shared file mapping: earlier writes are not in the file");
	memcpy(fshared + pg + 20, "after-1!", 8);
	if (pread(fd, buf, 8, pg + 20) != 8 || memcmp(buf, "after-1!", 8))
		FAILF("shared file mapping: a write through the mapping does not reach the file");
	if (pwrite(fd, "pwrite-3", 8, 3 * pg + 30) != 8 || memcmp(fshared + 3 * pg + 30, "pwrite-3", 8))
		FAILF("shared file mapping: a write to the file does not show in the mapping");
	close(fd);
}

static int setup_heap(void)
{
	for (int i = 0; i < NCHUNKS; i++) {
		chunks[i] = malloc(1000 + 37 * (size_t)i);
		if (!chunks[i])
			return -1;
		fill(chunks[i], 1000 + 37 * (size_t)i, 0x1000 + (uint64_t)i);
	}
	sbrk_area = sbrk(SBRK_PAGES * pg);
	if (sbrk_area == (void *)-1)
		return -1;
	fill(sbrk_area, (size_t)SBRK_PAGES * pg, 0x5b5b);
	brk_before = sbrk(0);
	return 0;
}

static void check_heap(void)
{
	void *b1 = sbrk(0), *b2 = (void *)syscall(SYS_brk, 0);
	char *more;

	if (b1 != brk_before || b2 != brk_before) {
		FAILF("brk is %p (syscall %p), was %p", b1, b2, brk_before);
		return;
	}
	for (int i = 0; i < NCHUNKS; i++)
		if (check_fill(chunks[i], 1000 + 37 * (size_t)i, 0x1000 + (uint64_t)i) >= 0)
			FAILF("malloc chunk %d differs", i);
	if (check_fill(sbrk_area, (size_t)SBRK_PAGES * pg, 0x5b5b) >= 0)
		FAILF("sbrk area differs");
	more = sbrk(32 * pg);
	if (more == (void *)-1) {
		FAILF("sbrk(+32 pages) after restore: %s", strerror(errno));
		return;
	}
	if (more != brk_before)
		FAILF("sbrk grew from %p, brk was %p", (void *)more, brk_before);
	memset(more, 0x77, 32 * (size_t)pg);
	if (!all_bytes(more, 32 * (size_t)pg, 0x77))
		FAILF("sbrk-grown memory does not hold data");
	if (sbrk(0) != (char *)brk_before + 32 * pg)
		FAILF("brk did not move by 32 pages");
	if (sbrk(-32 * pg) == (void *)-1 || sbrk(0) != brk_before)
		FAILF("shrinking brk back failed");
}

static int setup_sparse(void)
{
	size_t np = SPARSE_LEN / (size_t)pg;

	sparse = isolated(SPARSE_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	if (!sparse)
		return -1;
	madvise(sparse, SPARSE_LEN, MADV_NOHUGEPAGE); /* no THP filling in the gaps */
	for (size_t i = 0; i < np; i++) {
		if (i % SPARSE_STEP && i != np - 1)
			continue;
		uint64_t v = 0xabc000000ull + i;
		memcpy(sparse + i * (size_t)pg, &v, 8);
		memcpy(sparse + (i + 1) * (size_t)pg - 8, &v, 8);
	}
	return 0;
}

static void check_sparse(const char *when)
{
	size_t np = SPARSE_LEN / (size_t)pg;

	if (residency(sparse, np, sparse_res) < 0) {
		FAILF("%s: cannot read /proc/self/pagemap", when);
		return;
	}
	for (size_t i = 0; i < np; i++) {
		int touched = i % SPARSE_STEP == 0 || i == np - 1;

		if (sparse_res[i] != touched) {
			FAILF("%s: sparse region page %zu of %zu is %s", when, i, np,
			      touched ? "not present although written" : "present although never touched");
			return;
		}
	}
}

static void check_sparse_data(void)
{
	size_t np = SPARSE_LEN / (size_t)pg;

	for (size_t i = 0; i < np; i++) {
		uint64_t v = 0xabc000000ull + i, a, b;

		memcpy(&a, sparse + i * (size_t)pg, 8);
		memcpy(&b, sparse + (i + 1) * (size_t)pg - 8, 8);
		if (i % SPARSE_STEP == 0 || i == np - 1) {
			if (a != v || b != v) {
				FAILF("sparse region page %zu lost its data", i);
				return;
			}
		} else if (a || b) {
			FAILF("sparse region page %zu was never written but is not zero", i);
			return;
		}
	}
}

static int setup_protections(void)
{
	guard = isolated(3 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	rdonly = isolated(2 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	if (!guard || !rdonly)
		return -1;
	fill(guard, (size_t)pg, 0x61);
	fill(guard + 2 * pg, (size_t)pg, 0x62);
	fill(rdonly, 2 * (size_t)pg, 0x63);
	if (mprotect(guard + pg, (size_t)pg, PROT_NONE) < 0 || mprotect(rdonly, 2 * (size_t)pg, PROT_READ) < 0)
		return -1;
	return 0;
}

static void check_protections(void)
{
	char p[8];

	if (check_fill(guard, (size_t)pg, 0x61) >= 0 || check_fill(guard + 2 * pg, (size_t)pg, 0x62) >= 0)
		FAILF("pages around the guard page differ");
	if (check_fill(rdonly, 2 * (size_t)pg, 0x63) >= 0)
		FAILF("read-only region differs");
	if (strcmp(perms_at(&snap_after, guard + pg, p), "---p"))
		FAILF("guard page has permissions %s", p);
	if (strcmp(perms_at(&snap_after, rdonly, p), "r--p"))
		FAILF("read-only region has permissions %s", p);
	if (!faults(guard + pg, 0))
		FAILF("reading the PROT_NONE guard page does not fault");
	if (!faults(rdonly + 5, 1))
		FAILF("writing the read-only region does not fault");
	if (faults(guard + 5, 1) || faults(guard + 2 * pg + 5, 1))
		FAILF("writing next to the guard page faults");
}

static int setup_madvise(void)
{
	size_t len = 4 * (size_t)pg;

	m_dontfork = isolated(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	m_wipe = isolated(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	m_dontdump = isolated(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	m_huge = isolated(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	m_nohuge = isolated(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	m_locked = isolated(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	m_merge = isolated(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	m_sealed = isolated(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	if (!m_dontfork || !m_wipe || !m_dontdump || !m_huge || !m_nohuge || !m_locked || !m_merge || !m_sealed)
		return -1;
	fill(m_merge, (size_t)pg, 0x77);
	fill(m_sealed, len, 0x78);
	fill(m_dontfork, (size_t)pg, 0x71);
	fill(m_wipe, (size_t)pg, 0x72);
	fill(m_dontdump, (size_t)pg, 0x73);
	fill(m_huge, (size_t)pg, 0x74);
	fill(m_nohuge, (size_t)pg, 0x75);
	fill(m_locked, len, 0x76);
	if (madvise(m_dontfork, len, MADV_DONTFORK) < 0 || madvise(m_wipe, len, MADV_WIPEONFORK) < 0 ||
	    madvise(m_dontdump, len, MADV_DONTDUMP) < 0 || madvise(m_nohuge, len, MADV_NOHUGEPAGE) < 0)
		return -1;
	huge_ok = madvise(m_huge, len, MADV_HUGEPAGE) == 0; /* EINVAL without THP */
	lock_ok = mlock(m_locked, len) == 0;
	merge_ok = madvise(m_merge, len, MADV_MERGEABLE) == 0; /* EINVAL without KSM */
	/* mseal (6.10): read-only first, so that the seal shows in what may not change. */
	seal_ok = mprotect(m_sealed, len, PROT_READ) == 0 && syscall(462 /* mseal */, m_sealed, len, 0) == 0;
	return 0;
}

static void check_madvise(const struct snapshot *s, const char *when)
{
	static const struct {
		const char *name;
		char **p;
		unsigned bit;
	} want[] = {
		{ "MADV_DONTFORK", &m_dontfork, VF_DC }, { "MADV_WIPEONFORK", &m_wipe, VF_WF },
		{ "MADV_DONTDUMP", &m_dontdump, VF_DD }, { "MADV_HUGEPAGE", &m_huge, VF_HG },
		{ "MADV_NOHUGEPAGE", &m_nohuge, VF_NH }, { "mlock", &m_locked, VF_LO },
		{ "MADV_MERGEABLE", &m_merge, VF_MG }, { "mseal", &m_sealed, VF_SL },
	};

	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		unsigned f = flags_at(s, *want[i].p);

		if (want[i].bit == VF_HG && !huge_ok)
			continue;
		if (want[i].bit == VF_LO && !lock_ok)
			continue;
		if ((want[i].bit == VF_MG && !merge_ok) || (want[i].bit == VF_SL && !seal_ok))
			continue;
		if (f == ~0u)
			FAILF("%s: %s region %p is not mapped", when, want[i].name, (void *)*want[i].p);
		else if (f != want[i].bit)
			FAILF("%s: %s region has VmFlags bits 0x%x, want only 0x%x", when, want[i].name, f, want[i].bit);
	}
}

static void check_madvise_data(void)
{
	unsigned char res[4];
	char lck[64];

	if (check_fill(m_dontfork, (size_t)pg, 0x71) >= 0 || check_fill(m_wipe, (size_t)pg, 0x72) >= 0 ||
	    check_fill(m_dontdump, (size_t)pg, 0x73) >= 0 || check_fill(m_huge, (size_t)pg, 0x74) >= 0 ||
	    check_fill(m_nohuge, (size_t)pg, 0x75) >= 0 || check_fill(m_locked, 4 * (size_t)pg, 0x76) >= 0 ||
	    check_fill(m_merge, (size_t)pg, 0x77) >= 0 || check_fill(m_sealed, 4 * (size_t)pg, 0x78) >= 0)
		FAILF("madvise/mlock/mseal regions lost their data");
	if (seal_ok && (mprotect(m_sealed, 4 * (size_t)pg, PROT_READ | PROT_WRITE) == 0 || errno != EPERM))
		FAILF("the sealed region can be made writable again: mprotect gave %s", strerror(errno));
	if (lock_ok) {
		if (residency(m_locked, 4, res) < 0 || !res[0] || !res[1] || !res[2] || !res[3])
			FAILF("mlocked region is not resident");
		status_line("VmLck", lck, sizeof(lck));
		if (strcmp(lck, vmlck_before))
			FAILF("/proc/self/status [%s], was [%s]", lck, vmlck_before);
	}
}

/* A child forked now must not have the DONTFORK region and must see the WIPEONFORK region zeroed. */
static void check_fork_semantics(void)
{
	int status;
	pid_t p = fork();

	if (p == 0) {
		unsigned char v;
		int code = 0;

		if (mincore(m_dontfork, (size_t)pg, &v) == 0 || errno != ENOMEM)
			code |= 1;
		if (!all_bytes(m_wipe, 4 * (size_t)pg, 0))
			code |= 2;
		if (check_fill(m_dontdump, (size_t)pg, 0x73) >= 0)
			code |= 4;
		_exit(code);
	}
	if (p < 0) {
		FAILF("fork: %s", strerror(errno));
		return;
	}
	if (waitpid(p, &status, 0) != p || !WIFEXITED(status)) {
		FAILF("fork check child died (status 0x%x)", status);
		return;
	}
	if (WEXITSTATUS(status) & 1)
		FAILF("a new child still has the MADV_DONTFORK region");
	if (WEXITSTATUS(status) & 2)
		FAILF("a new child sees data in the MADV_WIPEONFORK region");
	if (WEXITSTATUS(status) & 4)
		FAILF("a new child does not see the MADV_DONTDUMP region's data");
}

/* ---- the shared anonymous memory ---- */

static void check_shm_pattern(const char *who)
{
	if (check_fill(shm + pg, (size_t)(SHM_PATTERNED - 1) * pg, 0x5a5a) >= 0)
		FAILF("%s: shared anonymous memory lost its contents", who);
	else if (!all_bytes(shm + SHM_PATTERNED * pg, (size_t)(SHM_PAGES - SHM_PATTERNED) * pg, 0))
		FAILF("%s: never-written shared pages are not zero", who);
	else if (ctl()->child_pre != MAGIC_CHILD_PRE || ctl()->parent_pre != MAGIC_PARENT_PRE)
		FAILF("%s: shared control words lost (0x%x 0x%x)", who, ctl()->child_pre, ctl()->parent_pre);
}

/* ---- the child ---- */

static void wait_for_verify(void)
{
	sigset_t none;

	sigemptyset(&none);
	while (!verify_requested)
		sigsuspend(&none);
}

static void child_main(void)
{
	char path[4200];
	long page;

	snprintf(path, sizeof(path), "%s.child", result_path);
	/* Copy-on-write: this page of the private region is the child's own now. */
	fill(priv, (size_t)pg, 0xc41d);
	ctl()->child_pre = MAGIC_CHILD_PRE;
	for (int i = 0; i < 20000 && ctl()->parent_pre != MAGIC_PARENT_PRE; i++)
		usleep(1000);
	if (ctl()->parent_pre != MAGIC_PARENT_PRE)
		FAILF("child: parent's write to shared memory never arrived");
	if (take_snapshot(&snap_before) < 0)
		FAILF("child: cannot read /proc/self/smaps");
	ctl()->child_ready = 1;

	wait_for_verify();

	compare_snapshots("child");
	if (check_fill(priv, (size_t)pg, 0xc41d) >= 0)
		FAILF("child: its own copy of page 0 of private memory differs");
	else if ((page = check_pages(priv, 1, PRIV_LEN / (size_t)pg, 0x9e37)) >= 0)
		FAILF("child: private anonymous memory differs in page %ld", page);
	check_shm_pattern("child");
	if (ctl()->parent_post != MAGIC_PARENT_POST)
		FAILF("child: does not see the parent's write to shared memory after restore (0x%x)",
		      ctl()->parent_post);
	ctl()->child_post = MAGIC_CHILD_POST;
	/* The DONTFORK region was not inherited; the WIPEONFORK one was, empty. */
	{
		unsigned char v;

		if (mincore(m_dontfork, (size_t)pg, &v) == 0 || errno != ENOMEM)
			FAILF("child: has the MADV_DONTFORK region");
		if (!all_bytes(m_wipe, 4 * (size_t)pg, 0))
			FAILF("child: MADV_WIPEONFORK region is not empty");
	}
	_exit(report(path));
}

/* ---- the stack ---- */

static void bottom(void);

static __attribute__((noinline)) void deep(int n)
{
	volatile unsigned char buf[256];

	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(n * 31 + i * 7);
	if (n == 0)
		bottom();
	else
		deep(n - 1);
	for (unsigned i = 0; i < sizeof(buf); i++)
		if (buf[i] != (unsigned char)(n * 31 + i * 7)) {
			stack_errors++;
			break;
		}
	stack_checked++;
}

static void bottom(void)
{
	if (lock_ok)
		status_line("VmLck", vmlck_before, sizeof(vmlck_before));
	check_sparse("before the checkpoint");
	if (take_snapshot(&snap_before) < 0)
		FAILF("cannot read /proc/self/smaps");
	check_madvise(&snap_before, "before the checkpoint");
	if (why[0]) {
		/* The setup itself is broken: say so without waiting. */
		report(result_path);
		write_text(ready_path, "ready", NULL);
		_exit(1);
	}
	write_text(ready_path, "ready", NULL);

	wait_for_verify();

	compare_snapshots("parent");
	check_sparse("after");
}

static int wait_child(pid_t p, int *status, int seconds)
{
	for (int i = 0; i < seconds * 100; i++) {
		pid_t r = waitpid(p, status, WNOHANG);

		if (r == p)
			return 0;
		if (r < 0)
			return -1;
		usleep(10000);
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigset_t usr1;
	long page;

	if (argc < 3) {
		fprintf(stderr, "usage: %s READY_FILE RESULT_FILE [DIR]\n", argv[0]);
		return 2;
	}
	ready_path = argv[1];
	result_path = argv[2];
	if (argc > 3) {
		snprintf(dir, sizeof(dir), "%s", argv[3]);
	} else {
		snprintf(dir, sizeof(dir), "%s", result_path);
		if (strrchr(dir, '/'))
			*strrchr(dir, '/') = 0;
		else
			strcpy(dir, ".");
		if (!dir[0])
			strcpy(dir, "/");
	}
	pg = sysconf(_SC_PAGESIZE);
	sigaction(SIGUSR1, &sa, NULL);
	/* SIGUSR1 is only taken in sigsuspend, never in the middle of setup. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);

	if (setup_heap() < 0)
		FAILF("heap setup failed");
	priv = isolated(PRIV_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	if (!priv)
		FAILF("mmap private: %s", strerror(errno));
	else
		fill_pages(priv, 0, PRIV_LEN / (size_t)pg, 0x9e37);
	shm = isolated((size_t)SHM_PAGES * pg, PROT_READ | PROT_WRITE, MAP_SHARED);
	if (!shm)
		FAILF("mmap shared anonymous: %s", strerror(errno));
	else
		fill(shm + pg, (size_t)(SHM_PATTERNED - 1) * pg, 0x5a5a);
	if (!why[0] && setup_files() < 0)
		FAILF("file mapping setup in %s failed: %s", dir, strerror(errno));
	if (!why[0] && setup_sparse() < 0)
		FAILF("sparse region setup failed: %s", strerror(errno));
	if (!why[0] && setup_protections() < 0)
		FAILF("protection setup failed: %s", strerror(errno));
	if (!why[0] && setup_madvise() < 0)
		FAILF("madvise setup failed: %s", strerror(errno));
	if (why[0]) {
		report(result_path);
		write_text(ready_path, "ready", NULL);
		return 1;
	}

	child_pid = fork();
	if (child_pid < 0) {
		FAILF("fork: %s", strerror(errno));
		report(result_path);
		write_text(ready_path, "ready", NULL);
		return 1;
	}
	if (child_pid == 0)
		child_main();

	for (int i = 0; i < 20000 && ctl()->child_pre != MAGIC_CHILD_PRE; i++)
		usleep(1000);
	if (ctl()->child_pre != MAGIC_CHILD_PRE)
		FAILF("the child's write to shared memory never arrived");
	ctl()->parent_pre = MAGIC_PARENT_PRE;
	for (int i = 0; i < 20000 && !ctl()->child_ready; i++)
		usleep(1000);
	if (!ctl()->child_ready)
		FAILF("child never got ready");

	deep(DEPTH); /* writes READY at the bottom and waits there */

	if (stack_checked != DEPTH + 1 || stack_errors)
		FAILF("stack: %ld of %d frames lost their locals", stack_errors, stack_checked);
	if ((page = check_pages(priv, 0, PRIV_LEN / (size_t)pg, 0x9e37)) >= 0)
		FAILF("private anonymous memory differs in page %ld (the child's copy-on-write leaked?)", page);
	check_shm_pattern("parent");
	check_madvise(&snap_after, "after restore");
	check_madvise_data();
	check_protections();
	check_sparse_data();
	check_files();
	check_heap();

	/* Shared anonymous memory stays shared: parent -> child -> parent. */
	ctl()->parent_post = MAGIC_PARENT_POST;
	{
		char path[4200], line[512] = "";
		int status = 0;
		ssize_t n;

		snprintf(path, sizeof(path), "%s.child", result_path);
		kill(child_pid, SIGUSR1);
		if (wait_child(child_pid, &status, 30) < 0) {
			kill(child_pid, SIGKILL);
			FAILF("child did not finish");
		} else {
			n = read_file(path, line, sizeof(line));
			line[strcspn(line, "\n")] = 0;
			if (n <= 0)
				FAILF("child did not report (status 0x%x)", status);
			else if (strcmp(line, "PASS"))
				FAILF("child: %s", line);
			else if (!WIFEXITED(status) || WEXITSTATUS(status))
				FAILF("child exited with status 0x%x", status);
		}
		if (ctl()->child_post != MAGIC_CHILD_POST)
			FAILF("parent does not see the child's write to shared memory after restore (0x%x)",
			      ctl()->child_post);
	}
	check_fork_semantics();
	/* malloc still works, small (brk) and large (mmap). */
	{
		char *a = malloc(200), *b = malloc(4 << 20);

		if (!a || !b)
			FAILF("malloc after restore failed");
		else {
			memset(a, 1, 200);
			memset(b, 2, 4 << 20);
		}
		free(a);
		free(b);
	}
	unlink(fpriv_path);
	unlink(fshared_path);
	return report(result_path);
}
