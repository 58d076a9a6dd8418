// SPDX-License-Identifier: MIT
/*
 * POSIX message queues: the state that needs the frozen tree to be read,
 * and the restored processes to be put back (the descriptors are the
 * resource kind in lib/res/mqueue.c).
 *
 * No call shows a queue's messages without taking them, so the dump takes
 * them all (mq_receive, highest priority first, oldest first within a
 * priority) and sends them back in the same order with the same
 * priorities, which leaves the queue as it was; the tree is frozen
 * meanwhile, and none of its processes waits in mq_receive then.
 *
 * A queue that goes from empty to not empty sends its notification (to the
 * process registered with mq_notify) and forgets the registration. The dump
 * makes that happen on purpose: the signal, caught in the registered
 * process, carries the sigev_value that nothing else shows. Then the
 * signal is taken back (rt_sigtimedwait, inside the process) and the
 * process registers again, as it had.
 */
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "dump.h"
#include "ipc.h"
#include "res/res.h"
#include "restore.h"

#define SCRATCH_SIZE 4096
#define SI_MESGQ_ (-3)
#define MQ_MAX_SAVED (48u << 20) /* one File record holds them all */

struct mq_dump {
	struct dump *d;
	Ckpt__File *f;
	int qfd;
	struct mq_attr attr;
	unsigned long qsize;
	int notify, signo;
	pid_t owner;
	struct dproc *op;         /* the owner, in the tree */
	int owner_fd;             /* a descriptor of the queue in the owner */
	Ckpt__MqMessage **msgs;
	size_t n;
};

static bool named_queue(const char *name, uint64_t ino);

struct mq_status {
	unsigned long qsize;
	int notify, signo, pid;
};

/* What reading the queue's file says: "QSIZE:... NOTIFY:... SIGNO:... NOTIFY_PID:..." */
static int read_status(int qfd, struct mq_status *st)
{
	char buf[256];
	ssize_t n = pread(qfd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		return -errno;
	buf[n] = 0;
	if (sscanf(buf, "QSIZE:%lu NOTIFY:%d SIGNO:%d NOTIFY_PID:%d", &st->qsize, &st->notify, &st->signo, &st->pid) != 4)
		return -EINVAL;
	return 0;
}

static struct dproc *tree_proc(struct dump *d, pid_t pid)
{
	for (size_t i = 0; i < d->nr_procs; i++)
		if (d->procs[i].pid == pid && !d->procs[i].zombie)
			return &d->procs[i];
	return NULL;
}

static int owner_fd(struct dump *d, pid_t pid, uint64_t ino)
{
	for (size_t i = 0; i < d->m.fds.n; i++) {
		const Ckpt__Fd *fd = d->m.fds.v[i];
		const Ckpt__File *f = fd->pid == (uint32_t)pid ? model_file(&d->m, fd->file_id) : NULL;

		if (f && f->kind == FILE_KIND_MQUEUE && f->ino == ino)
			return (int)fd->fd;
	}
	return -1;
}

static bool signal_pending(pid_t pid, pid_t tid, int sig)
{
	const char *files[2][2] = { { "/proc/%d/status", "ShdPnd" }, { "/proc/%d/task/%d/status", "SigPnd" } };

	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *text = NULL;
		char path[64];
		const char *v;

		snprintf(path, sizeof(path), files[i][0], pid, tid);
		if (read_text(path, &text, NULL) < 0 || !(v = status_field(text, files[i][1])))
			return true; /* cannot tell: as if it were */
		if (strtoull(v, NULL, 16) & (1ULL << (sig - 1)))
			return true;
	}
	return false;
}

/* Can the registration be read and made again? The owner must be ours, frozen, and hold the queue. */
static int check_notify(struct mq_dump *q)
{
	struct dump *d = q->d;
	const char *name = q->f->path;

	if (q->notify != SIGEV_SIGNAL && q->notify != SIGEV_NONE)
		return fail(d->ctx, -EOPNOTSUPP,
			    "POSIX message queue %s: notification by a thread (SIGEV_THREAD, registered by pid %d) is not supported yet",
			    name, q->owner);
	q->op = tree_proc(d, q->owner);
	if (!q->op)
		return fail(d->ctx, -EOPNOTSUPP, "POSIX message queue %s: notification registered by pid %d, outside the tree",
			    name, q->owner);
	q->owner_fd = owner_fd(d, q->owner, q->f->ino);
	if (q->owner_fd < 0)
		return fail(d->ctx, -EOPNOTSUPP,
			    "POSIX message queue %s: notification registered by pid %d, which has no descriptor of it", name,
			    q->owner);
	if (q->notify == SIGEV_SIGNAL && (q->signo < 1 || q->signo > 64))
		return fail(d->ctx, -EINVAL, "POSIX message queue %s: notification signal %d", name, q->signo);
	/* Its signal is read from the owner's pending signals: that one must be ours. */
	if (q->notify == SIGEV_SIGNAL && signal_pending(q->owner, q->op->live, q->signo))
		return fail(d->ctx, -EAGAIN,
			    "POSIX message queue %s: cannot read the notification of pid %d while its signal %d is pending; try again",
			    name, q->owner, q->signo);
	return 0;
}

/* Puts back messages [0, n) in their order; the queue is empty before. */
static int refill(struct mq_dump *q, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (mq_send(q->qfd, (const char *)q->msgs[i]->data.data, q->msgs[i]->data.len, q->msgs[i]->prio) < 0)
			return fail(q->d->ctx, -errno,
				    "POSIX message queue %s: putting back message %zu of %zu: %s; the queue lost messages",
				    q->f->path, i, n, strerror(errno));
	return 0;
}

static int drain(struct mq_dump *q)
{
	struct dump *d = q->d;
	size_t want = (size_t)q->attr.mq_curmsgs, total = 0;
	_cleanup_free_ char *buf = xcalloc(1, (size_t)q->attr.mq_msgsize + 1);

	q->msgs = arena_alloc(&d->m.arena, (want + 1) * sizeof(*q->msgs));
	for (q->n = 0; q->n < want; q->n++) {
		Ckpt__MqMessage *m;
		unsigned prio;
		ssize_t len = mq_receive(q->qfd, buf, (size_t)q->attr.mq_msgsize, &prio);

		if (len < 0) /* the caller puts back the q->n messages taken */
			return fail(d->ctx, errno == EAGAIN ? -EAGAIN : -errno, "POSIX message queue %s: reading message %zu: %s",
				    q->f->path, q->n,
				    errno == EAGAIN ? "the queue changed while it was read; try again" : strerror(errno));
		m = arena_alloc(&d->m.arena, sizeof(*m));
		ckpt__mq_message__init(m);
		m->prio = prio;
		m->data.len = (size_t)len;
		m->data.data = arena_alloc(&d->m.arena, (size_t)len + 1);
		memcpy(m->data.data, buf, (size_t)len);
		q->msgs[q->n] = m;
		total += (size_t)len;
	}
	if (total > MQ_MAX_SAVED)
		return fail(d->ctx, -EFBIG, "POSIX message queue %s: %zu bytes of messages is more than ckpt saves (%u)",
			    q->f->path, total, MQ_MAX_SAVED);
	return 0;
}

/* Inside the owner: takes back the notification's signal, whose siginfo holds sigev_value. */
static int take_signal(struct mq_dump *q, struct remote *rm, uint64_t scratch, uint64_t *value)
{
	uint64_t set = 1ULL << (q->signo - 1), zero[2] = { 0, 0 };
	uint8_t si[128];
	int32_t code;
	long ret;
	int r = remote_mem(q->d->ctx, q->owner, scratch, &set, sizeof(set), true);

	if (r == 0)
		r = remote_mem(q->d->ctx, q->owner, scratch + 16, zero, sizeof(zero), true);
	if (r == 0)
		r = remote_syscall(rm, &ret, SYS_rt_sigtimedwait, scratch, scratch + 128, scratch + 16, 8, 0, 0);
	if (r < 0)
		return r;
	if (ret != q->signo)
		return fail(q->d->ctx, ret < 0 ? (int)ret : -EIO,
			    "POSIX message queue %s: the notification signal of pid %d did not come (%ld)", q->f->path,
			    q->owner, ret);
	r = remote_mem(q->d->ctx, q->owner, scratch + 128, si, sizeof(si), false);
	if (r < 0)
		return r;
	memcpy(&code, si + 8, sizeof(code));
	memcpy(value, si + 24, sizeof(*value)); /* _sifields._rt.si_sigval */
	if (code != SI_MESGQ_)
		return fail(q->d->ctx, -EIO, "POSIX message queue %s: pid %d got signal %d from elsewhere (code %d)",
			    q->f->path, q->owner, q->signo, code);
	return 0;
}

static int register_again(struct mq_dump *q, struct remote *rm, uint64_t scratch, uint64_t value)
{
	struct sigevent sev;
	long ret;
	int r;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = q->notify;
	sev.sigev_signo = q->signo;
	sev.sigev_value.sival_ptr = (void *)value;
	r = remote_mem(q->d->ctx, q->owner, scratch + 512, &sev, sizeof(sev), true);
	if (r == 0)
		r = remote_syscall(rm, &ret, SYS_mq_notify, (uint64_t)q->owner_fd, scratch + 512, 0, 0, 0, 0);
	if (r == 0 && ret < 0)
		r = fail(q->d->ctx, (int)ret, "pid %d: registering again for POSIX message queue %s: %s", q->owner,
			 q->f->path, strerror((int)-ret));
	return r;
}

static void record_notify(struct mq_dump *q, uint64_t value)
{
	Ckpt__MqNotify *n = arena_alloc(&q->d->m.arena, sizeof(*n));

	ckpt__mq_notify__init(n);
	n->pid = (uint32_t)q->owner;
	n->notify = (uint32_t)q->notify;
	n->signo = (uint32_t)q->signo;
	n->value = value;
	q->f->mq_notify = n;
}

/* The notification went off (we made the queue non-empty): learn its value, then make it as it was. */
static int restore_registration(struct mq_dump *q)
{
	struct dump *d = q->d;
	uint64_t value = 0, scratch = 0;
	struct remote rm;
	long ret;
	int r, r2;

	r = remote_begin(&rm, d->ctx, q->op->live, q->op->syscall_ip);
	if (r < 0)
		return r;
	r = remote_syscall(&rm, &ret, SYS_mmap, 0, SCRATCH_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   (uint64_t)-1, 0);
	if (r == 0 && (unsigned long)ret > -4096UL)
		r = fail(d->ctx, (int)ret, "pid %d: cannot map scratch memory: %s", q->owner, strerror((int)-ret));
	if (r == 0)
		scratch = (uint64_t)ret;
	if (r == 0 && q->notify == SIGEV_SIGNAL)
		r = take_signal(q, &rm, scratch, &value);
	/*
	 * Without its value, no registration is made again: the process then
	 * has (or had) the notification, as if a message had come, rather
	 * than a registration that would bring it another value.
	 */
	if (r == 0)
		r = register_again(q, &rm, scratch, value);
	if (scratch && (r2 = remote_syscall(&rm, &ret, SYS_munmap, scratch, SCRATCH_SIZE, 0, 0, 0, 0)) < 0 && r == 0)
		r = r2;
	r2 = remote_end(&rm);
	if (r < 0 || r2 < 0)
		return r < 0 ? r : r2;
	record_notify(q, value);
	return 0;
}

/* Makes an empty queue send its notification: one empty message, taken again. *sent: it went off. */
static int fire_empty(struct mq_dump *q, bool *sent)
{
	char c;
	unsigned prio;

	*sent = mq_send(q->qfd, "", 0, 0) == 0;
	if (!*sent)
		return fail(q->d->ctx, -errno, "POSIX message queue %s: %s", q->f->path, strerror(errno));
	if (mq_receive(q->qfd, &c, (size_t)q->attr.mq_msgsize, &prio) < 0)
		return fail(q->d->ctx, -errno, "POSIX message queue %s: taking back an empty message: %s", q->f->path,
			    strerror(errno));
	return 0;
}

/*
 * Takes the messages and gives them back. Giving back any message to the
 * emptied queue sets off its notification (an empty queue is made to, on
 * purpose): then the registration is read and made again, whatever failed.
 */
static int contents(struct mq_dump *q)
{
	bool fire = q->owner && q->notify == SIGEV_SIGNAL && q->attr.mq_curmsgs == 0, fired;
	int r = drain(q), r2;

	if (r == 0 && mqueue_fail_point(q->d->ctx, false))
		r = fail(q->d->ctx, -EIO, "POSIX message queue %s: injected failure with its messages taken", q->f->path);
	if (r == 0 && fire)
		r = fire_empty(q, &fire);
	else
		fire = false;
	r2 = refill(q, q->n);
	r = r ? r : r2;
	fired = q->owner && (q->n || fire);
	if (r == 0 && fired && mqueue_fail_point(q->d->ctx, true))
		r = fail(q->d->ctx, -EIO, "POSIX message queue %s: injected failure after its notification went off",
			 q->f->path);
	/* Whatever failed, the registration that went off is made again. */
	r2 = fired ? restore_registration(q) : 0;
	if (r < 0 || r2 < 0)
		return r < 0 ? r : r2;
	q->f->n_mq_messages = q->n;
	q->f->mq_messages = q->msgs;
	/* SIGEV_NONE on an empty queue: nothing went off, and there is nothing more to know. */
	if (q->owner && !fired)
		record_notify(q, 0);
	return 0;
}

static int open_queue(struct dump *d, const struct dfile *df, Ckpt__File *f)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", df->pid, df->fd);
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return fail(d->ctx, -errno, "pid %d fd %d: opening POSIX message queue %s: %s", df->pid, df->fd, f->path,
			    strerror(errno));
	return fd;
}

static int dump_queue(struct dump *d, const struct dfile *df)
{
	struct mq_dump q = { .d = d, .f = df->f };
	struct mq_status st, after;
	int r;

	/* The restore makes it again by name, in our namespace: it must be the one of that name here. */
	if (!q.f->mq_unlinked && !named_queue(q.f->path, q.f->ino))
		return fail(d->ctx, -EOPNOTSUPP,
			    "pid %d fd %d: POSIX message queue %s is not the queue of that name in ckpt's IPC namespace; queues of another IPC namespace are not supported yet",
			    df->pid, df->fd, q.f->path);
	q.qfd = open_queue(d, df, df->f);
	if (q.qfd < 0)
		return q.qfd;
	r = mq_getattr(q.qfd, &q.attr) < 0 ? -errno : read_status(q.qfd, &st);
	if (r < 0) {
		close(q.qfd);
		return fail(d->ctx, r, "POSIX message queue %s: reading its state: %s", q.f->path, strerror(-r));
	}
	q.qsize = st.qsize;
	q.notify = st.notify;
	q.signo = st.signo;
	q.owner = st.pid;
	q.f->has_mq_maxmsg = q.f->has_mq_msgsize = true;
	q.f->mq_maxmsg = (uint64_t)q.attr.mq_maxmsg;
	q.f->mq_msgsize = (uint64_t)q.attr.mq_msgsize;
	r = q.owner ? check_notify(&q) : 0;
	if (r == 0)
		r = contents(&q);
	/* The queue must be as it was: same bytes, same registration. */
	if (r == 0 && (read_status(q.qfd, &after) < 0 || after.qsize != st.qsize || after.pid != st.pid ||
		       after.notify != st.notify || after.signo != st.signo))
		r = fail(d->ctx, -EIO, "POSIX message queue %s: not as it was after reading it (%lu bytes, pid %d)",
			 q.f->path, after.qsize, after.pid);
	close(q.qfd);
	if (r == 0)
		pr_debug(d->ctx, "POSIX message queue %s: %zu messages, notification pid %d", q.f->path, q.n, q.owner);
	return r;
}

int mqueue_collect(struct dump *d)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < d->nr_dfiles; i++) {
		const struct dfile *df = &d->dfiles[i];
		bool seen = false;

		if (df->fd < 0 || df->f->kind != FILE_KIND_MQUEUE)
			continue;
		for (size_t k = 0; k < i; k++)
			seen |= d->dfiles[k].fd >= 0 && d->dfiles[k].f->kind == FILE_KIND_MQUEUE &&
				d->dfiles[k].f->ino == df->f->ino;
		if (!seen)
			r = dump_queue(d, df);
	}
	return r;
}

/* Is the queue called name the one with inode ino? */
static bool named_queue(const char *name, uint64_t ino)
{
	struct stat st;
	int fd = mq_open(name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	bool same;

	if (fd < 0)
		return false;
	same = fstat(fd, &st) == 0 && st.st_ino == ino;
	close(fd);
	return same;
}

void mqueue_remove_dumped(struct dump *d)
{
	for (size_t i = 0; i < d->m.files.n; i++) {
		const Ckpt__File *f = d->m.files.v[i];

		if (f->kind != FILE_KIND_MQUEUE || !f->has_mq_maxmsg || f->mq_unlinked || !named_queue(f->path, f->ino))
			continue;
		if (mq_unlink(f->path) < 0)
			pr_warn(d->ctx, "POSIX message queue %s: cannot remove it: %s", f->path, strerror(errno));
	}
}

/* Restore */

static int restored_fd(const struct rproc *rp, const struct model *m, uint64_t ino)
{
	for (size_t i = 0; i < rp->nr_fds; i++) {
		const Ckpt__File *f = model_file(m, rp->fds[i]->file_id);

		if (f && f->kind == FILE_KIND_MQUEUE && f->ino == ino)
			return (int)rp->fds[i]->fd;
	}
	return -1;
}

static int notify_one(struct restore *rs, struct rproc *rp, struct remote *rm, const Ckpt__File *f, uint64_t scratch)
{
	const Ckpt__MqNotify *n = f->mq_notify;
	int fd = restored_fd(rp, &rs->m, f->ino);
	struct sigevent sev;
	long ret;
	int r;

	if (fd < 0)
		return fail(rs->ctx, -EBADMSG, "image damaged: pid %u registered with POSIX message queue %.64s without a descriptor of it",
			    rp->p->pid, f->path);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = (int)n->notify;
	sev.sigev_signo = (int)n->signo;
	sev.sigev_value.sival_ptr = (void *)n->value;
	r = remote_mem(rs->ctx, (pid_t)rp->p->pid, scratch, &sev, sizeof(sev), true);
	if (r < 0)
		return r;
	r = remote_syscall(rm, &ret, SYS_mq_notify, (uint64_t)fd, scratch, 0, 0, 0, 0);
	if (r == 0 && ret < 0)
		r = fail(rs->ctx, (int)ret, "pid %u fd %d: registering for POSIX message queue %s: %s", rp->p->pid, fd,
			 f->path, strerror((int)-ret));
	return r;
}

int mqueue_restore_notify(struct restore *rs, struct rproc *rp, struct remote *rm)
{
	uint64_t scratch = 0;
	long ret;
	int r = 0, r2;

	for (size_t i = 0; r == 0 && i < rs->m.files.n; i++) {
		const Ckpt__File *f = rs->m.files.v[i];

		if (f->kind != FILE_KIND_MQUEUE || !f->mq_notify || f->mq_notify->pid != rp->p->pid)
			continue;
		if (!scratch) {
			r = remote_syscall(rm, &ret, SYS_mmap, 0, SCRATCH_SIZE, PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0);
			if (r == 0 && (unsigned long)ret > -4096UL)
				r = fail(rs->ctx, (int)ret, "pid %u: cannot map scratch memory: %s", rp->p->pid,
					 strerror((int)-ret));
			if (r < 0)
				break;
			scratch = (uint64_t)ret;
		}
		r = notify_one(rs, rp, rm, f, scratch);
	}
	if (scratch && (r2 = remote_syscall(rm, &ret, SYS_munmap, scratch, SCRATCH_SIZE, 0, 0, 0, 0)) < 0 && r == 0)
		r = r2;
	return r;
}

void mqueue_restore_abort(struct restore *rs)
{
	for (size_t i = 0; rs->file_fds && i < rs->m.files.n; i++) {
		const Ckpt__File *f = rs->m.files.v[i];
		const Ckpt__File *s = f->kind == FILE_KIND_MQUEUE ? mqueue_state(&rs->m, f->ino) : NULL;
		struct stat st;

		if (!s || s->mq_unlinked || rs->file_fds[i] < 0 || fstat(rs->file_fds[i], &st) < 0)
			continue;
		/* Ours only: the name may be another queue's, which made the restore fail. */
		if (named_queue(s->path, st.st_ino))
			mq_unlink(s->path);
	}
}
