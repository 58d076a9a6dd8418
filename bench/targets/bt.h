/*
 * bt.h: what the benchmark targets (the programs in bench/targets) share.
 *
 *   target READY RESULT [args]
 *
 * A target sets itself up, writes its pid to READY and then idles in
 * sigsuspend().  Each SIGUSR1 makes it check its state (cheaply) and write
 * "PASS ..." or "FAIL: why" to RESULT; then it idles again, so the same
 * target can be dumped, restored and checked any number of times.  Files
 * are written to a temporary name and renamed: bench/run never reads half a
 * line.
 *
 * Memory layout used by the memory targets (bt_mem_fill / bt_mem_check):
 * the region is cut into groups of BT_GROUP bytes (4 MiB, or the whole
 * region if smaller); in each group the first half holds pseudo-random
 * bytes (incompressible, regenerated from the page address for the check),
 * the next quarter is written with zeros (real, present pages that hold
 * zeros), the last quarter is never touched.
 */
#ifndef BT_H
#define BT_H

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BT_PAGE 4096UL
#define BT_GROUP (4UL << 20)

static volatile sig_atomic_t bt_usr1;

static void bt_on_usr1(int sig)
{
	(void)sig;
	bt_usr1 = 1;
}

static __attribute__((unused)) void bt_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("target: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(errno ? ": " : "\n", stderr);
	if (errno)
		fprintf(stderr, "%s\n", strerror(errno));
	va_end(ap);
	exit(1);
}

/* Write MSG + newline to PATH atomically. */
static __attribute__((unused)) int bt_write_file(const char *path, const char *msg)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%s\n", msg);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

/* SIGUSR1 is blocked (so it is only taken in sigsuspend) and handled. */
static __attribute__((unused)) void bt_setup_signals(sigset_t *wait_mask)
{
	struct sigaction sa = { .sa_handler = bt_on_usr1 };
	sigset_t usr1;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, wait_mask);
	sigdelset(wait_mask, SIGUSR1);
}

/* Wait for the next SIGUSR1 (returns at once if one came already). */
static __attribute__((unused)) void bt_wait_usr1(const sigset_t *wait_mask)
{
	while (!bt_usr1)
		sigsuspend(wait_mask);
	bt_usr1 = 0;
}

/* The pseudo-random words of one page, from its address and a seed. */
static inline uint64_t bt_page_seed(uint64_t seed, uintptr_t addr)
{
	uint64_t z = seed + (uint64_t)addr * 0x9E3779B97F4A7C15ULL;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return (z ^ (z >> 31)) | 1;
}

static inline uint64_t bt_next(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1DULL;
}

static __attribute__((unused)) void bt_random_page(uint64_t *p, uint64_t seed)
{
	uint64_t x = bt_page_seed(seed, (uintptr_t)p);

	for (size_t i = 0; i < BT_PAGE / 8; i++)
		p[i] = bt_next(&x);
}

/* 0 if the page holds what bt_random_page wrote there. */
static __attribute__((unused)) int bt_random_page_bad(const uint64_t *p, uint64_t seed)
{
	uint64_t x = bt_page_seed(seed, (uintptr_t)p);

	for (size_t i = 0; i < BT_PAGE / 8; i++)
		if (p[i] != bt_next(&x))
			return 1;
	return 0;
}

static __attribute__((unused)) size_t bt_group(size_t size)
{
	return size < BT_GROUP ? size : BT_GROUP;
}

/* Map SIZE bytes (a multiple of 4 pages, and of BT_GROUP if larger) and fill them as described above. */
static __attribute__((unused)) char *bt_mem_fill(size_t size, uint64_t seed)
{
	size_t g = bt_group(size);
	char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (base == MAP_FAILED)
		bt_die("mmap %zu bytes", size);
	for (size_t off = 0; off < size; off += g) {
		for (size_t o = 0; o < g / 2; o += BT_PAGE)
			bt_random_page((uint64_t *)(base + off + o), seed);
		memset(base + off + g / 2, 0, g / 4);
	}
	return base;
}

/*
 * Check a region filled by bt_mem_fill: the random half must be intact;
 * of the zero quarter, the pages that are resident must hold zeros (those
 * that are not read as zeros anyway: mincore tells, so the check faults
 * nothing in); the never-touched quarter is only counted with mincore.
 * Appends " name: ..." counts to INFO; returns 0 or -1 with WHY set.
 */
static __attribute__((unused)) int bt_mem_check(const char *base, size_t size, uint64_t seed, char *why,
						 size_t whylen, size_t *zero_res, size_t *untouched_res)
{
	size_t g = bt_group(size), npages = size / BT_PAGE;
	unsigned char *vec = malloc(npages);

	*zero_res = *untouched_res = 0;
	if (!vec || mincore((void *)base, size, vec) < 0) {
		snprintf(why, whylen, "mincore: %s", strerror(errno));
		free(vec);
		return -1;
	}
	for (size_t off = 0; off < size; off += g) {
		for (size_t o = 0; o < g / 2; o += BT_PAGE)
			if (bt_random_page_bad((const uint64_t *)(base + off + o), seed)) {
				snprintf(why, whylen, "random page at %p (offset %zu) differs", (void *)(base + off + o),
					 off + o);
				free(vec);
				return -1;
			}
		for (size_t o = g / 2; o < g * 3 / 4; o += BT_PAGE) {
			if (!(vec[(off + o) / BT_PAGE] & 1))
				continue;
			(*zero_res)++;
			const uint64_t *p = (const uint64_t *)(base + off + o);
			for (size_t i = 0; i < BT_PAGE / 8; i++)
				if (p[i]) {
					snprintf(why, whylen, "zero page at %p (offset %zu) is not zero",
						 (void *)(base + off + o), off + o);
					free(vec);
					return -1;
				}
		}
		for (size_t o = g * 3 / 4; o < g; o += BT_PAGE)
			*untouched_res += vec[(off + o) / BT_PAGE] & 1;
	}
	free(vec);
	return 0;
}

#endif
