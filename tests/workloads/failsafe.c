/*
 * failsafe: a multi-process, multi-threaded tree for the failure tests
 * (t-fail-dump, t-fail-restore, t-dump-output-errors, t-restore-refused,
 * t-damaged-image, t-signal-before-resume).
 *
 *   failsafe READY RESULT [MIB [DATAFILE]]
 *
 *   R  root: MIB MiB (default 8) of patterned private anonymous memory,
 *   |        three more threads: wl-tick (counts, 1 ms naps), wl-cond
 *   |        (pthread_cond_wait) and wl-sem (sem_wait)
 *   +-- C    in its own process group: 1 MiB of patterned memory, one more
 *       |    thread wl-ctick (counts)
 *       +-- G    single-threaded, in pause()
 *
 * R and C share 64 KiB of MAP_SHARED|MAP_ANONYMOUS memory (each wrote one
 * half).  DATAFILE (default RESULT.data) is created if it does not exist
 * (64 KiB of a fixed pattern); R maps it MAP_PRIVATE read-only (its pages
 * stay the file's, so they are not in an image: a restore reads them from
 * the file again) and holds it as fd 7, read-only, at offset 123.
 *
 * Signal state of R: a SIGUSR2 handler (SA_RESTART, sa_mask {SIGTERM}),
 * SIGHUP ignored, SIGRTMIN blocked in every thread and queued to the
 * process once with value 42, SIGRTMIN+1 queued to wl-sem (blocked there)
 * with value 7; each thread blocks its own SIGRTMIN+4+i besides, the main
 * thread SIGRTMIN+3.
 *
 * On SIGUSR1 R checks all of that: memory contents, the shared memory, the
 * mapping and fd 7, handlers, masks (each thread its own), exactly one
 * pending SIGRTMIN with value 42 and SIGRTMIN+1 with value 7 for wl-sem,
 * wl-tick still counting, every thread wakes and ends (joined with a
 * timeout); then it passes SIGUSR1 to C and waits for it; C does the same
 * with G.  A failing C or G writes its reason to RESULT.C / RESULT.G and
 * exits 1.  No pipe or socket is held across a checkpoint.
 */
#include "wl.h"
#include <fcntl.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define SHM_LEN (64 * 1024)
#define DATA_LEN (64 * 1024)
#define NT 3

static const char *role = "R";
static char base[4096];

static uint64_t fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1, sum = 0;

	for (size_t i = 0; i < n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
		sum += x * (i + 1);
	}
	return sum;
}

/* Index of the first 8-byte word of P that differs from fill(SEED), or -1. */
static long check_fill(const uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1, v;

	for (size_t i = 0; i < n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&v, p + i, 8);
		if (v != x)
			return (long)i;
	}
	return -1;
}

static void check_region(const char *what, const uint8_t *p, size_t n, uint64_t seed)
{
	long at = check_fill(p, n, seed);

	WL_CHECK(at < 0, "%s: %s differs at byte %ld of %zu", role, what, at, n);
}

/* Every signal 1..64 blocked in the calling thread must be exactly WANT. */
static void check_mask(const char *who, const sigset_t *want)
{
	sigset_t cur;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	for (int s = 1; s <= 64; s++)
		if (sigismember(&cur, s) != sigismember(want, s)) {
			wl_fail("%s: %s: signal %d is %s", role, who, s,
				sigismember(&cur, s) ? "blocked, was not" : "not blocked, was");
			return;
		}
}

/* Takes one pending SIG (blocked) and checks its value; then none may be left. */
static void check_pending(const char *who, int sig, int value)
{
	struct timespec zero = { 0, 0 };
	siginfo_t si;
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, sig);
	int r = sigtimedwait(&s, &si, &zero);
	if (r != sig) {
		wl_fail("%s: %s: signal %d no longer pending (%s)", role, who, sig, strerror(errno));
		return;
	}
	WL_CHECK(si.si_value.sival_int == value, "%s: %s: signal %d value %d, want %d", role, who, sig,
		 si.si_value.sival_int, value);
	r = sigtimedwait(&s, &si, &zero);
	WL_CHECK(r < 0 && errno == EAGAIN, "%s: %s: signal %d pending more than once", role, who, sig);
}

static void check_name(const char *want)
{
	char name[32] = "";

	prctl(PR_GET_NAME, name);
	WL_CHECK(!strcmp(name, want), "%s: thread name %s, want %s", role, name, want);
}

/* The counting thread of a process. */
static atomic_ulong ticks;
static atomic_int go;

struct th {
	pthread_t t;
	const char *name;
	sigset_t mask; /* as set up, to be found again */
	int n;
	atomic_int tid;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_flag;
static sem_t sem;

static void thread_setup(struct th *t)
{
	sigset_t s;

	prctl(PR_SET_NAME, t->name);
	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN + 4 + t->n);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	pthread_sigmask(SIG_BLOCK, NULL, &t->mask);
	t->tid = wl_gettid();
}

static void *tick_main(void *arg)
{
	struct th *t = arg;

	thread_setup(t);
	while (!go) {
		ticks++;
		wl_msleep(1);
	}
	check_mask(t->name, &t->mask);
	check_name(t->name);
	return NULL;
}

static void *cond_main(void *arg)
{
	struct th *t = arg;

	thread_setup(t);
	pthread_mutex_lock(&mu);
	while (!cond_flag)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	check_mask(t->name, &t->mask);
	check_name(t->name);
	return NULL;
}

static void *sem_main(void *arg)
{
	struct th *t = arg;

	thread_setup(t);
	while (sem_wait(&sem) != 0 && errno == EINTR)
		;
	check_mask(t->name, &t->mask);
	check_name(t->name);
	check_pending(t->name, SIGRTMIN + 1, 7);
	return NULL;
}

static void on_usr2(int sig)
{
	(void)sig;
}

static void role_file(char *buf, size_t n, const char *r, const char *what)
{
	snprintf(buf, n, "%s.%s%s", base, r, what);
}

/* Signal CHILD, wait for it, fold its outcome into wl_why. */
static void collect(pid_t child, const char *crole)
{
	char path[4200], line[1024];
	int st;

	if (kill(child, SIGUSR1) != 0) {
		wl_fail("%s: cannot signal %s (%d): %s", role, crole, child, strerror(errno));
		return;
	}
	if (waitpid(child, &st, 0) != child) {
		wl_fail("%s: waitpid(%s=%d): %s", role, crole, child, strerror(errno));
		return;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	role_file(path, sizeof(path), crole, "");
	if (wl_read_file(path, line, sizeof(line)) != 0)
		snprintf(line, sizeof(line), "%s ended with status 0x%x and no report", crole, st);
	wl_fail("%s", line);
}

static __attribute__((noreturn)) void member_exit(void)
{
	char path[4200];

	if (wl_why[0]) {
		role_file(path, sizeof(path), role, "");
		wl_write_file(path, wl_why);
		_exit(1);
	}
	_exit(0);
}

/* G: single-threaded, checks its memory and ids. */
static __attribute__((noreturn)) void grandchild(pid_t parent, int ready_fd)
{
	size_t len = 256 * 1024;
	uint8_t *m;

	role = "G";
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		_exit(110);
	fill(m, len, 3);
	pid_t pgrp = getpgrp();
	if (write(ready_fd, "G", 1) != 1)
		_exit(111);
	close(ready_fd);
	wl_wait();
	check_region("memory", m, len, 3);
	WL_CHECK(getppid() == parent, "G: parent %d, want %d", getppid(), parent);
	WL_CHECK(getpgrp() == pgrp, "G: pgrp %d, want %d", getpgrp(), pgrp);
	member_exit();
}

/* C: own process group, one more thread, a child G. */
static __attribute__((noreturn)) void child(pid_t parent, uint8_t *shm, int ready_fd)
{
	size_t len = 1024 * 1024;
	struct th t = { .name = "wl-ctick", .n = 0 };
	uint8_t *m;

	role = "C";
	if (setpgid(0, 0) != 0)
		_exit(100);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		_exit(101);
	fill(m, len, 2);
	fill(shm + SHM_LEN / 2, SHM_LEN / 2, 5);
	ticks = 0;
	go = 0;
	pid_t me = getpid();
	pid_t g = fork();
	if (g < 0)
		_exit(102);
	if (g == 0)
		grandchild(me, ready_fd);
	wl_block_usr1();
	if (pthread_create(&t.t, NULL, tick_main, &t) != 0)
		_exit(103);
	wl_unblock_usr1();
	while (ticks < 2)
		wl_msleep(1);
	if (write(ready_fd, "C", 1) != 1)
		_exit(104);
	close(ready_fd);
	wl_wait();

	check_region("memory", m, len, 2);
	check_region("shared memory (R's half)", shm, SHM_LEN / 2, 4);
	check_region("shared memory (C's half)", shm + SHM_LEN / 2, SHM_LEN / 2, 5);
	WL_CHECK(getppid() == parent, "C: parent %d, want %d", getppid(), parent);
	WL_CHECK(getpgrp() == me, "C: pgrp %d, want %d", getpgrp(), me);
	unsigned long t0 = ticks;
	wl_msleep(50);
	WL_CHECK(ticks > t0, "C: wl-ctick stopped counting");
	go = 1;
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	WL_CHECK(pthread_timedjoin_np(t.t, NULL, &dl) == 0, "C: wl-ctick did not end");
	collect(g, "G");
	member_exit();
}

int main(int argc, char **argv)
{
	size_t mib = 8, len;
	char datapath[4096], path[4200];
	struct th th[NT] = {
		{ .name = "wl-tick", .n = 0 },
		{ .name = "wl-cond", .n = 1 },
		{ .name = "wl-sem", .n = 2 },
	};
	void *(*fns[NT])(void *) = { tick_main, cond_main, sem_main };
	int pfd[2];

	wl_init(argc, argv);
	snprintf(base, sizeof(base), "%s", wl_result_path);
	if (argc > 3)
		mib = strtoul(argv[3], NULL, 10);
	if (argc > 4)
		snprintf(datapath, sizeof(datapath), "%s", argv[4]);
	else
		snprintf(datapath, sizeof(datapath), "%s.data", wl_result_path);
	len = mib << 20;

	/* The data file: made once, then only read. */
	uint8_t *pattern = malloc(DATA_LEN);
	fill(pattern, DATA_LEN, 6);
	if (access(datapath, F_OK) != 0) {
		snprintf(path, sizeof(path), "%s.tmp%d", datapath, (int)getpid());
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, pattern, DATA_LEN) != DATA_LEN || close(fd) != 0 ||
		    rename(path, datapath) != 0) {
			perror(datapath);
			return 2;
		}
	}
	int dfd = open(datapath, O_RDONLY);
	if (dfd < 0 || dup2(dfd, 7) != 7 || lseek(7, 123, SEEK_SET) != 123) {
		perror(datapath);
		return 2;
	}
	close(dfd);
	const uint8_t *dmap = mmap(NULL, DATA_LEN, PROT_READ, MAP_PRIVATE, 7, 0);
	if (dmap == MAP_FAILED) {
		perror("mmap data file");
		return 2;
	}
	WL_CHECK(!memcmp(dmap, pattern, DATA_LEN), "R: %s does not hold the pattern at setup", datapath);

	uint8_t *shm = mmap(NULL, SHM_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	fill(shm, SHM_LEN / 2, 4);

	/* Signal state. */
	struct sigaction sa = { .sa_handler = on_usr2, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaction(SIGUSR2, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN);
	sigaddset(&s, SIGRTMIN + 1);
	pthread_sigmask(SIG_BLOCK, &s, NULL);

	/* C and G; they say ready through a pipe that is closed before READY. */
	if (pipe(pfd) != 0)
		return 2;
	pid_t me = getpid();
	pid_t c = fork();
	if (c < 0)
		return 2;
	if (c == 0) {
		close(pfd[0]);
		sigprocmask(SIG_UNBLOCK, &s, NULL);
		child(me, shm, pfd[1]);
	}
	setpgid(c, c);
	close(pfd[1]);
	char got[2];
	for (int n = 0; n < 2;) {
		ssize_t r = read(pfd[0], got + n, (size_t)(2 - n));
		if (r <= 0) {
			fprintf(stderr, "failsafe: C or G did not get ready\n");
			return 2;
		}
		n += (int)r;
	}
	close(pfd[0]);

	/* After the fork: C and G do not get a copy. */
	uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	fill(mem, len, 1);

	/* Threads: they must not take SIGUSR1. */
	if (sem_init(&sem, 0, 0) != 0)
		return 2;
	wl_block_usr1();
	for (int i = 0; i < NT; i++)
		if (pthread_create(&th[i].t, NULL, fns[i], &th[i]) != 0) {
			perror("pthread_create");
			return 2;
		}
	wl_unblock_usr1();
	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN + 3);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	sigset_t main_mask;
	pthread_sigmask(SIG_BLOCK, NULL, &main_mask);
	char main_name[32] = "";
	prctl(PR_GET_NAME, main_name);
	/* Wait until every thread is where it waits, then queue the signals. */
	long futex_nr[] = { SYS_futex };
	for (int i = 1; i < NT; i++) {
		for (int t = 0; t < 5000 && !th[i].tid; t++)
			wl_msleep(1);
		if (!th[i].tid || wl_wait_in_syscall(th[i].tid, futex_nr, 1, 5000) != SYS_futex) {
			fprintf(stderr, "failsafe: %s not waiting\n", th[i].name);
			return 2;
		}
	}
	while (ticks < 2)
		wl_msleep(1);
	union sigval v = { .sival_int = 42 };
	if (sigqueue(me, SIGRTMIN, v) != 0)
		return 2;
	v.sival_int = 7;
	if (pthread_sigqueue(th[2].t, SIGRTMIN + 1, v) != 0)
		return 2;

	wl_ready();
	wl_wait();

	check_region("memory", mem, len, 1);
	check_region("shared memory (R's half)", shm, SHM_LEN / 2, 4);
	check_region("shared memory (C's half)", shm + SHM_LEN / 2, SHM_LEN / 2, 5);
	WL_CHECK(!memcmp(dmap, pattern, DATA_LEN), "R: the mapping of %s changed", datapath);
	WL_CHECK(lseek(7, 0, SEEK_CUR) == 123, "R: fd 7 at offset %ld, want 123", (long)lseek(7, 0, SEEK_CUR));
	uint8_t b[8];
	WL_CHECK(pread(7, b, 8, 200) == 8 && !memcmp(b, pattern + 200, 8), "R: fd 7 reads other data");
	struct stat st;
	WL_CHECK(fstat(7, &st) == 0 && st.st_size == DATA_LEN, "R: fd 7 has size %ld", (long)st.st_size);
	struct sigaction cur;
	sigaction(SIGUSR2, NULL, &cur);
	WL_CHECK(cur.sa_handler == on_usr2 && (cur.sa_flags & SA_RESTART) && sigismember(&cur.sa_mask, SIGTERM),
		 "R: SIGUSR2 handler changed");
	sigaction(SIGHUP, NULL, &cur);
	WL_CHECK(cur.sa_handler == SIG_IGN, "R: SIGHUP no longer ignored");
	sigaction(SIGUSR1, NULL, &cur);
	WL_CHECK(cur.sa_handler == wl_on_usr1, "R: SIGUSR1 handler changed");
	check_mask("main thread", &main_mask);
	check_name(main_name);
	check_pending("process", SIGRTMIN, 42);
	unsigned long t0 = ticks;
	wl_msleep(50);
	WL_CHECK(ticks > t0, "R: wl-tick stopped counting");

	go = 1;
	pthread_mutex_lock(&mu);
	cond_flag = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	sem_post(&sem);
	for (int i = 0; i < NT; i++) {
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 5;
		WL_CHECK(pthread_timedjoin_np(th[i].t, NULL, &dl) == 0, "R: %s did not end", th[i].name);
	}
	collect(c, "C");
	return wl_finish();
}
