// SPDX-License-Identifier: MIT
/*
 * timerfd: its clock, interval, the time left to its next expiration, the
 * expirations not read yet and its settime flags (TFD_TIMER_ABSTIME,
 * TFD_TIMER_CANCEL_ON_SET).
 *
 * Time that passes while the tree is checkpointed does not count for its
 * timers: a timer due in 3 s at the dump is due 3 s after the restore,
 * whatever its clock, like everything else the program sees as a pause.
 * The one exception is an absolute wall-clock timer (CLOCK_REALTIME or
 * CLOCK_REALTIME_ALARM with TFD_TIMER_ABSTIME): its program asked for a
 * date, so it keeps it; if the date passed while the tree was stopped, the
 * restored timer has expired (a periodic one once per interval missed),
 * just as if the program had not run for that long.
 *
 * Expirations not read yet come back with TFD_IOC_SET_TICKS (kernels with
 * CONFIG_CHECKPOINT_RESTORE). Without it, a periodic timer is armed at an
 * absolute time in the past such that the kernel itself counts that many
 * expirations and the next one falls where it should (its settime flags
 * then say TFD_TIMER_ABSTIME), and a one-shot timer that expired is armed
 * to expire at once.
 *
 * A timer with TFD_TIMER_CANCEL_ON_SET whose clock was set before the dump
 * counts that as an expiration the program has not read; fdinfo cannot
 * tell it apart, so it comes back as an ordinary expiration (read returns
 * a count, not ECANCELED).
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>

#include "../compat.h"
#include "res.h"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

#define NSEC 1000000000ULL
#define KTIME_MAX_NS ((uint64_t)INT64_MAX)
#define TICKS_MAX (1ULL << 62)
#define TFD_FLAGS (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)

static bool timerfd_match(const struct fd_desc *fd)
{
	return !strcmp(fd->link, "anon_inode:[timerfd]");
}

static bool known_clock(uint32_t c)
{
	return c == CLOCK_REALTIME || c == CLOCK_MONOTONIC || c == CLOCK_BOOTTIME || c == CLOCK_REALTIME_ALARM ||
	       c == CLOCK_BOOTTIME_ALARM;
}

static bool wall_clock(uint32_t c)
{
	return c == CLOCK_REALTIME || c == CLOCK_REALTIME_ALARM;
}

/* The clock to read for a timer's clock: alarm clocks need an RTC to be read. */
static uint64_t clock_now(uint32_t c)
{
	struct timespec ts;

	c = c == CLOCK_REALTIME_ALARM ? CLOCK_REALTIME : c == CLOCK_BOOTTIME_ALARM ? CLOCK_BOOTTIME : c;
	clock_gettime((clockid_t)c, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

static struct timespec ns_ts(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / NSEC), .tv_nsec = (long)(ns % NSEC) };
}

/* "(sec, nsec)" of fdinfo, in ns. */
static int fdinfo_ns(const char *info, const char *key, uint64_t *ns)
{
	const char *p = status_field(info, key);
	unsigned long long s, n;

	if (!p || sscanf(p, "(%llu, %llu)", &s, &n) != 2 || n >= NSEC || s > KTIME_MAX_NS / NSEC)
		return -EIO;
	*ns = s * NSEC + n;
	return 0;
}

static int fdinfo_u64(const char *info, const char *key, int base, uint64_t *v)
{
	const char *p = status_field(info, key);
	char *end;

	if (!p)
		return -EIO;
	errno = 0;
	*v = strtoull(p, &end, base);
	return errno || end == p ? -EIO : 0;
}

/* The state fdinfo shows, with the CLOCK_REALTIME of the moment. */
static int timerfd_read_state(const char *info, Ckpt__File *f)
{
	uint64_t clockid, flags;

	if (fdinfo_u64(info, "clockid", 10, &clockid) || fdinfo_u64(info, "ticks", 10, &f->timerfd_ticks) ||
	    fdinfo_u64(info, "settime flags", 8, &flags) || fdinfo_ns(info, "it_value", &f->timerfd_value_ns) ||
	    fdinfo_ns(info, "it_interval", &f->timerfd_interval_ns))
		return -EIO;
	f->timerfd_realtime_ns = clock_now(CLOCK_REALTIME);
	f->timerfd_clockid = (uint32_t)clockid;
	f->timerfd_settime_flags = (uint32_t)flags;
	f->has_timerfd_clockid = f->has_timerfd_settime_flags = f->has_timerfd_ticks = true;
	f->has_timerfd_value_ns = f->has_timerfd_interval_ns = f->has_timerfd_realtime_ns = true;
	return 0;
}

static int timerfd_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd,
			Ckpt__File *f, struct model *m)
{
	_cleanup_close_ int copy = res_fd_copy(fd);
	struct itimerspec its;

	(void)opts;
	(void)m;
	if (copy < 0)
		return fail(ctx, copy, "pid %d fd %d: timerfd: taking a copy (pidfd_getfd): %s", fd->pid, fd->fd,
			    strerror(-copy));
	/*
	 * A periodic timer that expired is moved on to its next expiration,
	 * and the periods it missed counted, only when it is read or asked
	 * for its time; until then fdinfo shows 0 time left and too few
	 * expirations. timerfd_gettime() on our copy does that step (what the
	 * program would see does not change). It may expire again before
	 * fdinfo is read: then try again.
	 */
	for (int tries = 0;; tries++) {
		_cleanup_free_ char *info = NULL;

		if (timerfd_gettime(copy, &its) < 0)
			return fail(ctx, -errno, "pid %d fd %d: timerfd_gettime: %s", fd->pid, fd->fd,
				    strerror(errno));
		info = fdinfo_text(fd);
		if (!info || timerfd_read_state(info, f) < 0)
			return fail(ctx, -EIO, "pid %d fd %d: timerfd: cannot parse fdinfo", fd->pid, fd->fd);
		/* No time left: disarmed, unless it just expired (which counted). */
		if (f->timerfd_value_ns || !f->timerfd_interval_ns || !f->timerfd_ticks)
			break;
		if (tries == 20) {
			/* An interval shorter than these calls: it is always just due. */
			f->timerfd_value_ns = f->timerfd_interval_ns;
			break;
		}
	}
	if (!known_clock(f->timerfd_clockid) || (f->timerfd_settime_flags & ~(uint32_t)TFD_FLAGS) ||
	    f->timerfd_ticks > TICKS_MAX)
		return fail(ctx, -EOPNOTSUPP,
			    "pid %d fd %d: timerfd on clock %u, settime flags 0%o, %llu expirations is not supported",
			    fd->pid, fd->fd, f->timerfd_clockid, f->timerfd_settime_flags,
			    (unsigned long long)f->timerfd_ticks);
	return 0;
}

/* Every field restore trusts. */
static int timerfd_check(struct ckpt_ctx *ctx, const Ckpt__File *f)
{
	if (!f->has_timerfd_clockid || !f->has_timerfd_settime_flags || !f->has_timerfd_ticks ||
	    !f->has_timerfd_value_ns || !f->has_timerfd_interval_ns || !f->has_timerfd_realtime_ns ||
	    !known_clock(f->timerfd_clockid) || (f->timerfd_settime_flags & ~(uint32_t)TFD_FLAGS) ||
	    f->timerfd_ticks > TICKS_MAX || f->timerfd_value_ns > KTIME_MAX_NS ||
	    f->timerfd_interval_ns > KTIME_MAX_NS || f->timerfd_realtime_ns > KTIME_MAX_NS - f->timerfd_value_ns)
		return fail(ctx, -EBADMSG, "image damaged: timerfd file %llu", (unsigned long long)f->id);
	return 0;
}

/* The timer as it is to be armed: its next expiration and what is unread. */
struct tfd_plan {
	bool armed;
	uint64_t next;        /* absolute, on the timer's clock */
	uint64_t ticks;
};

/*
 * An expiration due before now + slack is counted now: arming a timer so
 * close could see it expire before its count is set, and the restored
 * program does not run that soon anyway.
 */
static int timerfd_catch_up(struct ckpt_ctx *ctx, const Ckpt__File *f, struct tfd_plan *p, uint64_t now,
			    uint64_t slack)
{
	uint64_t due = now + slack, k, interval = f->timerfd_interval_ns;

	if (!p->armed || p->next >= due)
		return 0;
	if (!interval) {
		p->armed = false;
		k = 1;
	} else {
		k = (due - p->next) / interval + 1;
		if (k > (KTIME_MAX_NS - p->next) / interval)
			return fail(ctx, -ERANGE, "timerfd: interval %llu ns: the next expiration is out of range",
				    (unsigned long long)interval);
		p->next += k * interval;
	}
	p->ticks = p->ticks + k > TICKS_MAX ? TICKS_MAX : p->ticks + k;
	return 0;
}

static int timerfd_set(int fd, const Ckpt__File *f, uint32_t flags, uint64_t value)
{
	struct itimerspec its = { .it_interval = ns_ts(f->timerfd_interval_ns), .it_value = ns_ts(value) };

	return timerfd_settime(fd, (int)flags, &its, NULL) < 0 ? -errno : 0;
}

/* Arms the timer as the image has it; the count of expirations is set after. */
static int timerfd_arm(int fd, const Ckpt__File *f, const struct tfd_plan *p)
{
	uint32_t flags = f->timerfd_settime_flags;
	uint64_t value = 0;

	if (p->armed) {
		if (flags & TFD_TIMER_ABSTIME) {
			value = p->next;
		} else {
			uint64_t now = clock_now(f->timerfd_clockid);

			value = p->next > now ? p->next - now : 1;
		}
	}
	return timerfd_set(fd, f, flags, value);
}

/* What fdinfo shows now of our timer: ticks and whether it is past due. */
static int own_state(int fd, uint64_t *ticks, uint64_t *value)
{
	_cleanup_free_ char *info = NULL;
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_text(path, &info, NULL) < 0 || fdinfo_u64(info, "ticks", 10, ticks) ||
	    fdinfo_ns(info, "it_value", value))
		return -EIO;
	return 0;
}

/*
 * Without TFD_IOC_SET_TICKS. A one-shot timer with one expiration is armed
 * 1 ns ahead (or at time 1 ns), its settime flags as they were. A periodic
 * one is armed, absolute, `ticks` intervals before its next expiration, in
 * the past: the kernel counts the expirations it missed, and its settime
 * flags then include TFD_TIMER_ABSTIME.
 */
static int timerfd_arm_expired(struct ckpt_ctx *ctx, int fd, const Ckpt__File *f, const struct tfd_plan *p)
{
	uint64_t interval = f->timerfd_interval_ns, start;
	uint32_t flags = f->timerfd_settime_flags;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r;

	if (!interval && !p->armed && p->ticks == 1) {
		start = 1;
	} else if (interval && p->armed && p->ticks <= (p->next - 1) / interval) {
		start = p->next - p->ticks * interval;
		flags |= TFD_TIMER_ABSTIME;
	} else {
		return fail(ctx, -EOPNOTSUPP,
			    "timerfd with %llu expirations not read: this kernel cannot set them (no TFD_IOC_SET_TICKS)",
			    (unsigned long long)p->ticks);
	}
	pr_info(ctx, "timerfd: no TFD_IOC_SET_TICKS: armed to be due at once for %llu expirations",
		(unsigned long long)p->ticks);
	r = timerfd_set(fd, f, flags, start);
	if (r < 0)
		return fail(ctx, r, "timerfd_settime: %s", strerror(-r));
	/* Let it expire before the program can read it. */
	if (poll(&pfd, 1, 1000) != 1)
		return fail(ctx, -ETIME, "timerfd armed to be due at once did not expire");
	return 0;
}

static int set_ticks(struct ckpt_ctx *ctx, int fd, uint64_t ticks)
{
	/* CKPT_FAIL_AT=timerfd-set-ticks: as on a kernel without the ioctl (for tests). */
	if (fail_point(ctx, "timerfd-set-ticks"))
		return -ENOTTY;
	return ioctl(fd, TFD_IOC_SET_TICKS, &ticks) < 0 ? -errno : 0;
}

static int timerfd_restore_state(struct ckpt_ctx *ctx, int fd, const Ckpt__File *f)
{
	struct tfd_plan p = { .armed = f->timerfd_value_ns != 0, .ticks = f->timerfd_ticks };
	uint64_t slack = 1000000, ticks, value;
	int r;

	if (p.armed && (f->timerfd_settime_flags & TFD_TIMER_ABSTIME) && wall_clock(f->timerfd_clockid))
		p.next = f->timerfd_realtime_ns + f->timerfd_value_ns;
	else if (p.armed)
		p.next = clock_now(f->timerfd_clockid) + f->timerfd_value_ns;
	if (p.next > KTIME_MAX_NS)
		return fail(ctx, -ERANGE, "timerfd: the next expiration is out of range");
	/*
	 * Setting the time clears the count; setting the count after may
	 * miss an expiration in between, which only happens if the timer is
	 * already past due after: then do both again, with more slack.
	 */
	for (int tries = 0; tries < 4; tries++, slack *= 10) {
		r = timerfd_catch_up(ctx, f, &p, clock_now(f->timerfd_clockid), slack);
		if (r < 0)
			return r;
		r = timerfd_arm(fd, f, &p);
		if (r < 0)
			return fail(ctx, r, "timerfd_settime: %s", strerror(-r));
		if (!p.ticks)
			return 0;
		r = set_ticks(ctx, fd, p.ticks);
		if (r == -ENOTTY)
			return timerfd_arm_expired(ctx, fd, f, &p);
		if (r < 0)
			return fail(ctx, r, "timerfd: setting %llu expirations: %s", (unsigned long long)p.ticks,
				    strerror(-r));
		if (!p.armed)
			return 0;
		if (own_state(fd, &ticks, &value) < 0)
			return fail(ctx, -EIO, "timerfd: cannot read our own fdinfo");
		if (value || ticks != p.ticks)
			return 0; /* not due yet, or it expired after the count was set */
	}
	return fail(ctx, -ETIME, "timerfd: the timer keeps expiring before its count can be set");
}

static int timerfd_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *out)
{
	_cleanup_close_ int fd = -1;
	int r = timerfd_check(ctx, f);

	(void)rr;
	if (r < 0)
		return r;
	fd = timerfd_create((int)f->timerfd_clockid, TFD_CLOEXEC | (f->flags & O_NONBLOCK ? TFD_NONBLOCK : 0));
	if (fd < 0)
		return fail(ctx, -errno, "timerfd_create on clock %u: %s", f->timerfd_clockid, strerror(errno));
	r = timerfd_restore_state(ctx, fd, f);
	if (r < 0)
		return r;
	*out = take_fd(&fd);
	return 0;
}

const struct res_ops res_timerfd = {
	.name = "timerfd",
	.kind = FILE_KIND_TIMERFD,
	.match = timerfd_match,
	.dump = timerfd_dump,
	.open = timerfd_open,
};
