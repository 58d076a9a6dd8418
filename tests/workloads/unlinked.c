/*
 * unlinked: regular files unlinked while open or mapped, across a checkpoint.
 *
 *   unlinked READY RESULT [DIR [exe-deleted]]
 *
 * In DIR (default: the directory of RESULT):
 *   U  wl-unl-a.PID, owner 1234:2345, mode 0640: 3 MiB of pattern, a hole to
 *      6 MiB, 1 MiB + 100 bytes more. fd 10 O_RDWR (offset 4321), fd 11 its
 *      dup, fd 12 O_RDONLY (offset 99), fd 13 O_WRONLY|O_APPEND; mapped
 *      private (4 pages: page 1 written, pages 0 and 2 read, page 3 never
 *      touched) and shared (2 pages at 6 MiB, written through the mapping).
 *      The child shares fd 10.
 *   V  wl-unl-map.PID: no fd, only a shared mapping of 2 pages
 *   W  wl-unl-priv.PID: no fd, only a private mapping, page 0 written
 * With "exe-deleted", the workload's own executable has been unlinked too
 * (the test runs a copy and removes it): /proc/self/exe must still read it.
 *
 * After restore it checks links ("DIR/NAME (deleted)"), link count 0, size,
 * mode, owner, modification time, content and the hole, offsets and shared
 * descriptions, and that mappings are of the restored file: writes through
 * a descriptor show in the shared mapping and in private pages not yet
 * copied; the child's writes through its fd reach the parent's file.
 */
#include "wl.h"
#include "pattern.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define MIB (1024 * 1024)
#define PG 4096
#define U_SIZE (7 * MIB + 100)

static char dir[1024], path_u[1200], path_v[1200], path_w[1200], link_u[1300];
static unsigned char *mp, *ms, *mv, *mw;
static struct stat st_u;
static pid_t child;
static char child_result[4200];
static int exe_deleted;

static void check_link(int fd, const char *want)
{
	char p[64], l[1300] = "";

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	if (readlink(p, l, sizeof(l) - 1) < 0 || strcmp(l, want))
		wl_fail("fd %d is \"%s\", want \"%s\"", fd, l, want);
}

static void check_map_name(const void *addr, const char *path)
{
	char line[2048], name[1400], want[1400];
	FILE *f = fopen("/proc/self/maps", "re");
	unsigned long s, e;
	int found = 0;

	snprintf(want, sizeof(want), "%s (deleted)", path);
	while (f && fgets(line, sizeof(line), f)) {
		name[0] = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %1399[^\n]", &s, &e, name) >= 2 && s == (unsigned long)addr) {
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

/* A file made, mapped (len bytes, written through the mapping when shared), unlinked, its fd closed. */
static unsigned char *mapped_only(const char *path, int shared, int seed)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	unsigned char *m;

	if (fd < 0 || write_pat(fd, 0, 2 * PG, seed) < 0)
		return MAP_FAILED;
	m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED || unlink(path) < 0)
		return MAP_FAILED;
	if (shared)
		memcpy(m + 10, "shared!", 7);
	else
		memset(m, 'W', PG);
	return m;
}

static int setup(void)
{
	snprintf(path_u, sizeof(path_u), "%s/wl-unl-a.%d", dir, (int)getpid());
	snprintf(path_v, sizeof(path_v), "%s/wl-unl-map.%d", dir, (int)getpid());
	snprintf(path_w, sizeof(path_w), "%s/wl-unl-priv.%d", dir, (int)getpid());
	snprintf(link_u, sizeof(link_u), "%s (deleted)", path_u);
	if (wl_place(open(path_u, O_RDWR | O_CREAT | O_TRUNC, 0600), 10) < 0 || write_pat(10, 0, 3 * MIB, 1) < 0 ||
	    write_pat(10, 6 * MIB, U_SIZE - 6 * MIB, 1) < 0 || fchown(10, 1234, 2345) < 0 || fchmod(10, 0640) < 0 ||
	    lseek(10, 4321, SEEK_SET) != 4321)
		return -1;
	if (dup2(10, 11) != 11 || wl_place(open(path_u, O_RDONLY), 12) < 0 || lseek(12, 99, SEEK_SET) != 99 ||
	    wl_place(open(path_u, O_WRONLY | O_APPEND), 13) < 0)
		return -1;
	mp = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, 10, 0);
	ms = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, 10, 6 * MIB);
	if (mp == MAP_FAILED || ms == MAP_FAILED || unlink(path_u) < 0)
		return -1;
	memset(mp + PG, 'P', PG);
	if (mp[0] != pat(0, 1) || mp[2 * PG] != pat(2 * PG, 1))
		return -1;
	memcpy(ms + 5, "via map", 7);
	mv = mapped_only(path_v, 1, 2);
	mw = mapped_only(path_w, 0, 3);
	if (mv == MAP_FAILED || mw == MAP_FAILED)
		return -1;
	return fstat(10, &st_u);
}

static void check_u(void)
{
	struct stat st, st12;
	char c;

	check_link(10, link_u);
	check_link(12, link_u);
	check_link(13, link_u);
	if (fstat(10, &st) < 0 || st.st_nlink != 0 || st.st_size != U_SIZE || st.st_mode != st_u.st_mode ||
	    st.st_uid != 1234 || st.st_gid != 2345)
		wl_fail("U: nlink %lu size %ld mode %o owner %u:%u, want 0 %d %o 1234:2345", (unsigned long)st.st_nlink,
			(long)st.st_size, st.st_mode, st.st_uid, st.st_gid, U_SIZE, st_u.st_mode);
	if (st.st_mtim.tv_sec != st_u.st_mtim.tv_sec || st.st_mtim.tv_nsec != st_u.st_mtim.tv_nsec)
		wl_fail("U: modification time %ld.%09ld, was %ld.%09ld", (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			(long)st_u.st_mtim.tv_sec, st_u.st_mtim.tv_nsec);
	if (fstat(12, &st12) < 0 || st12.st_ino != st.st_ino || st12.st_dev != st.st_dev)
		wl_fail("U: fds 10 and 12 are not one file");
	if (lseek(10, 0, SEEK_CUR) != 4321 || lseek(12, 0, SEEK_CUR) != 99)
		wl_fail("U: offsets %ld and %ld, want 4321 and 99", (long)lseek(10, 0, SEEK_CUR),
			(long)lseek(12, 0, SEEK_CUR));
	if (read(11, &c, 1) != 1 || lseek(10, 0, SEEK_CUR) != 4322 || lseek(12, 0, SEEK_CUR) != 99)
		wl_fail("U: fds 10 and 11 are not one description, or 12 is not another");
	check_pat(12, 0, 5, 1, "U head");
	if (pread(12, &c, 1, 6 * MIB + 5) != 1 || c != 'v')
		wl_fail("U: what was written through the shared mapping is not in the file");
	check_pat(12, 6 * MIB + 12, U_SIZE - 6 * MIB - 12, 1, "U tail");
	check_pat(12, 5, 3 * MIB - 5, 1, "U data");
	check_pat(12, 3 * MIB, 3 * MIB, -1, "U hole");
	/* fd 12's own offset: SEEK_DATA there moves no one else's. */
	if (lseek(12, 3 * MIB, SEEK_DATA) != 6 * MIB)
		wl_fail("U: the hole at 3 MiB is gone (SEEK_DATA gives %ld)", (long)lseek(12, 3 * MIB, SEEK_DATA));
	if ((fcntl(12, F_GETFL) & O_ACCMODE) != O_RDONLY || write(12, "x", 1) >= 0)
		wl_fail("U: fd 12 is not read-only");
	if (!(fcntl(13, F_GETFL) & O_APPEND) || write(13, "END", 3) != 3 || fstat(10, &st) < 0 ||
	    st.st_size != U_SIZE + 3 || pread(10, &c, 1, U_SIZE) != 1 || c != 'E')
		wl_fail("U: O_APPEND write through fd 13 did not land at the end");
}

static void check_maps(void)
{
	unsigned char want[PG];
	char c;

	/* Private: page 1 was copied on write; 0, 2, 3 show the file and follow it. */
	memset(want, 'P', PG);
	if (memcmp(mp + PG, want, PG))
		wl_fail("private mapping: page 1 lost what was written to it");
	for (int pg = 0; pg < 4; pg += pg == 0 ? 2 : 1) {
		fill(want, PG, (size_t)pg * PG, 1);
		if (memcmp(mp + pg * PG, want, PG))
			wl_fail("private mapping: page %d does not show the file", pg);
	}
	if (pwrite(10, "0000", 4, 0) != 4 || pwrite(10, "1111", 4, PG) != 4 || pwrite(10, "3333", 4, 3 * PG) != 4)
		wl_fail("write fd 10: %s", strerror(errno));
	if (memcmp(mp, "0000", 4) || memcmp(mp + 3 * PG, "3333", 4))
		wl_fail("private mapping: pages not copied do not follow the file");
	if (mp[PG] != 'P')
		wl_fail("private mapping: a copied page follows the file");
	check_map_name(mp, path_u);
	/* Shared: both ways. */
	if (memcmp(ms + 5, "via map", 7))
		wl_fail("shared mapping lost its content");
	if (pwrite(10, "FD", 2, 6 * MIB + 100) != 2 || memcmp(ms + 100, "FD", 2))
		wl_fail("shared mapping: a write through fd 10 is not seen in it");
	ms[200] = 'M';
	if (pread(12, &c, 1, 6 * MIB + 200) != 1 || c != 'M')
		wl_fail("shared mapping: a write to it is not seen through fd 12");
	check_map_name(ms, path_u);
	/* Only mapped. */
	fill(want, PG, 0, 2);
	memcpy(want + 10, "shared!", 7);
	if (memcmp(mv, want, PG))
		wl_fail("V: shared mapping lost its content");
	check_map_name(mv, path_v);
	memset(want, 'W', PG);
	if (memcmp(mw, want, PG))
		wl_fail("W: private page 0 lost what was written to it");
	fill(want, PG, PG, 3);
	if (memcmp(mw + PG, want, PG))
		wl_fail("W: private page 1 does not show the file");
	check_map_name(mw, path_w);
}

static void check_exe(void)
{
	char l[1400] = "", magic[4] = "";
	int fd;

	if (readlink("/proc/self/exe", l, sizeof(l) - 1) < 0 || !strstr(l, " (deleted)"))
		wl_fail("exe is \"%s\", want an unlinked file", l);
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, magic, 4, 0) != 4 || memcmp(magic, "\177ELF", 4))
		wl_fail("exe cannot be read back");
	if (fd >= 0)
		close(fd);
}

static void child_main(void)
{
	struct stat a, b;

	wl_write_file(child_result, "ready");
	while (!wl_usr1)
		pause();
	check_link(10, link_u);
	if (fstat(10, &a) < 0 || fstat(12, &b) < 0 || a.st_ino != b.st_ino)
		wl_fail("child: fds 10 and 12 are not one file");
	if (pwrite(10, "child", 5, 2 * MIB) != 5)
		wl_fail("child: write: %s", strerror(errno));
	wl_result_path = child_result;
	_exit(wl_finish());
}

int main(int argc, char **argv)
{
	char line[2100] = "", c[8] = "";
	int st = 0;

	wl_init(argc, argv);
	if (argc > 3) {
		snprintf(dir, sizeof(dir), "%s", argv[3]);
	} else {
		snprintf(dir, sizeof(dir), "%s", wl_result_path);
		*strrchr(dir, '/') = 0;
	}
	exe_deleted = argc > 4 && !strcmp(argv[4], "exe-deleted");
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

	check_u();
	check_maps();
	if (exe_deleted)
		check_exe();
	kill(child, SIGUSR1);
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st))
		wl_fail("child ended with status 0x%x", st);
	else if (wl_read_file(child_result, line, sizeof(line)) < 0 || strcmp(line, "PASS"))
		wl_fail("child: %s", line);
	if (pread(12, c, 5, 2 * MIB) != 5 || memcmp(c, "child", 5))
		wl_fail("the child's write through its fd 10 did not reach the parent's file");
	return wl_finish();
}
