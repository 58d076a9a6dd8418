/*
 * timerfd: clocks, intervals, time left, expirations not read and settime
 * flags across a checkpoint.
 *
 *   timerfd READY RESULT [GAP]
 *
 * GAP (seconds, default 0) is how long the harness keeps the tree
 * checkpointed at least: time that must not count for relative timers.
 *
 * Before (fds in this order, T0 first):
 *   T0 CLOCK_MONOTONIC, interval 40 s, armed TFD_TIMER_ABSTIME 100 s in the
 *      past: 3 expirations not read, next one 20 s ahead;
 *   T1 CLOCK_MONOTONIC, one shot in 1 hour, O_NONBLOCK;
 *   T2 CLOCK_REALTIME, ABSTIME|CANCEL_ON_SET, one shot at now + 2 hours (a
 *      date), a thread blocked in read(T2);
 *   T3 CLOCK_BOOTTIME, every 50 ms, never read;
 *   T4 CLOCK_REALTIME, never armed, O_NONBLOCK;
 *   T5 CLOCK_MONOTONIC, one shot of 1 ms that expired, not read, O_NONBLOCK;
 *   T6 CLOCK_BOOTTIME_ALARM, every 10 minutes;
 *   T7 CLOCK_REALTIME_ALARM, ABSTIME at now + 1 day, then every hour;
 *   T8 CLOCK_MONOTONIC, disarmed (time 0) with an interval of 5 s, O_NONBLOCK.
 * After restore (SIGUSR1), each timer's clock and settime flags (fdinfo),
 * O_NONBLOCK and timerfd_gettime(): intervals exactly as set; time left as
 * it was at the dump less at most the time the tree really ran (relative
 * timers), or to the same date (T2, T7). T0 reads exactly 3, then its
 * interval goes on; T1, T4, T8 have nothing to read; T3 reads at least the
 * expirations it had before the dump and at most as many as the time it
 * really ran allows, then expires again within the interval; T5 reads
 * exactly 1, then nothing; T2 set to expire now wakes its reader with 1.
 */
#include "wl.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/timerfd.h>

#define SEC 1000000000LL

static int T[9];
static int64_t start, gap;
static volatile pid_t reader_tid;
static volatile int64_t reader_got = -2;

static void *reader(void *arg)
{
	uint64_t n = 0;
	ssize_t r;

	(void)arg;
	wl_block_usr1();
	reader_tid = wl_gettid();
	do
		r = read(T[2], &n, 8);
	while (r < 0 && errno == EINTR);
	reader_got = r == 8 ? (int64_t)n : -1;
	return NULL;
}

static int64_t now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * SEC + ts.tv_nsec;
}

static struct timespec ts(int64_t ns)
{
	return (struct timespec){ ns / SEC, ns % SEC };
}

static int64_t ns(struct timespec t)
{
	return t.tv_sec * SEC + t.tv_nsec;
}

static int arm(int i, int clock, int flags, int64_t value, int64_t interval)
{
	struct itimerspec it = { ts(interval), ts(value) };

	T[i] = timerfd_create(clock, flags & TFD_NONBLOCK);
	return T[i] < 0 || ((value || interval) && timerfd_settime(T[i], flags & ~TFD_NONBLOCK, &it, NULL) < 0);
}

/* A "key: value" number of our fdinfo for T[i] (base 0: octal flags). */
static long fdinfo_num(int i, const char *key)
{
	char path[64], buf[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", T[i]);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f))
		if (!strncmp(buf, key, kl) && buf[kl] == ':')
			v = strtol(buf + kl + 1, NULL, 0);
	fclose(f);
	return v;
}

/* The time the timers really ran: all of it, less the gap. */
static int64_t ran(void)
{
	return now(CLOCK_MONOTONIC) - start - gap;
}

/*
 * Checks clock, settime flags, O_NONBLOCK, interval and time left in
 * [lo, hi]; with lo < 0, time left from full less the time the timers ran.
 */
static void check(int i, int clock, int flags, int nonblock, int64_t interval, int64_t lo, int64_t hi)
{
	struct itimerspec it;

	WL_CHECK(fdinfo_num(i, "clockid") == clock, "T%d: clock %ld, want %d", i, fdinfo_num(i, "clockid"), clock);
	WL_CHECK(fdinfo_num(i, "settime flags") == flags, "T%d: settime flags 0%lo, want 0%o", i,
		 fdinfo_num(i, "settime flags"), flags);
	WL_CHECK(!(fcntl(T[i], F_GETFL) & O_NONBLOCK) == !nonblock, "T%d: O_NONBLOCK is %s", i,
		 nonblock ? "lost" : "set");
	if (timerfd_gettime(T[i], &it) < 0) {
		wl_fail("T%d: timerfd_gettime: %s", i, strerror(errno));
		return;
	}
	if (lo < 0)
		lo = hi - ran();
	WL_CHECK(ns(it.it_interval) == interval, "T%d: interval %lld ns, want %lld", i,
		 (long long)ns(it.it_interval), (long long)interval);
	WL_CHECK(ns(it.it_value) >= lo && ns(it.it_value) <= hi, "T%d: %.3f s left, want %.3f to %.3f", i,
		 ns(it.it_value) / 1e9, lo / 1e9, hi / 1e9);
}

static int64_t read_count(int i)
{
	uint64_t n = 0;

	return read(T[i], &n, 8) == 8 ? (int64_t)n : errno == EAGAIN ? 0 : -1;
}

int main(int argc, char **argv)
{
	int64_t mono, date2, date7, t3_before, n;
	pthread_t t;

	wl_init(argc, argv);
	gap = argc > 3 ? atoll(argv[3]) * SEC : 0;
	start = now(CLOCK_MONOTONIC);
	if (start < 101 * SEC) {
		fprintf(stderr, "the monotonic clock must be past 101 s\n");
		return 2;
	}
	date2 = now(CLOCK_REALTIME) + 7200 * SEC;
	date7 = now(CLOCK_REALTIME) + 86400 * SEC;
	if (arm(0, CLOCK_MONOTONIC, TFD_TIMER_ABSTIME, start - 100 * SEC, 40 * SEC) ||
	    arm(1, CLOCK_MONOTONIC, TFD_NONBLOCK, 3600 * SEC, 0) ||
	    arm(2, CLOCK_REALTIME, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, date2, 0) ||
	    arm(3, CLOCK_BOOTTIME, 0, SEC / 20, SEC / 20) || arm(4, CLOCK_REALTIME, TFD_NONBLOCK, 0, 0) ||
	    arm(5, CLOCK_MONOTONIC, TFD_NONBLOCK, SEC / 1000, 0) ||
	    arm(6, CLOCK_BOOTTIME_ALARM, 0, 600 * SEC, 600 * SEC) ||
	    arm(7, CLOCK_REALTIME_ALARM, TFD_TIMER_ABSTIME, date7, 3600 * SEC) ||
	    arm(8, CLOCK_MONOTONIC, TFD_NONBLOCK, 0, 5 * SEC)) {
		perror("timerfd");
		return 2;
	}
	for (int i = 1; i < 9; i++)
		if (T[i] < T[i - 1])
			return 2;
	pthread_create(&t, NULL, reader, NULL);
	static const long in_read[] = { SYS_read };
	while (!reader_tid)
		wl_msleep(1);
	if (wl_wait_in_syscall(reader_tid, in_read, 1, 2000) < 0)
		return 2;
	wl_msleep(100);
	/* At least this many are there to read (fdinfo counts them lazily). */
	t3_before = fdinfo_num(3, "ticks");
	wl_ready();
	wl_wait();

	mono = now(CLOCK_MONOTONIC);
	WL_CHECK(ran() > 0, "the tree ran %.3f s in all, less than the gap of %lld s", (mono - start) / 1e9,
		 (long long)(gap / SEC));
	check(0, CLOCK_MONOTONIC, TFD_TIMER_ABSTIME, 0, 40 * SEC, -1, 20 * SEC);
	check(1, CLOCK_MONOTONIC, 0, 1, 0, -1, 3600 * SEC);
	int64_t left2 = date2 - now(CLOCK_REALTIME), left7 = date7 - now(CLOCK_REALTIME);
	check(2, CLOCK_REALTIME, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, 0, 0, left2 - SEC / 10, left2 + SEC / 10);
	check(3, CLOCK_BOOTTIME, 0, 0, SEC / 20, 0, SEC / 20);
	check(4, CLOCK_REALTIME, 0, 1, 0, 0, 0);
	check(5, CLOCK_MONOTONIC, 0, 1, 0, 0, 0);
	check(6, CLOCK_BOOTTIME_ALARM, 0, 0, 600 * SEC, -1, 600 * SEC);
	check(7, CLOCK_REALTIME_ALARM, TFD_TIMER_ABSTIME, 0, 3600 * SEC, left7 - SEC / 10, left7 + SEC / 10);
	check(8, CLOCK_MONOTONIC, 0, 1, 5 * SEC, 0, 0);

	WL_CHECK((n = read_count(0)) == 3, "T0 read %lld expirations, want 3", (long long)n);
	WL_CHECK((n = read_count(1)) == 0, "T1 read %lld, want nothing", (long long)n);
	WL_CHECK((n = read_count(4)) == 0, "T4 read %lld, want nothing", (long long)n);
	WL_CHECK((n = read_count(8)) == 0, "T8 read %lld, want nothing", (long long)n);
	WL_CHECK((n = read_count(5)) == 1, "T5 read %lld expirations, want 1", (long long)n);
	WL_CHECK((n = read_count(5)) == 0, "T5 read %lld more, want nothing", (long long)n);
	/* T3: none lost, none added for the time the tree was stopped (2 for rounding). */
	n = read_count(3);
	int64_t most = ran() / (SEC / 20) + 2;
	WL_CHECK(n >= t3_before && n <= most, "T3 read %lld expirations, want %lld to %lld", (long long)n,
		 (long long)t3_before, (long long)most);
	int64_t t0 = now(CLOCK_MONOTONIC);
	n = read_count(3);
	WL_CHECK(n >= 1 && now(CLOCK_MONOTONIC) - t0 < SEC, "T3 did not expire again within 1 s (%lld)", (long long)n);
	/* The thread blocked in read(T2) wakes when T2 expires. */
	WL_CHECK(wl_wait_in_syscall(reader_tid, in_read, 1, 2000) >= 0, "the reader is not in read(T2) any more");
	WL_CHECK(reader_got == -2, "the reader woke up early (%lld)", (long long)reader_got);
	struct itimerspec soon = { { 0, 0 }, { 0, 10000000 } };
	WL_CHECK(timerfd_settime(T[2], 0, &soon, NULL) == 0, "timerfd_settime T2: %s", strerror(errno));
	for (int i = 0; i < 400 && reader_got == -2; i++)
		wl_msleep(5);
	WL_CHECK(reader_got == 1, "the reader of T2 got %lld, want 1", (long long)reader_got);
	if (reader_got != -2)
		pthread_join(t, NULL);
	return wl_finish();
}
