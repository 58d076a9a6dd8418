/*
 * pty: pseudo-terminal pairs held inside the tree.
 *
 *   pty READY RESULT
 *
 * The root (A) holds two masters:
 *  - pty 1: termios changed (no echo, a speed, IUTF8, special characters),
 *    a window size, and a session on its slave: B, a child, is the session
 *    leader with pty 1 as its controlling terminal; C, B's child, leads the
 *    foreground group and uses the slave; D, B's other child, dropped the
 *    terminal (TIOCNOTTY). Queued before the checkpoint: input the slave
 *    side has not read (two whole lines, one ended by VEOF, and a line
 *    being typed) and output the master has not read.
 *  - pty 2: still locked (never unlockpt), in packet mode.
 *  - pty 3: its slave was opened, written to and closed again: the master
 *    reads those bytes, then EIO.
 * After restore (SIGUSR1 to A): both ptys have their index, settings, lock
 * and mode; A reads the output queued before the checkpoint, completes the
 * typed line, and C reads exactly the input lines as they were; C writes,
 * A reads it; B, C and D find their session, terminal and foreground group
 * as they were.
 */
#include "wl.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>

#define OUT_BEFORE "output before\n"
#define OUT_AFTER "output after\n"
#define INPUT "line one\neof line\004line two\npart"

struct tree {
	int m1, m2, m3, n1, n2, n3;
	int go[2];  /* A closes the write end after restore: B, C, D check then */
	int res[2]; /* one line per child: "B ok", "C FAIL: ..." */
	pid_t b;
};

static int pty_index(int m)
{
	int n = -1;

	return ioctl(m, TIOCGPTN, &n) < 0 ? -1 : n;
}

static void want_termios(struct termios *t)
{
	t->c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	t->c_iflag |= IUTF8;
	t->c_cc[VINTR] = 7;
	t->c_cc[VEOL] = '#';
	t->c_cc[VMIN] = 3;
	cfsetispeed(t, B9600);
	cfsetospeed(t, B9600);
}

static const struct winsize want_ws = { 33, 111, 800, 600 };

/* /proc/PID/stat fields 7 and 8: its terminal's device and that terminal's foreground group. */
static int stat_tty(pid_t pid, unsigned long *tty_nr, int *tpgid)
{
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && sscanf(p + 1, " %*c %*d %*d %*d %lu %d", tty_nr, tpgid) == 2 ? 0 : -1;
}

static void report(int fd, const char *who)
{
	char line[2200];

	snprintf(line, sizeof(line), "%s %s\n", who, wl_why[0] ? wl_why : "ok");
	if (write(fd, line, strlen(line)) < 0)
		_exit(3);
}

static void wait_go(int fd)
{
	char c;

	while (read(fd, &c, 1) > 0)
		;
}

/* C: foreground group leader, uses the slave. */
static void run_c(struct tree *t, int s)
{
	static const char *const want[] = { "line one\n", "eof line", "line two\n", "partial\n" };
	unsigned long tty_nr;
	int tpgid;
	char buf[256];

	if (write(s, OUT_BEFORE, strlen(OUT_BEFORE)) != (ssize_t)strlen(OUT_BEFORE))
		_exit(3);
	if (write(t->res[1], "C ready\n", 8) != 8)
		_exit(3);
	wait_go(t->go[0]);
	WL_CHECK(stat_tty(getpid(), &tty_nr, &tpgid) == 0 && tty_nr == makedev(136, t->n1) && tpgid == getpid(),
		 "C: terminal %lx foreground %d, want pty %d and itself", tty_nr, tpgid, t->n1);
	WL_CHECK(tcgetpgrp(s) == getpid(), "C: tcgetpgrp %d", tcgetpgrp(s));
	for (size_t i = 0; i < 4; i++) {
		ssize_t n = read(s, buf, sizeof(buf) - 1);

		buf[n > 0 ? n : 0] = 0;
		WL_CHECK(n >= 0 && !strcmp(buf, want[i]), "C: read %zu gave '%s' (%zd bytes), want '%s'", i, buf, n,
			 want[i]);
	}
	if (write(s, OUT_AFTER, strlen(OUT_AFTER)) != (ssize_t)strlen(OUT_AFTER))
		wl_fail("C: write after restore: %s", strerror(errno));
	report(t->res[1], "C");
	_exit(0);
}

/* D: dropped the terminal. */
static void run_d(struct tree *t)
{
	unsigned long tty_nr;
	int tpgid, fd = open("/dev/tty", O_RDWR);

	if (fd < 0 || ioctl(fd, TIOCNOTTY) < 0)
		_exit(3);
	close(fd);
	if (write(t->res[1], "D ready\n", 8) != 8)
		_exit(3);
	wait_go(t->go[0]);
	WL_CHECK(stat_tty(getpid(), &tty_nr, &tpgid) == 0 && tty_nr == 0, "D: has terminal %lx again", tty_nr);
	WL_CHECK(open("/dev/tty", O_RDWR) < 0 && errno == ENXIO, "D: /dev/tty opens");
	report(t->res[1], "D");
	_exit(0);
}

/* B: session leader with pty 1 as its terminal. */
static void run_b(struct tree *t)
{
	char name[64];
	pid_t c, d;
	int s;

	snprintf(name, sizeof(name), "/dev/pts/%d", t->n1);
	if (setsid() < 0 || (s = open(name, O_RDWR)) < 0)
		_exit(3);
	close(t->m1);
	close(t->m2);
	close(t->m3);
	c = fork();
	if (c == 0) {
		setpgid(0, 0);
		run_c(t, s);
	}
	setpgid(c, c);
	if (tcsetpgrp(s, c) < 0)
		_exit(3);
	d = fork();
	if (d == 0)
		run_d(t);
	wait_go(t->go[0]);
	WL_CHECK(getsid(0) == getpid() && tcgetsid(s) == getpid(), "B: session %d, terminal's %d", getsid(0),
		 tcgetsid(s));
	WL_CHECK(tcgetpgrp(s) == c, "B: foreground group %d, want %d", tcgetpgrp(s), c);
	report(t->res[1], "B");
	waitpid(c, NULL, 0);
	waitpid(d, NULL, 0);
	_exit(0);
}

static void check_settings(const struct tree *t)
{
	struct termios want, got;
	struct winsize ws;
	int v;

	WL_CHECK(pty_index(t->m1) == t->n1 && pty_index(t->m2) == t->n2, "indexes %d %d, want %d %d", pty_index(t->m1),
		 pty_index(t->m2), t->n1, t->n2);
	memset(&want, 0, sizeof(want));
	tcgetattr(t->m2, &want); /* pty 2 has the defaults */
	want_termios(&want);
	WL_CHECK(tcgetattr(t->m1, &got) == 0, "tcgetattr: %s", strerror(errno));
	WL_CHECK(got.c_iflag == want.c_iflag && got.c_oflag == want.c_oflag && got.c_cflag == want.c_cflag &&
		 got.c_lflag == want.c_lflag && !memcmp(got.c_cc, want.c_cc, NCCS) && cfgetospeed(&got) == B9600,
		 "termios of pty 1 differ: iflag %x/%x lflag %x/%x cflag %x/%x", got.c_iflag, want.c_iflag,
		 got.c_lflag, want.c_lflag, got.c_cflag, want.c_cflag);
	WL_CHECK(ioctl(t->m1, TIOCGWINSZ, &ws) == 0 && !memcmp(&ws, &want_ws, sizeof(ws)), "window size %ux%u",
		 ws.ws_row, ws.ws_col);
	WL_CHECK(ioctl(t->m1, TIOCGPTLCK, &v) == 0 && v == 0, "pty 1 locked %d", v);
	WL_CHECK(ioctl(t->m2, TIOCGPTLCK, &v) == 0 && v == 1, "pty 2 not locked (%d)", v);
	WL_CHECK(ioctl(t->m1, TIOCGPKT, &v) == 0 && v == 0, "pty 1 packet mode %d", v);
	WL_CHECK(ioctl(t->m2, TIOCGPKT, &v) == 0 && v == 1, "pty 2 not in packet mode (%d)", v);
	WL_CHECK(open("/dev/tty", O_RDWR) < 0, "A has a controlling terminal");
	WL_CHECK(pty_index(t->m3) == t->n3, "pty 3 index %d, want %d", pty_index(t->m3), t->n3);
}

/* pty 3: what its closed slave wrote, then EIO. */
static void check_closed(int m)
{
	char buf[64];
	ssize_t n = read(m, buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = 0;
	WL_CHECK(n == 5 && !strcmp(buf, "bye\r\n"), "pty 3: read '%s' (%zd), want 'bye\\r\\n'", buf, n);
	n = read(m, buf, sizeof(buf));
	WL_CHECK(n < 0 && errno == EIO, "pty 3: read after the data gave %zd (%s), want EIO", n,
		 n < 0 ? strerror(errno) : "data");
}

static int closed_slave(int *n)
{
	char name[64];
	int m = posix_openpt(O_RDWR | O_NOCTTY), s;

	if (m < 0 || grantpt(m) || unlockpt(m) || (*n = pty_index(m)) < 0)
		return -1;
	snprintf(name, sizeof(name), "/dev/pts/%d", *n);
	s = open(name, O_RDWR | O_NOCTTY);
	if (s < 0 || write(s, "bye\n", 4) != 4)
		return -1;
	close(s);
	return m;
}

/* Reads what the master has, waiting up to 2 s for want's length. */
static void expect_output(int m, const char *what, const char *want)
{
	char buf[256];
	size_t len = 0, wlen = strlen(want);

	for (int i = 0; i < 200 && len < wlen; i++) {
		struct pollfd p = { m, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 10) <= 0)
			continue;
		n = read(m, buf + len, sizeof(buf) - 1 - len);
		if (n > 0)
			len += (size_t)n;
	}
	buf[len] = 0;
	WL_CHECK(len == wlen && !memcmp(buf, want, wlen), "%s: master read '%s', want '%s'", what, buf, want);
}

static void collect(struct tree *t)
{
	char buf[4096];
	size_t len = 0;
	int lines = 0;

	while (lines < 3 && len < sizeof(buf) - 1) {
		ssize_t n = read(t->res[0], buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			lines += buf[len + (size_t)i] == '\n';
		len += (size_t)n;
	}
	buf[len] = 0;
	WL_CHECK(lines == 3, "children reported %d lines: %s", lines, buf);
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
		WL_CHECK(!strcmp(l + 1, " ok"), "%s", l);
}

int main(int argc, char **argv)
{
	struct tree t;
	struct termios tio;
	char buf[64];

	wl_init(argc, argv);
	t.m1 = posix_openpt(O_RDWR | O_NOCTTY);
	t.m2 = posix_openpt(O_RDWR | O_NOCTTY);
	if (t.m1 < 0 || t.m2 < 0 || grantpt(t.m1) || unlockpt(t.m1) || pipe(t.go) || pipe(t.res))
		return 2;
	t.n1 = pty_index(t.m1);
	t.n2 = pty_index(t.m2);
	t.m3 = closed_slave(&t.n3);
	if (t.m3 < 0)
		return 2;
	if (ioctl(t.m2, TIOCPKT, &(int){ 1 }) < 0 || tcgetattr(t.m1, &tio) < 0)
		return 2;
	want_termios(&tio);
	if (tcsetattr(t.m1, TCSANOW, &tio) < 0 || ioctl(t.m1, TIOCSWINSZ, &want_ws) < 0)
		return 2;
	t.b = fork();
	if (t.b == 0) {
		close(t.go[1]);
		close(t.res[0]);
		run_b(&t);
	}
	close(t.go[0]);
	/* C and D are set up: C has written its output. */
	for (size_t len = 0; len < 16;) {
		ssize_t n = read(t.res[0], buf + len, 16 - len);

		if (n <= 0)
			return 2;
		len += (size_t)n;
	}
	if (write(t.m1, INPUT, strlen(INPUT)) != (ssize_t)strlen(INPUT))
		return 2;
	wl_msleep(100); /* the line discipline takes the bytes in */
	wl_ready();
	wl_wait();

	check_settings(&t);
	check_closed(t.m3);
	expect_output(t.m1, "before", "output before\r\n");
	if (write(t.m1, "ial\n", 4) != 4)
		wl_fail("write to master: %s", strerror(errno));
	close(t.go[1]);
	collect(&t);
	expect_output(t.m1, "after", "output after\r\n");
	waitpid(t.b, NULL, 0);
	return wl_finish();
}
