/*
 * pipes: anonymous pipes with data in flight across a checkpoint.
 *
 *   pipes READY RESULT
 *
 * The root P and its child C share:
 *   A  C reads, P writes: 3000 patterned bytes written, none read yet;
 *   B  both ends in P, capacity raised to 256 KiB, 100 KiB in it;
 *   D  C's reader thread is blocked in read() on it (empty); C also holds
 *      the write end;
 *   E  both ends in P, read end O_NONBLOCK, empty;
 *   W  P holds only the write end (the read end is closed everywhere).
 * After restore (SIGUSR1 to P): P checks B's bytes and capacity, E's
 * EAGAIN, W's EPIPE, and signals C; C checks that its reader thread is
 * still in read(), writes "wake" to D, checks the reader got exactly that,
 * and A's 3000 bytes in order; C reports through its exit status and a file.
 */
#include "wl.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int A[2], B[2], D[2], E[2], W[2];
static char got_d[16];
static volatile pid_t reader_tid;

static unsigned char pat(size_t i, int seed)
{
	return (unsigned char)(i * 131 + seed * 17 + (i >> 8));
}

static void *reader(void *arg)
{
	(void)arg;
	reader_tid = wl_gettid();
	ssize_t n = read(D[0], got_d, sizeof(got_d) - 1);
	if (n < 0)
		snprintf(got_d, sizeof(got_d), "err%d", errno);
	return NULL;
}

static int check_bytes(int fd, size_t len, int seed, const char *what)
{
	unsigned char buf[4096];
	size_t off = 0;

	while (off < len) {
		ssize_t n = read(fd, buf, len - off < sizeof(buf) ? len - off : sizeof(buf));
		if (n <= 0) {
			wl_fail("%s: read %zd at %zu of %zu: %s", what, n, off, len, strerror(errno));
			return -1;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pat(off + (size_t)i, seed)) {
				wl_fail("%s: byte %zu differs", what, off + (size_t)i);
				return -1;
			}
		off += (size_t)n;
	}
	return 0;
}

static int fill(int fd, size_t len, int seed)
{
	unsigned char buf[4096];

	for (size_t off = 0; off < len;) {
		size_t k = len - off < sizeof(buf) ? len - off : sizeof(buf);
		for (size_t i = 0; i < k; i++)
			buf[i] = pat(off + i, seed);
		if (write(fd, buf, k) != (ssize_t)k)
			return -1;
		off += k;
	}
	return 0;
}

static void child(const char *result)
{
	char path[4096];
	pthread_t t;

	close(A[1]);
	close(B[0]), close(B[1]), close(E[0]), close(E[1]), close(W[1]);
	pthread_create(&t, NULL, reader, NULL);
	while (!reader_tid)
		wl_msleep(1);
	wl_wait();
	static const long rd[] = { SYS_read };
	if (wl_wait_in_syscall(reader_tid, rd, 1, 2000) != SYS_read)
		wl_fail("C: the reader thread is not in read() any more");
	WL_CHECK(write(D[1], "wake", 4) == 4, "C: pipe D: write: %s", strerror(errno));
	pthread_join(t, NULL);
	WL_CHECK(!strcmp(got_d, "wake"), "C: reader got '%s' from pipe D", got_d);
	check_bytes(A[0], 3000, 1, "pipe A");
	snprintf(path, sizeof(path), "%s.child", result);
	wl_result_path = path;
	_exit(wl_finish());
}

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if (pipe(A) || pipe(B) || pipe(D) || pipe(E) || pipe(W))
		return 2;
	fcntl(E[0], F_SETFL, O_NONBLOCK);
	close(W[0]);
	if (fcntl(B[1], F_SETPIPE_SZ, 256 * 1024) < 256 * 1024 || fill(B[1], 100 * 1024, 2) < 0)
		return 2;
	pid_t c = fork();
	if (c == 0)
		child(argv[2]);
	close(A[0]);
	close(D[0]);
	close(D[1]);
	if (fill(A[1], 3000, 1) < 0)
		return 2;
	wl_msleep(100); /* C's reader gets into read() */
	wl_ready();
	wl_wait();

	WL_CHECK(fcntl(B[0], F_GETPIPE_SZ) == 256 * 1024, "pipe B capacity %d", fcntl(B[0], F_GETPIPE_SZ));
	check_bytes(B[0], 100 * 1024, 2, "pipe B");
	char x;
	WL_CHECK(read(E[0], &x, 1) == -1 && errno == EAGAIN, "pipe E: non-blocking empty read did not give EAGAIN");
	WL_CHECK(write(W[1], "x", 1) == -1 && errno == EPIPE, "pipe W: write with no reader did not give EPIPE");
	kill(c, SIGUSR1);
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st)) {
		char path[4096], line[512] = "no report";
		snprintf(path, sizeof(path), "%s.child", argv[2]);
		wl_read_file(path, line, sizeof(line));
		wl_fail("child: %s", line);
	}
	return wl_finish();
}
