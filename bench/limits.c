/*
 * limits: what the machine allows for BYTES bytes, for bench/run.
 *
 *   limits memcpy BYTES        copy between two prefaulted buffers
 *   limits write BYTES FILE    write from a prefaulted buffer to a new FILE
 *                              (8 MiB writes, into the page cache), then
 *                              fsync it (timed apart); FILE is removed
 *   limits fill BYTES          fault in a freshly mapped anonymous region
 *                              and fill it, 8 MiB at a time, from an 8 MiB
 *                              prefaulted buffer (as a restore fills memory
 *                              from its read buffer)
 *   limits warm BYTES FILE     untimed preparation: write BYTES to FILE and
 *                              remove it again (see below)
 *
 * Prints key=seconds pairs on one line: memcpy_s=, write_s= fsync_s=,
 * fill_s=, warm_s=.  Only the operation itself is timed, not the setup.
 * Single-threaded, 4 KiB pages (like the targets: THP is left to madvise).
 * The source holds pseudo-random bytes.
 *
 * Why `warm`: on this VM, guest memory that has stayed free for a while is
 * taken back by the host (free page reporting), and the first touch of
 * such a page costs a host fault.  Page cache folios for a new file are
 * where this shows most: the same write of 768 MiB takes 0.2 s into page
 * cache just freed by another file and 1-2.6 s a few seconds later.  So
 * right before each timed write of a new file (ckpt dump -o FILE, and the
 * write limit, which does this itself once its source buffer is set up),
 * a file of the same size is written and deleted: both then write into
 * memory the host backs, as on bare metal.
 */
#include <fcntl.h>
#include <time.h>

#include "targets/bt.h"

#define CHUNK (8UL << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *region(size_t n, int prefault)
{
	char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		bt_die("mmap %zu bytes", n);
	if (prefault)
		memset(p, 0x5a, n);
	return p;
}

static char *source(size_t n)
{
	char *p = region(n, 0);

	for (size_t o = 0; o + BT_PAGE <= n; o += BT_PAGE)
		bt_random_page((uint64_t *)(p + o), 7);
	return p;
}

/* Write N bytes from SRC (SRC_LEN bytes, cycled) to a new FILE; the fd stays open. */
static int write_file(const char *file, const char *src, size_t src_len, size_t n)
{
	int fd;

	unlink(file);
	fd = open(file, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		bt_die("open %s", file);
	for (size_t o = 0; o < n;) {
		size_t at = o % src_len, len = n - o;
		ssize_t w;

		if (len > CHUNK)
			len = CHUNK;
		if (len > src_len - at)
			len = src_len - at;
		w = write(fd, src + at, len);
		if (w <= 0)
			bt_die("write %s", file);
		o += (size_t)w;
	}
	return fd;
}

static void warm(const char *file, const char *src, size_t src_len, size_t n)
{
	close(write_file(file, src, src_len, n));
	unlink(file);
}

int main(int argc, char **argv)
{
	char warm_file[4200];
	size_t n;
	char *src, *dst;
	double t0, t1, t2;
	int fd;

	if (argc < 3)
		bt_die("usage: limits memcpy|write|fill|warm BYTES [FILE]\n");
	n = (strtoull(argv[2], NULL, 0) + BT_PAGE - 1) & ~(BT_PAGE - 1);
	if (n == 0)
		n = BT_PAGE;
	if (!strcmp(argv[1], "memcpy")) {
		src = source(n);
		dst = region(n, 1);
		t0 = now();
		memcpy(dst, src, n);
		t1 = now();
		printf("memcpy_s=%.6f\n", t1 - t0);
	} else if (!strcmp(argv[1], "write") && argc == 4) {
		src = source(n);
		snprintf(warm_file, sizeof(warm_file), "%s.warm", argv[3]);
		warm(warm_file, src, n, n);
		t0 = now();
		fd = write_file(argv[3], src, n, n);
		t1 = now();
		if (fsync(fd) < 0)
			bt_die("fsync %s", argv[3]);
		t2 = now();
		close(fd);
		unlink(argv[3]);
		printf("write_s=%.6f fsync_s=%.6f\n", t1 - t0, t2 - t1);
	} else if (!strcmp(argv[1], "fill")) {
		src = source(n < CHUNK ? n : CHUNK);
		dst = region(n, 0);
		t0 = now();
		for (size_t o = 0; o < n; o += CHUNK)
			memcpy(dst + o, src, n - o < CHUNK ? n - o : CHUNK);
		t1 = now();
		printf("fill_s=%.6f\n", t1 - t0);
	} else if (!strcmp(argv[1], "warm") && argc == 4) {
		src = source(n < CHUNK ? n : CHUNK);
		t0 = now();
		warm(argv[3], src, n < CHUNK ? n : CHUNK, n);
		printf("warm_s=%.6f\n", now() - t0);
	} else {
		bt_die("usage: limits memcpy|write|fill|warm BYTES [FILE]\n");
	}
	return 0;
}
