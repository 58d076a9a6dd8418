/*
 * stopped: job-control stopped processes at checkpoint time.
 *
 *   stopped READY RESULT
 *
 *   P1  stops itself with raise(SIGSTOP); the root has already collected
 *       the stop with waitpid(WUNTRACED)
 *   P2  stopped by the root's SIGSTOP; the stop not yet collected
 *   P3  two threads (one counting), stopped by the root's SIGSTOP and
 *       collected
 * After restore (SIGUSR1) the root checks: every thread of P1-P3 is stopped
 * (state T); waitpid(P2, WUNTRACED) reports its stop (SIGSTOP); SIGCONT
 * resumes each, waitid(WCONTINUED) reports it; then each child checks
 * itself (P3: its counting thread runs again) and exits 0.
 */
#include "wl.h"
#include <dirent.h>
#include <stdatomic.h>
#include <sys/wait.h>

static char base[4096];
static atomic_ulong ticks;

static void *counter(void *arg)
{
	(void)arg;
	for (;;) {
		atomic_fetch_add(&ticks, 1);
		wl_msleep(1);
	}
	return NULL;
}

static char state_of(pid_t pid, pid_t tid)
{
	char p[96], line[512];
	snprintf(p, sizeof(p), "/proc/%d/task/%d/stat", pid, tid);
	if (wl_read_file(p, line, sizeof(line)) != 0)
		return '?';
	char *c = strrchr(line, ')');
	return c && c[1] == ' ' ? c[2] : '?';
}

/* Check that every thread of PID is stopped; returns the thread count. */
static int check_all_stopped(pid_t pid, const char *name)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/task", pid);
	DIR *d = opendir(p);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		pid_t tid = atoi(e->d_name);
		char s = state_of(pid, tid);
		n++;
		WL_CHECK(s == 'T', "%s thread %d: state %c, want T (stopped)", name, tid, s);
	}
	closedir(d);
	return n;
}

static void child_report(const char *r, const char *msg)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s.%s", base, r);
	wl_write_file(p, msg);
}

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	snprintf(base, sizeof(base), "%s", wl_result_path);
	int st;

	pid_t p1 = fork();
	if (p1 == 0) {
		raise(SIGSTOP);
		wl_wait();
		_exit(0);
	}
	if (waitpid(p1, &st, WUNTRACED) != p1 || !WIFSTOPPED(st)) {
		fprintf(stderr, "stopped: P1 did not stop\n");
		return 2;
	}
	pid_t p2 = fork();
	if (p2 == 0) {
		wl_wait();
		_exit(0);
	}
	pid_t p3 = fork();
	if (p3 == 0) {
		pthread_t t;
		pthread_create(&t, NULL, counter, NULL);
		child_report("p3", "up");
		wl_wait();
		unsigned long t0 = atomic_load(&ticks);
		wl_msleep(200);
		if (atomic_load(&ticks) == t0) {
			child_report("p3", "P3: counting thread does not run after SIGCONT");
			_exit(1);
		}
		_exit(0);
	}
	{
		char p[4200];
		snprintf(p, sizeof(p), "%s.p3", base);
		for (int t = 0; access(p, F_OK) != 0; t++) {
			if (t > 2000)
				return 2;
			wl_msleep(5);
		}
	}
	wl_msleep(50);
	kill(p2, SIGSTOP);
	kill(p3, SIGSTOP);
	if (waitpid(p3, &st, WUNTRACED) != p3 || !WIFSTOPPED(st)) {
		fprintf(stderr, "stopped: P3 did not stop\n");
		return 2;
	}
	/* P2's stop: wait until it shows, without collecting it. */
	for (int t = 0; state_of(p2, p2) != 'T'; t++) {
		if (t > 2000)
			return 2;
		wl_msleep(5);
	}
	wl_ready();
	wl_wait();

	const pid_t kids[] = { p1, p2, p3 };
	const char *names[] = { "P1", "P2", "P3" };
	for (int i = 0; i < 3; i++) {
		int n = check_all_stopped(kids[i], names[i]);
		WL_CHECK(n == (i == 2 ? 2 : 1), "%s: %d threads found", names[i], n);
	}
	/* The uncollected stop of P2 is reported now. */
	pid_t w = waitpid(p2, &st, WUNTRACED | WNOHANG);
	WL_CHECK(w == p2 && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP,
		 "waitpid(P2, WUNTRACED) = %d status 0x%x, want its SIGSTOP stop", w, st);
	for (int i = 0; i < 3; i++) {
		kill(kids[i], SIGCONT);
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		int r = waitid(P_PID, kids[i], &si, WCONTINUED);
		WL_CHECK(r == 0 && si.si_pid == kids[i] && si.si_code == CLD_CONTINUED,
			 "%s: waitid(WCONTINUED) = %d pid %d code %d, want CLD_CONTINUED", names[i], r, si.si_pid,
			 si.si_code);
	}
	for (int i = 0; i < 3; i++) {
		wl_msleep(20);
		char s = state_of(kids[i], kids[i]);
		WL_CHECK(s == 'S' || s == 'R', "%s: state %c after SIGCONT", names[i], s);
		kill(kids[i], SIGUSR1);
		w = waitpid(kids[i], &st, 0);
		if (w != kids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			char p[4200], line[256] = "";
			snprintf(p, sizeof(p), "%s.p3", base);
			if (i == 2)
				wl_read_file(p, line, sizeof(line));
			wl_fail("%s: ended with 0x%x %s", names[i], st, line);
		}
	}
	return wl_finish();
}
