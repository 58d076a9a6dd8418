/*
 * traced: a child that is ptraced by its parent (PTRACE_TRACEME), which a
 * dump cannot take over: the dump must be refused and leave the ptrace
 * relationship intact.
 *
 *   traced READY RESULT
 *
 * After the (refused) dump, on SIGUSR1 the root checks that the child is
 * still traced by it (TracerPid), sends the child SIGUSR1, sees the
 * signal-delivery stop with waitpid, lets the signal through with
 * PTRACE_CONT, and the child (its handler having run) exits 0.
 */
#include "wl.h"
#include <sys/ptrace.h>
#include <sys/wait.h>

static int tracer_of(pid_t pid)
{
	char p[64], line[256];
	snprintf(p, sizeof(p), "/proc/%d/status", pid);
	FILE *f = fopen(p, "r");
	int t = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %d", &t) == 1)
			break;
	if (f)
		fclose(f);
	return t;
}

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	int st;
	pid_t c = fork();
	if (c == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
			_exit(100);
		raise(SIGSTOP);
		wl_wait();
		_exit(0);
	}
	if (waitpid(c, &st, 0) != c || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) {
		fprintf(stderr, "traced: child did not stop (0x%x)\n", st);
		return 2;
	}
	ptrace(PTRACE_CONT, c, NULL, NULL);
	if (tracer_of(c) != getpid()) {
		fprintf(stderr, "traced: child not traced\n");
		return 2;
	}
	wl_ready();
	wl_wait();

	WL_CHECK(tracer_of(c) == getpid(), "child %d: TracerPid %d, want %d", c, tracer_of(c), getpid());
	kill(c, SIGUSR1);
	pid_t w = waitpid(c, &st, 0);
	if (w != c || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGUSR1) {
		wl_fail("child: waitpid = %d status 0x%x, want a SIGUSR1 signal-delivery stop", w, st);
		kill(c, SIGKILL);
		waitpid(c, &st, 0);
		return wl_finish();
	}
	ptrace(PTRACE_CONT, c, NULL, (void *)(long)SIGUSR1);
	w = waitpid(c, &st, 0);
	WL_CHECK(w == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: waitpid = %d status 0x%x, want exit 0", w,
		 st);
	return wl_finish();
}
