// SPDX-License-Identifier: MIT
/* The one list of resource kinds. */
#include <fcntl.h>
#include <sys/syscall.h>

#include "compat.h"
#include "res.h"

static const struct res_ops *const kinds[] = {
	&res_mqueue,   /* first: a queue's descriptor looks like a regular file (an unlinked one if unlinked) */
	&res_memfd,    /* before res_path: their links are paths too */
	&res_unlinked,
	&res_path,
	&res_chardev,
	&res_pty_master, /* before res_tty: a slave whose master is outside the tree is the tty kind's */
	&res_pty_slave,
	&res_tty,
	&res_pipe,
	&res_eventfd,
	&res_epoll,
	&res_fifo,
	&res_signalfd,
	&res_timerfd,
	&res_inotify,
	&res_unix,
	&res_netlink, /* before res_inet, which takes every other family to refuse it */
	&res_inet,
};

const struct res_ops *res_by_kind(uint32_t kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (kinds[i]->kind == kind)
			return kinds[i];
	return NULL;
}

int res_dump_finish(struct ckpt_ctx *ctx, struct model *m)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		int r = kinds[i]->dump_finish ? kinds[i]->dump_finish(ctx, m) : 0;

		if (r < 0)
			return r;
	}
	return 0;
}

const struct res_ops *res_for_fd(const struct fd_desc *fd)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (kinds[i]->match(fd))
			return kinds[i];
	return NULL;
}

const char *fd_kind_name(const struct fd_desc *fd, char *buf, size_t len)
{
	const char *l = fd->link;

	if (!strncmp(l, "anon_inode:", 11)) {
		l += 11;
		snprintf(buf, len, "%.*s", (int)strcspn(l + (*l == '['), "]"), l + (*l == '['));
	} else if (!strncmp(l, "pipe:", 5)) {
		snprintf(buf, len, S_ISFIFO(fd->st.st_mode) ? "pipe" : "%s", l);
	} else if (!strncmp(l, "socket:", 7)) {
		snprintf(buf, len, "socket");
	} else if (S_ISFIFO(fd->st.st_mode)) {
		snprintf(buf, len, "fifo %s", l);
	} else if (S_ISCHR(fd->st.st_mode)) {
		snprintf(buf, len, "character device %s", l);
	} else if (S_ISBLK(fd->st.st_mode)) {
		snprintf(buf, len, "block device %s", l);
	} else {
		snprintf(buf, len, "%s", l);
	}
	return buf;
}

char *fdinfo_text(const struct fd_desc *fd)
{
	char path[96], *text = NULL;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/fdinfo/%d", fd->pid, fd->tid, fd->fd);
	return read_text(path, &text, NULL) < 0 ? NULL : text;
}

int res_fd_take(pid_t tid, int fd)
{
	int pidfd = (int)syscall(SYS_pidfd_open, tid, 0), copy, e;

	/* A process whose leader has exited keeps its fds in its other threads. */
	if (pidfd < 0 && errno == EINVAL)
		pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
	if (pidfd < 0)
		return -errno;
	copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	e = errno;
	close(pidfd);
	return copy < 0 ? -e : copy;
}

int res_fd_copy(const struct fd_desc *fd)
{
	return res_fd_take(fd->tid, fd->fd);
}

int res_fd_dup(struct ckpt_ctx *ctx, pid_t pid, pid_t tid, int fd)
{
	int copy = res_fd_take(tid, fd);

	if (copy < 0)
		return fail(ctx, copy, "pid %d fd %d: taking a copy (pidfd_getfd): %s", pid, fd, strerror(-copy));
	return copy;
}

struct res_obj *res_obj_find(struct res_restore *rr, uint32_t kind, uint64_t id)
{
	for (size_t i = 0; i < rr->nr_objs; i++)
		if (rr->objs[i].kind == kind && rr->objs[i].id == id)
			return &rr->objs[i];
	return NULL;
}

struct res_obj *res_obj_add(struct res_restore *rr, uint32_t kind, uint64_t id)
{
	struct res_obj *o = array_push(&rr->objs, &rr->nr_objs, &rr->cap_objs, sizeof(*o));

	o->kind = kind;
	o->id = id;
	o->fds[0] = o->fds[1] = -1;
	return o;
}

/* Every description in use has its own fd by now: drop the kinds' extra ones. */
void res_restore_done(struct res_restore *rr)
{
	for (size_t i = 0; i < rr->nr_objs; i++)
		for (int k = 0; k < 2; k++)
			if (rr->objs[i].fds[k] >= 0)
				close(rr->objs[i].fds[k]);
	free(rr->objs);
	rr->objs = NULL;
	rr->nr_objs = rr->cap_objs = 0;
}

bool file_changed(const Ckpt__File *f, const struct stat *st)
{
	uint64_t mtime = (uint64_t)st->st_mtim.tv_sec * 1000000000ULL + (uint64_t)st->st_mtim.tv_nsec;

	return (uint64_t)st->st_size != f->size || (f->has_mtime_ns && mtime != f->mtime_ns);
}

const char *file_change(const Ckpt__File *f, const struct stat *st, char *buf, size_t len)
{
	if ((uint64_t)st->st_size != f->size)
		snprintf(buf, len, "size %lld, was %llu", (long long)st->st_size, (unsigned long long)f->size);
	else
		snprintf(buf, len, "same size, another modification time");
	return buf;
}

const char *file_user(const struct model *m, uint64_t id, char *buf, size_t len)
{
	for (size_t i = 0; i < m->fds.n; i++)
		if (m->fds.v[i]->file_id == id) {
			snprintf(buf, len, "pid %u fd %u", m->fds.v[i]->pid, m->fds.v[i]->fd);
			return buf;
		}
	for (size_t i = 0; i < m->vmas.n; i++)
		if (m->vmas.v[i]->has_file_id && m->vmas.v[i]->file_id == id) {
			snprintf(buf, len, "pid %u vma 0x%llx", m->vmas.v[i]->pid, (unsigned long long)m->vmas.v[i]->start);
			return buf;
		}
	for (size_t i = 0; i < m->procs.n; i++)
		if (m->procs.v[i]->mm && m->procs.v[i]->mm->exe_file_id == id) {
			snprintf(buf, len, "pid %u exe", m->procs.v[i]->pid);
			return buf;
		}
	snprintf(buf, len, "file %llu", (unsigned long long)id);
	return buf;
}
