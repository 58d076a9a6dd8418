/*
 * inotify: watches on directories, files and a symbolic link, with their
 * masks and watch descriptors, across a checkpoint.
 *
 *   inotify READY RESULT MODE
 *
 * Before, in a fresh directory D next to RESULT: I1 (O_NONBLOCK) watches
 *   wd 1  D            IN_CREATE|IN_DELETE|IN_OPEN
 *   wd 3  D/file       IN_MODIFY|IN_ATTRIB (held open read-write)
 *   wd 10 D/sub        IN_CREATE|IN_ONLYDIR|IN_EXCL_UNLINK
 *   wd 11 D/link       IN_ATTRIB|IN_DONT_FOLLOW (the link, not its target)
 *   wd 12 D/f2         IN_OPEN|IN_ONESHOT
 *   wd 13 D/sub/g2     IN_CLOSE_WRITE (watched as D/g, then renamed)
 * (wds 2 and 4 to 9 were used and removed), and then directory D/pre is
 * made, so one IN_CREATE event is queued. I2 (blocking, close-on-exec) watches
 * D/dir2 (IN_CREATE, wd 1) and a thread is blocked in read(I2).
 * MODE "refuse" also watches /proc/self/status with I2, which ckpt cannot
 * find again: the dump must refuse it.
 *
 * After SIGUSR1: with MODE "keep" or "refuse" (the original, still
 * running), I1's queue holds exactly the IN_CREATE of pre; with "lose" (a
 * restored tree) it is empty: queued events are not saved, and the
 * restore's own opens left nothing. fdinfo lists the same wds and masks.
 * Then each watch reports, with its wd: create D/new (wd 1), write D/file
 * (wd 3), create D/sub/x (wd 10), touch the link (wd 11, not 3), open D/f2
 * (wd 1 and 12, then IN_IGNORED of 12), write and close D/sub/g2 (wd 13);
 * removing wd 3 gives IN_IGNORED, a new watch gets wd 14, and creating
 * D/dir2/y wakes the reader of I2 with wd 1.
 */
#include "wl.h"
#include <fcntl.h>
#include <limits.h>
#include <sys/inotify.h>
#include <sys/stat.h>

struct ev {
	int wd;
	uint32_t mask;
	char name[NAME_MAX + 1];
};

static char D[PATH_MAX];
static int I1, I2, FILEFD;
static volatile pid_t reader_tid;
static volatile int reader_wd = -2;
static char reader_name[NAME_MAX + 1];

static void *reader(void *arg)
{
	char buf[4096] __attribute__((aligned(8)));
	const struct inotify_event *e = (const void *)buf;
	ssize_t n;

	(void)arg;
	wl_block_usr1();
	reader_tid = wl_gettid();
	do
		n = read(I2, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n >= (ssize_t)sizeof(*e)) {
		snprintf(reader_name, sizeof(reader_name), "%.*s", NAME_MAX, e->len ? e->name : "");
		reader_wd = e->wd;
	} else {
		reader_wd = -1;
	}
	return NULL;
}

static const char *p(const char *name)
{
	static char buf[4][PATH_MAX + 64];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", D, name);
	return buf[k];
}

static int touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	return fd < 0 ? -1 : close(fd);
}

/* Every event queued in I1 now (it is O_NONBLOCK). */
static int collect(struct ev *v, int max)
{
	char buf[8192] __attribute__((aligned(8)));
	int n = 0;
	ssize_t len;

	while ((len = read(I1, buf, sizeof(buf))) > 0)
		for (char *q = buf; q < buf + len && n < max;) {
			const struct inotify_event *e = (const void *)q;

			v[n].wd = e->wd;
			v[n].mask = e->mask;
			snprintf(v[n].name, sizeof(v[n].name), "%.*s", NAME_MAX, e->len ? e->name : "");
			n++;
			q += sizeof(*e) + e->len;
		}
	return n;
}

/* After what: exactly the events want[0..nw-1] (any order) are queued in I1. */
static void expect(const char *what, const struct ev *want, int nw)
{
	struct ev got[32];
	int n = collect(got, 32);

	for (int i = 0; i < nw; i++) {
		int found = 0;

		for (int k = 0; k < n; k++)
			found |= got[k].wd == want[i].wd && (got[k].mask & want[i].mask) &&
				 !strcmp(got[k].name, want[i].name);
		WL_CHECK(found, "%s: no event 0x%x \"%s\" on wd %d (%d events: first wd %d mask 0x%x \"%s\")", what,
			 want[i].mask, want[i].name, want[i].wd, n, n ? got[0].wd : 0, n ? got[0].mask : 0,
			 n ? got[0].name : "");
	}
	WL_CHECK(n == nw, "%s: %d events, want %d (first: wd %d mask 0x%x \"%s\")", what, n, nw, n ? got[0].wd : 0,
		 n ? got[0].mask : 0, n ? got[0].name : "");
}

/* The "wd:N ... mask:M" pairs of I1's fdinfo, as "N:M " sorted by wd. */
static void watches(char *out, size_t len)
{
	char path[64], line[1024];
	unsigned wd, mask, have[32][2], n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", I1);
	out[0] = 0;
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && n < 32)
		if (sscanf(line, "inotify wd:%x ino:%*x sdev:%*x mask:%x", &wd, &mask) == 2) {
			have[n][0] = wd;
			have[n++][1] = mask;
		}
	fclose(f);
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = i + 1; k < n; k++)
			if (have[k][0] < have[i][0]) {
				unsigned t0 = have[i][0], t1 = have[i][1];

				have[i][0] = have[k][0], have[i][1] = have[k][1];
				have[k][0] = t0, have[k][1] = t1;
			}
	for (unsigned i = 0; i < n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%u:%x ", have[i][0], have[i][1]);
}

static int add(int fd, const char *path, uint32_t mask, int want)
{
	int wd = inotify_add_watch(fd, path, mask);

	if (wd != want) {
		fprintf(stderr, "watch %s: wd %d, want %d (%s)\n", path, wd, want, strerror(errno));
		exit(2);
	}
	return wd;
}

static void setup(const char *mode)
{
	char buf[256];

	if (mkdir(D, 0755) || mkdir(p("sub"), 0755) || mkdir(p("dir2"), 0755) || touch(p("file")) ||
	    touch(p("f2")) || touch(p("g")) || symlink("file", p("link")) || touch(p("t")))
		exit(2);
	I1 = inotify_init1(IN_NONBLOCK);
	I2 = inotify_init1(IN_CLOEXEC);
	/* After I1: the restore opens it again after I1, as the program did. */
	FILEFD = open(p("file"), O_RDWR | O_CLOEXEC);
	if (FILEFD < 0 || I1 < 0 || I2 < 0)
		exit(2);
	add(I1, D, IN_CREATE | IN_DELETE | IN_OPEN, 1);
	inotify_rm_watch(I1, add(I1, p("sub"), IN_CREATE, 2));
	add(I1, p("file"), IN_MODIFY | IN_ATTRIB, 3);
	for (int wd = 4; wd <= 9; wd++)
		inotify_rm_watch(I1, add(I1, p("t"), IN_ATTRIB, wd));
	add(I1, p("sub"), IN_CREATE | IN_ONLYDIR | IN_EXCL_UNLINK, 10);
	add(I1, p("link"), IN_ATTRIB | IN_DONT_FOLLOW, 11);
	add(I1, p("f2"), IN_OPEN | IN_ONESHOT, 12);
	add(I1, p("g"), IN_CLOSE_WRITE, 13);
	snprintf(buf, sizeof(buf), "%s", p("sub/g2"));
	if (rename(p("g"), buf) || unlink(p("t")))
		exit(2);
	add(I2, p("dir2"), IN_CREATE, 1);
	if (!strcmp(mode, "refuse"))
		add(I2, "/proc/self/status", IN_MODIFY, 2);
	/* What setting up queued (IN_IGNORED, IN_DELETE of t, ...) goes; then one event stays. */
	struct ev junk[64];
	collect(junk, 64);
	if (mkdir(p("pre"), 0755))
		exit(2);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 3 ? argv[3] : "";
	char have[512];
	pthread_t t;

	wl_init(argc, argv);
	if (strcmp(mode, "keep") && strcmp(mode, "lose") && strcmp(mode, "refuse")) {
		fprintf(stderr, "MODE is keep, lose or refuse\n");
		return 2;
	}
	/* D: next to RESULT. */
	snprintf(D, sizeof(D), "%s", argv[2]);
	*(strrchr(D, '/') ? strrchr(D, '/') + 1 : D) = 0;
	snprintf(D + strlen(D), sizeof(D) - strlen(D), "inotify-dir.%d", (int)getpid());
	setup(mode);
	pthread_create(&t, NULL, reader, NULL);
	static const long in_read[] = { SYS_read };
	while (!reader_tid)
		wl_msleep(1);
	if (wl_wait_in_syscall(reader_tid, in_read, 1, 2000) < 0)
		return 2;
	wl_ready();
	wl_wait();

	struct ev pre = { 1, IN_CREATE, "pre" };
	expect(strcmp(mode, "lose") ? "the queue of the original" : "the queue after restore", &pre,
	       strcmp(mode, "lose") ? 1 : 0);
	watches(have, sizeof(have));
	WL_CHECK(!strcmp(have, "1:320 3:6 10:4000100 11:4 12:80000020 13:8 "), "I1 watches \"%s\"", have);
	WL_CHECK(fcntl(I1, F_GETFL) & O_NONBLOCK, "I1 lost O_NONBLOCK");
	WL_CHECK(!(fcntl(I2, F_GETFL) & O_NONBLOCK), "I2 became O_NONBLOCK");
	WL_CHECK(fcntl(I2, F_GETFD) & FD_CLOEXEC, "I2 lost FD_CLOEXEC");

	struct ev created = { 1, IN_CREATE, "new" };
	WL_CHECK(touch(p("new")) == 0, "create new: %s", strerror(errno));
	struct ev opened_new = { 1, IN_OPEN, "new" };
	struct ev c2[] = { created, opened_new };
	expect("create D/new", c2, 2);
	struct ev modified = { 3, IN_MODIFY, "" };
	WL_CHECK(pwrite(FILEFD, "x", 1, 0) == 1, "write file: %s", strerror(errno));
	expect("write D/file", &modified, 1);
	struct ev sub = { 10, IN_CREATE, "x" };
	WL_CHECK(mkdir(p("sub/x"), 0755) == 0, "mkdir sub/x: %s", strerror(errno));
	expect("mkdir D/sub/x", &sub, 1);
	struct timespec times[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };
	struct ev link_attrib = { 11, IN_ATTRIB, "" };
	WL_CHECK(utimensat(AT_FDCWD, p("link"), times, AT_SYMLINK_NOFOLLOW) == 0, "touch link: %s", strerror(errno));
	expect("touch D/link", &link_attrib, 1);
	int fd = open(p("f2"), O_RDONLY | O_CLOEXEC);
	struct ev f2[] = { { 1, IN_OPEN, "f2" }, { 12, IN_OPEN, "" }, { 12, IN_IGNORED, "" } };
	expect("open D/f2", f2, 3);
	if (fd >= 0)
		close(fd);
	fd = open(p("sub/g2"), O_WRONLY | O_CLOEXEC);
	WL_CHECK(fd >= 0 && write(fd, "g", 1) == 1 && close(fd) == 0, "write sub/g2: %s", strerror(errno));
	struct ev g2 = { 13, IN_CLOSE_WRITE, "" };
	expect("write and close D/sub/g2", &g2, 1);
	WL_CHECK(inotify_rm_watch(I1, 3) == 0, "inotify_rm_watch 3: %s", strerror(errno));
	struct ev ignored = { 3, IN_IGNORED, "" };
	expect("removing wd 3", &ignored, 1);
	int wd = inotify_add_watch(I1, p("dir2"), IN_DELETE);
	WL_CHECK(wd == 14, "a new watch got wd %d, want 14", wd);

	WL_CHECK(wl_wait_in_syscall(reader_tid, in_read, 1, 2000) >= 0, "the reader is not in read(I2) any more");
	WL_CHECK(reader_wd == -2, "the reader woke up early (wd %d)", reader_wd);
	WL_CHECK(touch(p("dir2/y")) == 0, "create dir2/y: %s", strerror(errno));
	for (int i = 0; i < 400 && reader_wd == -2; i++)
		wl_msleep(5);
	WL_CHECK(reader_wd == 1 && !strcmp(reader_name, "y"), "the reader of I2 got wd %d \"%s\", want 1 \"y\"",
		 reader_wd, reader_name);
	if (reader_wd != -2)
		pthread_join(t, NULL);
	return wl_finish();
}
