/*
 * sessions: process groups and sessions whose leader is gone.
 *
 *   sessions READY RESULT
 *
 * The root R is a child subreaper (PR_SET_CHILD_SUBREAPER) and:
 *   case 1  A makes its own group; B joins group A; A is killed and reaped:
 *           B is alone in group A, and no process A exists.
 *   case 2  C makes its own group; D joins group C; C exits with status 5
 *           and is not reaped: the group's leader is a zombie.
 *   case 3  S makes a new session and forks S1, which forks S2; S2 makes
 *           its own group in session S; S exits and is reaped: S1 is
 *           reparented to R (the subreaper) and stays in session S and
 *           group S; no process S exists.
 * Once the tree is arranged, every member records its ids (SIGUSR2) and R
 * records everyone's ppid/pgrp/sid from /proc.
 * After restore (SIGUSR1): R checks the subreaper flag, the recorded ids of
 * all members from outside, the zombie C (exit 5), that groups A and S
 * still exist (kill(-A, 0)) and that a new child can join group A; each
 * member checks its own ids from inside.
 */
#include "wl.h"
#include <sys/prctl.h>
#include <sys/wait.h>

static char base[4096];
static volatile sig_atomic_t rec_flag;
static const char *role = "R";

struct ids {
	pid_t pid, ppid, pgrp, sid;
};
static struct ids mine;

static void on_usr2(int sig)
{
	(void)sig;
	rec_flag = 1;
}

static void path_of(char *buf, size_t n, const char *r, const char *what)
{
	snprintf(buf, n, "%s.%s%s", base, r, what);
}

static int wait_for(const char *r, const char *what, int ms)
{
	char p[4200];
	path_of(p, sizeof(p), r, what);
	for (int t = 0; t <= ms; t += 5) {
		if (access(p, F_OK) == 0)
			return 0;
		wl_msleep(5);
	}
	return -1;
}

static void say(const char *r, const char *what, const char *msg)
{
	char p[4200];
	path_of(p, sizeof(p), r, what);
	wl_write_file(p, msg);
}

static struct ids ids_now(void)
{
	struct ids i = { getpid(), getppid(), getpgrp(), getsid(0) };
	return i;
}

/* ppid, pgrp and session of PID from /proc; state in *st. */
static int proc_ids(pid_t pid, struct ids *out, char *st)
{
	char p[64], line[512];
	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	if (wl_read_file(p, line, sizeof(line)) != 0)
		return -1;
	char *c = strrchr(line, ')');
	if (!c || sscanf(c + 2, "%c %d %d %d", st, &out->ppid, &out->pgrp, &out->sid) != 4)
		return -1;
	out->pid = pid;
	return 0;
}

static void check_mine(void)
{
	struct ids now = ids_now();
	WL_CHECK(now.pid == mine.pid && now.ppid == mine.ppid && now.pgrp == mine.pgrp && now.sid == mine.sid,
		 "%s: pid/ppid/pgrp/sid %d/%d/%d/%d, was %d/%d/%d/%d", role, now.pid, now.ppid, now.pgrp, now.sid,
		 mine.pid, mine.ppid, mine.pgrp, mine.sid);
}

/* Signal CHILD to check itself, wait for it, fold in its verdict. */
static void collect(pid_t child, const char *crole)
{
	int st;
	if (kill(child, SIGUSR1) != 0) {
		wl_fail("%s: cannot signal %s (%d): %s", role, crole, child, strerror(errno));
		return;
	}
	if (waitpid(child, &st, 0) != child) {
		wl_fail("%s: waitpid(%s=%d): %s", role, crole, child, strerror(errno));
		return;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	char p[4200], line[512];
	path_of(p, sizeof(p), crole, "");
	if (wl_read_file(p, line, sizeof(line)) != 0)
		snprintf(line, sizeof(line), "%s ended with status 0x%x and no report", crole, st);
	wl_fail("%s", line);
}

/* A member: set up by the caller; record ids on SIGUSR2; check on SIGUSR1;
 * if it has a child, pass the check on. */
static __attribute__((noreturn)) void member(const char *r, pid_t child, const char *crole)
{
	role = r;
	while (!rec_flag)
		pause();
	mine = ids_now();
	say(r, ".ready", "ready");
	wl_wait();
	check_mine();
	if (child > 0)
		collect(child, crole);
	if (wl_why[0]) {
		say(r, "", wl_why);
		_exit(1);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	snprintf(base, sizeof(base), "%s", wl_result_path);
	struct sigaction sa = { .sa_handler = on_usr2 };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
		perror("PR_SET_CHILD_SUBREAPER");
		return 2;
	}
	int st;

	/* case 1 */
	pid_t a = fork();
	if (a == 0) {
		setpgid(0, 0);
		for (;;)
			pause();
	}
	setpgid(a, a);
	pid_t b = fork();
	if (b == 0) {
		if (setpgid(0, a) != 0)
			_exit(100);
		member("B", -1, NULL);
	}
	setpgid(b, a);
	/* case 2 */
	pid_t c = fork();
	if (c == 0) {
		setpgid(0, 0);
		wait_for("D", ".joined", 10000);
		_exit(5);
	}
	setpgid(c, c);
	pid_t d = fork();
	if (d == 0) {
		if (setpgid(0, c) != 0)
			_exit(100);
		say("D", ".joined", "joined");
		member("D", -1, NULL);
	}
	/* case 3 */
	pid_t s = fork();
	if (s == 0) {
		if (setsid() < 0)
			_exit(100);
		pid_t s1 = fork();
		if (s1 == 0) {
			pid_t s2 = fork();
			if (s2 == 0) {
				setpgid(0, 0);
				say("S2", ".up", "up");
				member("S2", -1, NULL);
			}
			setpgid(s2, s2);
			say("S1", ".up", "up");
			member("S1", s2, "S2");
		}
		if (wait_for("S1", ".up", 10000) || wait_for("S2", ".up", 10000))
			_exit(101);
		_exit(0);
	}

	/* Arrange: A dies and is reaped, C becomes a zombie, S dies and is
	 * reaped (S1 comes to us). */
	if (wait_for("D", ".joined", 10000) != 0) {
		fprintf(stderr, "sessions: D did not join\n");
		return 2;
	}
	/* B has joined group A once setpgid(b, a) above succeeded in either
	 * process; make sure before A goes. */
	for (int t = 0; getpgid(b) != a && t < 2000; t++)
		wl_msleep(5);
	kill(a, SIGKILL);
	waitpid(a, &st, 0);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	waitid(P_PID, c, &si, WEXITED | WNOWAIT);
	if (waitpid(s, &st, 0) != s || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "sessions: S failed (0x%x)\n", st);
		return 2;
	}
	/* S1 is ours now. */
	pid_t s1 = -1;
	for (int t = 0; t < 2000 && s1 <= 0; t++) {
		char p[128], line[256] = "";
		snprintf(p, sizeof(p), "/proc/%d/task/%d/children", getpid(), getpid());
		wl_read_file(p, line, sizeof(line));
		char *tok = strtok(line, " ");
		for (; tok; tok = strtok(NULL, " ")) {
			pid_t k = atoi(tok);
			if (k != b && k != c && k != d)
				s1 = k;
		}
		if (s1 <= 0)
			wl_msleep(5);
	}
	if (s1 <= 0) {
		fprintf(stderr, "sessions: S1 was not reparented to the subreaper\n");
		return 2;
	}
	pid_t s2 = -1;
	{
		char p[128], line[256] = "";
		snprintf(p, sizeof(p), "/proc/%d/task/%d/children", s1, s1);
		wl_read_file(p, line, sizeof(line));
		s2 = atoi(line);
	}

	const pid_t members[] = { b, d, s1, s2 };
	const char *mroles[] = { "B", "D", "S1", "S2" };
	struct ids rec[4], zc;
	char zst;
	for (int i = 0; i < 4; i++) {
		kill(members[i], SIGUSR2);
		if (wait_for(mroles[i], ".ready", 10000) != 0) {
			fprintf(stderr, "sessions: %s not ready\n", mroles[i]);
			return 2;
		}
		proc_ids(members[i], &rec[i], &zst);
	}
	proc_ids(c, &zc, &zst);
	/* The arrangement is what this test is about. */
	if (rec[0].pgrp != a || rec[1].pgrp != c || rec[2].sid != s || rec[2].pgrp != s || rec[2].ppid != getpid() ||
	    rec[3].sid != s || rec[3].pgrp != s2 || zst != 'Z') {
		fprintf(stderr, "sessions: arrangement failed\n");
		return 2;
	}
	mine = ids_now();
	wl_ready();
	wl_wait();

	/* After restore. */
	int sr = -1;
	prctl(PR_GET_CHILD_SUBREAPER, &sr);
	WL_CHECK(sr == 1, "R: child subreaper flag %d, want 1", sr);
	struct ids now = ids_now();
	WL_CHECK(now.pid == mine.pid && now.pgrp == mine.pgrp && now.sid == mine.sid, "R: pid/pgrp/sid %d/%d/%d, was %d/%d/%d",
		 now.pid, now.pgrp, now.sid, mine.pid, mine.pgrp, mine.sid);
	WL_CHECK(access("/proc/self", F_OK) == 0 && kill(a, 0) != 0, "process A (%d) exists again", a);
	WL_CHECK(kill(s, 0) != 0, "process S (%d) exists again", s);
	for (int i = 0; i < 4; i++) {
		struct ids x;
		char xs;
		if (proc_ids(members[i], &x, &xs) != 0) {
			wl_fail("%s (%d) is gone", mroles[i], members[i]);
			continue;
		}
		WL_CHECK(x.ppid == rec[i].ppid && x.pgrp == rec[i].pgrp && x.sid == rec[i].sid,
			 "%s: ppid/pgrp/sid %d/%d/%d, was %d/%d/%d", mroles[i], x.ppid, x.pgrp, x.sid, rec[i].ppid,
			 rec[i].pgrp, rec[i].sid);
	}
	{
		struct ids x;
		char xs = '?';
		if (proc_ids(c, &x, &xs) != 0 || xs != 'Z' || x.pgrp != zc.pgrp || x.sid != zc.sid)
			wl_fail("zombie leader C (%d): state %c pgrp %d sid %d, was Z %d %d", c, xs, x.pgrp, x.sid, zc.pgrp,
				zc.sid);
	}
	WL_CHECK(kill(-a, 0) == 0, "group %d (dead leader) does not exist: %s", a, strerror(errno));
	WL_CHECK(kill(-c, 0) == 0, "group %d (zombie leader) does not exist: %s", c, strerror(errno));
	WL_CHECK(kill(-s, 0) == 0, "group %d (dead session leader) does not exist: %s", s, strerror(errno));
	/* A new child can join group A: it is a real group of our session. */
	pid_t e = fork();
	if (e == 0)
		_exit(setpgid(0, a) == 0 && getpgrp() == a ? 0 : 1);
	WL_CHECK(waitpid(e, &st, 0) == e && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		 "a new child cannot join group %d (status 0x%x)", a, st);

	collect(b, "B");
	collect(d, "D");
	collect(s1, "S1");
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, c, &si, WEXITED | WNOHANG) != 0 || si.si_pid != c || si.si_code != CLD_EXITED ||
	    si.si_status != 5)
		wl_fail("zombie C (%d): waitid pid %d code %d status %d, want CLD_EXITED 5", c, si.si_pid, si.si_code,
			si.si_status);
	return wl_finish();
}
