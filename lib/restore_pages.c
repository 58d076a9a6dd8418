// SPDX-License-Identifier: MIT
/*
 * Page data into the restored tree, on every CPU.
 *
 * The coordinator reads the image in order: each Pages record is checked
 * (where it goes, its order, its checksum) as it is read into one of a few
 * buffers, and handed to a pool of writer threads that put it into its
 * process (process_vm_writev) or shared memory object. Faulting in and
 * filling fresh memory is most of a restore's work; the writers do it for
 * several processes, or several parts of one, at once, while the image is
 * read. Memory stays bounded by the buffers.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "ipc.h"
#include "restore.h"

#define WRITERS 2
#define BUFS (WRITERS + 2)
#define BUF_SIZE ((size_t)IMG_MAX_CHUNK_PAGES * PAGE_SIZE)

struct page_job {
	struct rproc *rp;       /* NULL: shared memory, through fd */
	int fd;
	uint64_t addr;
	size_t len;
	uint8_t *buf;
};

struct page_pool {
	struct restore *rs;
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct page_job jobs[BUFS];
	size_t head, tail;      /* jobs queued, jobs taken */
	uint8_t *free_bufs[BUFS];
	size_t nr_free;
	bool stopping;
	int err;
	char errmsg[256];
	pthread_t threads[WRITERS];
	size_t nr_threads;
};

/* The mapping that holds [addr, addr + len); rp->vmas are sorted by address. */
static const Ckpt__Vma *find_vma(const struct rproc *rp, uint64_t addr, uint64_t len)
{
	size_t lo = 0, hi = rp->nr_vmas;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const Ckpt__Vma *v = rp->vmas[mid];

		if (addr >= v->end)
			lo = mid + 1;
		else if (addr < v->start)
			hi = mid;
		else
			return addr + len <= v->end && addr + len > addr ? v : NULL;
	}
	return NULL;
}

/*
 * process_vm_writev copies once; /proc/PID/mem copies twice but also fills
 * mappings the process itself may not write: the fallback. Runs in a
 * writer: returns -errno with the message in msg.
 */
static int write_memory(struct page_pool *pp, const struct page_job *j, char *msg, size_t msglen)
{
	struct iovec local = { j->buf, j->len }, remote = { (void *)j->addr, j->len };
	struct rproc *rp = j->rp;
	pid_t pid = (pid_t)rp->p->pid;
	int memfd;

	if (process_vm_writev(pid, &local, 1, &remote, 1, 0) == (ssize_t)j->len)
		return 0;
	pthread_mutex_lock(&pp->lock);
	if (rp->memfd < 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/mem", pid);
		rp->memfd = open(path, O_RDWR | O_CLOEXEC);
	}
	memfd = rp->memfd;
	pthread_mutex_unlock(&pp->lock);
	if (memfd < 0 || pwrite(memfd, j->buf, j->len, (off_t)j->addr) != (ssize_t)j->len) {
		int e = errno;

		snprintf(msg, msglen, "pid %d: writing memory at 0x%llx: %s", pid, (unsigned long long)j->addr,
			 strerror(e));
		return -e;
	}
	return 0;
}

static int write_job(struct page_pool *pp, const struct page_job *j, char *msg, size_t msglen)
{
	if (j->rp)
		return write_memory(pp, j, msg, msglen);
	if (pwrite(j->fd, j->buf, j->len, (off_t)j->addr) != (ssize_t)j->len) {
		int e = errno;

		snprintf(msg, msglen, "writing shared memory at offset %llu: %s", (unsigned long long)j->addr,
			 strerror(e));
		return -e;
	}
	return 0;
}

static void *writer(void *arg)
{
	struct page_pool *pp = arg;

	pthread_mutex_lock(&pp->lock);
	for (;;) {
		struct page_job j;
		char msg[256];
		bool skip;
		int r;

		while (pp->head == pp->tail && !pp->stopping)
			pthread_cond_wait(&pp->work, &pp->lock);
		if (pp->head == pp->tail)
			break;
		j = pp->jobs[pp->tail++ % BUFS];
		skip = pp->err != 0; /* after a failure the tree is killed: write no more */
		pthread_mutex_unlock(&pp->lock);
		r = skip ? 0 : write_job(pp, &j, msg, sizeof(msg));
		pthread_mutex_lock(&pp->lock);
		if (r < 0 && !pp->err) {
			pp->err = r;
			snprintf(pp->errmsg, sizeof(pp->errmsg), "%s", msg);
		}
		pp->free_bufs[pp->nr_free++] = j.buf;
		pthread_cond_broadcast(&pp->done);
	}
	pthread_mutex_unlock(&pp->lock);
	return NULL;
}

static int pool_start(struct page_pool *pp, struct restore *rs)
{
	memset(pp, 0, sizeof(*pp));
	pp->rs = rs;
	pthread_mutex_init(&pp->lock, NULL);
	pthread_cond_init(&pp->work, NULL);
	pthread_cond_init(&pp->done, NULL);
	for (size_t i = 0; i < BUFS; i++) {
		pp->free_bufs[i] = malloc(BUF_SIZE);
		if (!pp->free_bufs[i])
			return -ENOMEM;
		pp->nr_free++;
	}
	/* No writer threads (no memory for them, say): the caller writes. */
	for (size_t i = 0; i < WRITERS; i++)
		if (pthread_create(&pp->threads[pp->nr_threads], NULL, writer, pp) == 0)
			pp->nr_threads++;
	return 0;
}

/* Waits until every queued job is written; the pool's first error, or 0. */
static int pool_stop(struct page_pool *pp)
{
	int r;

	pthread_mutex_lock(&pp->lock);
	pp->stopping = true;
	pthread_cond_broadcast(&pp->work);
	pthread_mutex_unlock(&pp->lock);
	for (size_t i = 0; i < pp->nr_threads; i++)
		pthread_join(pp->threads[i], NULL);
	r = pp->err ? fail(pp->rs->ctx, pp->err, "%s", pp->errmsg) : 0;
	for (size_t i = 0; i < pp->nr_free; i++)
		free(pp->free_bufs[i]);
	pthread_mutex_destroy(&pp->lock);
	pthread_cond_destroy(&pp->work);
	pthread_cond_destroy(&pp->done);
	return r;
}

static uint8_t *pool_buffer(struct page_pool *pp)
{
	uint8_t *b;

	pthread_mutex_lock(&pp->lock);
	while (!pp->nr_free)
		pthread_cond_wait(&pp->done, &pp->lock);
	b = pp->free_bufs[--pp->nr_free];
	pthread_mutex_unlock(&pp->lock);
	return b;
}

static int pool_submit(struct page_pool *pp, struct page_job *j)
{
	char msg[256];
	int r;

	if (!pp->nr_threads) {
		r = write_job(pp, j, msg, sizeof(msg));
		pp->free_bufs[pp->nr_free++] = j->buf;
		return r < 0 ? fail(pp->rs->ctx, r, "%s", msg) : 0;
	}
	pthread_mutex_lock(&pp->lock);
	pp->jobs[pp->head++ % BUFS] = *j;
	r = pp->err;
	pthread_cond_signal(&pp->work);
	pthread_mutex_unlock(&pp->lock);
	return r < 0 ? -ECANCELED : 0; /* the error itself is reported by pool_stop */
}

/* Checks where a Pages record goes and reads its data; the job to write it. */
static int read_pages(struct restore *rs, struct page_pool *pp, const Ckpt__Pages *pg, struct page_job *j)
{
	size_t len = (size_t)pg->nr_pages * PAGE_SIZE;
	int r = page_order_check(&rs->page_order, rs->ctx, pg);

	if (r < 0)
		return r;
	*j = (struct page_job){ .addr = pg->addr, .len = len, .fd = -1 };
	if (pg->has_shmem_id) {
		const Ckpt__Shmem *s = model_shmem(&rs->m, pg->shmem_id);

		if (!s || pg->pid || pg->addr + len > s->size || pg->addr % PAGE_SIZE)
			return fail(rs->ctx, -EBADMSG, "image damaged: pages of unknown shared memory %llu",
				    (unsigned long long)pg->shmem_id);
		j->fd = rs->shmem_fds[shmem_index(rs, s->id)];
	} else {
		struct rproc *rp = proc_by_pid(rs, (int32_t)pg->pid);
		const Ckpt__Vma *v = rp && rp->p->state != 1 ? find_vma(rp, pg->addr, len) : NULL;

		if (!v || (v->flags & MAP_SHARED) || pg->addr % PAGE_SIZE || v->kind == CKPT__VMA_KIND__VMA_VDSO ||
		    v->kind == CKPT__VMA_KIND__VMA_VVAR)
			return fail(rs->ctx, -EBADMSG, "image damaged: pages for pid %u at 0x%llx outside its memory",
				    pg->pid, (unsigned long long)pg->addr);
		j->rp = rp;
	}
	j->buf = pool_buffer(pp);
	r = img_read_page_data(&rs->r, pg, j->buf);
	if (r < 0) {
		pthread_mutex_lock(&pp->lock);
		pp->free_bufs[pp->nr_free++] = j->buf;
		pthread_mutex_unlock(&pp->lock);
		return r;
	}
	rs->ctx->stats.page_bytes += len;
	return 0;
}

/* Reads page records to the trailer, whose check covers the whole image. */
int fill_memory(struct restore *rs, uint32_t type, ProtobufCMessage *msg)
{
	struct page_pool pp;
	int r = pool_start(&pp, rs), r2;

	while (r == 0 && (type == REC_PAGES || type == REC_SYSV_PAGES)) {
		struct page_job j;

		if (fail_point(rs->ctx, "restore-pages"))
			r = fail(rs->ctx, -EIO, "restore: injected failure while filling memory");
		/* SysV segments: read straight into an attachment of ours, no writer needed. */
		if (r == 0 && type == REC_SYSV_PAGES)
			r = sysv_restore_pages(rs, (Ckpt__SysvPages *)msg);
		else if (r == 0)
			r = read_pages(rs, &pp, (Ckpt__Pages *)msg, &j);
		if (r == 0 && type == REC_PAGES)
			r = pool_submit(&pp, &j);
		img_free_msg(msg);
		msg = NULL;
		if (r == 0)
			r = img_read_next(&rs->r, &type, &msg);
	}
	img_free_msg(msg);
	r2 = pool_stop(&pp);
	if (r == -ECANCELED || r == 0)
		r = r2;
	if (r == 0 && type != REC_TRAILER)
		r = fail(rs->ctx, -EBADMSG, "image damaged: %s record after page data", img_rec_name(type));
	return r;
}
