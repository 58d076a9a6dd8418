// SPDX-License-Identifier: MIT
/*
 * Dump: freeze the tree top-down with PTRACE_SEIZE/INTERRUPT, collect every
 * process's state into a model, write the image in one pass, then either
 * kill the tree (only once the image is complete and synced) or let it go
 * on exactly as before.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include "dump.h"
#include "ipc.h"
#include "res/pty.h"
#include "res/res.h"

int parse_stat(pid_t pid, pid_t tid, char *state, long long *fields, int nfields)
{
	char path[64], *buf = NULL, *p;
	int r, i;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	r = read_text(path, &buf, NULL);
	if (r < 0)
		return r;
	/* comm may hold spaces and parentheses: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2]) {
		free(buf);
		return -EINVAL;
	}
	p += 2;
	*state = *p;
	memset(fields, 0, sizeof(*fields) * (size_t)nfields);
	for (i = 3; i < nfields && *p; i++) {
		if (i > 3)
			fields[i] = strtoll(p, NULL, 10);
		p = strchr(p, ' ');
		if (!p)
			break;
		p++;
	}
	free(buf);
	return 0;
}

int dump_check_interrupt(struct dump *d)
{
	struct timespec zero = { 0, 0 };
	sigset_t pending;
	int sig;

	if (sigpending(&pending) < 0)
		return 0;
	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(&d->deferred, sig) && sigismember(&pending, sig))
			break;
	if (sig == NSIG)
		return 0;
	/* Taken here, so it does not end ckpt before the tree is let go. */
	sigtimedwait(&d->deferred, NULL, &zero);
	return fail(d->ctx, -EINTR, "dump interrupted by SIG%s; the tree goes on as before", sigabbrev_np(sig));
}

static struct dproc *find_dproc(struct dump *d, pid_t pid)
{
	for (size_t i = 0; i < d->nr_procs; i++)
		if (d->procs[i].pid == pid)
			return &d->procs[i];
	return NULL;
}

static bool has_tid(const struct dproc *dp, pid_t tid)
{
	for (size_t i = 0; i < dp->nr_tids; i++)
		if (dp->tids[i] == tid)
			return true;
	return false;
}

/*
 * Seizes every thread of dp, rereading the task list until no new thread
 * appears: a running thread may create another until it is stopped.
 */
static bool leader_exited(pid_t pid)
{
	long long f[4];
	char state = 0;

	return parse_stat(pid, pid, &state, f, 4) == 0 && (state == 'Z' || state == 'X');
}

static int seize_threads(struct dump *d, struct dproc *dp)
{
	char path[64];
	bool grew = true;

	dp->leader_dead = leader_exited(dp->pid);

	snprintf(path, sizeof(path), "/proc/%d/task", dp->pid);
	while (grew) {
		_cleanup_(closedirp) DIR *dir = opendir(path);
		struct dirent *de;

		grew = false;
		if (!dir)
			return fail(d->ctx, -errno, "pid %d: %s: %s", dp->pid, path, strerror(errno));
		while ((de = readdir(dir))) {
			pid_t tid = atoi(de->d_name);
			enum seize_state st;
			int r;

			if (tid <= 0 || has_tid(dp, tid) || (tid == dp->pid && dp->leader_dead))
				continue;
			if (fail_point(d->ctx, "seize"))
				return fail(d->ctx, -EIO, "tid %d: seize: injected failure", tid);
			r = thread_seize(d->ctx, tid, &st);
			if (r == -ESRCH)
				continue; /* exited meanwhile */
			if (r < 0)
				return r;
			*(pid_t *)array_push(&dp->tids, &dp->nr_tids, &dp->cap_tids, sizeof(pid_t)) = tid;
			if (tid == dp->pid)
				dp->state = st;
			grew = true;
		}
	}
	if (!dp->nr_tids || (!dp->leader_dead && !has_tid(dp, dp->pid)))
		return -ESRCH; /* it exited meanwhile: the caller looks again */
	/* Keep the main thread first. */
	for (size_t i = 1; i < dp->nr_tids; i++)
		if (dp->tids[i] == dp->pid) {
			dp->tids[i] = dp->tids[0];
			dp->tids[0] = dp->pid;
		}
	dp->live = dp->tids[0];
	if (dp->leader_dead)
		snprintf(dp->dir, sizeof(dp->dir), "/proc/%d/task/%d", dp->pid, dp->live);
	else
		snprintf(dp->dir, sizeof(dp->dir), "/proc/%d", dp->pid);
	return 0;
}

static int read_children(struct dump *d, pid_t pid, pid_t **kids, size_t *nr)
{
	size_t cap = 0;
	char path[96];

	*kids = NULL;
	*nr = 0;
	struct dproc *dp = find_dproc(d, pid);

	for (size_t t = 0; t < dp->nr_tids; t++) {
		_cleanup_free_ char *text = NULL;
		char *p, *end;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, dp->tids[t]);
		if (read_text(path, &text, NULL) < 0)
			continue;
		for (p = text;; p = end) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			*(pid_t *)array_push(kids, nr, &cap, sizeof(pid_t)) = (pid_t)v;
		}
	}
	return 0;
}

static struct dproc *add_proc(struct dump *d, pid_t pid)
{
	struct dproc *dp = array_push(&d->procs, &d->nr_procs, &d->cap_procs, sizeof(*dp));

	dp->pid = pid;
	dp->memfd = -1;
	return dp;
}

static size_t count_tasks(pid_t pid)
{
	char path[64];
	struct dirent *de;
	size_t n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	_cleanup_(closedirp) DIR *dir = opendir(path);
	while (dir && (de = readdir(dir)))
		n += de->d_name[0] != '.';
	return n;
}

/* Top-down: once a parent is stopped its list of children cannot change. */
static int freeze_tree(struct dump *d)
{
	for (size_t i = 0; i < d->nr_procs; i++) {
		pid_t pid = d->procs[i].pid, *kids;
		long long f[53];
		char state;
		size_t nr;
		int r;

		r = dump_check_interrupt(d);
		if (r < 0)
			return r;
		r = parse_stat(pid, 0, &state, f, 53);
		if (r < 0)
			return fail(d->ctx, r, "pid %d: cannot read /proc/%d/stat: %s", pid, pid, strerror(-r));
		/* A zombie leader with live threads is a live process. */
		if (state == 'Z' && count_tasks(pid) <= 1) {
			d->procs[i].zombie = true;
			continue;
		}
		r = seize_threads(d, &d->procs[i]);
		/*
		 * A process of the tree that exited between its parent's stop and
		 * ours is a zombie now: its parent, stopped, cannot have reaped it.
		 */
		if (r == -ESRCH && parse_stat(pid, 0, &state, f, 53) == 0 && state == 'Z' && count_tasks(pid) <= 1) {
			for (size_t t = 0; t < d->procs[i].nr_tids; t++)
				thread_detach(d->procs[i].tids[t], 0);
			d->procs[i].nr_tids = 0;
			d->procs[i].zombie = true;
			continue;
		}
		if (r == -ESRCH)
			return fail(d->ctx, r, "pid %d: exited during dump", pid);
		if (r < 0)
			return r;
		read_children(d, pid, &kids, &nr);
		for (size_t k = 0; k < nr; k++)
			if (!find_dproc(d, kids[k]))
				add_proc(d, kids[k]);
		free(kids);
	}
	return 0;
}

/*
 * Collects the tracer's copies of a killed process's thread exits, so its
 * parent gets the exit. Its other threads first: the group leader's exit is
 * reported only once they are reaped.
 */
static void reap_killed(const struct dproc *dp)
{
	int st;

	for (size_t t = dp->nr_tids; t-- > 0;)
		while (waitpid(dp->tids[t], &st, __WALL) < 0 && errno == EINTR)
			;
}

/* Kills the tree, or lets it go on as it was (a stopped process stays stopped). */
static void release_tree(struct dump *d, bool kill_it)
{
	for (size_t i = 0; i < d->nr_procs; i++) {
		struct dproc *dp = &d->procs[i];

		if (kill_it && !dp->zombie)
			kill(dp->pid, SIGKILL);
	}
	for (size_t i = 0; i < d->nr_procs; i++) {
		struct dproc *dp = &d->procs[i];

		if (kill_it)
			reap_killed(dp);
		for (size_t t = 0; !kill_it && t < dp->nr_tids; t++)
			thread_detach(dp->tids[t], dp->state == SEIZED_STOPPED ? SIGSTOP : 0);
	}
}

static void free_procs(struct dump *d)
{
	for (size_t i = 0; i < d->nr_procs; i++) {
		if (d->procs[i].memfd >= 0)
			close(d->procs[i].memfd);
		free(d->procs[i].tids);
	}
	free(d->procs);
}

static uint64_t read_xcr0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

static uint32_t xsave_size(void)
{
	uint32_t a, b, c, dd;

	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(dd) : "a"(0xd), "c"(0));
	return b;
}

static char *cpu_model(struct arena *a)
{
	_cleanup_free_ char *text = NULL;
	const char *p;
	char model[256] = "unknown";

	if (read_text("/proc/cpuinfo", &text, NULL) == 0 && (p = strstr(text, "model name"))) {
		p = strchr(p, ':');
		if (p) {
			p += 2;
			snprintf(model, sizeof(model), "%.*s", (int)strcspn(p, "\n"), p);
		}
	}
	return arena_strdup(a, model);
}

static int write_header(struct dump *d)
{
	Ckpt__Header *h = arena_alloc(&d->m.arena, sizeof(*h));
	struct utsname u;
	struct timespec ts;
	char host[256] = "";

	ckpt__header__init(h);
	uname(&u);
	clock_gettime(CLOCK_REALTIME, &ts);
	gethostname(host, sizeof(host) - 1);
	h->format_version = IMG_FORMAT_VERSION;
	h->tool_version = CKPT_VERSION;
	h->arch = "x86_64";
	h->kernel = arena_strdup(&d->m.arena, u.release);
	h->cpu_model = cpu_model(&d->m.arena);
	h->xfeatures = read_xcr0();
	h->xsave_size = xsave_size();
	h->page_size = (uint32_t)sysconf(_SC_PAGESIZE);
	h->created_unix_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	h->root_pid = (uint32_t)d->opts->pid;
	h->hostname = arena_strdup(&d->m.arena, host);
	h->nr_processes = (uint32_t)d->m.procs.n;
	h->nr_threads = (uint32_t)d->m.threads.n;
	d->m.header = h;
	return img_write_msg(&d->w, REC_HEADER, &h->base);
}

#define WRITE_ALL(d, list, type)                                                   \
	do {                                                                       \
		for (size_t i_ = 0; i_ < (d)->m.list.n; i_++) {                    \
			int r_ = img_write_msg(&(d)->w, type, &(d)->m.list.v[i_]->base); \
			if (r_ < 0)                                                \
				return r_;                                         \
		}                                                                  \
	} while (0)

/* Records, then the page data that must be read while the tree is stopped. */
static int write_frozen_part(struct dump *d)
{
	int r = write_header(d);

	if (r < 0)
		return r;
	WRITE_ALL(d, procs, REC_PROCESS);
	WRITE_ALL(d, threads, REC_THREAD);
	WRITE_ALL(d, files, REC_FILE);
	WRITE_ALL(d, fds, REC_FD);
	WRITE_ALL(d, shmems, REC_SHMEM);
	WRITE_ALL(d, vmas, REC_VMA);
	r = sysv_write_records(d);
	/* memfd and unlinked files: shared with whoever has them, so copied now. */
	if (r == 0)
		r = dump_file_data(d);
	if (r == 0)
		r = dump_shared_pages(d);
	/* SysV segments are shared memory too. */
	if (r == 0)
		r = sysv_write_pages(d);
	for (size_t i = 0; r == 0 && i < d->nr_procs; i++)
		if (!d->procs[i].snap)
			r = dump_private_pages(d, &d->procs[i]);
	return r;
}

/* The memory of snapshotted processes, then the trailer; the tree may run. */
static int write_rest(struct dump *d)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < d->nr_procs; i++)
		if (d->procs[i].snap)
			r = dump_private_pages(d, &d->procs[i]);
	if (r == 0)
		r = img_writer_finish(&d->w);
	if (r < 0)
		return r;
	if (!d->opts->no_sync && fsync(d->opts->out_fd) < 0 && errno != EINVAL && errno != EROFS)
		return fail(d->ctx, -errno, "syncing the image: %s", strerror(errno));
	return 0;
}

static bool any_snapshot(const struct dump *d)
{
	for (size_t i = 0; i < d->nr_procs; i++)
		if (d->procs[i].snap)
			return true;
	return false;
}

static int check_target(struct dump *d)
{
	pid_t pid = d->opts->pid;

	if (pid <= 0)
		return fail(d->ctx, -EINVAL, "no pid to dump (use -t PID)");
	if (pid == getpid())
		return fail(d->ctx, -EINVAL, "pid %d: ckpt cannot dump itself", pid);
	if (!pid_exists(pid))
		return fail(d->ctx, -ESRCH, "pid %d: no such process", pid);
	return 0;
}

static int collect(struct dump *d)
{
	int r;

	for (size_t i = 0; i < d->nr_procs; i++) {
		r = dump_check_interrupt(d);
		if (r == 0)
			r = dump_process(d, &d->procs[i]);
		if (r < 0)
			return r;
	}
	r = dump_sharing(d);
	if (r == 0)
		r = dump_check_sharing(d);
	if (r < 0)
		return r;
	for (size_t i = 0; i < d->nr_procs; i++) {
		if (d->procs[i].zombie)
			continue;
		r = dump_vmas(d, &d->procs[i]);
		if (r < 0)
			return r;
		r = dump_fds(d, &d->procs[i]);
		if (r < 0)
			return r;
	}
	r = dump_check_objects(d);
	if (r < 0)
		return r;
	/* Controlling terminals that are ptys of the tree: their masters are all known now. */
	r = pty_dump_cttys(d->ctx, &d->m);
	if (r < 0)
		return r;
	r = res_dump_finish(d->ctx, &d->m);
	if (r < 0)
		return r;
	/* After every File is known (also those in flight in unix sockets): queues of the tree. */
	r = sysv_collect(d);
	return r < 0 ? r : mqueue_collect(d);
}

int ckpt_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts)
{
	struct dump d = { .ctx = ctx, .opts = opts, .next_id = 1 };
	uint64_t t0 = now_ns(), t_frozen;
	bool released = false;
	sigset_t old_mask;
	int r, intr_fd;

	ctx->err[0] = 0;
	memset(&ctx->stats, 0, sizeof(ctx->stats));
	r = check_target(&d);
	if (r < 0)
		return r;
	/*
	 * A signal that ends ckpt while it holds the tree (or is halfway through
	 * a call run inside it) would leave the tree harmed: hold those signals
	 * and turn them into a clean failure.
	 */
	sigemptyset(&d.deferred);
	sigaddset(&d.deferred, SIGINT);
	sigaddset(&d.deferred, SIGTERM);
	sigaddset(&d.deferred, SIGHUP);
	sigaddset(&d.deferred, SIGQUIT);
	sigprocmask(SIG_BLOCK, &d.deferred, &old_mask);
	intr_fd = signalfd(-1, &d.deferred, SFD_CLOEXEC);
	add_proc(&d, opts->pid);
	r = freeze_tree(&d);
	t_frozen = now_ns();
	if (r == 0)
		r = collect(&d);
	if (r == 0 && fail_point(ctx, "collect"))
		r = fail(ctx, -EIO, "collect: injected failure");
	if (r == 0 && opts->leave_running)
		snap_take_all(&d);
	if (r == 0) {
		r = img_writer_open(&d.w, ctx, opts->out_fd, intr_fd, !opts->no_sync);
	}
	if (r == 0)
		r = write_frozen_part(&d);
	/* With every process snapshotted or written, the tree can go on now. */
	if (r == 0 && any_snapshot(&d)) {
		dump_fds_end(&d, false);
		release_tree(&d, false);
		released = true;
		ctx->stats.frozen_ns = now_ns() - t_frozen;
	}
	if (r == 0)
		r = write_rest(&d);
	if (r == 0 && fail_point(ctx, "before-release"))
		r = fail(ctx, -EIO, "release: injected failure");
	if (r == 0)
		r = dump_check_interrupt(&d);
	ctx->stats.processes = (unsigned)d.m.procs.n;
	ctx->stats.threads = (unsigned)d.m.threads.n;
	ctx->stats.image_bytes = d.w.off;
	/* Only a complete, synced image lets the tree die. */
	if (!released) {
		snap_drop_all(&d, true);
		dump_fds_end(&d, r == 0 && !opts->leave_running);
		release_tree(&d, r == 0 && !opts->leave_running);
		ctx->stats.frozen_ns = now_ns() - t_frozen;
	} else {
		snap_drop_all(&d, false);
	}
	/* The tree is dead: its IPC objects live in the image only now. */
	if (r == 0 && !opts->leave_running)
		ipc_remove_dumped(&d);
	ctx->stats.total_ns = now_ns() - t0;
	img_writer_close(&d.w);
	if (intr_fd >= 0)
		close(intr_fd);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	free_procs(&d);
	dump_close_own_fds(&d);
	free(d.dfiles);
	free(d.srcs);
	model_free(&d.m);
	return r;
}
