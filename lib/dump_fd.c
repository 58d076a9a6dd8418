// SPDX-License-Identifier: MIT
/*
 * Descriptor tables. Each descriptor is handed to the resource kind that
 * claims it (lib/res/); open file descriptions shared between descriptors or
 * processes are found with kcmp and stored once.
 */
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>

#include "dump.h"
#include "locks.h"
#include "res/res.h"

static int read_fdinfo(const char *dir, int fd, uint32_t *flags, uint64_t *pos, char **out)
{
	_cleanup_free_ char *text = NULL;
	char path[96];
	const char *p;
	int r;

	snprintf(path, sizeof(path), "%s/fdinfo/%d", dir, fd);
	r = read_text(path, &text, NULL);
	if (r < 0)
		return r;
	p = status_field(text, "pos");
	*pos = p ? strtoull(p, NULL, 10) : 0;
	p = status_field(text, "flags");
	*flags = p ? (uint32_t)strtoul(p, NULL, 8) : 0;
	*out = text;
	text = NULL;
	return 0;
}

static bool same_description(pid_t p1, int fd1, pid_t p2, int fd2)
{
	return syscall(SYS_kcmp, p1, p2, KCMP_FILE, fd1, fd2) == 0;
}

static Ckpt__File *find_shared(struct dump *d, const struct fd_desc *fd)
{
	for (size_t i = 0; i < d->nr_dfiles; i++) {
		struct dfile *df = &d->dfiles[i];

		if (df->fd < 0 || df->f->dev != fd->st.st_dev || df->f->ino != fd->st.st_ino)
			continue;
		if (same_description(df->pid, df->fd, fd->tid, fd->fd))
			return df->f;
	}
	return NULL;
}

static Ckpt__File *new_file(struct dump *d, const struct stat *st, uint32_t kind)
{
	Ckpt__File *f = arena_alloc(&d->m.arena, sizeof(*f));

	ckpt__file__init(f);
	f->id = d->next_id++;
	f->kind = kind;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->mode = st->st_mode;
	f->size = (uint64_t)st->st_size;
	LIST_PUSH(&d->m.files, f);
	return f;
}

/* Fills fd from the descriptor at /proc link dir/fd/NUM; *info: its fdinfo text. */
static int describe_fd(struct dump *d, const char *dir, struct fd_desc *fd, char **info)
{
	char path[96];
	ssize_t n;
	int r;

	snprintf(path, sizeof(path), "%s/fd/%d", dir, fd->fd);
	n = readlink(path, fd->link, sizeof(fd->link) - 1);
	if (n < 0 || stat(path, &fd->st) < 0)
		return fail(d->ctx, -errno, "pid %d fd %d: %s", fd->pid, fd->fd, strerror(errno));
	fd->link[n] = 0;
	r = read_fdinfo(dir, fd->fd, &fd->flags, &fd->pos, info);
	if (r < 0)
		return fail(d->ctx, r, "pid %d fd %d: reading fdinfo: %s", fd->pid, fd->fd, strerror(-r));
	fd->cloexec = fd->flags & O_CLOEXEC;
	fd->flags &= ~(uint32_t)O_CLOEXEC;
	fd->dumper = d;
	return 0;
}

/*
 * The File of fd's open file description: found among those dumped, or
 * dumped now by the kind that takes it (*first). kcmp_pid is a task that
 * holds fd (own: the fd is ckpt's, to close when the dump ends); dir is
 * where /proc shows it.
 */
static int dump_description(struct dump *d, const struct fd_desc *fd, const char *dir, pid_t kcmp_pid, bool own,
			    Ckpt__File **out, bool *first)
{
	const struct res_ops *ops = res_for_fd(fd);
	char kind[PATH_MAX + 32], path[96];
	struct dfile *df;
	Ckpt__File *f;
	int r;

	*first = false;
	if (!ops)
		return fail(d->ctx, -EOPNOTSUPP, "pid %d fd %d: %s is not supported yet", fd->pid, fd->fd,
			    fd_kind_name(fd, kind, sizeof(kind)));
	f = find_shared(d, fd);
	/* It is reopened inside its process (res/procfile.c): one process only. */
	if (f && f->proc_reopen && f->owner_pid != (uint32_t)fd->pid)
		return fail(d->ctx, -EOPNOTSUPP, "pid %d fd %d: %s is shared with pid %u; not supported yet", fd->pid,
			    fd->fd, f->path, f->owner_pid);
	if (f) {
		*out = f;
		if (own)
			close(fd->fd);
		return 0;
	}
	f = new_file(d, &fd->st, ops->kind);
	f->flags = fd->flags;
	f->pos = fd->pos;
	/* Listed before its dump: a socket whose queue holds itself finds itself. */
	df = array_push(&d->dfiles, &d->nr_dfiles, &d->cap_dfiles, sizeof(*df));
	df->f = f;
	df->pid = kcmp_pid;
	df->fd = fd->fd;
	df->own = own;
	*out = f;
	*first = true;
	r = ops->dump(d->ctx, d->opts, fd, f, &d->m);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/fd/%d", dir, fd->fd);
	dump_note_content(d, f, path);
	return 0;
}

static int dump_one_fd(struct dump *d, struct dproc *dp, int fdnum)
{
	struct fd_desc fd = { .pid = dp->pid, .tid = dp->live, .fd = fdnum };
	_cleanup_free_ char *info = NULL;
	Ckpt__File *f;
	Ckpt__Fd *e;
	bool first;
	int r = describe_fd(d, dp->dir, &fd, &info);

	if (r == 0)
		/* kcmp needs a task that has the fd table */
		r = dump_description(d, &fd, dp->dir, dp->live, false, &f, &first);
	if (r == 0)
		r = locks_dump_fd(d->ctx, &fd, info, f, first, dp->p, &d->m);
	if (r < 0)
		return r;
	e = arena_alloc(&d->m.arena, sizeof(*e));
	ckpt__fd__init(e);
	e->pid = (uint32_t)dp->pid;
	e->fd = (uint32_t)fdnum;
	e->file_id = f->id;
	e->cloexec = fd.cloexec;
	LIST_PUSH(&d->m.fds, e);
	return 0;
}

int dump_extra_fd(void *dumper, const struct fd_desc *holder, int fdnum, uint64_t *file_id)
{
	struct dump *d = dumper;
	struct fd_desc fd = { .pid = getpid(), .tid = gettid(), .fd = fdnum };
	_cleanup_free_ char *info = NULL;
	Ckpt__File *f = NULL;
	bool first;
	int r;

	while (holder->holder)
		holder = holder->holder;
	fd.holder = holder;
	r = describe_fd(d, "/proc/self", &fd, &info);
	if (r < 0) {
		close(fdnum);
	} else {
		r = dump_description(d, &fd, "/proc/self", fd.pid, true, &f, &first);
	}
	if (r < 0) {
		/* Name the socket the descriptor is in flight in, not ckpt's copy. */
		char inner[sizeof(d->ctx->err)];

		snprintf(inner, sizeof(inner), "%s", d->ctx->err);
		d->ctx->err[0] = 0;
		return fail(d->ctx, r, "pid %d fd %d: a descriptor in flight in this unix socket (SCM_RIGHTS): %s",
			    holder->pid, holder->fd, inner);
	}
	*file_id = f->id;
	return 0;
}

void dump_close_own_fds(struct dump *d)
{
	for (size_t i = 0; i < d->nr_dfiles; i++)
		if (d->dfiles[i].own)
			close(d->dfiles[i].fd);
}

int dump_fds(struct dump *d, struct dproc *dp)
{
	char path[96];
	struct dirent *de;
	int r;

	snprintf(path, sizeof(path), "%s/fd", dp->dir);
	_cleanup_(closedirp) DIR *dir = opendir(path);
	if (!dir)
		return fail(d->ctx, -errno, "pid %d: %s: %s", dp->pid, path, strerror(errno));
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (fail_point(d->ctx, "fd"))
			return fail(d->ctx, -EIO, "pid %d fd %s: injected failure", dp->pid, de->d_name);
		r = dump_one_fd(d, dp, atoi(de->d_name));
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * A memfd or unlinked file that a mapping or exe refers to: any File of
 * that object will do (mappings map the object), else a new O_PATH one.
 */
static int dump_object_file(struct dump *d, pid_t pid, const char *src, const char *proc_link, const char *target,
			    const struct stat *st, uint64_t *id)
{
	uint32_t kind = memfd_link(target, st) ? FILE_KIND_MEMFD : FILE_KIND_UNLINKED;
	Ckpt__File *f = object_find(&d->m, kind, st->st_dev, st->st_ino);
	char what[64];
	int r;

	if (f) {
		*id = f->id;
		return 0;
	}
	f = new_file(d, st, kind);
	f->flags = O_PATH;
	snprintf(what, sizeof(what), "pid %d %s", pid, proc_link);
	if (kind == FILE_KIND_MEMFD)
		r = memfd_dump_object(d->ctx, &d->m, f, src, what, target, st);
	else
		r = unlinked_dump_object(d->ctx, &d->m, f, what, target, st);
	if (r < 0)
		return r;
	dump_note_content(d, f, src);
	*id = f->id;
	return 0;
}

void dump_fds_end(struct dump *d, bool killed)
{
	for (size_t i = 0; i < d->nr_dfiles; i++) {
		const struct dfile *df = &d->dfiles[i];
		const struct res_ops *ops = df->fd >= 0 ? res_by_kind(df->f->kind) : NULL;

		if (ops && ops->dump_end)
			ops->dump_end(d->ctx, df->f, df->pid, df->fd, killed);
	}
}

int dump_path_file(struct dump *d, const struct dproc *dp, const char *proc_link, uint64_t *id)
{
	pid_t pid = dp->pid;
	char path[PATH_MAX + 64], target[PATH_MAX];
	struct stat st;
	ssize_t n;

	/* map_files exists only at the process level. */
	if (!strncmp(proc_link, "map_files/", 10))
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, proc_link);
	else
		snprintf(path, sizeof(path), "%s/%s", dp->dir, proc_link);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0 || stat(path, &st) < 0)
		return fail(d->ctx, -errno, "pid %d: %s: %s", pid, path, strerror(errno));
	target[n] = 0;
	if (memfd_link(target, &st) || unlinked_link(target, &st))
		return dump_object_file(d, pid, path, proc_link, target, &st, id);
	if (strstr(target, " (deleted)"))
		return fail(d->ctx, -EOPNOTSUPP, "pid %d: %s is %s; deleted files are not supported yet", pid,
			    proc_link, target);
	return dump_named_file(d, pid, target, &st, id);
}

int dump_named_file(struct dump *d, pid_t pid, const char *target, const struct stat *stp, uint64_t *id)
{
	struct stat st = *stp;
	struct dfile *df;
	Ckpt__File *f;

	for (size_t i = 0; i < d->nr_dfiles; i++) {
		df = &d->dfiles[i];
		if (df->fd < 0 && df->f->dev == st.st_dev && df->f->ino == st.st_ino) {
			*id = df->f->id;
			return 0;
		}
	}
	f = new_file(d, &st, FILE_KIND_PATH);
	f->flags = O_PATH;
	f->path = arena_strdup(&d->m.arena, target);
	f->has_mtime_ns = true;
	f->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec;
	df = array_push(&d->dfiles, &d->nr_dfiles, &d->cap_dfiles, sizeof(*df));
	df->f = f;
	df->pid = pid;
	df->fd = -1;
	*id = f->id;
	return 0;
}
