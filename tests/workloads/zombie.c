/*
 * zombie: zombies and parent-death signals.
 *
 *   zombie READY RESULT
 *
 *   root
 *   +-- Z7   exited with status 7, not reaped (a zombie at checkpoint time)
 *   +-- ZT   killed by SIGTERM, not reaped
 *   +-- PD   PR_SET_PDEATHSIG = SIGUSR2; has a zombie child of its own
 *   |   |    (exited with status 3)
 *   |   +-- Z3
 *   +-- M    a middle process
 *       +-- PD2  PR_SET_PDEATHSIG = SIGUSR2, with a handler that writes
 *                RESULT.pd2 when the signal arrives
 *
 * After restore: waitid/waitpid on Z7 and ZT return exactly their statuses;
 * PD reads PR_GET_PDEATHSIG == SIGUSR2 and reaps Z3 (status 3); the root
 * kills M and PD2 must get its parent-death signal.
 */
#include "wl.h"
#include <sys/prctl.h>
#include <sys/wait.h>

static char base[4096];
static volatile sig_atomic_t got_usr2;

static void on_usr2(int sig)
{
	(void)sig;
	got_usr2 = 1;
}

static void path_of(char *buf, size_t n, const char *what)
{
	snprintf(buf, n, "%s.%s", base, what);
}

static void say(const char *what, const char *msg)
{
	char p[4200];
	path_of(p, sizeof(p), what);
	wl_write_file(p, msg);
}

static int wait_file(const char *what, int ms)
{
	char p[4200];
	path_of(p, sizeof(p), what);
	for (int t = 0; t <= ms; t += 5) {
		if (access(p, F_OK) == 0)
			return 0;
		wl_msleep(5);
	}
	return -1;
}

static char state_of(pid_t pid)
{
	char p[64], line[512];
	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	if (wl_read_file(p, line, sizeof(line)) != 0)
		return '?';
	char *c = strrchr(line, ')');
	return c && c[1] == ' ' ? c[2] : '?';
}

/* Wait (without reaping) until PID has become a zombie. */
static int wait_zombie(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	return waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
}

static void pd_main(void)
{
	if (prctl(PR_SET_PDEATHSIG, SIGUSR2) != 0)
		_exit(100);
	pid_t z3 = fork();
	if (z3 == 0)
		_exit(3);
	wait_zombie(z3);
	say("pd.ready", "ready");
	wl_wait();

	int sig = -1;
	if (prctl(PR_GET_PDEATHSIG, &sig) != 0)
		wl_fail("PD: PR_GET_PDEATHSIG: %s", strerror(errno));
	else
		WL_CHECK(sig == SIGUSR2, "PD: pdeathsig %d, want %d (SIGUSR2)", sig, SIGUSR2);
	WL_CHECK(state_of(z3) == 'Z', "PD: child %d is not a zombie (state %c)", z3, state_of(z3));
	int st;
	pid_t w = waitpid(z3, &st, WNOHANG);
	if (w != z3)
		wl_fail("PD: waitpid(zombie %d) = %d (%s)", z3, w, w < 0 ? strerror(errno) : "not exited");
	else
		WL_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3, "PD: zombie status 0x%x, want exit 3", st);
	if (wl_why[0]) {
		say("pd", wl_why);
		_exit(1);
	}
	_exit(0);
}

static void pd2_main(void)
{
	struct sigaction sa = { .sa_handler = on_usr2 };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGUSR2) != 0)
		_exit(100);
	say("pd2.ready", "ready");
	while (!got_usr2)
		pause();
	int sig = -1;
	prctl(PR_GET_PDEATHSIG, &sig);
	char msg[128];
	snprintf(msg, sizeof(msg), "got SIGUSR2, pdeathsig %d", sig);
	say("pd2", msg);
	_exit(0);
}

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	snprintf(base, sizeof(base), "%s", wl_result_path);

	pid_t z7 = fork();
	if (z7 == 0)
		_exit(7);
	pid_t zt = fork();
	if (zt == 0) {
		for (;;)
			pause();
	}
	pid_t pd = fork();
	if (pd == 0)
		pd_main();
	pid_t m = fork();
	if (m == 0) {
		pid_t pd2 = fork();
		if (pd2 == 0)
			pd2_main();
		for (;;)
			pause();
	}
	kill(zt, SIGTERM);
	if (wait_zombie(z7) != 0 || wait_zombie(zt) != 0 || wait_file("pd.ready", 10000) != 0 ||
	    wait_file("pd2.ready", 10000) != 0) {
		fprintf(stderr, "zombie: setup failed\n");
		return 2;
	}
	wl_ready();
	wl_wait();

	/* The zombies are still zombies, with their exact statuses. */
	WL_CHECK(state_of(z7) == 'Z', "Z7 (%d) state %c, want Z", z7, state_of(z7));
	WL_CHECK(state_of(zt) == 'Z', "ZT (%d) state %c, want Z", zt, state_of(zt));
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, z7, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		wl_fail("waitid(Z7): %s", strerror(errno));
	else
		WL_CHECK(si.si_pid == z7 && si.si_code == CLD_EXITED && si.si_status == 7,
			 "waitid(Z7): pid %d code %d status %d, want %d CLD_EXITED 7", si.si_pid, si.si_code,
			 si.si_status, z7);
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, zt, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		wl_fail("waitid(ZT): %s", strerror(errno));
	else
		WL_CHECK(si.si_pid == zt && si.si_code == CLD_KILLED && si.si_status == SIGTERM,
			 "waitid(ZT): pid %d code %d status %d, want %d CLD_KILLED SIGTERM", si.si_pid,
			 si.si_code, si.si_status, zt);
	int st = -1;
	pid_t w = waitpid(z7, &st, WNOHANG);
	WL_CHECK(w == z7 && WIFEXITED(st) && WEXITSTATUS(st) == 7, "waitpid(Z7=%d) = %d status 0x%x, want exit 7",
		 z7, w, st);
	st = -1;
	w = waitpid(zt, &st, WNOHANG);
	WL_CHECK(w == zt && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM && !WCOREDUMP(st),
		 "waitpid(ZT=%d) = %d status 0x%x, want killed by SIGTERM", zt, w, st);
	/* Nothing else has exited. */
	w = waitpid(-1, &st, WNOHANG);
	WL_CHECK(w == 0, "waitpid(-1, WNOHANG) = %d (status 0x%x), want 0", w, st);

	/* PD checks itself. */
	kill(pd, SIGUSR1);
	w = waitpid(pd, &st, 0);
	if (w != pd || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char p[4200], line[512] = "";
		path_of(p, sizeof(p), "pd");
		if (wl_read_file(p, line, sizeof(line)) != 0)
			snprintf(line, sizeof(line), "PD ended with 0x%x, no report", st);
		wl_fail("%s", line);
	}

	/* M dies: PD2 must get SIGUSR2. */
	kill(m, SIGKILL);
	waitpid(m, &st, 0);
	if (wait_file("pd2", 5000) != 0) {
		wl_fail("PD2 did not get its parent-death signal within 5 s");
	} else {
		char p[4200], line[256];
		path_of(p, sizeof(p), "pd2");
		wl_read_file(p, line, sizeof(line));
		char want[128];
		snprintf(want, sizeof(want), "got SIGUSR2, pdeathsig %d", SIGUSR2);
		WL_CHECK(strcmp(line, want) == 0, "PD2: %s", line);
	}
	return wl_finish();
}
