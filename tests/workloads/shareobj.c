/*
 * shareobj: objects two processes share after fork: one open file
 * description (one offset), and memory mapped from /dev/zero.
 *
 *   shareobj READY RESULT
 *
 * Before the checkpoint, P opens a 64 KiB patterned file and reads 100
 * bytes, then forks C, which reads 1000 more through the same description:
 * its offset is 1100 in both. P maps /dev/zero MAP_SHARED (4 pages: page 0
 * and 3 written by P, page 1 by C after the fork, page 2 left zero) and
 * MAP_PRIVATE (1 page, written by P before the fork and changed by C after,
 * which P must not see), and keeps the /dev/zero fd open.
 * After restore (SIGUSR1 to P), P and C take turns over a pipe pair:
 *   - offset: C checks 1100, reads 10 bytes (the right ones); P sees 1110
 *     and reads the next 10; C sees 1120; P seeks to 5000, C sees 5000;
 *   - shared memory: both see every page as it was; C writes page 2, P
 *     sees it; P writes page 3, C sees it;
 *   - private /dev/zero memory: each sees its own contents; P's write is
 *     not seen by C;
 *   - the /dev/zero fd still reads zeros.
 */
#include "wl.h"
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PG 4096
#define FILE_SIZE 65536
#define VERDICT 512

static int fd, zero_fd, to_c[2], to_p[2];
static unsigned char *shm, *priv;

static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 7 + (i >> 9));
}

static void say(int w, char c)
{
	if (write(w, &c, 1) != 1)
		_exit(5);
}

static char hear(int r)
{
	char c = 0;

	if (read(r, &c, 1) != 1)
		wl_fail("no word from the other process");
	return c;
}

static bool filled(const unsigned char *p, unsigned char v)
{
	for (size_t i = 0; i < PG; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void check_read(const char *who, off_t at, size_t n)
{
	unsigned char buf[64];
	ssize_t got;

	WL_CHECK(lseek(fd, 0, SEEK_CUR) == at, "%s: offset %lld, not %lld", who, (long long)lseek(fd, 0, SEEK_CUR),
		 (long long)at);
	got = read(fd, buf, n);
	WL_CHECK(got == (ssize_t)n, "%s: read %zd bytes at %lld", who, got, (long long)at);
	for (ssize_t i = 0; i < got; i++)
		if (buf[i] != pat((size_t)at + (size_t)i)) {
			wl_fail("%s: byte %lld differs", who, (long long)at + i);
			break;
		}
}

static void check_zero_fd(const char *who)
{
	unsigned char buf[16] = { 1 };

	WL_CHECK(read(zero_fd, buf, sizeof(buf)) == sizeof(buf) && buf[0] == 0 && buf[15] == 0,
		 "%s: /dev/zero does not read zeros", who);
}

/* C's side after restore; its verdict goes to P as 'y' or 'n' + the reason. */
static void child_checks(void)
{
	char why[VERDICT];

	if (hear(to_c[0]) != 'g')
		_exit(1);
	check_read("C", 1100, 10);
	say(to_p[1], 'r');
	hear(to_c[0]);
	WL_CHECK(lseek(fd, 0, SEEK_CUR) == 1120, "C: offset %lld after P read, not 1120",
		 (long long)lseek(fd, 0, SEEK_CUR));
	say(to_p[1], 'r');
	hear(to_c[0]);
	WL_CHECK(lseek(fd, 0, SEEK_CUR) == 5000, "C: offset %lld after P's seek, not 5000",
		 (long long)lseek(fd, 0, SEEK_CUR));
	WL_CHECK(filled(shm, 0xa0) && filled(shm + PG, 0xc1) && filled(shm + 2 * PG, 0) && filled(shm + 3 * PG, 0xa3),
		 "C: shared /dev/zero memory differs after restore");
	WL_CHECK(filled(priv, 0xc7), "C: private /dev/zero memory differs after restore");
	check_zero_fd("C");
	memset(shm + 2 * PG, 0xc2, PG);
	say(to_p[1], 'w');
	hear(to_c[0]);
	WL_CHECK(filled(shm + 3 * PG, 0xa4), "C: P's write to shared page 3 is not seen");
	WL_CHECK(filled(priv, 0xc7), "C: P's write to its private /dev/zero page is seen");
	/* One write, below PIPE_BUF: "" for PASS, else the first failure. */
	memset(why, 0, VERDICT);
	memcpy(why, wl_why, strnlen(wl_why, VERDICT - 1));
	if (write(to_p[1], why, VERDICT) != VERDICT)
		_exit(5);
	_exit(0);
}

static void parent_checks(pid_t c)
{
	char why[VERDICT + 1] = "";
	int st = -1;

	say(to_c[1], 'g');
	hear(to_p[0]);
	check_read("P", 1110, 10);
	say(to_c[1], 'r');
	hear(to_p[0]);
	WL_CHECK(lseek(fd, 5000, SEEK_SET) == 5000, "P: lseek: %s", strerror(errno));
	say(to_c[1], 's');
	hear(to_p[0]);
	WL_CHECK(filled(shm, 0xa0) && filled(shm + PG, 0xc1) && filled(shm + 3 * PG, 0xa3),
		 "P: shared /dev/zero memory differs after restore");
	WL_CHECK(filled(shm + 2 * PG, 0xc2), "P: C's write to shared page 2 is not seen");
	WL_CHECK(filled(priv, 0xb0), "P: private /dev/zero memory differs (or C's write shows)");
	check_zero_fd("P");
	memset(shm + 3 * PG, 0xa4, PG);
	memset(priv, 0xb1, PG);
	say(to_c[1], 'w');
	if (read(to_p[0], why, VERDICT) != VERDICT)
		snprintf(why, sizeof(why), "no verdict");
	WL_CHECK(!why[0], "%s", why);
	WL_CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "C ended badly (0x%x)", st);
}

int main(int argc, char **argv)
{
	char res[4200], path[4300];
	unsigned char buf[FILE_SIZE];
	pid_t c;

	wl_init(argc, argv);
	snprintf(res, sizeof(res), "%s", argv[2]);
	snprintf(path, sizeof(path), "%s/shareobj.data", dirname(res));
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pat(i);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	zero_fd = open("/dev/zero", O_RDWR);
	if (fd < 0 || zero_fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf) || lseek(fd, 0, SEEK_SET) ||
	    read(fd, buf, 100) != 100 || pipe(to_c) || pipe(to_p))
		return 3;
	shm = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, zero_fd, 0);
	priv = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, zero_fd, 0);
	if (shm == MAP_FAILED || priv == MAP_FAILED)
		return 3;
	memset(shm, 0xa0, PG);
	memset(shm + 3 * PG, 0xa3, PG);
	memset(priv, 0xb0, PG);
	c = fork();
	if (c == 0) {
		if (read(fd, buf, 1000) != 1000)
			_exit(3);
		memset(shm + PG, 0xc1, PG);
		memset(priv, 0xc7, PG);
		say(to_p[1], 'k');
		child_checks(); /* waits in read() for P's go after the restore */
	}
	if (c < 0 || hear(to_p[0]) != 'k' || lseek(fd, 0, SEEK_CUR) != 1100 || !filled(shm + PG, 0xc1))
		return 3;
	wl_ready();
	wl_wait();
	parent_checks(c);
	return wl_finish();
}
