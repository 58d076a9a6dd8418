/*
 * sysvbig: large SysV shared memory segments, every page written, across a
 * checkpoint: ckpt must stream them, its own memory staying bounded.
 *
 *   sysvbig READY RESULT [MIB]
 *
 * P makes two segments of MIB MiB (default 192): G, attached, and H, not
 * attached (P wrote it and detached it), and fills every page of both with
 * a pattern that depends on the page. After restore (SIGUSR1) it checks
 * every page of both.
 */
#include "wl.h"
#include <sys/ipc.h>
#include <sys/shm.h>

#define PG 4096UL

static void fill(char *p, size_t size, int seed)
{
	for (size_t off = 0; off < size; off += 8)
		*(unsigned long *)(p + off) = off * 2654435761UL + (unsigned long)seed;
}

static void check(const char *p, size_t size, int seed, const char *what)
{
	for (size_t off = 0; off < size; off += 8)
		if (*(const unsigned long *)(p + off) != off * 2654435761UL + (unsigned long)seed) {
			wl_fail("%s: word at 0x%zx differs", what, off);
			return;
		}
}

int main(int argc, char **argv)
{
	size_t size;
	int g, h;
	char *G, *H;

	wl_init(argc, argv);
	size = (size_t)(argc > 3 ? atol(argv[3]) : 192) << 20;
	g = shmget(0x5B01, size, IPC_CREAT | IPC_EXCL | 0600);
	h = shmget(0x5B02, size, IPC_CREAT | IPC_EXCL | 0600);
	G = g < 0 ? (void *)-1 : shmat(g, NULL, 0);
	H = h < 0 ? (void *)-1 : shmat(h, NULL, 0);
	if (G == (void *)-1 || H == (void *)-1) {
		wl_fail("making the segments: %s", strerror(errno));
		wl_ready();
		return wl_finish();
	}
	fill(G, size, 1);
	fill(H, size, 2);
	shmdt(H);
	wl_ready();
	wl_wait();
	check(G, size, 1, "G");
	H = shmat(h, NULL, SHM_RDONLY);
	if (H == (void *)-1)
		wl_fail("H: %s", strerror(errno));
	else
		check(H, size, 2, "H");
	return wl_finish();
}
