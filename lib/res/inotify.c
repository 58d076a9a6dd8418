// SPDX-License-Identifier: MIT
/*
 * inotify: every watch, with its mask and the watch descriptor (wd) the
 * program holds. fdinfo names a watched inode by its number, device and
 * file handle; the dump opens the handle and takes the path the kernel
 * gives the result. The restore watches each path again, in increasing wd
 * order, after setting the number the kernel gives next
 * (INOTIFY_IOC_SETNEXTWD, CONFIG_CHECKPOINT_RESTORE) or, without it, after
 * adding and removing a watch on a scratch pipe once per number to skip.
 *
 * Events queued and not read at the dump are not saved (reading them would
 * take them from the program, and nothing can queue them again): the
 * restored instance starts with an empty queue. The events the restore
 * itself causes (opening the program's files) are drained before the
 * program runs, and changes made to the watched files while the tree was
 * not running are not reported. A watch on a file system that has no file
 * handles (/proc, /sys, ...) or on a file that has no path any more is
 * refused at dump time. The kernel does not show where its wd counter
 * stands: after the restore, a new watch gets the number after the highest
 * restored wd, which may be one the program used and removed before.
 */
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "res.h"

#ifndef INOTIFY_IOC_SETNEXTWD
#define INOTIFY_IOC_SETNEXTWD _IOW('I', 0, int32_t)
#endif

#define WATCHES_MAX (1u << 20)
/* Without INOTIFY_IOC_SETNEXTWD, at most this many numbers are skipped per instance. */
#define SKIP_MAX (1u << 20)
#define MASK_VALID (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK)

static bool inotify_match(const struct fd_desc *fd)
{
	return !strcmp(fd->link, "anon_inode:inotify");
}

/* One "inotify wd:..." line of fdinfo. */
struct watch_info {
	unsigned wd, mask, ignored;
	unsigned long ino;
	unsigned sdev;       /* the kernel's encoding: major << 20 | minor */
	unsigned hbytes;
	int htype;
	char hex[2 * MAX_HANDLE_SZ + 1];
};

static int parse_watch(const char *line, struct watch_info *w)
{
	int n = sscanf(line,
		       "inotify wd:%x ino:%lx sdev:%x mask:%x ignored_mask:%x fhandle-bytes:%x fhandle-type:%x f_handle:%256[0-9a-f]",
		       &w->wd, &w->ino, &w->sdev, &w->mask, &w->ignored, &w->hbytes, &w->htype, w->hex);

	if (n < 5)
		return -EIO;
	return n == 8 && w->hbytes && w->hbytes <= MAX_HANDLE_SZ && strlen(w->hex) == 2 * w->hbytes ? 0 : -ENOENT;
}

/* "\040" and friends of /proc/self/mountinfo. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

/* Opens the handle through the mount at mnt; the path if it names the watched inode. */
static int path_through(const char *mnt, dev_t dev, const struct watch_info *w, struct file_handle *h,
			char *path, size_t len)
{
	_cleanup_close_ int mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC), hfd = -1; /* not O_PATH: EBADF */
	char link[64];
	struct stat st;
	ssize_t n;

	if (mfd < 0 || fstat(mfd, &st) < 0 || st.st_dev != dev)
		return -ENOENT; /* gone, or another mount on top of it */
	hfd = open_by_handle_at(mfd, h, O_PATH | O_CLOEXEC);
	if (hfd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", hfd);
	n = readlink(link, path, len - 1);
	if (n < 0)
		return -errno;
	path[n] = 0;
	/* A bind mount of another part of the file system gives no usable path: check it. */
	if (path[0] != '/' || lstat(path, &st) < 0 || st.st_dev != dev || st.st_ino != w->ino)
		return -ENOENT;
	return 0;
}

static const char *next_line(const char *s)
{
	s = strchr(s, '\n');
	return s ? s + 1 : NULL;
}

/*
 * The path of the watched inode: its file handle, opened through a mount
 * of its file system (mounts: our /proc/self/mountinfo; the tree lives in
 * our mount namespace).
 */
static int watch_path(struct ckpt_ctx *ctx, const struct fd_desc *fd, const char *mounts,
		      const struct watch_info *w, char *path, size_t len)
{
	_cleanup_free_ struct file_handle *h = xcalloc(1, sizeof(*h) + w->hbytes);
	dev_t dev = makedev(w->sdev >> 20, w->sdev & 0xfffff);
	int r = -ENOENT;

	h->handle_bytes = w->hbytes;
	h->handle_type = w->htype;
	for (unsigned i = 0; i < w->hbytes; i++)
		sscanf(w->hex + 2 * i, "%2hhx", &h->f_handle[i]);
	for (const char *line = mounts; line && *line && r < 0; line = next_line(line)) {
		char mnt[PATH_MAX];
		unsigned maj, min;

		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mnt) != 3 || makedev(maj, min) != dev)
			continue;
		unescape(mnt);
		r = path_through(mnt, dev, w, h, path, len);
	}
	if (r < 0)
		return fail(ctx, -EOPNOTSUPP,
			    "pid %d fd %d: inotify watch %u on inode %lu of device %u:%u: cannot find a path to it (%s); not supported yet",
			    fd->pid, fd->fd, w->wd, w->ino, major(dev), minor(dev), strerror(-r));
	return 0;
}

static int cmp_wd(const void *a, const void *b)
{
	const Ckpt__InotifyWatch *x = *(Ckpt__InotifyWatch *const *)a, *y = *(Ckpt__InotifyWatch *const *)b;

	return x->wd < y->wd ? -1 : x->wd > y->wd;
}

static int add_watch(struct ckpt_ctx *ctx, const struct fd_desc *fd, const char *mounts, const char *line,
		     Ckpt__File *f, struct model *m, size_t *cap)
{
	struct watch_info w;
	Ckpt__InotifyWatch *iw;
	char path[PATH_MAX];
	int r = parse_watch(line, &w);

	if (r == -EIO)
		return fail(ctx, -EIO, "pid %d fd %d: inotify: cannot parse fdinfo \"%.60s\"", fd->pid, fd->fd, line);
	if (r < 0)
		return fail(ctx, -EOPNOTSUPP,
			    "pid %d fd %d: inotify watch %u on inode %lu: its file system has no file handles; not supported yet",
			    fd->pid, fd->fd, w.wd, w.ino);
	if (!(w.mask & IN_ALL_EVENTS) || (w.mask & ~(uint32_t)MASK_VALID))
		return fail(ctx, -EOPNOTSUPP, "pid %d fd %d: inotify watch %u: mask 0x%x is not supported", fd->pid,
			    fd->fd, w.wd, w.mask);
	r = watch_path(ctx, fd, mounts, &w, path, sizeof(path));
	if (r < 0)
		return r;
	iw = arena_alloc(&m->arena, sizeof(*iw));
	ckpt__inotify_watch__init(iw);
	iw->wd = w.wd;
	iw->mask = w.mask;
	iw->path = arena_strdup(&m->arena, path);
	*(Ckpt__InotifyWatch **)array_push(&f->inotify_watches, &f->n_inotify_watches, cap, sizeof(iw)) = iw;
	return 0;
}

static void warn_queued(struct ckpt_ctx *ctx, const struct fd_desc *fd)
{
	_cleanup_close_ int copy = res_fd_copy(fd);
	int queued = 0;

	if (copy >= 0 && ioctl(copy, FIONREAD, &queued) == 0 && queued > 0)
		pr_warn(ctx, "pid %d fd %d: inotify: %d bytes of events not read yet are not saved", fd->pid, fd->fd,
			queued);
}

static int inotify_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
			Ckpt__File *f, struct model *m)
{
	_cleanup_free_ char *info = fdinfo_text(fd), *mounts = NULL;
	Ckpt__InotifyWatch **v;
	size_t cap = 0;
	int r = 0;

	(void)opts;
	if (!info)
		return fail(ctx, -EIO, "pid %d fd %d: inotify: cannot read fdinfo", fd->pid, fd->fd);
	if (strstr(info, "inotify wd:") && read_text("/proc/self/mountinfo", &mounts, NULL) < 0)
		return fail(ctx, -EIO, "pid %d fd %d: inotify: cannot read /proc/self/mountinfo", fd->pid, fd->fd);
	for (const char *p = strstr(info, "inotify wd:"); p && r == 0; p = strstr(p + 1, "inotify wd:"))
		r = add_watch(ctx, fd, mounts, p, f, m, &cap);
	/* The watches live in the arena with the rest of the record. */
	v = arena_alloc(&m->arena, f->n_inotify_watches * sizeof(*v) + 1);
	if (f->n_inotify_watches)
		memcpy(v, f->inotify_watches, f->n_inotify_watches * sizeof(*v));
	free(f->inotify_watches);
	f->inotify_watches = v;
	if (r < 0)
		return r;
	qsort(v, f->n_inotify_watches, sizeof(*v), cmp_wd);
	warn_queued(ctx, fd);
	/* Its process drains, once its fds are in place, what the restore's own opens queued. */
	f->has_owner_pid = true;
	f->owner_pid = (uint32_t)fd->pid;
	return 0;
}

/* Every field restore trusts. */
static int inotify_check(struct ckpt_ctx *ctx, const Ckpt__File *f)
{
	bool ok = f->n_inotify_watches <= WATCHES_MAX;

	for (size_t i = 0; ok && i < f->n_inotify_watches; i++) {
		const Ckpt__InotifyWatch *w = f->inotify_watches[i];

		ok = w->wd >= 1 && w->wd <= INT32_MAX && (i == 0 || w->wd > f->inotify_watches[i - 1]->wd) &&
		     (w->mask & IN_ALL_EVENTS) && !(w->mask & ~(uint32_t)MASK_VALID) && w->path[0] == '/' &&
		     strlen(w->path) < PATH_MAX;
	}
	return ok ? 0 : fail(ctx, -EBADMSG, "image damaged: inotify file %llu", (unsigned long long)f->id);
}

/* Reads and drops every queued event. */
static int drain(int fd)
{
	char buf[16384] __attribute__((aligned(8)));
	int queued;

	while (ioctl(fd, FIONREAD, &queued) == 0 && queued > 0)
		if (read(fd, buf, sizeof(buf)) < 0 && errno != EINTR)
			return -errno;
	return 0;
}

/* Without INOTIFY_IOC_SETNEXTWD: spend the numbers from *next up to wd on a scratch pipe. */
static int skip_wds(struct ckpt_ctx *ctx, int fd, int *next, int wd, unsigned *budget)
{
	_cleanup_close_ int p0 = -1, p1 = -1;
	char path[64];
	int p[2];

	if (*next >= wd)
		return 0;
	if ((unsigned)(wd - *next) > *budget)
		return fail(ctx, -EOPNOTSUPP,
			    "inotify: reaching wd %d takes more than %u scratch watches (this kernel has no INOTIFY_IOC_SETNEXTWD)",
			    wd, SKIP_MAX);
	*budget -= (unsigned)(wd - *next);
	if (pipe2(p, O_CLOEXEC) < 0)
		return fail(ctx, -errno, "pipe: %s", strerror(errno));
	p0 = p[0];
	p1 = p[1];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p0);
	while (*next < wd) {
		int got = inotify_add_watch(fd, path, IN_ATTRIB);

		if (got < 0 || inotify_rm_watch(fd, got) < 0)
			return fail(ctx, -errno, "inotify: scratch watch: %s", strerror(errno));
		if (got >= wd)
			return fail(ctx, -EEXIST, "inotify: wd %d was passed by (got %d)", wd, got);
		*next = got + 1;
		/* Each removal queues IN_IGNORED: keep the queue from overflowing. */
		if (*next % 4096 == 0 && drain(fd) < 0)
			return fail(ctx, -errno, "inotify: draining: %s", strerror(errno));
	}
	return 0;
}

static int set_next_wd(struct ckpt_ctx *ctx, int fd, int wd)
{
	/* CKPT_FAIL_AT=inotify-next-wd: as on a kernel without the ioctl (for tests). */
	if (fail_point(ctx, "inotify-next-wd"))
		return -ENOTTY;
	return ioctl(fd, INOTIFY_IOC_SETNEXTWD, wd) < 0 ? -errno : 0;
}

static int add_watches(struct ckpt_ctx *ctx, int fd, const Ckpt__File *f)
{
	bool ioctl_ok = true;
	unsigned budget = SKIP_MAX;
	int next = 1, r;

	for (size_t i = 0; i < f->n_inotify_watches; i++) {
		const Ckpt__InotifyWatch *w = f->inotify_watches[i];
		int wd = (int)w->wd, got;

		if (ioctl_ok) {
			r = set_next_wd(ctx, fd, wd);
			if (r < 0 && r != -ENOTTY)
				return fail(ctx, r, "inotify: setting the next wd to %d: %s", wd, strerror(-r));
			ioctl_ok = r == 0;
			if (!ioctl_ok)
				pr_info(ctx, "inotify: no INOTIFY_IOC_SETNEXTWD: skipping wds with scratch watches");
		}
		if (!ioctl_ok && (r = skip_wds(ctx, fd, &next, wd, &budget)) < 0)
			return r;
		/* The path names the watched inode itself, a symbolic link too. */
		got = inotify_add_watch(fd, w->path, w->mask | IN_DONT_FOLLOW);
		if (got < 0)
			return fail(ctx, -errno, "inotify: watching %s (wd %d) again: %s", w->path, wd,
				    strerror(errno));
		if (got != wd)
			return fail(ctx, -EEXIST, "inotify: watching %s again gave wd %d, not %d%s", w->path, got, wd,
				    got < wd ? " (it is watched under another name too)" : "");
		next = wd + 1;
	}
	return drain(fd) < 0 ? fail(ctx, -errno, "inotify: draining: %s", strerror(errno)) : 0;
}

static int inotify_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	_cleanup_close_ int fd = -1;
	int r = inotify_check(ctx, f);

	(void)rr;
	if (r < 0)
		return r;
	fd = inotify_init1(IN_CLOEXEC | (f->flags & O_NONBLOCK ? IN_NONBLOCK : 0));
	if (fd < 0)
		return fail(ctx, -errno, "inotify_init1: %s", strerror(errno));
	r = add_watches(ctx, fd, f);
	if (r < 0)
		return r;
	*out = take_fd(&fd);
	return 0;
}

/* In the restored process, before it runs: the events of the restore's own opens go. */
static int inotify_attach(const Ckpt__File *f, uint32_t pid, int fd, char *msg, size_t msglen)
{
	int r = drain(fd);

	(void)f;
	if (r < 0)
		snprintf(msg, msglen, "pid %u fd %d: inotify: draining: %s", pid, fd, strerror(-r));
	return r;
}

const struct res_ops res_inotify = {
	.name = "inotify",
	.kind = FILE_KIND_INOTIFY,
	.match = inotify_match,
	.dump = inotify_dump,
	.open = inotify_open,
	.attach = inotify_attach,
};
