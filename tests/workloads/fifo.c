/*
 * fifo: a named pipe held in every mode, with bytes in it.
 *
 *   fifo READY RESULT
 *
 * The FIFO is made beside RESULT. The root holds a read end (opened
 * non-blocking, then made blocking) and a read-write end; its child holds a
 * write end and has written "hello" into it; the capacity is raised to
 * 128 KiB. After restore (SIGUSR1): the capacity and the read end's flags
 * are the same, the root reads "hello", the child writes "world" (on its
 * own SIGUSR1) and the root reads it, and a byte written through the
 * read-write end comes out of the read end.
 */
#include "wl.h"
#include <fcntl.h>
#include <libgen.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char path[4096];

static int read_exact(int fd, const char *want)
{
	char buf[64] = "";
	size_t n = strlen(want), got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return memcmp(buf, want, n) ? -1 : 0;
}

int main(int argc, char **argv)
{
	char dir[4096];
	int rd, rw, st;

	wl_init(argc, argv);
	snprintf(dir, sizeof(dir), "%s", argv[2]);
	snprintf(path, sizeof(path), "%s/wl-fifo.%d", dirname(dir), (int)getpid());
	unlink(path);
	if (mkfifo(path, 0600) < 0)
		return 2;
	rd = open(path, O_RDONLY | O_NONBLOCK);
	if (rd < 0 || fcntl(rd, F_SETFL, 0) < 0 || fcntl(rd, F_SETPIPE_SZ, 128 * 1024) < 128 * 1024)
		return 2;
	rw = open(path, O_RDWR);
	pid_t c = fork();
	if (c == 0) {
		int w = open(path, O_WRONLY);
		if (w < 0 || write(w, "hello", 5) != 5)
			_exit(2);
		wl_wait();
		_exit(write(w, "world", 5) == 5 ? 0 : 3);
	}
	while (1) { /* the child has written */
		int n = 0;
		if (ioctl(rd, FIONREAD, &n) == 0 && n >= 5)
			break;
		wl_msleep(5);
	}
	wl_ready();
	wl_wait();

	WL_CHECK(fcntl(rd, F_GETPIPE_SZ) == 128 * 1024, "capacity %d", fcntl(rd, F_GETPIPE_SZ));
	WL_CHECK((fcntl(rd, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == O_RDONLY, "read end flags 0%o", fcntl(rd, F_GETFL));
	WL_CHECK((fcntl(rw, F_GETFL) & O_ACCMODE) == O_RDWR, "read-write end flags 0%o", fcntl(rw, F_GETFL));
	WL_CHECK(read_exact(rd, "hello") == 0, "the bytes in the fifo were lost");
	kill(c, SIGUSR1);
	WL_CHECK(read_exact(rd, "world") == 0, "the child's write after restore did not come through");
	WL_CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
	WL_CHECK(write(rw, "!", 1) == 1 && read_exact(rd, "!") == 0, "the read-write end does not reach the read end");
	unlink(path);
	return wl_finish();
}
