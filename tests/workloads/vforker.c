/*
 * vforker: a parent in the middle of vfork().
 *
 *   vforker READY RESULT SECONDS
 *
 * The vfork child writes READY, sleeps SECONDS and exits; the parent, stuck
 * in vfork until then, writes PASS to RESULT when it gets back (with the
 * same pid, untraced).
 */
#include "wl.h"
#include <fcntl.h>

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	int secs = argc > 3 ? atoi(argv[3]) : 15;
	pid_t me = getpid();
	pid_t c = vfork();

	if (c == 0) {
		/* Only async-signal-safe calls here: the parent's memory is ours. */
		int fd = open(wl_ready_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		struct timespec ts = { secs, 0 };

		if (fd >= 0) {
			if (write(fd, "ready\n", 6) != 6)
				_exit(1);
			close(fd);
		}
		nanosleep(&ts, NULL);
		_exit(0);
	}
	WL_CHECK(getpid() == me, "pid changed");
	char buf[8192] = "";
	FILE *f = fopen("/proc/self/status", "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = 0;
	WL_CHECK(strstr(buf, "TracerPid:\t0\n"), "still traced after the refused dump");
	return wl_finish();
}
