/*
 * memwriter: memory that changes while a --leave-running dump copies it.
 *
 *   memwriter READY RESULT
 *
 * A thread writes pass after pass over a 64 MiB region, stamping page i of
 * pass g with g, in order. Before it stamps a page it checks that the page
 * holds the previous pass's stamp: that holds at every instant of an
 * uninterrupted run, and after a restore only if the image holds every
 * page as it was at one instant, the one at which the thread's registers
 * were taken. An image copied page by page while the thread ran would hold
 * some pages of a later pass, and the restored thread trips over them.
 * The thread also records that it made progress after the check is
 * requested, so a stuck or dead writer fails too.
 *
 * Beside it, 256 KiB of patterned memory made PROT_NONE: the snapshot's
 * pump cannot vmsplice it (lib/snap_pump.S), so the dump reads it another
 * way; after restore it must hold its pattern, still PROT_NONE.
 */
#include "wl.h"
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

#define REGION (64UL << 20)
#define PAGE 4096UL
#define NPAGES (REGION / PAGE)

static uint64_t *region;
static atomic_ulong passes;
static atomic_int broken;
static char broken_why[256];
static uint8_t *hidden;

#define HIDDEN (256UL << 10)

static uint8_t hidden_byte(size_t i)
{
	return (uint8_t)(i * 131 + i / PAGE + 7);
}

static int hidden_setup(void)
{
	hidden = mmap(NULL, HIDDEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hidden == MAP_FAILED)
		return -1;
	for (size_t i = 0; i < HIDDEN; i++)
		hidden[i] = hidden_byte(i);
	return mprotect(hidden, HIDDEN, PROT_NONE);
}

/* Index of the first byte that differs, or -1; the region is PROT_NONE again after. */
static long hidden_check(void)
{
	long bad = -1;

	if (mprotect(hidden, HIDDEN, PROT_READ) < 0)
		return 0;
	for (size_t i = 0; i < HIDDEN && bad < 0; i++)
		if (hidden[i] != hidden_byte(i))
			bad = (long)i;
	mprotect(hidden, HIDDEN, PROT_NONE);
	return bad;
}

static void *writer(void *arg)
{
	(void)arg;
	for (uint64_t g = 1;; g++) {
		for (size_t i = 0; i < NPAGES; i++) {
			uint64_t *stamp = &region[i * (PAGE / 8)];

			if (*stamp != g - 1 && !atomic_load(&broken)) {
				snprintf(broken_why, sizeof(broken_why),
					 "pass %llu: page %zu holds stamp %llu, expected %llu",
					 (unsigned long long)g, i, (unsigned long long)*stamp,
					 (unsigned long long)(g - 1));
				atomic_store(&broken, 1);
			}
			*stamp = g;
		}
		atomic_fetch_add(&passes, 1);
		/* Leave the other CPU some room: tests run side by side. */
		if (g % 4 == 0)
			wl_msleep(1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;
	unsigned long before;
	double t0;

	wl_init(argc, argv);
	region = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED)
		return 1;
	memset(region, 0, REGION);
	if (hidden_setup() < 0)
		return 1;
	if (pthread_create(&t, NULL, writer, NULL))
		return 1;
	while (atomic_load(&passes) < 10)
		wl_msleep(1);
	wl_ready();
	wl_wait();
	before = atomic_load(&passes);
	t0 = wl_now();
	while (atomic_load(&passes) < before + 20 && wl_now() - t0 < 10)
		wl_msleep(1);
	WL_CHECK(atomic_load(&passes) >= before + 20, "the writer made %lu passes in 10 s after the check began",
		 atomic_load(&passes) - before);
	WL_CHECK(!atomic_load(&broken), "memory not as at one instant: %s", broken_why);
	WL_CHECK(hidden_check() < 0, "PROT_NONE memory differs at byte %ld", hidden_check());
	return wl_finish();
}
