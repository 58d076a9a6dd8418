// SPDX-License-Identifier: MIT
/*
 * File locks: flock(2), POSIX record locks (F_SETLK), open file description
 * locks (F_OFD_SETLK) and leases (F_SETLEASE).
 *
 * The dump reads them from the "lock:" lines of /proc/PID/fdinfo/FD, which
 * show the locks taken through that description and owned by it (flock,
 * OFD, lease) or by the process's descriptor table (POSIX). Locks that
 * others hold on the same file are not the tree's and are not saved.
 *
 * At restore, flock and OFD locks are taken by the coordinator on the
 * description it opens (they belong to it, whoever uses it). A POSIX lock
 * belongs to the process, and closing any descriptor of the file drops it:
 * the process holds ckpt's copies of its files until the restorer closes
 * them, so POSIX locks are taken at the very end, inside the process, by
 * system calls the coordinator runs there (restore_finish.c). So are
 * leases, which tell the process that takes them when they are broken.
 *
 * A lock that cannot be taken again (another process holds a conflicting
 * one, the original tree itself after a --leave-running dump) fails the
 * restore and names the holder.
 */
#include <fcntl.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "locks.h"
#include "ptrace.h"
#include "res/res.h"

#define LOCKS_MAX (1u << 16)

/* One "lock:" line: "1: POSIX  ADVISORY  WRITE 1234 fe:00:5678 0 EOF". */
struct lock_line {
	char type[16], mode[16], rw[16], end[32];
	int pid;
	unsigned long long start;
};

static const char *const kind_names[] = {
	[LOCK_KIND_FLOCK] = "FLOCK", [LOCK_KIND_POSIX] = "POSIX", [LOCK_KIND_OFD] = "OFDLCK", [LOCK_KIND_LEASE] = "LEASE",
};

static Ckpt__Lock *parse_lock(struct arena *a, const struct lock_line *ll)
{
	Ckpt__Lock *l = arena_alloc(a, sizeof(*l));
	char *end;

	ckpt__lock__init(l);
	for (uint32_t k = 1; k < ARRAY_SIZE(kind_names); k++)
		if (!strcmp(ll->type, kind_names[k]))
			l->kind = k;
	if (!strcmp(ll->rw, "READ"))
		l->type = F_RDLCK;
	else if (!strcmp(ll->rw, "WRITE"))
		l->type = F_WRLCK;
	else
		return NULL;
	if (!l->kind || strcmp(ll->mode, l->kind == LOCK_KIND_LEASE ? "ACTIVE" : "ADVISORY"))
		return NULL;
	if (l->kind == LOCK_KIND_POSIX || l->kind == LOCK_KIND_OFD) {
		l->has_start = true;
		l->start = ll->start;
		if (strcmp(ll->end, "EOF")) {
			l->has_end = true;
			l->end = strtoull(ll->end, &end, 10);
			if (*end || l->end < l->start)
				return NULL;
		}
	}
	return l;
}

/* Appends to an arena array, doubling its room at powers of two. */
static void push_lock(struct arena *a, Ckpt__Lock ***v, size_t *n, Ckpt__Lock *l)
{
	if (*n == 0 || (*n >= 4 && !(*n & (*n - 1)))) {
		Ckpt__Lock **nv = arena_alloc(a, (*n ? *n * 2 : 4) * sizeof(*nv));

		if (*n)
			memcpy(nv, *v, *n * sizeof(*nv));
		*v = nv;
	}
	(*v)[(*n)++] = l;
}

static uint64_t fd_file_id(const struct model *m, uint32_t pid, uint32_t fd)
{
	for (size_t i = 0; i < m->fds.n; i++)
		if (m->fds.v[i]->pid == pid && m->fds.v[i]->fd == fd)
			return m->fds.v[i]->file_id;
	return 0;
}

/* The same POSIX lock seen again through another descriptor of the same description. */
static bool seen(const struct model *m, const Ckpt__Process *p, const Ckpt__Lock *l, uint64_t file_id)
{
	for (size_t i = 0; i < p->n_locks; i++) {
		const Ckpt__Lock *o = p->locks[i];

		if (o->kind == l->kind && o->type == l->type && o->start == l->start && o->has_end == l->has_end &&
		    o->end == l->end && fd_file_id(m, p->pid, o->fd) == file_id)
			return true;
	}
	return false;
}

static int lease_sig(struct ckpt_ctx *ctx, const struct fd_desc *fd, uint32_t *sig)
{
	_cleanup_close_ int copy = res_fd_dup(ctx, fd->pid, fd->tid, fd->fd);
	int s;

	if (copy < 0)
		return copy;
	s = fcntl(copy, F_GETSIG);
	if (s < 0)
		return fail(ctx, -errno, "pid %d fd %d: F_GETSIG: %s", fd->pid, fd->fd, strerror(errno));
	*sig = (uint32_t)s;
	return 0;
}

static int add_lock(struct ckpt_ctx *ctx, const struct fd_desc *fd, const struct lock_line *ll, Ckpt__File *f,
		    bool first, Ckpt__Process *p, struct model *m)
{
	Ckpt__Lock *l = parse_lock(&m->arena, ll);
	int r;

	if (!l)
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d (%s): %s lock %s %s is not supported", fd->pid, fd->fd,
			    fd->link, ll->type, ll->mode, ll->rw);
	if (l->kind == LOCK_KIND_FLOCK || l->kind == LOCK_KIND_OFD) {
		l->has_pid = l->kind == LOCK_KIND_FLOCK && ll->pid > 0;
		l->pid = l->has_pid ? (uint32_t)ll->pid : 0;
		if (first)
			push_lock(&m->arena, &f->locks, &f->n_locks, l);
		return 0;
	}
	/* POSIX locks of a shared descriptor table show in every sharer: the taker keeps it. */
	if (l->kind == LOCK_KIND_POSIX && (ll->pid != fd->pid || seen(m, p, l, f->id)))
		return 0;
	if (l->kind == LOCK_KIND_LEASE && !first)
		return 0;
	l->has_fd = true;
	l->fd = (uint32_t)fd->fd;
	if (l->kind == LOCK_KIND_LEASE) {
		l->has_sig = true;
		r = lease_sig(ctx, fd, &l->sig);
		if (r < 0)
			return r;
	}
	push_lock(&m->arena, &p->locks, &p->n_locks, l);
	return 0;
}

int locks_dump_fd(struct ckpt_ctx *ctx, const struct fd_desc *fd, const char *fdinfo, Ckpt__File *f, bool first,
		  Ckpt__Process *p, struct model *m)
{
	for (const char *s = fdinfo ? strstr(fdinfo, "\nlock:\t") : NULL; s; s = strstr(s + 1, "\nlock:\t")) {
		struct lock_line ll;
		int r;

		if (sscanf(s + 7, "%*d: %15s %15s %15s %d %*s %llu %31s", ll.type, ll.mode, ll.rw, &ll.pid, &ll.start,
			   ll.end) != 6)
			return fail(ctx, -EIO, "pid %d fd %d: cannot parse a lock line of its fdinfo", fd->pid, fd->fd);
		r = add_lock(ctx, fd, &ll, f, first, p, m);
		if (r < 0)
			return r;
	}
	return 0;
}

static const char *type_name(const Ckpt__Lock *l)
{
	if (l->kind == LOCK_KIND_FLOCK)
		return l->type == F_WRLCK ? "LOCK_EX" : "LOCK_SH";
	return l->type == F_WRLCK ? "F_WRLCK" : "F_RDLCK";
}

static void range_str(const Ckpt__Lock *l, char *buf, size_t len)
{
	if (l->has_end)
		snprintf(buf, len, "bytes %llu-%llu", (unsigned long long)l->start, (unsigned long long)l->end);
	else
		snprintf(buf, len, "bytes %llu to the end", (unsigned long long)l->start);
}

const char *lock_str(const Ckpt__Lock *l, char *buf, size_t len)
{
	char range[64] = "";
	size_t n;

	if (l->kind == LOCK_KIND_POSIX || l->kind == LOCK_KIND_OFD)
		range_str(l, range, sizeof(range));
	n = (size_t)snprintf(buf, len, "%s %s%s%s",
			     l->kind < ARRAY_SIZE(kind_names) && kind_names[l->kind] ? kind_names[l->kind] : "?",
			     type_name(l), range[0] ? " on " : "", range);
	if (l->has_fd && n < len)
		n += (size_t)snprintf(buf + n, len - n, " through fd %u", l->fd);
	if (l->sig && n < len)
		snprintf(buf + n, len - n, " signal %u", l->sig);
	return buf;
}

static struct flock to_flock(const Ckpt__Lock *l)
{
	return (struct flock){
		.l_type = (short)l->type,
		.l_whence = SEEK_SET,
		.l_start = (off_t)l->start,
		.l_len = l->has_end ? (off_t)(l->end - l->start + 1) : 0,
	};
}

/* Who holds a flock on the file path names, from /proc/locks; 0 if not found. */
static int flock_holder(const char *path)
{
	_cleanup_free_ char *text = NULL;
	struct stat st;

	if (stat(path, &st) < 0 || read_text("/proc/locks", &text, NULL) < 0)
		return 0;
	for (char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		unsigned maj, min;
		unsigned long long ino;
		char type[16];
		int pid;

		/* "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF"; waiters read "1: -> FLOCK ...". */
		if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%llu", type, &pid, &maj, &min, &ino) == 5 &&
		    !strcmp(type, "FLOCK") && makedev(maj, min) == st.st_dev && ino == st.st_ino)
			return pid;
	}
	return 0;
}

/* fd is a descriptor of pid (0: ours) on the file. */
static int flock_failed(struct ckpt_ctx *ctx, const Ckpt__File *f, pid_t pid, int fd, const Ckpt__Lock *l, int err)
{
	const char *name = f->path ? f->path : "?";
	char path[64];

	if (err != -EWOULDBLOCK)
		return fail(ctx, err, "file %s: flock %s: %s", name, type_name(l), strerror(-err));
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	else
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return fail(ctx, -EBUSY, "file %s: cannot take its flock %s again: another process (pid %d) holds a conflicting lock",
		    name, type_name(l), flock_holder(path));
}

static int flock_op(const Ckpt__Lock *l)
{
	return (l->type == F_WRLCK ? LOCK_EX : LOCK_SH) | LOCK_NB;
}

/* The process that took the flock holds the description: it takes it again (locks_take_process). */
static bool taker_holds(const struct model *m, const Ckpt__Lock *l, uint64_t file_id)
{
	const Ckpt__Process *p = l->has_pid ? model_proc(m, l->pid) : NULL;

	if (!p || p->state == 1)
		return false;
	for (size_t i = 0; i < m->fds.n; i++)
		if (m->fds.v[i]->pid == l->pid && m->fds.v[i]->file_id == file_id)
			return true;
	return false;
}

static int take_one(struct ckpt_ctx *ctx, const Ckpt__File *f, int fd, const Ckpt__Lock *l)
{
	const char *name = f->path ? f->path : "?";
	struct flock fl = to_flock(l);
	char range[64];

	if (l->kind == LOCK_KIND_FLOCK)
		return flock(fd, flock_op(l)) == 0 ? 0 : flock_failed(ctx, f, 0, fd, l, -errno);
	range_str(l, range, sizeof(range));
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno != EAGAIN && errno != EACCES)
		return fail(ctx, -errno, "file %s: OFD lock %s on %s: %s", name, type_name(l), range, strerror(errno));
	fl = to_flock(l);
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		fl.l_pid = 0;
	return fail(ctx, -EBUSY, "file %s: cannot take its OFD lock %s on %s again: %s holds a conflicting lock", name,
		    type_name(l), range, fl.l_pid > 0 ? "a process" : "an open file description");
}

int locks_take_file(struct ckpt_ctx *ctx, const struct model *m, const Ckpt__File *f, int fd)
{
	for (size_t i = 0; i < f->n_locks; i++) {
		int r = 0;

		if (f->locks[i]->kind == LOCK_KIND_OFD || !taker_holds(m, f->locks[i], f->id))
			r = take_one(ctx, f, fd, f->locks[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int take_posix(struct ckpt_ctx *ctx, struct remote *rm, const Ckpt__Process *p, const Ckpt__Lock *l)
{
	/* Below the stack pointer of the parked restorer thread: its stack is dropped next. */
	uint64_t scratch = (rm->saved.rsp - 1024) & ~15ULL;
	struct flock fl = to_flock(l);
	char range[64];
	long ret;
	int r;

	range_str(l, range, sizeof(range));
	r = remote_mem(ctx, rm->tid, scratch, &fl, sizeof(fl), true);
	if (r == 0)
		r = remote_syscall(rm, &ret, SYS_fcntl, l->fd, F_SETLK, scratch, 0, 0, 0);
	if (r < 0 || ret == 0)
		return r;
	if (ret != -EAGAIN && ret != -EACCES)
		return fail(ctx, (int)ret, "pid %u fd %u: POSIX lock %s on %s: %s", p->pid, l->fd, type_name(l), range,
			    strerror((int)-ret));
	fl = to_flock(l);
	if (remote_mem(ctx, rm->tid, scratch, &fl, sizeof(fl), true) < 0 ||
	    remote_syscall(rm, &ret, SYS_fcntl, l->fd, F_GETLK, scratch, 0, 0, 0) < 0 ||
	    remote_mem(ctx, rm->tid, scratch, &fl, sizeof(fl), false) < 0)
		fl.l_pid = 0;
	return fail(ctx, -EBUSY, "pid %u fd %u: cannot take its POSIX lock %s on %s again: pid %d holds a conflicting lock",
		    p->pid, l->fd, type_name(l), range, fl.l_pid);
}

static int take_lease(struct ckpt_ctx *ctx, struct remote *rm, const Ckpt__Process *p, const Ckpt__Lock *l)
{
	long ret = 0;
	int r = 0;

	if (l->sig)
		r = remote_syscall(rm, &ret, SYS_fcntl, l->fd, F_SETSIG, l->sig, 0, 0, 0);
	if (r == 0 && ret == 0)
		r = remote_syscall(rm, &ret, SYS_fcntl, l->fd, F_SETLEASE, l->type, 0, 0, 0);
	if (r < 0 || ret == 0)
		return r;
	return fail(ctx, (int)ret, "pid %u fd %u: cannot take its %s lease again: %s%s", p->pid, l->fd,
		    l->type == F_WRLCK ? "write" : "read", strerror((int)-ret),
		    ret == -EAGAIN ? " (the file is open elsewhere in a conflicting mode)" : "");
}

/* The flocks p took on the description at fd: through that fd, inside p. */
static int take_flocks(struct ckpt_ctx *ctx, struct remote *rm, const Ckpt__File *f, const Ckpt__Process *p,
		       const Ckpt__Fd *fd)
{
	long ret;
	int r;

	for (size_t i = 0; i < f->n_locks; i++) {
		const Ckpt__Lock *l = f->locks[i];

		if (l->kind != LOCK_KIND_FLOCK || !l->has_pid || l->pid != p->pid)
			continue;
		r = remote_syscall(rm, &ret, SYS_flock, fd->fd, (uint64_t)flock_op(l), 0, 0, 0, 0);
		if (r < 0)
			return r;
		if (ret < 0)
			return flock_failed(ctx, f, (pid_t)p->pid, (int)fd->fd, l, (int)ret);
	}
	return 0;
}

int locks_take_process(struct ckpt_ctx *ctx, struct remote *rm, const struct model *m, const Ckpt__Process *p,
		       Ckpt__Fd *const *fds, size_t nr_fds)
{
	for (size_t i = 0; i < nr_fds; i++) {
		const Ckpt__File *f = model_file(m, fds[i]->file_id);
		bool first = true;
		int r;

		if (!f->n_locks)
			continue;
		for (size_t k = 0; k < i; k++)
			first &= fds[k]->file_id != fds[i]->file_id;
		r = first ? take_flocks(ctx, rm, f, p, fds[i]) : 0;
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < p->n_locks; i++) {
		const Ckpt__Lock *l = p->locks[i];
		int r = l->kind == LOCK_KIND_LEASE ? take_lease(ctx, rm, p, l) : take_posix(ctx, rm, p, l);

		if (r < 0)
			return r;
	}
	return 0;
}

static bool lock_valid(const Ckpt__Lock *l, bool of_process)
{
	bool ranged = l->kind == LOCK_KIND_POSIX || l->kind == LOCK_KIND_OFD;

	if (of_process ? l->kind != LOCK_KIND_POSIX && l->kind != LOCK_KIND_LEASE
		       : l->kind != LOCK_KIND_FLOCK && l->kind != LOCK_KIND_OFD)
		return false;
	if ((l->type != F_RDLCK && l->type != F_WRLCK) || ranged != l->has_start)
		return false;
	if (ranged && ((l->has_end && l->end < l->start) || l->start > INT64_MAX || (l->has_end && l->end > INT64_MAX)))
		return false;
	return !of_process || (l->has_fd && l->fd < (1u << 20) && l->sig <= 64);
}

int locks_validate(const struct model *m, struct ckpt_ctx *ctx)
{
	for (size_t i = 0; i < m->files.n; i++) {
		const Ckpt__File *f = m->files.v[i];

		for (size_t k = 0; k < f->n_locks; k++)
			if (f->n_locks > LOCKS_MAX || !lock_valid(f->locks[k], false))
				return fail(ctx, -EBADMSG, "image damaged: lock of file %llu", (unsigned long long)f->id);
	}
	for (size_t i = 0; i < m->procs.n; i++) {
		const Ckpt__Process *p = m->procs.v[i];

		for (size_t k = 0; k < p->n_locks; k++)
			if (p->n_locks > LOCKS_MAX || !lock_valid(p->locks[k], true))
				return fail(ctx, -EBADMSG, "image damaged: lock of process %u", p->pid);
	}
	return 0;
}
