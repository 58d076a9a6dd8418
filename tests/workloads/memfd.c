/*
 * memfd: memfds in every state across a checkpoint.
 *
 *   memfd READY RESULT
 *
 *   A  fd 10 (offset 12345), fd 11 (its dup), fd 12 (another description,
 *      read-only, offset 777): 5 MiB of pattern, a 3 MiB hole, 1 MiB more;
 *      seals F_SEAL_SHRINK|F_SEAL_GROW
 *   B  fd 13, 2 pages, sealed F_SEAL_WRITE|F_SEAL_SEAL, then mapped shared
 *      read-only
 *   C  fd 14 (made without MFD_ALLOW_SEALING: seals F_SEAL_SEAL), mapped
 *      shared read-write; the child shares fd and mapping
 *   D  fd 15, 4 pages mapped private: pages 0 and 2 written (copied on
 *      write), page 1 read, page 3 never touched
 *   E  no fd: only a shared mapping, 2 pages written through it
 *   F  fd 16, MFD_NOEXEC_SEAL: mode 0666 and F_SEAL_EXEC (if the kernel has it)
 *
 * After restore it checks names (/proc/self/fd links and maps), seals,
 * sizes, modes, content and holes, offsets and which descriptions are
 * shared, and that a mapping is of the memfd itself: writes through a
 * descriptor show in shared mappings and in pages of a private mapping not
 * yet copied, and not in copied pages; the child sees the parent's writes
 * in its own mapping of C.
 */
#include "wl.h"
#include "pattern.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

#define MIB (1024 * 1024)
#define PG 4096

static unsigned char *mb, *mc, *md, *me;
static struct stat st_before[17];
static char link_before[17][256];
static int seals_before[17];
static pid_t child;
static char child_result[4200];

static void check_link(int fd, const char *want)
{
	char p[64], l[256] = "";

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	if (readlink(p, l, sizeof(l) - 1) < 0 || strcmp(l, want))
		wl_fail("fd %d is \"%s\", want \"%s\"", fd, l, want);
}

static void check_seals(int fd, int want)
{
	int s = fcntl(fd, F_GET_SEALS);

	if (s != want)
		wl_fail("fd %d: seals 0x%x, want 0x%x", fd, s, want);
}

static void check_stat(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || st.st_size != st_before[fd].st_size || st.st_mode != st_before[fd].st_mode ||
	    st.st_nlink != 0 || st.st_uid != st_before[fd].st_uid)
		wl_fail("fd %d: size %ld mode %o nlink %lu, was %ld %o 0", fd, (long)st.st_size, st.st_mode,
			(unsigned long)st.st_nlink, (long)st_before[fd].st_size, st_before[fd].st_mode);
}

/* The name /proc/self/maps shows for addr. */
static void check_map_name(const void *addr, const char *want)
{
	char line[512], name[256];
	FILE *f = fopen("/proc/self/maps", "re");
	unsigned long s, e;
	int found = 0;

	while (f && fgets(line, sizeof(line), f)) {
		name[0] = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %255[^\n]", &s, &e, name) >= 2 && s == (unsigned long)addr) {
			found = 1;
			if (strcmp(name, want))
				wl_fail("mapping %p is \"%s\", want \"%s\"", addr, name, want);
		}
	}
	if (f)
		fclose(f);
	if (!found)
		wl_fail("no mapping at %p", addr);
}

static int setup(void)
{
	int fd;

	/* A */
	if (wl_place(memfd_create("wl-memfd-a", MFD_ALLOW_SEALING), 10) < 0 || ftruncate(10, 9 * MIB) < 0 ||
	    write_pat(10, 0, 5 * MIB, 1) < 0 || write_pat(10, 8 * MIB, MIB, 1) < 0 ||
	    fcntl(10, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0 || lseek(10, 12345, SEEK_SET) != 12345)
		return -1;
	if (dup2(10, 11) != 11 || fcntl(11, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	if (wl_place(open("/proc/self/fd/10", O_RDONLY), 12) < 0 || lseek(12, 777, SEEK_SET) != 777)
		return -1;
	/* B: sealed first, so a shared read-only mapping may be made. */
	if (wl_place(memfd_create("wl-memfd-b", MFD_ALLOW_SEALING), 13) < 0 || write_pat(13, 0, 2 * PG, 2) < 0 ||
	    fcntl(13, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return -1;
	mb = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, 13, 0);
	/* C */
	if (mb == MAP_FAILED || wl_place(memfd_create("wl-memfd-c", 0), 14) < 0 || ftruncate(14, 3 * PG) < 0)
		return -1;
	mc = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, 14, 0);
	if (mc == MAP_FAILED)
		return -1;
	fill(mc, 3 * PG, 0, 3);
	/* D */
	if (wl_place(memfd_create("wl-memfd-d", 0), 15) < 0 || write_pat(15, 0, 4 * PG, 4) < 0)
		return -1;
	md = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, 15, 0);
	if (md == MAP_FAILED)
		return -1;
	memset(md, 'P', PG);
	memset(md + 2 * PG, 'Q', PG);
	if (md[PG] != pat(PG, 4))
		return -1;
	/* E */
	fd = memfd_create("wl-memfd-e", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 2 * PG) < 0)
		return -1;
	me = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (me == MAP_FAILED)
		return -1;
	fill(me, 2 * PG, 0, 5);
	/* F: older kernels lack MFD_NOEXEC_SEAL; then a plain one. */
	fd = memfd_create("wl-memfd-f", MFD_NOEXEC_SEAL);
	if (fd < 0)
		fd = memfd_create("wl-memfd-f", 0);
	if (wl_place(fd, 16) < 0 || pwrite(16, "noexec", 6, 0) != 6)
		return -1;
	for (int i = 10; i <= 16; i++) {
		char p[64];
		ssize_t n;

		snprintf(p, sizeof(p), "/proc/self/fd/%d", i);
		n = readlink(p, link_before[i], sizeof(link_before[i]) - 1);
		if (n < 0 || fstat(i, &st_before[i]) < 0)
			return -1;
		link_before[i][n] = 0;
		seals_before[i] = fcntl(i, F_GET_SEALS);
	}
	return 0;
}

static void check_a(void)
{
	struct stat s10, s12;
	char c;

	check_link(10, "/memfd:wl-memfd-a (deleted)");
	check_link(12, "/memfd:wl-memfd-a (deleted)");
	check_seals(10, F_SEAL_SHRINK | F_SEAL_GROW);
	check_stat(10);
	check_pat(10, 0, 5 * MIB, 1, "A data");
	check_pat(10, 5 * MIB, 3 * MIB, -1, "A hole");
	check_pat(10, 8 * MIB, MIB, 1, "A tail");
	if (lseek(10, 0, SEEK_CUR) != 12345 || lseek(12, 0, SEEK_CUR) != 777)
		wl_fail("A: offsets %ld and %ld, want 12345 and 777", (long)lseek(10, 0, SEEK_CUR),
			(long)lseek(12, 0, SEEK_CUR));
	/* fd 12's offset is its own: SEEK_DATA there leaves fd 10's alone. */
	if (lseek(12, 5 * MIB, SEEK_DATA) != 8 * MIB)
		wl_fail("A: the hole at 5 MiB is gone (SEEK_DATA gives %ld)", (long)lseek(12, 5 * MIB, SEEK_DATA));
	lseek(12, 777, SEEK_SET);
	if (read(11, &c, 1) != 1 || lseek(10, 0, SEEK_CUR) != 12346 || lseek(12, 0, SEEK_CUR) != 777)
		wl_fail("A: fds 10 and 11 are not one description, or 12 is not another");
	if (fstat(10, &s10) < 0 || fstat(12, &s12) < 0 || s10.st_ino != s12.st_ino || s10.st_dev != s12.st_dev)
		wl_fail("A: fds 10 and 12 are not the same memfd");
	if ((fcntl(12, F_GETFL) & O_ACCMODE) != O_RDONLY || write(12, "x", 1) >= 0)
		wl_fail("A: fd 12 is not read-only");
	if (fcntl(11, F_GETFD) != FD_CLOEXEC || fcntl(10, F_GETFD) != 0)
		wl_fail("A: close-on-exec of fds 10/11 is %d/%d", fcntl(10, F_GETFD), fcntl(11, F_GETFD));
	if (pwrite(10, "new", 3, 100) != 3 || pread(12, &c, 1, 101) != 1 || c != 'e')
		wl_fail("A: a write through fd 10 is not seen through fd 12");
	if (ftruncate(10, 10 * MIB) == 0 || errno != EPERM)
		wl_fail("A: F_SEAL_GROW does not hold");
}

static void check_b(void)
{
	unsigned char want[2 * PG];

	check_link(13, "/memfd:wl-memfd-b (deleted)");
	check_seals(13, F_SEAL_WRITE | F_SEAL_SEAL);
	check_stat(13);
	check_pat(13, 0, 2 * PG, 2, "B");
	fill(want, sizeof(want), 0, 2);
	if (memcmp(mb, want, sizeof(want)))
		wl_fail("B: the shared mapping lost its content");
	check_map_name(mb, "/memfd:wl-memfd-b (deleted)");
	if (pwrite(13, "x", 1, 0) >= 0 || errno != EPERM)
		wl_fail("B: F_SEAL_WRITE does not hold (%s)", strerror(errno));
	if (fcntl(13, F_ADD_SEALS, F_SEAL_SHRINK) == 0)
		wl_fail("B: F_SEAL_SEAL does not hold");
}

static void check_c(void)
{
	unsigned char want[3 * PG];
	char c;

	check_link(14, "/memfd:wl-memfd-c (deleted)");
	check_seals(14, F_SEAL_SEAL);
	check_stat(14);
	fill(want, sizeof(want), 0, 3);
	if (memcmp(mc, want, sizeof(want)))
		wl_fail("C: the shared mapping lost its content");
	check_pat(14, 0, 3 * PG, 3, "C through the fd");
	if (pwrite(14, "X", 1, 100) != 1 || mc[100] != 'X')
		wl_fail("C: a write through the fd is not seen in the mapping");
	mc[200] = 'Y';
	if (pread(14, &c, 1, 200) != 1 || c != 'Y')
		wl_fail("C: a write to the mapping is not seen through the fd");
	mc[2 * PG] = 'Z'; /* for the child */
}

static void check_d(void)
{
	unsigned char want[PG];

	check_link(15, "/memfd:wl-memfd-d (deleted)");
	check_stat(15);
	memset(want, 'P', PG);
	if (memcmp(md, want, PG))
		wl_fail("D: private page 0 lost what was written to it");
	memset(want, 'Q', PG);
	if (memcmp(md + 2 * PG, want, PG))
		wl_fail("D: private page 2 lost what was written to it");
	fill(want, PG, PG, 4);
	if (memcmp(md + PG, want, PG))
		wl_fail("D: page 1 does not show the file");
	fill(want, PG, 3 * PG, 4);
	if (memcmp(md + 3 * PG, want, PG))
		wl_fail("D: page 3 does not show the file");
	check_pat(15, 0, 4 * PG, 4, "D through the fd");
	/* Pages not copied follow the file; copied ones do not. */
	if (pwrite(15, "1111", 4, PG) != 4 || pwrite(15, "2222", 4, 2 * PG) != 4 || pwrite(15, "3333", 4, 3 * PG) != 4)
		wl_fail("D: write: %s", strerror(errno));
	if (memcmp(md + PG, "1111", 4) || memcmp(md + 3 * PG, "3333", 4))
		wl_fail("D: pages not copied on write do not follow the memfd");
	if (md[2 * PG] != 'Q')
		wl_fail("D: a page copied on write follows the memfd");
	check_map_name(md, "/memfd:wl-memfd-d (deleted)");
}

static void check_e(void)
{
	unsigned char want[2 * PG];
	char p[96];
	int fd;

	fill(want, sizeof(want), 0, 5);
	if (memcmp(me, want, sizeof(want)))
		wl_fail("E: the mapping lost its content");
	check_map_name(me, "/memfd:wl-memfd-e (deleted)");
	snprintf(p, sizeof(p), "/proc/self/map_files/%lx-%lx", (unsigned long)me, (unsigned long)me + 2 * PG);
	fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		wl_fail("E: %s: %s", p, strerror(errno));
		return;
	}
	if (pwrite(fd, "E!", 2, PG) != 2 || memcmp(me + PG, "E!", 2))
		wl_fail("E: the mapping is not of a memfd that a write reaches");
	close(fd);
}

static void check_f(void)
{
	char buf[8] = "";

	check_link(16, link_before[16]);
	check_stat(16);
	check_seals(16, seals_before[16]);
	if (pread(16, buf, 6, 0) != 6 || memcmp(buf, "noexec", 6))
		wl_fail("F: content");
}

static void child_main(void)
{
	wl_ready_path = NULL;
	wl_usr1 = 0;
	wl_write_file(child_result, "ready");
	while (!wl_usr1)
		pause();
	/* The parent wrote these through its fd and its own mapping of C. */
	if (mc[100] != 'X' || mc[200] != 'Y' || mc[2 * PG] != 'Z')
		wl_fail("child: its mapping of C does not see the parent's writes (%c%c%c)", mc[100], mc[200],
			mc[2 * PG]);
	check_link(14, "/memfd:wl-memfd-c (deleted)");
	wl_result_path = child_result;
	_exit(wl_finish());
}

int main(int argc, char **argv)
{
	char line[2100] = "";
	int st = 0;

	wl_init(argc, argv);
	snprintf(child_result, sizeof(child_result), "%s.child", wl_result_path);
	unlink(child_result);
	if (setup() < 0) {
		wl_fail("setup: %s", strerror(errno));
		wl_ready();
		return wl_finish();
	}
	child = fork();
	if (child == 0)
		child_main();
	for (int i = 0; i < 2000 && wl_read_file(child_result, line, sizeof(line)) < 0; i++)
		wl_msleep(10);
	unlink(child_result);
	wl_ready();
	wl_wait();

	check_a();
	check_b();
	check_c();
	check_d();
	check_e();
	check_f();
	kill(child, SIGUSR1);
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st))
		wl_fail("child ended with status 0x%x", st);
	else if (wl_read_file(child_result, line, sizeof(line)) < 0 || strcmp(line, "PASS"))
		wl_fail("child: %s", line);
	return wl_finish();
}
