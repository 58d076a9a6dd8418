/*
 * bigfiles: a large memfd and a large unlinked file, for the test that
 * ckpt streams their content instead of holding it (t-files-large).
 *
 *   bigfiles READY RESULT DIR MIB
 *
 * Each is MIB MiB long: data, a hole of a quarter of it in the middle, data
 * again. After restore it checks every byte (the pattern, zeros in the
 * hole) and that the holes are still holes.
 */
#include "wl.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define MIB (1024L * 1024)

static unsigned char buf[MIB];

static unsigned char pat(long off, int seed)
{
	return (unsigned char)(off * 13 + seed + (off >> 16));
}

static int fill(int fd, long size, int seed)
{
	for (long off = 0; off < size; off += MIB) {
		if (off >= size * 3 / 8 && off < size * 5 / 8)
			continue; /* the hole */
		for (long i = 0; i < MIB; i++)
			buf[i] = pat(off + i, seed);
		if (pwrite(fd, buf, MIB, off) != MIB)
			return -1;
	}
	return ftruncate(fd, size);
}

static void check(int fd, long size, int seed, const char *what)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || st.st_size != size) {
		wl_fail("%s: size %ld, want %ld", what, (long)st.st_size, size);
		return;
	}
	for (long off = 0; off < size; off += MIB) {
		int hole = off >= size * 3 / 8 && off < size * 5 / 8;

		if (pread(fd, buf, MIB, off) != MIB) {
			wl_fail("%s: read at %ld: %s", what, off, strerror(errno));
			return;
		}
		for (long i = 0; i < MIB; i++)
			if (buf[i] != (hole ? 0 : pat(off + i, seed))) {
				wl_fail("%s: byte %ld is %u", what, off + i, buf[i]);
				return;
			}
	}
	if (lseek(fd, size * 3 / 8, SEEK_DATA) != size * 5 / 8)
		wl_fail("%s: the hole is gone", what);
}

int main(int argc, char **argv)
{
	char path[1200];
	long size;

	wl_init(argc, argv);
	if (argc < 5) {
		fprintf(stderr, "usage: bigfiles READY RESULT DIR MIB\n");
		return 2;
	}
	size = atol(argv[4]) * MIB;
	snprintf(path, sizeof(path), "%s/wl-big.%d", argv[3], (int)getpid());
	if (dup2(memfd_create("wl-big", 0), 10) != 10 || fill(10, size, 1) < 0 ||
	    dup2(open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), 11) != 11 || unlink(path) < 0 ||
	    fill(11, size, 2) < 0)
		wl_fail("setup: %s", strerror(errno));
	wl_ready();
	wl_wait();
	check(10, size, 1, "memfd");
	check(11, size, 2, "unlinked file");
	return wl_finish();
}
