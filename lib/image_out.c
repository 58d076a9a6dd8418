// SPDX-License-Identifier: MIT
/*
 * The image's output, written by a thread of its own.
 *
 * A dump reads the tree's memory, finds its zero pages and hashes it on one
 * CPU while this thread writes what is ready on another: the copy into the
 * page cache (or a pipe) overlaps the copy out of the tree instead of
 * following it. Small pieces (frames, records, padding) are gathered in a
 * staging buffer; page data is not copied: it is written straight from
 * one of a few page buffers (out_buffer) that the dump reads pages into,
 * each busy until the thread is done with it. Memory stays bounded by the
 * buffers and the queue.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "image.h"

#define STAGE_CAP (256u << 10)
#define BATCH 64
#define OUT_MIN_REF (64u << 10)

/* Everything the thread has not written yet is still queued: stop it. */
static void out_fail(struct img_out *o, int err, const char *fmt, ...)
{
	va_list ap;

	if (o->err)
		return;
	o->err = err;
	va_start(ap, fmt);
	vsnprintf(o->errmsg, sizeof(o->errmsg), fmt, ap);
	va_end(ap);
}

/* Waits until fd takes more; -EINTR if a signal of intr_fd came or we are told to stop. */
static int wait_writable(struct img_out *o)
{
	struct pollfd pf[3] = { { o->fd, POLLOUT, 0 }, { o->wake_fd, POLLIN, 0 }, { o->intr_fd, POLLIN, 0 } };

	if (poll(pf, o->intr_fd >= 0 ? 3 : 2, -1) < 0 && errno != EINTR)
		return -errno;
	if (pf[1].revents & POLLIN)
		return -ECANCELED;
	if (o->intr_fd >= 0 && (pf[2].revents & POLLIN)) {
		struct signalfd_siginfo si;

		if (read(o->intr_fd, &si, sizeof(si)) != sizeof(si))
			si.ssi_signo = 0;
		pthread_mutex_lock(&o->lock);
		out_fail(o, -EINTR,
			 "dump interrupted by SIG%s while the image's reader did not read; the tree goes on as before",
			 si.ssi_signo ? sigabbrev_np((int)si.ssi_signo) : "?");
		pthread_mutex_unlock(&o->lock);
		return -EINTR;
	}
	return 0;
}

#define DIO_ALIGN 4096u

static bool dio_aligned(uint64_t off, const struct iovec *iov)
{
	return !(off % DIO_ALIGN) && !(iov->iov_len % DIO_ALIGN) && !((uintptr_t)iov->iov_base % DIO_ALIGN);
}

static bool set_direct(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && fcntl(fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT) == 0;
}

/*
 * To a regular file, what is aligned is written with O_DIRECT: page data
 * (page-aligned in the image and in memory) goes from our buffer to the
 * disk without a copy into the page cache, while the next chunk is read;
 * the rest (records between page data, the trailer) goes through the page
 * cache. Returns the number of leading iovs written that way (0: write
 * them buffered), or -errno.
 */
static int write_direct(struct img_out *o, struct iovec *iov, int n)
{
	int k = 0;

	while (k < n && dio_aligned(o->written, &iov[k])) {
		ssize_t done;

		if (!o->direct_on && !(o->direct_on = set_direct(o->fd, true))) {
			o->direct = false;
			return k;
		}
		done = pwrite(o->fd, iov[k].iov_base, iov[k].iov_len, (off_t)o->written);
		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0 && k == 0 && errno == EINVAL) {
			o->direct = false; /* the filesystem does not take it after all */
			return 0;
		}
		if (done < 0)
			return -errno;
		o->written += (uint64_t)done;
		if ((size_t)done < iov[k].iov_len) {
			/* Short (a full disk, say): the rest goes the plain way, which says why. */
			iov[k].iov_base = (char *)iov[k].iov_base + done;
			iov[k].iov_len -= (size_t)done;
			break;
		}
		k++;
	}
	if (k < n && o->direct_on) {
		set_direct(o->fd, false);
		o->direct_on = false;
	}
	return k;
}

/*
 * A file is written at explicit offsets (pwritev), so that O_DIRECT
 * writes and buffered ones can take turns; a pipe with writev.
 */
static ssize_t pwrite_or_writev(struct img_out *o, const struct iovec *iov, int n)
{
	if (o->is_file)
		return pwritev(o->fd, iov, n, (off_t)o->written);
	return writev(o->fd, iov, n);
}

/* Writes iov[0..n) whole; a pipe that is full is waited for. */
static int write_batch(struct img_out *o, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t done;

		if (o->direct) {
			int k = write_direct(o, iov, n);

			if (k < 0) {
				pthread_mutex_lock(&o->lock);
				out_fail(o, k, "writing the image at offset %llu: %s", (unsigned long long)o->written,
					 strerror(-k));
				pthread_mutex_unlock(&o->lock);
				return k;
			}
			iov += k;
			n -= k;
			if (n == 0)
				break;
		}
		done = pwrite_or_writev(o, iov, n);

		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0 && errno == EAGAIN) {
			int r = wait_writable(o);

			if (r < 0)
				return r;
			continue;
		}
		if (done <= 0) {
			int e = done < 0 ? errno : EIO;

			pthread_mutex_lock(&o->lock);
			out_fail(o, -e, "writing the image at offset %llu: %s", (unsigned long long)o->written,
				 done < 0 ? strerror(e) : "no progress");
			pthread_mutex_unlock(&o->lock);
			return -e;
		}
		o->written += (uint64_t)done;
		while (n > 0 && (size_t)done >= iov->iov_len) {
			done -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + done;
			iov->iov_len -= (size_t)done;
		}
	}
	return 0;
}

static void *out_thread(void *arg)
{
	struct img_out *o = arg;
	struct iovec iov[BATCH];

	pthread_mutex_lock(&o->lock);
	for (;;) {
		size_t n, first = o->tail % OUT_QUEUE;

		while (o->head == o->tail && !o->stopping && !o->err)
			pthread_cond_wait(&o->work, &o->lock);
		if (o->head == o->tail || o->err)
			break;
		n = o->head - o->tail;
		if (n > BATCH)
			n = BATCH;
		if (n > OUT_QUEUE - first)
			n = OUT_QUEUE - first;
		for (size_t i = 0; i < n; i++)
			iov[i] = (struct iovec){ (void *)o->q[first + i].p, o->q[first + i].len };
		pthread_mutex_unlock(&o->lock);
		int r = write_batch(o, iov, (int)n);

		pthread_mutex_lock(&o->lock);
		for (size_t i = 0; i < n; i++) {
			free(o->q[first + i].owned);
			o->q[first + i].owned = NULL;
		}
		o->tail += n;
		pthread_cond_broadcast(&o->done);
		if (r < 0)
			break;
	}
	if (o->direct_on)
		set_direct(o->fd, false);
	o->direct_on = false;
	if (o->is_file)
		lseek(o->fd, (off_t)o->written, SEEK_SET); /* where a plain write would have left it */
	o->stopping = true;
	pthread_cond_broadcast(&o->done);
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

int out_start(struct img_out *o, int fd, int intr_fd, bool direct)
{
	struct stat st;

	memset(o, 0, sizeof(*o));
	o->fd = fd;
	o->intr_fd = intr_fd;
	o->is_file = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && lseek(fd, 0, SEEK_CUR) == 0;
	o->direct = o->is_file && direct;
	o->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (o->wake_fd < 0)
		return -errno;
	o->started = true;
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->work, NULL);
	pthread_cond_init(&o->done, NULL);
	if (pthread_create(&o->thread, NULL, out_thread, o)) {
		close(o->wake_fd);
		o->wake_fd = -1;
		return -EAGAIN;
	}
	o->running = o->started = true;
	return 0;
}

/* Called with the lock held: 0 once the queue has room, or the thread's error. */
static int wait_room(struct img_out *o)
{
	while (o->head - o->tail >= OUT_QUEUE && !o->err && !o->stopping)
		pthread_cond_wait(&o->done, &o->lock);
	if (o->err)
		return o->err;
	return o->stopping ? -ECANCELED : 0;
}

static int push(struct img_out *o, const void *p, size_t len, void *owned)
{
	int r;

	pthread_mutex_lock(&o->lock);
	r = wait_room(o);
	if (r == 0) {
		o->q[o->head % OUT_QUEUE] = (struct out_item){ p, len, owned };
		o->head++;
		pthread_cond_signal(&o->work);
	} else {
		free(owned);
	}
	pthread_mutex_unlock(&o->lock);
	return r;
}

static int flush_stage(struct img_out *o)
{
	uint8_t *s = o->stage;
	size_t len = o->stage_len;

	if (!s || !len)
		return 0;
	o->stage = NULL;
	o->stage_len = 0;
	return push(o, s, len, s);
}

int out_put(struct img_out *o, const void *p, size_t len)
{
	if (len > STAGE_CAP) {
		void *copy;
		int r = flush_stage(o);

		if (r < 0)
			return r;
		copy = xcalloc(1, len);
		memcpy(copy, p, len);
		return push(o, copy, len, copy);
	}
	if (o->stage && o->stage_len + len > STAGE_CAP) {
		int r = flush_stage(o);

		if (r < 0)
			return r;
	}
	if (!o->stage) {
		o->stage = aligned_alloc(DIO_ALIGN, STAGE_CAP);
		if (!o->stage)
			abort(); /* as xcalloc does */
		o->stage_len = 0;
	}
	memcpy(o->stage + o->stage_len, p, len);
	o->stage_len += len;
	return 0;
}

static struct out_buf *buf_of(struct img_out *o, const void *p)
{
	for (size_t i = 0; i < OUT_BUFS; i++)
		if (o->bufs[i].mem && (const uint8_t *)p >= o->bufs[i].mem &&
		    (const uint8_t *)p < o->bufs[i].mem + OUT_BUF_SIZE)
			return &o->bufs[i];
	return NULL;
}

int out_put_page_data(struct img_out *o, const void *p, size_t len)
{
	struct out_buf *b = buf_of(o, p);
	int r;

	/* A few pages are cheaper to copy than to write on their own (with O_DIRECT, a disk write each). */
	if (!b || len < OUT_MIN_REF)
		return out_put(o, p, len);
	r = flush_stage(o);
	if (r < 0)
		return r;
	r = push(o, p, len, NULL);
	if (r == 0)
		b->busy_until = o->head; /* free once the thread's tail passes this item */
	return r;
}

uint8_t *out_buffer(struct img_out *o)
{
	struct out_buf *b = &o->bufs[o->next_buf];

	o->next_buf = (o->next_buf + 1) % OUT_BUFS;
	if (!b->mem) {
		b->mem = aligned_alloc(DIO_ALIGN, OUT_BUF_SIZE);
		return b->mem;
	}
	pthread_mutex_lock(&o->lock);
	while (o->tail < b->busy_until && !o->err && !o->stopping)
		pthread_cond_wait(&o->done, &o->lock);
	pthread_mutex_unlock(&o->lock);
	/* After an error the thread writes nothing more: the buffer is free either way. */
	return b->mem;
}

int out_flush(struct img_out *o)
{
	int r = flush_stage(o);

	pthread_mutex_lock(&o->lock);
	while (r == 0 && o->tail < o->head && !o->err && !o->stopping)
		pthread_cond_wait(&o->done, &o->lock);
	if (r == 0)
		r = o->err;
	pthread_mutex_unlock(&o->lock);
	return r;
}

const char *out_error(struct img_out *o)
{
	return o->errmsg;
}

void out_stop(struct img_out *o)
{
	uint64_t one = 1;

	if (!o->started)
		return;
	o->started = false;
	if (o->running) {
		pthread_mutex_lock(&o->lock);
		o->stopping = true;
		pthread_cond_signal(&o->work);
		pthread_mutex_unlock(&o->lock);
		if (write(o->wake_fd, &one, sizeof(one)) < 0) {
			/* The eventfd cannot be full: one write per stop. */
		}
		pthread_join(o->thread, NULL);
		o->running = false;
		for (size_t i = o->tail; i < o->head; i++)
			free(o->q[i % OUT_QUEUE].owned);
		pthread_mutex_destroy(&o->lock);
		pthread_cond_destroy(&o->work);
		pthread_cond_destroy(&o->done);
	}
	if (o->wake_fd >= 0)
		close(o->wake_fd);
	o->wake_fd = -1;
	free(o->stage);
	o->stage = NULL;
	for (size_t i = 0; i < OUT_BUFS; i++) {
		free(o->bufs[i].mem);
		o->bufs[i].mem = NULL;
	}
}
