/*
 * share: fd tables and fs information shared between processes.
 *
 *   share READY RESULT
 *
 * The root P makes (with raw clone, no CLONE_VM):
 *   A   clone(CLONE_FILES): P's fd table;
 *   A2  made by A with clone(CLONE_FILES): the same table, a grandchild;
 *   B   clone(CLONE_FS): P's cwd, root and umask, a table of its own;
 *   C1  fork(): nothing shared with P;
 *   C2  made by C1 with clone(CLONE_FILES|CLONE_FS|CLONE_PARENT): a child of
 *       P, with C1's table and fs but not P's;
 *   E   fork(): nothing shared.
 * Each child serves requests from P on a pipe pair (open a file, tell what
 * an fd is, close one, chdir, cwd, umask). After restore (SIGUSR1 to P), P
 * checks with kcmp who shares what with whom, and that the sharing works: a
 * file A opens is in P's table and closing it in P closes it for A2; C2's
 * files are C1's and not P's; B's chdir moves P, P's umask is B's; A's and
 * E's cwd did not move. Cwds and umasks are those of before the dump.
 * The ready file names the children: "ready A PID A2 PID B PID C1 PID C2 PID E PID".
 */
#include "wl.h"
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <linux/kcmp.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>

struct kid {
	const char *name;
	pid_t pid;
	int req[2], resp[2];
};

enum { A, A2, B, C1, C2, E, NKIDS };
static struct kid kids[NKIDS] = {
	[A] = { "A" }, [A2] = { "A2" }, [B] = { "B" }, [C1] = { "C1" }, [C2] = { "C2" }, [E] = { "E" },
};
static char dir[4096], subdir[4200];

#define MSG 256

static pid_t raw_clone(unsigned long flags)
{
	fflush(NULL);
	return (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
}

static void serve(struct kid *k);

/* Starts kid k with clone flags; its pipes are made by the caller. */
static pid_t start(struct kid *k, unsigned long flags)
{
	pid_t pid = raw_clone(flags);

	if (pid == 0)
		serve(k);
	return pid;
}

static void reply(struct kid *k, const char *fmt, ...)
{
	char buf[MSG] = { 0 };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (write(k->resp[1], buf, MSG) != MSG)
		_exit(5);
}

static void fd_target(int fd, char *out, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, out, len - 1);
	if (n < 0)
		snprintf(out, len, "closed");
	else
		out[n] = 0;
}

static void serve(struct kid *k)
{
	char req[MSG], arg[MSG], buf[MSG];
	pid_t made = 0;

	for (;;) {
		ssize_t n = read(k->req[0], req, MSG);

		if (n != MSG)
			_exit(n == 0 ? 0 : 4);
		arg[0] = 0;
		sscanf(req, "%*s %255[^\n]", arg);
		if (!strncmp(req, "exit", 4)) {
			reply(k, "ok");
			if (made > 0 && k == &kids[A])
				waitpid(made, NULL, __WALL);
			_exit(0);
		} else if (!strncmp(req, "open", 4)) {
			reply(k, "%d", open(arg, O_RDWR | O_CREAT, 0600));
		} else if (!strncmp(req, "what", 4)) {
			fd_target(atoi(arg), buf, sizeof(buf));
			reply(k, "%s", buf);
		} else if (!strncmp(req, "close", 5)) {
			reply(k, "%d", close(atoi(arg)));
		} else if (!strncmp(req, "chdir", 5)) {
			reply(k, "%d", chdir(arg));
		} else if (!strncmp(req, "cwd", 3)) {
			reply(k, "%s", getcwd(buf, sizeof(buf)) ? buf : "?");
		} else if (!strncmp(req, "umask", 5)) {
			mode_t m = umask(0);

			umask(m);
			reply(k, "%03o", (unsigned)m);
		} else if (!strncmp(req, "spawn", 5)) {
			/* A makes A2 with its (P's) table; C1 makes C2 as its sibling. */
			if (k == &kids[A])
				made = start(&kids[A2], CLONE_FILES | SIGCHLD);
			else
				made = start(&kids[C2], CLONE_FILES | CLONE_FS | CLONE_PARENT);
			reply(k, "%d", made);
		} else {
			reply(k, "?");
		}
	}
}

static const char *ask(struct kid *k, const char *fmt, ...)
{
	static char buf[MSG];
	char req[MSG] = { 0 };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req), fmt, ap);
	va_end(ap);
	if (write(k->req[1], req, MSG) != MSG || read(k->resp[0], buf, MSG) != MSG) {
		wl_fail("%s (pid %d): no answer to '%s'", k->name, k->pid, req);
		snprintf(buf, sizeof(buf), "(no answer)");
	}
	return buf;
}

static int kcmp(pid_t a, pid_t b, int type)
{
	return (int)syscall(SYS_kcmp, a, b, type, 0, 0);
}

static void expect_share(pid_t a, const char *an, pid_t b, const char *bn, int type, bool same)
{
	int r = kcmp(a, b, type);
	const char *what = type == KCMP_FILES ? "fd table" : "fs";

	if (r < 0)
		wl_fail("kcmp %s %s %s: %s", an, bn, what, strerror(errno));
	else if ((r == 0) != same)
		wl_fail("%s and %s %s their %s", an, bn, same ? "no longer share" : "now share", what);
}

static void check_kcmp(void)
{
	pid_t p = getpid();

	expect_share(p, "P", kids[A].pid, "A", KCMP_FILES, true);
	expect_share(p, "P", kids[A2].pid, "A2", KCMP_FILES, true);
	expect_share(p, "P", kids[B].pid, "B", KCMP_FILES, false);
	expect_share(p, "P", kids[C1].pid, "C1", KCMP_FILES, false);
	expect_share(p, "P", kids[C2].pid, "C2", KCMP_FILES, false);
	expect_share(kids[C1].pid, "C1", kids[C2].pid, "C2", KCMP_FILES, true);
	expect_share(p, "P", kids[E].pid, "E", KCMP_FILES, false);
	expect_share(p, "P", kids[B].pid, "B", KCMP_FS, true);
	expect_share(p, "P", kids[A].pid, "A", KCMP_FS, false);
	expect_share(p, "P", kids[A2].pid, "A2", KCMP_FS, false);
	expect_share(kids[A].pid, "A", kids[A2].pid, "A2", KCMP_FS, false);
	expect_share(kids[C1].pid, "C1", kids[C2].pid, "C2", KCMP_FS, true);
	expect_share(p, "P", kids[C1].pid, "C1", KCMP_FS, false);
	expect_share(p, "P", kids[E].pid, "E", KCMP_FS, false);
	/* C2 was made by C1 but is P's child. */
	{
		char path[64], buf[512];
		long long ppid = -1;

		snprintf(path, sizeof(path), "/proc/%d/stat", kids[C2].pid);
		if (wl_read_file(path, buf, sizeof(buf)) == 0 && strrchr(buf, ')'))
			sscanf(strrchr(buf, ')') + 2, "%*c %lld", &ppid);
		WL_CHECK(ppid == p, "C2's parent is %lld, not P (%d)", ppid, p);
	}
}

/* A file opened by A is in P's table; closed by P, it is gone for A2. */
static void check_files(void)
{
	char path[4300], mine[MSG];
	const char *r;
	int fd;

	snprintf(path, sizeof(path), "%s/opened-by-A", dir);
	fd = atoi(ask(&kids[A], "open %s", path));
	if (fd < 0)
		return (void)wl_fail("A could not open %s", path);
	fd_target(fd, mine, sizeof(mine));
	WL_CHECK(!strcmp(mine, path), "A opened fd %d; in P it is %s", fd, mine);
	r = ask(&kids[A2], "what %d", fd);
	WL_CHECK(!strcmp(r, path), "A opened fd %d; in A2 it is %s", fd, r);
	WL_CHECK(close(fd) == 0, "P cannot close fd %d that A opened: %s", fd, strerror(errno));
	r = ask(&kids[A2], "what %d", fd);
	WL_CHECK(!strcmp(r, "closed"), "P closed fd %d; in A2 it is still %s", fd, r);
	r = ask(&kids[A], "what %d", fd);
	WL_CHECK(!strcmp(r, "closed"), "P closed fd %d; in A it is still %s", fd, r);

	snprintf(path, sizeof(path), "%s/opened-by-C2", dir);
	fd = atoi(ask(&kids[C2], "open %s", path));
	if (fd < 0)
		return (void)wl_fail("C2 could not open %s", path);
	r = ask(&kids[C1], "what %d", fd);
	WL_CHECK(!strcmp(r, path), "C2 opened fd %d; in C1 it is %s", fd, r);
	fd_target(fd, mine, sizeof(mine));
	WL_CHECK(strcmp(mine, path), "C2 opened fd %d, and P has it too", fd);
	r = ask(&kids[E], "what %d", fd);
	WL_CHECK(strcmp(r, path), "C2 opened fd %d, and E has it too", fd);
	ask(&kids[C1], "close %d", fd);
	r = ask(&kids[C2], "what %d", fd);
	WL_CHECK(!strcmp(r, "closed"), "C1 closed fd %d; in C2 it is still %s", fd, r);
}

/* Cwd and umask: as before the dump, then B's chdir moves P, P's umask is B's. */
static void check_fs(void)
{
	char cwd[4300];
	const char *r;

	WL_CHECK(getcwd(cwd, sizeof(cwd)) && !strcmp(cwd, subdir), "P's cwd is %s, not %s", cwd, subdir);
	r = ask(&kids[B], "cwd");
	WL_CHECK(!strcmp(r, subdir), "B's cwd is %s, not %s", r, subdir);
	r = ask(&kids[A], "cwd");
	WL_CHECK(!strcmp(r, dir), "A's cwd is %s, not %s", r, dir);
	r = ask(&kids[C2], "cwd");
	WL_CHECK(!strcmp(r, "/"), "C2's cwd is %s, not /", r);
	r = ask(&kids[B], "umask");
	WL_CHECK(!strcmp(r, "027"), "B's umask is %s, not 027", r);
	r = ask(&kids[A], "umask");
	WL_CHECK(!strcmp(r, "077"), "A's umask is %s, not 077", r);
	r = ask(&kids[C1], "umask");
	WL_CHECK(!strcmp(r, "002"), "C1's umask is %s, not 002", r);

	r = ask(&kids[B], "chdir %s", dir);
	WL_CHECK(!strcmp(r, "0"), "B: chdir %s: %s", dir, r);
	WL_CHECK(getcwd(cwd, sizeof(cwd)) && !strcmp(cwd, dir), "B moved to %s; P is in %s", dir, cwd);
	r = ask(&kids[E], "cwd");
	WL_CHECK(!strcmp(r, subdir), "B moved; E moved too, to %s", r);
	umask(0007);
	r = ask(&kids[B], "umask");
	WL_CHECK(!strcmp(r, "007"), "P set umask 007; B's is %s", r);
	r = ask(&kids[A], "umask");
	WL_CHECK(!strcmp(r, "077"), "P set umask 007; A's changed to %s", r);
	r = ask(&kids[C1], "chdir /tmp");
	r = ask(&kids[C2], "cwd");
	WL_CHECK(!strcmp(r, "/tmp"), "C1 moved to /tmp; C2 is in %s", r);
}

static void make_pipes(struct kid *k)
{
	if (pipe(k->req) || pipe(k->resp)) {
		perror("pipe");
		exit(3);
	}
}

int main(int argc, char **argv)
{
	char res[4200];

	wl_init(argc, argv);
	snprintf(res, sizeof(res), "%s", argv[2]);
	snprintf(dir, sizeof(dir), "%s", dirname(res));
	snprintf(subdir, sizeof(subdir), "%s/share-cwd", dir);
	mkdir(subdir, 0700);
	for (int i = 0; i < NKIDS; i++)
		make_pipes(&kids[i]);

	/* A: P's table, its own fs (cwd dir, umask 077). */
	if (chdir(dir) < 0)
		return 3;
	umask(077);
	kids[A].pid = start(&kids[A], CLONE_FILES | SIGCHLD);
	/* E and C1 share nothing: cwd subdir, umask 002; C1 then gives C2 its table and fs. */
	if (chdir(subdir) < 0)
		return 3;
	umask(002);
	kids[E].pid = start(&kids[E], SIGCHLD);
	kids[C1].pid = start(&kids[C1], SIGCHLD);
	/* B: P's fs (cwd subdir, umask 027). */
	umask(027);
	kids[B].pid = start(&kids[B], CLONE_FS | SIGCHLD);
	kids[A2].pid = atoi(ask(&kids[A], "spawn"));
	kids[C2].pid = atoi(ask(&kids[C1], "spawn"));
	ask(&kids[C2], "chdir /");
	for (int i = 0; i < NKIDS; i++)
		if (kids[i].pid <= 0) {
			fprintf(stderr, "cannot start %s\n", kids[i].name);
			return 3;
		}
	check_kcmp();
	if (wl_why[0]) {
		fprintf(stderr, "before the checkpoint: %s\n", wl_why);
		return 3;
	}
	{
		char msg[256];

		snprintf(msg, sizeof(msg), "ready A %d A2 %d B %d C1 %d C2 %d E %d", kids[A].pid, kids[A2].pid,
			 kids[B].pid, kids[C1].pid, kids[C2].pid, kids[E].pid);
		wl_ready_msg(msg);
	}
	wl_wait();

	check_kcmp();
	check_fs();
	check_files();
	/* A waits for A2 when it ends: A2 first. */
	for (int i = NKIDS - 1; i >= 0; i--)
		ask(&kids[i], "exit");
	for (int i = 0; i < NKIDS; i++)
		if (i != A2)
			waitpid(kids[i].pid, NULL, __WALL);
	return wl_finish();
}
