/*
 * Credentials workload: a root parent with two children whose credentials
 * differ from it, and a thread with credentials of its own.
 *
 *   creds READY_FILE RESULT_FILE
 *
 *   parent   root, unchanged; one extra thread removes CAP_SYS_ADMIN and
 *            CAP_SYS_PTRACE from its own effective set (capset applies to the
 *            calling thread only), so the threads differ.
 *   dropped  groups {65534, 100}; gids real 100, effective 65534, saved 0,
 *            fs 100; uids real 65534, effective 65534, saved 0, fs 0. With a
 *            saved uid of 0 the permitted set stays full; fsuid 0 puts the
 *            file system capabilities back into the effective set.
 *   capped   stays uid 0 but: CAP_NET_RAW gone from effective and permitted,
 *            CAP_SETUID gone from effective only, CAP_NET_BIND_SERVICE and
 *            CAP_KILL inheritable, CAP_NET_BIND_SERVICE ambient, CAP_SYS_BOOT,
 *            CAP_MKNOD and CAP_NET_RAW dropped from the bounding set,
 *            securebits SECBIT_NOROOT, no_new_privs.
 *
 * Each process records, before READY: getresuid, getresgid, fsuid, fsgid,
 * getgroups, capget of itself (and of the thread), the /proc status lines
 * Uid Gid Groups CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs Seccomp (for
 * the process and for every thread), PR_GET_SECUREBITS, PR_GET_NO_NEW_PRIVS,
 * PR_GET_KEEPCAPS, PR_GET_DUMPABLE (a change of uid makes a process
 * non-dumpable), ambient and bounding bits through prctl. On SIGUSR1 all of
 * it must be exactly equal. Children report to RESULT_FILE.NAME through a
 * descriptor opened while they were still root; the parent folds their
 * verdicts into RESULT_FILE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

static volatile sig_atomic_t verify_requested;

static void on_usr1(int sig) { (void)sig; verify_requested = 1; }

static void fd_report(int fd)
{
	const char *a = why[0] ? "FAIL: " : "PASS";

	if (ftruncate(fd, 0) < 0 || pwrite(fd, a, strlen(a), 0) < 0 ||
	    (why[0] && pwrite(fd, why, strlen(why), 6) < 0) ||
	    pwrite(fd, "\n", 1, (off_t)(strlen(a) + (why[0] ? strlen(why) : 0))) < 0)
		_exit(3);
}

/* ---- snapshots ---- */

static const char *status_keys[] = {
	"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp",
};
#define NKEYS (sizeof(status_keys) / sizeof(status_keys[0]))

struct status_lines {
	char line[NKEYS][512];
};

struct creds {
	uid_t ruid, euid, suid, fsuid;
	gid_t rgid, egid, sgid, fsgid;
	int ngroups;
	gid_t groups[256];
	struct __user_cap_data_struct cap[2];
	int securebits, nnp, keepcaps, dumpable;
	uint64_t ambient, bounding;
	struct status_lines proc;
};

static int read_status(const char *path, struct status_lines *out)
{
	static char buf[16384];

	memset(out, 0, sizeof(*out));
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	for (size_t k = 0; k < NKEYS; k++) {
		size_t klen = strlen(status_keys[k]);

		for (const char *p = buf; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
			if (!strncmp(p, status_keys[k], klen) && p[klen] == ':') {
				snprintf(out->line[k], sizeof(out->line[k]), "%.*s", (int)strcspn(p, "\n"), p);
				break;
			}
		if (!out->line[k][0])
			return -1;
	}
	return 0;
}

static int cap_get(pid_t tid, struct __user_cap_data_struct *data)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, tid };

	return (int)syscall(SYS_capget, &hdr, data);
}

static int cap_set(struct __user_cap_data_struct *data)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return (int)syscall(SYS_capset, &hdr, data);
}

static void cap_clear(struct __user_cap_data_struct *d, int set, int cap)
{
	uint32_t bit = 1u << (cap % 32);

	if (set & 1)
		d[cap / 32].effective &= ~bit;
	if (set & 2)
		d[cap / 32].permitted &= ~bit;
	if (set & 4)
		d[cap / 32].inheritable &= ~bit;
}

static void cap_add(struct __user_cap_data_struct *d, int set, int cap)
{
	uint32_t bit = 1u << (cap % 32);

	if (set & 1)
		d[cap / 32].effective |= bit;
	if (set & 2)
		d[cap / 32].permitted |= bit;
	if (set & 4)
		d[cap / 32].inheritable |= bit;
}

static int take(struct creds *c)
{
	memset(c, 0, sizeof(*c));
	if (getresuid(&c->ruid, &c->euid, &c->suid) < 0 || getresgid(&c->rgid, &c->egid, &c->sgid) < 0)
		return -1;
	/* An invalid id changes nothing and returns the current one. */
	c->fsuid = (uid_t)setfsuid((uid_t)-1);
	c->fsgid = (gid_t)setfsgid((gid_t)-1);
	c->ngroups = getgroups(256, c->groups);
	if (c->ngroups < 0 || cap_get(0, c->cap) < 0)
		return -1;
	c->securebits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	c->nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	c->keepcaps = prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0);
	c->dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	for (int cap = 0; cap <= 63; cap++) {
		int b = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		int a = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);

		if (b > 0)
			c->bounding |= 1ull << cap;
		if (a > 0)
			c->ambient |= 1ull << cap;
	}
	return read_status("/proc/self/status", &c->proc);
}

static void compare_status(const char *what, const struct status_lines *b, const struct status_lines *a)
{
	for (size_t k = 0; k < NKEYS; k++)
		if (strcmp(b->line[k], a->line[k]))
			FAILF("%s: [%s], was [%s]", what, a->line[k], b->line[k]);
}

static void compare(const struct creds *b, const struct creds *a)
{
	if (a->ruid != b->ruid || a->euid != b->euid || a->suid != b->suid || a->fsuid != b->fsuid)
		FAILF("uids %u %u %u fs %u, were %u %u %u fs %u", a->ruid, a->euid, a->suid, a->fsuid, b->ruid,
		      b->euid, b->suid, b->fsuid);
	if (a->rgid != b->rgid || a->egid != b->egid || a->sgid != b->sgid || a->fsgid != b->fsgid)
		FAILF("gids %u %u %u fs %u, were %u %u %u fs %u", a->rgid, a->egid, a->sgid, a->fsgid, b->rgid,
		      b->egid, b->sgid, b->fsgid);
	if (a->ngroups != b->ngroups || memcmp(a->groups, b->groups, (size_t)b->ngroups * sizeof(gid_t)))
		FAILF("%d supplementary groups (first %u), were %d (first %u)", a->ngroups,
		      a->ngroups > 0 ? a->groups[0] : 0, b->ngroups, b->ngroups > 0 ? b->groups[0] : 0);
	for (int i = 0; i < 2; i++)
		if (a->cap[i].effective != b->cap[i].effective || a->cap[i].permitted != b->cap[i].permitted ||
		    a->cap[i].inheritable != b->cap[i].inheritable)
			FAILF("capget word %d: eff %08x prm %08x inh %08x, were %08x %08x %08x", i, a->cap[i].effective,
			      a->cap[i].permitted, a->cap[i].inheritable, b->cap[i].effective, b->cap[i].permitted,
			      b->cap[i].inheritable);
	if (a->securebits != b->securebits)
		FAILF("securebits 0x%x, were 0x%x", a->securebits, b->securebits);
	if (a->nnp != b->nnp)
		FAILF("no_new_privs %d, was %d", a->nnp, b->nnp);
	if (a->keepcaps != b->keepcaps)
		FAILF("keepcaps %d, was %d", a->keepcaps, b->keepcaps);
	if (a->dumpable != b->dumpable)
		FAILF("dumpable %d, was %d", a->dumpable, b->dumpable);
	if (a->bounding != b->bounding)
		FAILF("bounding set %016llx, was %016llx", (unsigned long long)a->bounding,
		      (unsigned long long)b->bounding);
	if (a->ambient != b->ambient)
		FAILF("ambient set %016llx, was %016llx", (unsigned long long)a->ambient, (unsigned long long)b->ambient);
	compare_status("/proc/self/status", &b->proc, &a->proc);
}

static struct creds before, after;

static void wait_for_verify(void)
{
	sigset_t none;

	sigemptyset(&none);
	while (!verify_requested)
		sigsuspend(&none);
}

/* ---- children ---- */

static int drop_to_nobody(void)
{
	gid_t groups[2] = { 65534, 100 };

	if (setgroups(2, groups) < 0) {
		FAILF("setgroups: %s", strerror(errno));
		return -1;
	}
	if (setresgid(100, 65534, 0) < 0) {
		FAILF("setresgid: %s", strerror(errno));
		return -1;
	}
	if (setresuid(65534, 65534, 0) < 0) {
		FAILF("setresuid: %s", strerror(errno));
		return -1;
	}
	setfsuid(0);
	setfsgid(100);
	if ((uid_t)setfsuid((uid_t)-1) != 0 || (gid_t)setfsgid((gid_t)-1) != 100) {
		FAILF("setfsuid/setfsgid did not take");
		return -1;
	}
	return 0;
}

static int reduce_caps(void)
{
	struct __user_cap_data_struct d[2];

	if (cap_get(0, d) < 0) {
		FAILF("capget: %s", strerror(errno));
		return -1;
	}
	cap_clear(d, 1 | 2, CAP_NET_RAW);
	cap_clear(d, 1, CAP_SETUID);
	cap_add(d, 4, CAP_NET_BIND_SERVICE);
	cap_add(d, 4, CAP_KILL);
	if (cap_set(d) < 0) {
		FAILF("capset: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) < 0) {
		FAILF("PR_CAP_AMBIENT_RAISE: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0) < 0 || prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0) < 0 ||
	    prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0) < 0) {
		FAILF("PR_CAPBSET_DROP: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT, 0, 0, 0) < 0) {
		FAILF("PR_SET_SECUREBITS: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		FAILF("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Sets up, writes "ready" to its report file, waits, verifies, reports. */
static void child_main(const char *name, const char *result, int (*setup)(void))
{
	char path[4200];
	int fd;

	who = name;
	snprintf(path, sizeof(path), "%s.%s", result, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		_exit(2);
	if (setup() == 0 && take(&before) < 0)
		FAILF("cannot read own credentials");
	if (pwrite(fd, "ready\n", 6, 0) != 6)
		_exit(3);
	if (why[0]) {
		fd_report(fd);
		_exit(1);
	}
	wait_for_verify();
	if (take(&after) < 0)
		FAILF("cannot read own credentials after restore");
	else
		compare(&before, &after);
	/* The credentials act, not only read back. */
	if (!why[0] && !strcmp(name, "capped")) {
		if (prctl(PR_CAPBSET_READ, CAP_SYS_BOOT, 0, 0, 0) != 0)
			FAILF("CAP_SYS_BOOT is back in the bounding set");
		if (setresuid((uid_t)-1, 1234, (uid_t)-1) == 0)
			FAILF("setresuid works without CAP_SETUID in the effective set");
	}
	if (!why[0] && !strcmp(name, "dropped")) {
		if (setgroups(0, NULL) == 0)
			FAILF("setgroups works for an effective uid of 65534");
	}
	fd_report(fd);
	_exit(why[0] ? 1 : 0);
}

/* ---- the parent's extra thread ---- */

static atomic_int thread_state; /* 1 set up, 2 failed */
static atomic_int thread_tid;

static void *thread_main(void *arg)
{
	struct __user_cap_data_struct d[2];
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	thread_tid = (int)syscall(SYS_gettid);
	if (cap_get(0, d) < 0) {
		thread_state = 2;
		return NULL;
	}
	cap_clear(d, 1, CAP_SYS_ADMIN);
	cap_clear(d, 1, CAP_SYS_PTRACE);
	thread_state = cap_set(d) == 0 ? 1 : 2;
	for (;;)
		pause();
	return NULL;
}

struct thread_creds {
	struct __user_cap_data_struct cap[2];
	struct status_lines st;
};

static int take_thread(struct thread_creds *t)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", thread_tid);
	if (cap_get(thread_tid, t->cap) < 0)
		return -1;
	return read_status(path, &t->st);
}

static pid_t start_child(const char *name, const char *result, int (*setup)(void))
{
	pid_t p = fork();

	if (p == 0)
		child_main(name, result, setup);
	return p;
}

static int wait_child_ready(const char *name, const char *result)
{
	char path[4200], buf[64];

	snprintf(path, sizeof(path), "%s.%s", result, name);
	for (int i = 0; i < 2000; i++) {
		if (read_file(path, buf, sizeof(buf)) > 0)
			return strncmp(buf, "ready", 5) ? -1 : 0;
		usleep(10000);
	}
	return -1;
}

static void collect_child(pid_t p, const char *name, const char *result)
{
	char path[4200], line[8192] = "";
	int status = 0, i;

	snprintf(path, sizeof(path), "%s.%s", result, name);
	kill(p, SIGUSR1);
	for (i = 0; i < 3000 && waitpid(p, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (i == 3000) {
		kill(p, SIGKILL);
		waitpid(p, &status, 0);
		FAILF("child %s did not finish", name);
		return;
	}
	read_file(path, line, sizeof(line));
	line[strcspn(line, "\n")] = 0;
	if (strcmp(line, "PASS"))
		FAILF("child %s: %s", name, line[0] ? line : "no report");
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		FAILF("child %s: exit status 0x%x", name, status);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct thread_creds tb, ta;
	pthread_t thr;
	sigset_t usr1;
	pid_t dropped, capped;

	who = "parent";
	if (argc < 3) {
		fprintf(stderr, "usage: %s READY_FILE RESULT_FILE\n", argv[0]);
		return 2;
	}
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	if (geteuid() != 0) {
		write_text(argv[2], "FAIL: ", "must run as root");
		write_text(argv[1], "ready", NULL);
		return 1;
	}

	dropped = start_child("dropped", argv[2], drop_to_nobody);
	capped = start_child("capped", argv[2], reduce_caps);
	if (dropped < 0 || capped < 0)
		FAILF("fork: %s", strerror(errno));
	if (wait_child_ready("dropped", argv[2]) < 0 || wait_child_ready("capped", argv[2]) < 0)
		FAILF("a child did not get ready");
	if (pthread_create(&thr, NULL, thread_main, NULL))
		FAILF("pthread_create failed");
	while (!thread_state)
		usleep(1000);
	if (thread_state != 1)
		FAILF("the thread could not change its capabilities");
	if (!why[0] && (take(&before) < 0 || take_thread(&tb) < 0))
		FAILF("cannot read credentials");
	if (!why[0] && tb.cap[0].effective == before.cap[0].effective)
		FAILF("the thread's capabilities do not differ from the process's");
	if (why[0]) {
		write_text(argv[2], "FAIL: ", why);
		write_text(argv[1], "ready", NULL);
		return 1;
	}
	write_text(argv[1], "ready", NULL);

	wait_for_verify();

	if (take(&after) < 0)
		FAILF("cannot read own credentials after restore");
	else
		compare(&before, &after);
	who = "thread";
	if (take_thread(&ta) < 0) {
		FAILF("cannot read the thread's credentials after restore");
	} else {
		for (int i = 0; i < 2; i++)
			if (ta.cap[i].effective != tb.cap[i].effective || ta.cap[i].permitted != tb.cap[i].permitted ||
			    ta.cap[i].inheritable != tb.cap[i].inheritable)
				FAILF("capget word %d: eff %08x prm %08x inh %08x, were %08x %08x %08x", i,
				      ta.cap[i].effective, ta.cap[i].permitted, ta.cap[i].inheritable, tb.cap[i].effective,
				      tb.cap[i].permitted, tb.cap[i].inheritable);
		compare_status("/proc/self/task/TID/status", &tb.st, &ta.st);
	}
	who = "parent";
	collect_child(dropped, "dropped", argv[2]);
	collect_child(capped, "capped", argv[2]);
	if (why[0])
		write_text(argv[2], "FAIL: ", why);
	else
		write_text(argv[2], "PASS", NULL);
	return why[0] != 0;
}
