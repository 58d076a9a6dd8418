// SPDX-License-Identifier: MIT
/*
 * Pseudo-terminals whose master is held inside the tree (a program under
 * script(1), a terminal emulator, ...): the master (kind 15) and every
 * description of its slave (kind 16). A slave whose master is outside the
 * tree is the caller's terminal: the tty kind takes it (--shell-job).
 *
 * The pair's state is read through a copy of the master (pidfd_getfd): the
 * slave's termios, window size, packet mode, lock, session and foreground
 * group, and the bytes queued both ways (pty_queue.c). It is kept on the
 * master's File record.
 *
 * At restore the pair must come back as the same /dev/pts/N. Opening ptmx
 * gives the lowest free index, so the restore opens it until it gets N,
 * holding the lower ones meanwhile and closing them after; if the kernel
 * gives an index above N, N is in use and the restore fails. Slave
 * descriptions are opened through the master (TIOCGPTPEER), which names the
 * same devpts instance. The lock is set last, by the process that holds
 * the master (attach), once every slave description is open.
 */
#include <fcntl.h>
#include <asm/termbits.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>

#include "pty.h"

#define PTMX_RDEV makedev(5, 2)
#define PTS_MAJOR 136

static bool is_ptmx(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == PTMX_RDEV;
}

static bool is_pts(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) >= PTS_MAJOR && major(st->st_rdev) <= PTS_MAJOR + 7;
}

/* The kernel numbers slaves MKDEV(136, 0) + N, with 20 bits of minor. */
static uint32_t pts_index(dev_t rdev)
{
	return ((major(rdev) - PTS_MAJOR) << 20) + minor(rdev);
}

/* The devpts instance a master opened as path uses: the one at its directory's "pts". */
static int devpts_of(const char *path, dev_t *dev)
{
	char dir[PATH_MAX];
	struct statfs sfs;
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return -EINVAL;
	slash[slash == dir] = 0;
	if (statfs(dir, &sfs) < 0)
		return -errno;
	if (sfs.f_type != DEVPTS_SUPER_MAGIC && strlen(dir) + 5 < sizeof(dir))
		strcat(dir, dir[1] ? "/pts" : "pts");
	if (stat(dir, &st) < 0)
		return -errno;
	*dev = st.st_dev;
	return 0;
}

static int master_index(const char *dir, int fd, uint32_t *index)
{
	_cleanup_free_ char *text = NULL;
	char path[PATH_MAX + 32];
	const char *v;

	snprintf(path, sizeof(path), "%s/fdinfo/%d", dir, fd);
	if (read_text(path, &text, NULL) < 0 || !(v = status_field(text, "tty-index")))
		return -ENOENT;
	*index = (uint32_t)strtoul(v, NULL, 10);
	return 0;
}

/* /proc/PID, or the directory of a live thread (*tid) when the leader has exited. */
static void proc_dir(const struct model *m, const Ckpt__Process *p, char *buf, size_t len, pid_t *tid)
{
	snprintf(buf, len, "/proc/%u", p->pid);
	*tid = (pid_t)p->pid;
	if (!p->leader_exited)
		return;
	for (size_t i = 0; i < m->threads.n; i++)
		if (m->threads.v[i]->pid == p->pid) {
			*tid = (pid_t)m->threads.v[i]->tid;
			snprintf(buf, len, "/proc/%u/task/%u", p->pid, m->threads.v[i]->tid);
			return;
		}
}

struct pty_holder {
	pid_t pid, tid;
	int fd;
};

/* Is fd of the process at dir the master (or a slave) of pty index on devpts? */
static bool holds(const char *dir, int fd, bool master, uint32_t index, dev_t devpts)
{
	char path[PATH_MAX + 32], link[PATH_MAX];
	uint32_t got;
	struct stat st;
	dev_t dev;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/fd/%d", dir, fd);
	if (stat(path, &st) < 0)
		return false;
	if (!master)
		return is_pts(&st) && pts_index(st.st_rdev) == index && st.st_dev == devpts;
	if (!is_ptmx(&st) || master_index(dir, fd, &got) < 0 || got != index)
		return false;
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = 0;
	return devpts_of(link, &dev) == 0 && dev == devpts;
}

/* Finds a live process of the tree holding the master, or a slave, of pty index. */
static bool find_holder(const struct model *m, bool master, uint32_t index, dev_t devpts, struct pty_holder *h)
{
	for (size_t i = 0; i < m->procs.n; i++) {
		const Ckpt__Process *p = m->procs.v[i];
		char dir[64], fds[80];
		struct dirent *de;
		pid_t tid;

		if (p->state == 1)
			continue;
		proc_dir(m, p, dir, sizeof(dir), &tid);
		snprintf(fds, sizeof(fds), "%s/fd", dir);
		_cleanup_(closedirp) DIR *d = opendir(fds);
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.' || !holds(dir, atoi(de->d_name), master, index, devpts))
				continue;
			h->pid = (pid_t)p->pid;
			h->tid = tid;
			h->fd = atoi(de->d_name);
			return true;
		}
	}
	return false;
}

static bool pty_master_match(const struct fd_desc *fd)
{
	return is_ptmx(&fd->st);
}

static bool pty_slave_match(const struct fd_desc *fd)
{
	return is_pts(&fd->st);
}

/* Line discipline, termios, window size, lock, packet mode, session, foreground. */
static int read_settings(struct ckpt_ctx *ctx, const char *who, int master, int slave, Ckpt__PtyState *ps,
			 struct arena *a)
{
	struct termios2 t;
	struct winsize ws;
	int locked = 0, packet = 0, ldisc = 0, sldisc = 0;
	pid_t sid = 0, pgrp = 0;

	if (ioctl(master, TIOCGETD, &ldisc) < 0 || (slave >= 0 && ioctl(slave, TIOCGETD, &sldisc) < 0) ||
	    ioctl(master, TCGETS2, &t) < 0 || ioctl(master, TIOCGWINSZ, &ws) < 0 ||
	    ioctl(master, TIOCGPTLCK, &locked) < 0 || ioctl(master, TIOCGPKT, &packet) < 0 ||
	    ioctl(master, TIOCGPGRP, &pgrp) < 0)
		return fail(ctx, -errno, "%s: reading its settings: %s", who, strerror(errno));
	if (ldisc != N_TTY || sldisc != N_TTY)
		return fail(ctx, -EOPNOTSUPP, "%s: line discipline %d is not supported (only N_TTY)", who,
			    ldisc != N_TTY ? ldisc : sldisc);
	/* ENOTTY: the slave is nobody's controlling terminal. */
	if (ioctl(master, TIOCGSID, &sid) < 0)
		sid = 0;
	pty_termios_to_state(&t, ps, a);
	ps->rows = ws.ws_row;
	ps->cols = ws.ws_col;
	ps->xpixel = ws.ws_xpixel;
	ps->ypixel = ws.ws_ypixel;
	ps->locked = locked != 0;
	ps->packet = packet != 0;
	ps->sid = (uint32_t)sid;
	ps->fg_pgrp = sid ? (uint32_t)pgrp : 0;
	return 0;
}

static int pty_master_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
			   Ckpt__File *f, struct model *m)
{
	Ckpt__PtyState *ps = arena_alloc(&m->arena, sizeof(*ps));
	_cleanup_close_ int master = -1, slave = -1;
	struct pty_holder h;
	char dir[64], who[64];
	uint32_t index;
	dev_t devpts;
	struct pollfd pfd;
	int r;

	(void)opts;
	snprintf(dir, sizeof(dir), "/proc/%d/task/%d", fd->pid, fd->tid);
	if (master_index(dir, fd->fd, &index) < 0 || devpts_of(fd->link, &devpts) < 0)
		return fail(ctx, -EIO, "pid %d fd %d: pty master %s: no tty-index in fdinfo or no devpts", fd->pid,
			    fd->fd, fd->link);
	snprintf(who, sizeof(who), "pid %d fd %d: pty %u", fd->pid, fd->fd, index);
	for (size_t i = 0; i < m->files.n; i++)
		if (m->files.v[i] != f && m->files.v[i]->kind == FILE_KIND_PTY_MASTER && m->files.v[i]->pty_index == index)
			return fail(ctx, -EOPNOTSUPP, "%s: another pty of the tree has that number (another devpts instance); not supported",
				    who);
	ckpt__pty_state__init(ps);
	f->path = arena_strdup(&m->arena, fd->link);
	f->has_pty_index = true;
	f->pty_index = index;
	f->pty = ps;
	f->has_owner_pid = true; /* it sets the lock, once every slave is open again */
	f->owner_pid = (uint32_t)fd->pid;
	master = res_fd_dup(ctx, fd->pid, fd->tid, fd->fd);
	if (master < 0)
		return master;
	if (find_holder(m, false, index, devpts, &h) && (slave = res_fd_dup(ctx, h.pid, h.tid, h.fd)) < 0)
		return slave;
	r = read_settings(ctx, who, master, slave, ps, &m->arena);
	if (r < 0)
		return r;
	/* Every slave closed after one was opened: the master reads EIO at the end of its data. */
	pfd = (struct pollfd){ master, POLLIN, 0 };
	ps->slave_closed = slave < 0 && poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLHUP);
	return pty_save_queues(ctx, who, master, slave, ps, &m->arena);
}

static int pty_slave_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
			  Ckpt__File *f, struct model *m)
{
	uint32_t index = pts_index(fd->st.st_rdev);
	struct pty_holder h;

	/* Its master is outside the tree: the caller's terminal. */
	if (!find_holder(m, true, index, fd->st.st_dev, &h)) {
		f->kind = FILE_KIND_TTY;
		return res_tty.dump(ctx, opts, fd, f, m);
	}
	f->path = arena_strdup(&m->arena, fd->link);
	f->has_pty_index = true;
	f->pty_index = index;
	return 0;
}

static const Ckpt__File *master_record(const struct model *m, uint32_t index)
{
	for (size_t i = 0; i < m->files.n; i++) {
		const Ckpt__File *f = m->files.v[i];

		if (f->kind == FILE_KIND_PTY_MASTER && f->has_pty_index && f->pty_index == index)
			return f;
	}
	return NULL;
}

static bool has_slave_record(const struct model *m, uint32_t index)
{
	for (size_t i = 0; i < m->files.n; i++)
		if (m->files.v[i]->kind == FILE_KIND_PTY_SLAVE && m->files.v[i]->pty_index == index)
			return true;
	return false;
}

static bool ptmx_path_ok(const char *path)
{
	const char *base = path ? strrchr(path, '/') : NULL;

	return path && path[0] == '/' && base && !strcmp(base, "/ptmx") && strlen(path) < PATH_MAX;
}

/* Opens ptmx until the kernel gives index; the lower ones it gives meanwhile are closed after. */
static int open_at_index(struct ckpt_ctx *ctx, const char *path, uint32_t index, int *out)
{
	int *extra = xcalloc((size_t)index + 1, sizeof(int));
	size_t nr = 0;
	int r = 0;

	*out = -1;
	while (r == 0 && *out < 0) {
		int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC), got = -1;

		if (fd < 0 || ioctl(fd, TIOCGPTN, &got) < 0) {
			r = fail(ctx, -errno, "pty %u: opening %s: %s", index, path, strerror(errno));
			if (fd >= 0)
				close(fd);
		} else if ((uint32_t)got == index) {
			*out = fd;
		} else if ((uint32_t)got > index || nr > index) {
			close(fd);
			r = fail(ctx, -EBUSY, "pty %u (/dev/pts/%u) is in use by another process: the kernel gave %d", index,
				 index, got);
		} else {
			extra[nr++] = fd;
		}
	}
	while (nr)
		close(extra[--nr]);
	free(extra);
	return r;
}

static bool state_valid(const Ckpt__File *mf)
{
	const Ckpt__PtyState *ps = mf->pty;

	return ps && ptmx_path_ok(mf->path) && ps->cc.len == NCCS && ps->line == N_TTY && pty_queues_valid(ps) &&
	       ps->rows <= 0xffff && ps->cols <= 0xffff && ps->xpixel <= 0xffff && ps->ypixel <= 0xffff;
}

static int settle(struct ckpt_ctx *ctx, const char *who, struct res_obj *o, const Ckpt__PtyState *ps)
{
	struct winsize ws = { (unsigned short)ps->rows, (unsigned short)ps->cols, (unsigned short)ps->xpixel,
			      (unsigned short)ps->ypixel };
	int r = pty_load_queues(ctx, who, o->fds[0], o->fds[1], ps);

	if (r < 0)
		return r;
	if (ioctl(o->fds[0], TIOCSWINSZ, &ws) < 0 || ioctl(o->fds[0], TIOCPKT, &(int){ ps->packet }) < 0)
		return fail(ctx, -errno, "%s: window size or packet mode: %s", who, strerror(errno));
	return 0;
}

/* The pair of pty index, in the state the image gives it; unlocked until attach. */
static int make_pty(struct ckpt_ctx *ctx, struct res_restore *rr, uint32_t index, struct res_obj **out)
{
	const Ckpt__File *mf = master_record(rr->m, index);
	const Ckpt__PtyState *ps = mf ? mf->pty : NULL;
	bool need_peer;
	struct res_obj *o;
	char who[32];
	int fd, r;

	snprintf(who, sizeof(who), "pty %u", index);
	if (!mf || index >= PTY_INDEX_LIMIT || !state_valid(mf))
		return fail(ctx, -EBADMSG, "image damaged: pty %u has no valid master record", index);
	r = open_at_index(ctx, mf->path, index, &fd);
	if (r < 0)
		return r;
	o = res_obj_add(rr, FILE_KIND_PTY_MASTER, index);
	o->fds[0] = fcntl(fd, F_DUPFD_CLOEXEC, rr->fd_floor);
	close(fd);
	if (o->fds[0] < 0 || ioctl(o->fds[0], TIOCSPTLCK, &(int){ 0 }) < 0)
		return fail(ctx, -errno, "%s: unlocking: %s", who, strerror(errno));
	/* A slave for the input, or one that is closed once all is open (slave_closed). */
	need_peer = ps->n_input_lines || ps->has_input || (ps->slave_closed && !has_slave_record(rr->m, index));
	if (need_peer) {
		fd = ioctl(o->fds[0], TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		o->fds[1] = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, rr->fd_floor);
		if (fd >= 0)
			close(fd);
		if (o->fds[1] < 0)
			return fail(ctx, -errno, "%s: opening its slave: %s", who, strerror(errno));
	}
	r = settle(ctx, who, o, ps);
	if (r < 0)
		return r;
	*out = o;
	return 0;
}

static int get_pty(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, struct res_obj **o)
{
	if (!f->has_pty_index)
		return fail(ctx, -EBADMSG, "image damaged: pty file %llu has no index", (unsigned long long)f->id);
	*o = res_obj_find(rr, FILE_KIND_PTY_MASTER, f->pty_index);
	return *o ? 0 : make_pty(ctx, rr, f->pty_index, o);
}

static int set_flags(struct ckpt_ctx *ctx, const Ckpt__File *f, int fd)
{
	if (fcntl(fd, F_SETFL, (int)f->flags & (O_NONBLOCK | O_APPEND | O_ASYNC)) < 0) {
		int e = errno;

		close(fd);
		return fail(ctx, -e, "pty %u: file flags: %s", f->pty_index, strerror(e));
	}
	return 0;
}

static int pty_master_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	struct res_obj *o;
	int r;

	if (!state_valid(f) || master_record(rr->m, f->pty_index) != f)
		return fail(ctx, -EBADMSG, "image damaged: pty master file %llu", (unsigned long long)f->id);
	r = get_pty(ctx, rr, f, &o);
	if (r < 0)
		return r;
	*out = fcntl(o->fds[0], F_DUPFD_CLOEXEC, 3);
	if (*out < 0)
		return fail(ctx, -errno, "pty %u: %s", f->pty_index, strerror(errno));
	return set_flags(ctx, f, *out);
}

static int pty_slave_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	int acc = (int)f->flags & O_ACCMODE;
	struct res_obj *o;
	struct stat st;
	int r = get_pty(ctx, rr, f, &o);

	if (r < 0)
		return r;
	*out = ioctl(o->fds[0], TIOCGPTPEER, (acc == O_WRONLY || acc == O_RDONLY ? acc : O_RDWR) | O_NOCTTY | O_CLOEXEC);
	if (*out < 0)
		return fail(ctx, -errno, "pty %u: opening its slave: %s", f->pty_index, strerror(errno));
	if (fstat(*out, &st) < 0 || !is_pts(&st) || pts_index(st.st_rdev) != f->pty_index) {
		close(*out);
		return fail(ctx, -EIO, "pty %u: the slave opened is not /dev/pts/%u", f->pty_index, f->pty_index);
	}
	return set_flags(ctx, f, *out);
}

static int pty_master_attach(const Ckpt__File *f, uint32_t pid, int fd, char *msg, size_t msglen)
{
	if (f->pty && f->pty->locked && ioctl(fd, TIOCSPTLCK, &(int){ 1 }) < 0) {
		int e = errno;

		snprintf(msg, msglen, "pid %u fd %d: locking pty %u: %s", pid, fd, f->pty_index, strerror(e));
		return -e;
	}
	return 0;
}

const struct res_ops res_pty_master = {
	.name = "pty-master",
	.kind = FILE_KIND_PTY_MASTER,
	.match = pty_master_match,
	.dump = pty_master_dump,
	.open = pty_master_open,
	.attach = pty_master_attach,
};

const struct res_ops res_pty_slave = {
	.name = "pty-slave",
	.kind = FILE_KIND_PTY_SLAVE,
	.match = pty_slave_match,
	.dump = pty_slave_dump,
	.open = pty_slave_open,
};
