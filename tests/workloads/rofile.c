/*
 * rofile: a file opened read-only and another one only mapped, for the test
 * of files that change between dump and restore (t-file-changed).
 *
 *   rofile READY RESULT DIR
 *
 *   fd 9  DIR/wl-ro.PID, O_RDONLY, 5 bytes read
 *   a shared read-only mapping of the first page of DIR/wl-ro-map.PID
 *
 * After restore it checks that fd 9 is that file at offset 5 and reads what
 * the file holds now, and that the mapping shows what the mapped file
 * holds now (the test may have changed either, then restored with
 * --allow-file-changes).
 */
#include "wl.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

static char path_ro[1200], path_map[1200];
static char *map;

/* What path holds now, up to len bytes from off. */
static ssize_t now(const char *path, char *buf, size_t len, off_t off)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : pread(fd, buf, len, off);

	if (fd >= 0)
		close(fd);
	return n;
}

int main(int argc, char **argv)
{
	char a[4096], b[4096];
	struct stat st1, st2;
	ssize_t n, m;
	int fd;

	wl_init(argc, argv);
	if (argc < 4) {
		fprintf(stderr, "usage: rofile READY RESULT DIR\n");
		return 2;
	}
	snprintf(path_ro, sizeof(path_ro), "%s/wl-ro.%d", argv[3], (int)getpid());
	snprintf(path_map, sizeof(path_map), "%s/wl-ro-map.%d", argv[3], (int)getpid());
	fd = open(path_ro, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "0123456789", 10) != 10 || close(fd) < 0)
		wl_fail("setup: %s", strerror(errno));
	fd = open(path_map, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, 4096) < 0 || pwrite(fd, "mapped", 6, 0) != 6)
		wl_fail("setup: %s", strerror(errno));
	map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (fd >= 0)
		close(fd);
	fd = open(path_ro, O_RDONLY);
	if (fd < 0 || dup2(fd, 9) != 9 || close(fd) < 0 || read(9, a, 5) != 5 || map == MAP_FAILED)
		wl_fail("setup: %s", strerror(errno));
	wl_ready();
	wl_wait();

	if (lseek(9, 0, SEEK_CUR) != 5)
		wl_fail("fd 9 at offset %ld, want 5", (long)lseek(9, 0, SEEK_CUR));
	if (fstat(9, &st1) < 0 || stat(path_ro, &st2) < 0 || st1.st_ino != st2.st_ino)
		wl_fail("fd 9 is not %s", path_ro);
	n = read(9, a, sizeof(a));
	m = now(path_ro, b, sizeof(b), 5);
	if (n < 0 || n != m || memcmp(a, b, (size_t)n))
		wl_fail("fd 9 reads %zd bytes \"%.*s\", the file holds \"%.*s\"", n, n > 0 ? (int)n : 0, a,
			m > 0 ? (int)m : 0, b);
	m = now(path_map, b, sizeof(b), 0);
	if (m != 4096 || memcmp(map, b, 4096))
		wl_fail("the mapping does not show what %s holds (\"%.8s\", file \"%.8s\")", path_map, map, b);
	return wl_finish();
}
