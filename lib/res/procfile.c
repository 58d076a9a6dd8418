// SPDX-License-Identifier: MIT
/*
 * Files under /proc and /sys, reopened by path (part of the regular-file
 * kind, file.c). What a restore can open again safely:
 *
 *  - a regular file opened read-only whose path names no process
 *    (/proc/meminfo, /proc/sys/..., /sys/...): reopened by the restore like
 *    any file;
 *  - a read-only information file of a process of the tree
 *    (/proc/PID/status, stat, maps, ...; /proc/self/... reads as
 *    /proc/PID/... in the link): the pid is the same after the restore, but
 *    that process does not exist yet when files are opened, so it is
 *    reopened inside the process that holds it, once the tree exists
 *    (procfile_attach). Such a description cannot be shared with another
 *    process (dump_fd.c refuses it).
 *
 * Everything else (another process's files, threads' files, /proc/PID/mem,
 * directories, files opened for writing) is refused at dump.
 */
#include <ctype.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/magic.h>
#include <sys/syscall.h>

#include "res.h"

/* Files of a process that only describe it: reopening them reads the restored one. */
static bool info_file(const char *name)
{
	static const char *const names[] = {
		"status", "stat",   "statm",   "cmdline",   "comm",        "maps",       "smaps",
		"smaps_rollup",     "numa_maps", "limits",  "cgroup",      "cpuset",     "mountinfo",
		"mounts", "environ", "auxv",   "io",        "oom_score",   "oom_score_adj", "sched",
		"schedstat", "wchan", "personality", "loginuid", "sessionid", "timerslack_ns",
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

/* The pid in "/proc/PID/...", 0 if the path names no process; *rest is what follows "PID/". */
static uint32_t path_pid(const char *path, const char **rest)
{
	const char *p = path + 6; /* after "/proc/" */
	unsigned long v;
	char *end;

	if (strncmp(path, "/proc/", 6) || !isdigit((unsigned char)*p))
		return 0;
	v = strtoul(p, &end, 10);
	if (*end != '/' && *end)
		return 0;
	*rest = *end ? end + 1 : end;
	return v > 0 && v < 4194304 ? (uint32_t)v : 0;
}

int procfile_dump(struct ckpt_ctx *ctx, const struct fd_desc *fd, Ckpt__File *f, struct model *m, bool proc)
{
	const char *rest = "";
	uint32_t pid = proc ? path_pid(fd->link, &rest) : 0;
	char *end;

	if ((fd->flags & O_ACCMODE) != O_RDONLY || (fd->flags & O_PATH) || !S_ISREG(fd->st.st_mode))
		return fail(ctx, -EOPNOTSUPP,
			    "pid %d fd %d: %s: only regular files opened read-only under /proc and /sys are supported",
			    fd->pid, fd->fd, fd->link);
	if (!pid)
		return 0; /* reopened by path, like any file */
	if (!model_proc(m, pid))
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: %s belongs to pid %u, which is not in the tree; not supported",
			    fd->pid, fd->fd, fd->link, pid);
	/* Threads other than the main one are made after descriptors are in place. */
	if (!strncmp(rest, "task/", 5)) {
		unsigned long tid = strtoul(rest + 5, &end, 10);

		if (tid != pid || *end != '/')
			return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: %s: files of a thread are not supported yet",
				    fd->pid, fd->fd, fd->link);
		rest = end + 1;
	}
	if (!info_file(rest))
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: %s cannot be reopened safely; not supported", fd->pid,
			    fd->fd, fd->link);
	f->has_proc_reopen = f->proc_reopen = true;
	f->has_owner_pid = true;
	f->owner_pid = (uint32_t)fd->pid;
	return 0;
}

/* Every fd of ours that holds the same description as fd. */
static size_t same_fds(int fd, int **out)
{
	_cleanup_(closedirp) DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	size_t n = 0, cap = 0;

	*out = NULL;
	while (dir && (de = readdir(dir))) {
		int x = atoi(de->d_name);

		if (de->d_name[0] != '.' && x != dirfd(dir) &&
		    syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, fd, x) == 0)
			*(int *)array_push(out, &n, &cap, sizeof(int)) = x;
	}
	return n;
}

/*
 * Runs in the restored process: opens the file for real and puts it at
 * every fd that holds the placeholder path_open() gave.
 */
int procfile_attach(const Ckpt__File *f, uint32_t pid, int fd, char *msg, size_t msglen)
{
	const char *rest = "";
	uint32_t of = path_pid(f->path, &rest);
	_cleanup_free_ int *fds = NULL;
	char dir[32];
	int nfd, e;
	size_t n;

	if (!f->proc_reopen)
		return 0;
	if (!of || f->owner_pid != pid) {
		snprintf(msg, msglen, "image damaged: pid %u fd %d: /proc file %s", pid, fd, f->path);
		return -EBADMSG;
	}
	/* The process it names may not be made yet: its parent makes it meanwhile. */
	snprintf(dir, sizeof(dir), "/proc/%u", of);
	for (int i = 0; i < 10000 && access(dir, F_OK) < 0; i++)
		usleep(1000);
	nfd = open(f->path, O_RDONLY | O_CLOEXEC | ((int)f->flags & (O_NONBLOCK | O_NOATIME)));
	if (nfd < 0 || (f->pos && lseek(nfd, (off_t)f->pos, SEEK_SET) < 0)) {
		e = errno;
		snprintf(msg, msglen, "pid %u fd %d: reopening %s: %s", pid, fd, f->path, strerror(e));
		if (nfd >= 0)
			close(nfd);
		return -e;
	}
	n = same_fds(fd, &fds);
	for (size_t i = 0; i < n; i++) {
		int cloexec = fcntl(fds[i], F_GETFD) & FD_CLOEXEC;

		if (dup3(nfd, fds[i], cloexec ? O_CLOEXEC : 0) < 0) {
			e = errno;
			snprintf(msg, msglen, "pid %u fd %d: %s: %s", pid, fds[i], f->path, strerror(e));
			close(nfd);
			return -e;
		}
	}
	close(nfd);
	return 0;
}
