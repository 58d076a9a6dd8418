/*
 * reaper: run a test command as the only workload of a fresh PID namespace.
 *
 *   reaper CMD [ARGS...]
 *
 * The reaper unshares a PID and a mount namespace and forks; the child is
 * PID 1 of the new namespace.  PID 1 makes its mounts private, mounts a
 * fresh /proc for the namespace, forks CMD, and reaps every child and orphan
 * at once (restores need the original PIDs free, and the host's init reaps
 * orphans late).  CMD runs with every fd above 2 closed.  When CMD exits, PID 1 kills whatever is left in the
 * namespace, reaps it, and exits with CMD's status (128+N if CMD was killed
 * by signal N).  The outer process waits for PID 1 and exits with its
 * status; if it receives SIGTERM/SIGINT/SIGHUP (e.g. from timeout), it kills
 * PID 1, which tears the whole namespace down.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t init_pid;

static void forward_kill(int sig)
{
	(void)sig;
	if (init_pid > 0)
		kill(init_pid, SIGKILL);
}

static int status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

static void die(const char *what)
{
	fprintf(stderr, "reaper: %s: %s\n", what, strerror(errno));
	_exit(125);
}

static int init_main(char **argv)
{
	/* Die with the outer reaper: that kills the whole namespace. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("make / private");
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		die("mount /proc");

	/* The signals a plain PID 1 would ignore are blocked in here so no
	 * stray signal ends the namespace early; the command gets a clean
	 * mask and default dispositions. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);

	pid_t cmd = fork();
	if (cmd < 0)
		die("fork");
	if (cmd == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* The test gets stdin/stdout/stderr and nothing else (fds leaked
		 * by whatever started the suite would end up in every workload). */
		close_range(3, ~0U, 0);
		execvp(argv[0], argv);
		fprintf(stderr, "reaper: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}

	int cmd_status = 1, st;
	for (;;) {
		pid_t p = waitpid(-1, &st, __WALL);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			break; /* ECHILD: nothing left */
		}
		if (p == cmd) {
			cmd_status = status_code(st);
			/* Kill what is left; keep reaping until ECHILD. */
			kill(-1, SIGKILL);
		}
	}
	return cmd_status;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s CMD [ARGS...]\n", argv[0]);
		return 2;
	}
	if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0)
		die("unshare(CLONE_NEWPID|CLONE_NEWNS)");

	struct sigaction sa = { .sa_handler = forward_kill };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0)
		_exit(init_main(argv + 1));
	init_pid = child;

	int st;
	while (waitpid(child, &st, 0) < 0) {
		if (errno != EINTR)
			die("waitpid");
	}
	return status_code(st);
}
