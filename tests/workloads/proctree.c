/*
 * proctree: a process tree with process groups and sessions.
 *
 *   proctree READY RESULT
 *
 *   R (root; a session leader, started under setsid by the harness)
 *   +-- A   in its own process group (setpgid)
 *   |   +-- A1  in A's process group
 *   +-- B   leader of a new session (setsid)
 *       +-- B1  in B's session and group
 *
 * Every process saves getpid/getppid/getpgrp/getsid at setup.  On SIGUSR1
 * the root passes SIGUSR1 down; each process checks its ids, passes the
 * signal to its child, waits for it and exits 0 if it and its subtree are
 * fine, else 1 after writing the reason to RESULT.<role>.  No pipes are held
 * across the checkpoint: results travel as files and exit statuses.
 */
#include "wl.h"
#include <sys/wait.h>

struct ids {
	pid_t pid, ppid, pgrp, sid;
};

static struct ids saved;
static const char *role = "R";
static char base[4096];

static struct ids current(void)
{
	struct ids i = { getpid(), getppid(), getpgrp(), getsid(0) };
	return i;
}

static void check_ids(int check_ppid)
{
	struct ids now = current();
	WL_CHECK(now.pid == saved.pid, "%s: pid %d, was %d", role, now.pid, saved.pid);
	WL_CHECK(!check_ppid || now.ppid == saved.ppid, "%s: ppid %d, was %d", role, now.ppid, saved.ppid);
	WL_CHECK(now.pgrp == saved.pgrp, "%s: pgrp %d, was %d", role, now.pgrp, saved.pgrp);
	WL_CHECK(now.sid == saved.sid, "%s: sid %d, was %d", role, now.sid, saved.sid);
}

static void role_file(char *buf, size_t n, const char *r, const char *what)
{
	snprintf(buf, n, "%s.%s%s", base, r, what);
}

/* Signal CHILD, wait for it, and fold its outcome into wl_why. */
static void collect(pid_t child, const char *crole)
{
	int st;
	char path[4200], line[512];

	if (kill(child, SIGUSR1) != 0) {
		wl_fail("%s: cannot signal child %s (%d): %s", role, crole, child, strerror(errno));
		return;
	}
	pid_t w = waitpid(child, &st, 0);
	if (w != child) {
		wl_fail("%s: waitpid(%s=%d) = %d: %s", role, crole, child, w, strerror(errno));
		return;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	role_file(path, sizeof(path), crole, "");
	if (wl_read_file(path, line, sizeof(line)) != 0)
		snprintf(line, sizeof(line), "%s ended with status 0x%x and no report", crole, st);
	wl_fail("%s", line);
}

/* A non-root member: save ids, fork a child if asked, say ready, wait. */
static __attribute__((noreturn)) void member(const char *r, const char *child_role, int new_pgrp, int new_session)
{
	char path[4200];
	pid_t child = -1;

	role = r;
	if (new_pgrp && setpgid(0, 0) != 0)
		_exit(100);
	if (new_session && setsid() < 0)
		_exit(101);
	saved = current();
	if (child_role) {
		child = fork();
		if (child < 0)
			_exit(102);
		if (child == 0) {
			member(child_role, NULL, 0, 0);
			_exit(103);
		}
	}
	role_file(path, sizeof(path), r, ".ready");
	wl_write_file(path, "ready");
	wl_wait();
	check_ids(1);
	if (child > 0)
		collect(child, child_role);
	if (wl_why[0]) {
		role_file(path, sizeof(path), r, "");
		wl_write_file(path, wl_why);
		_exit(1);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	snprintf(base, sizeof(base), "%s", wl_result_path);
	saved = current();
	if (saved.sid != saved.pid) {
		fprintf(stderr, "proctree: not a session leader (start under setsid)\n");
		return 2;
	}

	pid_t a = fork();
	if (a == 0)
		member("A", "A1", 1, 0);
	setpgid(a, a); /* both sides, against the race */
	pid_t b = fork();
	if (b == 0)
		member("B", "B1", 0, 1);

	const char *roles[] = { "A", "A1", "B", "B1" };
	char path[4200];
	for (int i = 0; i < 4; i++) {
		role_file(path, sizeof(path), roles[i], ".ready");
		for (int t = 0; access(path, F_OK) != 0; t++) {
			if (t > 2000) {
				fprintf(stderr, "proctree: %s not ready\n", roles[i]);
				return 2;
			}
			wl_msleep(5);
		}
	}
	/* The grandchildren's pids, for the outside checks after restore. */
	pid_t a1 = -1, b1 = -1;
	{
		char p[128], line[256];
		snprintf(p, sizeof(p), "/proc/%d/task/%d/children", a, a);
		if (wl_read_file(p, line, sizeof(line)) == 0)
			a1 = atoi(line);
		snprintf(p, sizeof(p), "/proc/%d/task/%d/children", b, b);
		if (wl_read_file(p, line, sizeof(line)) == 0)
			b1 = atoi(line);
	}
	if (a1 <= 0 || b1 <= 0) {
		fprintf(stderr, "proctree: cannot find grandchildren\n");
		return 2;
	}
	wl_ready();
	wl_wait();

	/* The root's parent is whoever adopted it; not checked. */
	check_ids(0);
	WL_CHECK(getpgid(a) == a, "A's pgrp %d, want %d", getpgid(a), a);
	WL_CHECK(getsid(a) == saved.sid, "A's sid %d, want %d", getsid(a), saved.sid);
	WL_CHECK(getpgid(a1) == a, "A1's pgrp %d, want %d", getpgid(a1), a);
	WL_CHECK(getsid(a1) == saved.sid, "A1's sid %d, want %d", getsid(a1), saved.sid);
	WL_CHECK(getpgid(b) == b, "B's pgrp %d, want %d", getpgid(b), b);
	WL_CHECK(getsid(b) == b, "B's sid %d, want %d", getsid(b), b);
	WL_CHECK(getpgid(b1) == b, "B1's pgrp %d, want %d", getpgid(b1), b);
	WL_CHECK(getsid(b1) == b, "B1's sid %d, want %d", getsid(b1), b);
	collect(a, "A");
	collect(b, "B");
	return wl_finish();
}
