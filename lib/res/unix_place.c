// SPDX-License-Identifier: MIT
/*
 * Unix sockets at restore: names. A socket that bound a path gets it again
 * with its file where the file was (a stale socket file left there by the
 * dead original is removed first, if it is one and no socket has it), then
 * the file's mode and owner. A name whose file was unlinked, and the names
 * of sockets made only for the restore (stand-ins for closed peers, senders
 * of queued datagrams), are bound inside a scratch directory that a helper
 * process uses as its root: the socket keeps the name, the file system
 * outside is not touched, and the scratch directory goes at the end.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "unix.h"

static int switch_creds(const struct uas *as, uid_t *old_uid, gid_t *old_gid)
{
	*old_uid = geteuid();
	*old_gid = getegid();
	if (setresgid((gid_t)-1, as->gid, (gid_t)-1) < 0)
		return -errno;
	if (setresuid((uid_t)-1, as->uid, (uid_t)-1) < 0) {
		int e = -errno;

		setresgid((gid_t)-1, *old_gid, (gid_t)-1);
		return e;
	}
	return 0;
}

static void switch_back(uid_t uid, gid_t gid)
{
	/* Back to the effective ids ckpt had: its capabilities come back with euid 0. */
	if (setresuid((uid_t)-1, uid, (uid_t)-1) < 0 || setresgid((gid_t)-1, gid, (gid_t)-1) < 0)
		abort(); /* cannot happen: the saved ids are these */
}

static int run_here(const struct uwhere *w, const struct uas *as, uat_fn fn, void *arg)
{
	uid_t ou;
	gid_t og;
	int r;

	/* Without the privilege to take other ids, act as ckpt. */
	if (as && as->uid == geteuid() && as->gid == getegid())
		as = NULL;
	if (as && switch_creds(as, &ou, &og) < 0)
		as = NULL;
	r = fn(w, arg);
	if (as)
		switch_back(ou, og);
	return r;
}

int unix_at(struct ubuild *b, const struct uwhere *w, const struct uas *as, uat_fn fn, void *arg)
{
	pid_t pid;
	int st;

	(void)b;
	if (!w->root[0] && !w->cwd[0])
		return run_here(w, as, fn, arg);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int r = 0;

		if (w->root[0] && (chroot(w->root) < 0 || chdir("/") < 0))
			r = -errno;
		if (r == 0 && w->cwd[0] && chdir(w->cwd) < 0)
			r = -errno;
		if (r == 0)
			r = run_here(w, as, fn, arg);
		_exit(r < 0 ? -r : 0);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? -WEXITSTATUS(st) : -EIO;
}

static int do_bind(const struct uwhere *w, void *arg)
{
	return bind(*(int *)arg, (const struct sockaddr *)&w->a, w->alen) < 0 ? -errno : 0;
}

/* Makes the directories above a relative or absolute name (inside a scratch root). */
static int do_mkdirs_bind(const struct uwhere *w, void *arg)
{
	char path[UNIX_NAME_MAX + 1];

	snprintf(path, sizeof(path), "%s", w->a.sun_path);
	for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = 0;
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return do_bind(w, arg);
}

struct bind_move {
	int sk;
	const char *to;
};

/* The file was renamed after bind(): bind where the name says, then rename it the same way. */
static int do_bind_move(const struct uwhere *w, void *arg)
{
	struct bind_move *bm = arg;
	int r = do_bind(w, &bm->sk);

	if (r == 0 && rename(w->a.sun_path, bm->to) < 0) {
		r = -errno;
		unlink(w->a.sun_path);
	}
	return r;
}

static void set_addr(struct uwhere *w, const char *path)
{
	ProtobufCBinaryData n = { strlen(path) + 1, (uint8_t *)path };

	w->alen = unix_addr(&w->a, &n);
}

/* A new directory in the scratch root, made on first use. */
static int scratch_dir(struct ubuild *b, char *out, size_t len)
{
	if (!b->scratch[0]) {
		snprintf(b->scratch, sizeof(b->scratch), "/tmp/.ckpt-unix-XXXXXX");
		if (!mkdtemp(b->scratch)) {
			int e = errno;

			b->scratch[0] = 0;
			return fail(b->ctx, -e, "making a scratch directory for unix socket names in /tmp: %s", strerror(e));
		}
	}
	snprintf(out, len, "%s/%u", b->scratch, b->next_dir++);
	if (mkdir(out, 0700) < 0)
		return fail(b->ctx, -errno, "%s: %s", out, strerror(errno));
	return 0;
}

int unix_bind_temp(struct ubuild *b, int sk, const ProtobufCBinaryData *name, struct uwhere *at)
{
	char str[160];
	int r;

	memset(at, 0, sizeof(*at));
	at->alen = unix_addr(&at->a, name);
	if (name->data[0]) {
		r = scratch_dir(b, at->root, sizeof(at->root));
		if (r == 0)
			r = unix_at(b, at, NULL, do_mkdirs_bind, &sk);
	} else {
		r = do_bind(at, &sk);
	}
	if (r < 0)
		return fail(b->ctx, r, "binding a socket to %s: %s%s", unix_name_str(name, str, sizeof(str)), strerror(-r),
			    r == -EADDRINUSE ? " (another socket has that name)" : "");
	return 0;
}

struct in_use {
	dev_t dev;
	ino_t ino;
	bool found;
};

static int find_bound(const struct unix_diag *d, void *arg)
{
	struct in_use *iu = arg;

	if (d->has_vfs && d->vfs_ino == iu->ino && makedev(d->vfs_dev >> 20, d->vfs_dev & 0xfffff) == iu->dev)
		iu->found = true;
	return 0;
}

/* The path must be free: a socket file no socket has any more (the dead original's) is removed. */
static int free_path(struct ubuild *b, const char *who, const char *path)
{
	struct in_use iu = { 0, 0, false };
	struct stat st;
	int r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : fail(b->ctx, -errno, "%s: unix socket path %s: %s", who, path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return fail(b->ctx, -EEXIST, "%s: unix socket path %s exists and is not a socket", who, path);
	iu.dev = st.st_dev;
	iu.ino = st.st_ino;
	r = unix_diag_each(find_bound, &iu);
	if (r < 0)
		return fail(b->ctx, r, "%s: unix socket path %s: is it in use? sock_diag: %s", who, path, strerror(-r));
	if (iu.found)
		return fail(b->ctx, -EADDRINUSE, "%s: unix socket path %s is in use by a running socket", who, path);
	if (unlink(path) < 0 && errno != ENOENT)
		return fail(b->ctx, -errno, "%s: removing the stale socket file %s: %s", who, path, strerror(errno));
	return 0;
}

static int set_attrs(struct ubuild *b, const char *who, const char *path, const Ckpt__UnixFile *uf)
{
	if (chmod(path, uf->mode & 07777) < 0 || lchown(path, uf->uid, uf->gid) < 0)
		return fail(b->ctx, -errno, "%s: unix socket file %s: mode 0%o owner %u:%u: %s", who, path, uf->mode,
			    uf->uid, uf->gid, strerror(errno));
	return 0;
}

/* Where a path socket's file is reached from: its path itself if it fits in sun_path. */
static void reach_file(struct uwhere *at, const char *path)
{
	const char *slash = strrchr(path, '/');

	memset(at, 0, sizeof(*at));
	if (strlen(path) < UNIX_NAME_MAX) {
		set_addr(at, path);
		return;
	}
	snprintf(at->cwd, sizeof(at->cwd), "%.*s", (int)(slash - path) ? (int)(slash - path) : 1, path);
	set_addr(at, slash + 1);
}

static int bind_in_fs(struct ubuild *b, struct usk *s, const char *name)
{
	const Ckpt__UnixFile *uf = s->u->file;
	const char *path = uf->path;
	struct bind_move bm = { s->fd, path };
	struct uwhere w;
	char who[64];
	int r = free_path(b, unix_where(b->rr->m, s->f, who, sizeof(who)), path);

	memset(&w, 0, sizeof(w));
	set_addr(&w, name);
	if (r < 0)
		return r;
	if (uf->dir) {
		/* A relative name, its file where it was made: bind it from that directory. */
		snprintf(w.cwd, sizeof(w.cwd), "%s", uf->dir);
		r = unix_at(b, &w, NULL, do_bind, &s->fd);
	} else if (!strcmp(name, path)) {
		r = unix_at(b, &w, NULL, do_bind, &s->fd);
	} else {
		/* Renamed since: made under its name, then moved to where it was. */
		if (name[0] == '/')
			r = free_path(b, who, name);
		else
			snprintf(w.cwd, sizeof(w.cwd), "%.*s", (int)(strrchr(path, '/') - path) ?: 1, path);
		if (r == 0)
			r = unix_at(b, &w, NULL, do_bind_move, &bm);
	}
	if (r < 0)
		return fail(b->ctx, r, "%s: binding a unix socket to %s%s%s: %s", who, name, strcmp(name, path) ? " at " : "",
			    strcmp(name, path) ? path : "", strerror(-r));
	reach_file(&s->at, path);
	return set_attrs(b, who, path, uf);
}

int unix_bind_owner(struct ubuild *b, struct usk *s)
{
	const Ckpt__UnixSocket *u = s->u;
	char name[UNIX_NAME_MAX + 1];

	if (!unix_named(u))
		return 0;
	if (!u->name.data[0] || !u->file->path)
		return unix_bind_temp(b, s->fd, &u->name, &s->at);
	snprintf(name, sizeof(name), "%.*s", (int)u->name.len, (const char *)u->name.data);
	return bind_in_fs(b, s, name);
}

static void rm_tree(int at, const char *name)
{
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		unlinkat(at, name, 0);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rm_tree(dirfd(d), de->d_name);
	closedir(d);
	unlinkat(at, name, AT_REMOVEDIR);
}

void unix_scratch_remove(struct ubuild *b)
{
	if (b->scratch[0])
		rm_tree(AT_FDCWD, b->scratch);
	b->scratch[0] = 0;
}
