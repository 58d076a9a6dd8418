/*
 * seccomp: filters and strict mode across a checkpoint.
 *
 *   seccomp READY RESULT
 *
 * Main thread: no_new_privs, filter 1 (mincore -> EPERM); thread T starts;
 * the main thread adds filter 3 with SECCOMP_FILTER_FLAG_TSYNC|LOG
 * (sysinfo -> EXDEV), which T gets too; then T adds its own filter 2
 * (getpriority -> ENOTTY).
 * A child S enters strict mode and waits in read() on a pipe.
 * After restore (SIGUSR1): every thread has the same Seccomp and
 * Seccomp_filters lines in /proc as before, and the filters act: mincore
 * EPERM everywhere, getpriority ENOTTY only in T, madvise EXDEV everywhere;
 * S, woken through the pipe, answers and leaves with exit(2) (which strict
 * mode allows: anything else would kill it).
 */
#include "wl.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static pid_t t_tid;
static volatile int t_go, t_done, t_synced, t_filtered;
static char t_why[256];
static char before_main[128], before_t[128];

static int deny(long nr, int err, unsigned flags)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static void seccomp_lines(pid_t tid, char *out, size_t n)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	out[0] = 0;
	if (wl_read_file(path, buf, sizeof(buf)) != 0)
		return;
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
		if (!strncmp(l, "Seccomp", 7)) {
			strncat(out, l, n - strlen(out) - 2);
			strcat(out, ";");
		}
}

static int check_errno(long r, int want)
{
	return r == -1 && errno == want;
}

static void *t_main(void *arg)
{
	unsigned char vec;

	(void)arg;
	t_tid = wl_gettid();
	while (!t_synced)
		wl_msleep(1);
	if (deny(SYS_getpriority, ENOTTY, 0) != 0)
		snprintf(t_why, sizeof(t_why), "T: filter 2: %s", strerror(errno));
	t_filtered = 1;
	while (!t_go)
		wl_msleep(1);
	if (!check_errno(syscall(SYS_getpriority, 0, 0), ENOTTY))
		snprintf(t_why, sizeof(t_why), "T: getpriority not denied with ENOTTY");
	else if (!check_errno(syscall(SYS_mincore, NULL, 4096, &vec), EPERM))
		snprintf(t_why, sizeof(t_why), "T: mincore not denied with EPERM");
	else if (!check_errno(syscall(SYS_sysinfo, NULL), EXDEV))
		snprintf(t_why, sizeof(t_why), "T: sysinfo not denied with EXDEV (TSYNC filter)");
	t_done = 1;
	return NULL;
}

static void strict_child(int rfd, int wfd)
{
	char c;

	if (syscall(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0)
		syscall(SYS_exit, 3);
	if (syscall(SYS_read, rfd, &c, 1) != 1)
		syscall(SYS_exit, 4);
	c++;
	syscall(SYS_write, wfd, &c, 1);
	syscall(SYS_exit, 2);
}

int main(int argc, char **argv)
{
	int to_s[2], from_s[2], st;
	pthread_t t;
	unsigned char vec;

	wl_init(argc, argv);
	if (pipe(to_s) || pipe(from_s))
		return 2;
	pid_t s = fork();
	if (s == 0)
		strict_child(to_s[0], from_s[1]);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || deny(SYS_mincore, EPERM, 0))
		return 2;
	pthread_create(&t, NULL, t_main, NULL);
	while (!t_tid)
		wl_msleep(1);
	if (deny(SYS_sysinfo, EXDEV, SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG))
		return 2;
	t_synced = 1;
	while (!t_filtered)
		wl_msleep(1);
	seccomp_lines(wl_gettid(), before_main, sizeof(before_main));
	seccomp_lines(t_tid, before_t, sizeof(before_t));
	wl_ready();
	wl_wait();

	char now[128];
	seccomp_lines(wl_gettid(), now, sizeof(now));
	WL_CHECK(!strcmp(now, before_main), "main: '%s', was '%s'", now, before_main);
	seccomp_lines(t_tid, now, sizeof(now));
	WL_CHECK(!strcmp(now, before_t), "T: '%s', was '%s'", now, before_t);
	WL_CHECK(check_errno(syscall(SYS_mincore, NULL, 4096, &vec), EPERM), "main: mincore not denied with EPERM");
	WL_CHECK(syscall(SYS_getpriority, 0, 0) >= 0, "main: getpriority denied (only T's filter denies it)");
	WL_CHECK(check_errno(syscall(SYS_sysinfo, NULL), EXDEV), "main: sysinfo not denied with EXDEV");
	t_go = 1;
	pthread_join(t, NULL);
	if (t_why[0])
		wl_fail("%s", t_why);
	char c = 'a';
	WL_CHECK(write(to_s[1], &c, 1) == 1 && read(from_s[0], &c, 1) == 1 && c == 'b', "strict child did not answer");
	WL_CHECK(waitpid(s, &st, 0) == s && WIFEXITED(st) && WEXITSTATUS(st) == 2,
		 "strict child: status 0x%x, want exit 2", st);
	return wl_finish();
}
