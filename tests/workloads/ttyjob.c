/*
 * ttyjob: a program whose standard descriptors are a terminal, as a job
 * started from an interactive shell (here: under script(1)).
 *
 *   ttyjob READY RESULT
 *
 * After restore with --shell-job (SIGUSR1): fds 0, 1 and 2 are terminals
 * again, the same open file description on all three (as a shell hands them
 * out), writes to them go through, and the terminal's settings can be read.
 */
#include "wl.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>

static int same_file(int a, int b)
{
	struct stat x, y;

	return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_rdev == y.st_rdev && x.st_ino == y.st_ino;
}

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	for (int fd = 0; fd <= 2; fd++)
		if (!isatty(fd)) {
			fprintf(stderr, "ttyjob: fd %d is not a terminal\n", fd);
			return 2;
		}
	wl_ready();
	wl_wait();

	for (int fd = 0; fd <= 2; fd++)
		WL_CHECK(isatty(fd), "fd %d is not a terminal after restore", fd);
	WL_CHECK(same_file(0, 1) && same_file(1, 2), "fds 0-2 are not one terminal any more");
	struct termios t;
	WL_CHECK(tcgetattr(0, &t) == 0, "tcgetattr: %s", strerror(errno));
	WL_CHECK(write(1, "ttyjob: still talking\n", 22) == 22, "write to the terminal: %s", strerror(errno));
	WL_CHECK(fcntl(0, F_GETFL) >= 0 && (fcntl(0, F_GETFL) & O_ACCMODE) == O_RDWR, "fd 0 is not O_RDWR");
	return wl_finish();
}
