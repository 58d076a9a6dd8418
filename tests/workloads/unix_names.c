/*
 * unix_names: unix socket names in every situation a restore must
 * reproduce. One process, working in DIR (the directory of RESULT):
 *
 *   rel      a listener bound to the relative name "rel.sock": after
 *            restore its name is still "rel.sock" and a client connects by
 *            that relative name;
 *   moved    a listener bound to DIR/moved-a.sock whose file was renamed to
 *            DIR/moved-b.sock: its name is still moved-a.sock, clients reach
 *            it at moved-b.sock, and no file appears at moved-a.sock;
 *   gone     a datagram socket bound to DIR/gone.sock whose file was
 *            unlinked, holding a datagram: its name stays, no file appears;
 *   orphan   a connection whose listener (DIR/orphan.sock) is closed, its
 *            stale file left: the accepted end still has the listener's
 *            name and data flows both ways; the stale file is still there;
 *   closedacc  a client whose accepted end was closed after writing: it
 *            reads the bytes, then end of file; its peer name is kept;
 *   deadpeer a datagram socket connected to a named socket that closed
 *            after sending it two datagrams: they come with the sender's
 *            name, getpeername gives that name, send gives ECONNREFUSED;
 *   odd      an abstract name with NUL bytes inside, and an autobound one;
 *   paired   an unnamed datagram socket paired with a named one that sent
 *            to it: the datagram comes with the named one's address.
 */
#include "unixwl.h"
#include <libgen.h>
#include <sys/stat.h>
#include <time.h>

static char dir[2048], moved_a[2200], moved_b[2200], gone[2200], orphan[2200];
static char abs_a[64], abs_b[64], abs_q[64];
static int rel_l, moved_l, gone_d, orphan_s, orphan_c, ca_c, ca_l, dp_a, odd, autob, pr[2];
static struct sockaddr_un autob_addr;
static socklen_t autob_len;
static const char odd_name[] = { 0, 'c', 'k', 0, 'p', 't', 0, 0 };

static int sock(int type)
{
	return socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
}

static int bind_to(int fd, const char *name)
{
	struct sockaddr_un a;

	return bind(fd, (struct sockaddr *)&a, uw_addr(&a, name));
}

static int connect_to(int fd, const char *name)
{
	struct sockaddr_un a;

	return connect(fd, (struct sockaddr *)&a, uw_addr(&a, name));
}

static void expect(int fd, const char *want, const char *what)
{
	char buf[64] = "";
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n < 0 || strcmp(buf, want))
		wl_fail("%s: got '%s' (%zd, %s), want '%s'", what, buf, n, n < 0 ? strerror(errno) : "", want);
}

/* fd's own (or peer's) address is exactly want (len bytes after the family). */
static void check_addr(int fd, bool peer, const void *want, size_t len, const char *what)
{
	struct sockaddr_un a;
	socklen_t al = sizeof(a);

	memset(&a, 0, sizeof(a));
	if ((peer ? getpeername(fd, (struct sockaddr *)&a, &al) : getsockname(fd, (struct sockaddr *)&a, &al)) < 0)
		wl_fail("%s: %s", what, strerror(errno));
	else if (al != offsetof(struct sockaddr_un, sun_path) + len || memcmp(a.sun_path, want, len))
		wl_fail("%s: %s is '%s'%s (%u bytes), want '%s' (%zu)", what, peer ? "peer name" : "name",
			a.sun_path[0] ? a.sun_path : a.sun_path + 1, a.sun_path[0] ? "" : " (abstract)",
			al, ((const char *)want)[0] ? (const char *)want : (const char *)want + 1, len + 2);
}

static void check_path_name(int fd, bool peer, const char *path, const char *what)
{
	check_addr(fd, peer, path, strlen(path) + 1, what);
}

static void check_abs_name(int fd, bool peer, const char *name, const char *what)
{
	char buf[64] = { 0 };

	memcpy(buf + 1, name + 1, strlen(name + 1));
	check_addr(fd, peer, buf, strlen(name), what);
}

/* A client connects to path and the listener accepts it: data goes through. */
static void check_accepts(int l, const char *path, const char *what)
{
	int c = sock(SOCK_STREAM), s;

	if (c < 0 || connect_to(c, path) < 0 || (s = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		wl_fail("%s: connecting to %s: %s", what, path, strerror(errno));
	} else {
		if (send(c, "hi", 2, 0) != 2)
			wl_fail("%s: send: %s", what, strerror(errno));
		expect(s, "hi", what);
		close(s);
	}
	if (c >= 0)
		close(c);
}

static int setup(void)
{
	int l, s;

	/* rel */
	rel_l = sock(SOCK_STREAM);
	if (rel_l < 0 || bind_to(rel_l, "rel.sock") < 0 || listen(rel_l, 4) < 0)
		return -1;
	/* moved */
	moved_l = sock(SOCK_STREAM);
	if (moved_l < 0 || bind_to(moved_l, moved_a) < 0 || listen(moved_l, 4) < 0 || rename(moved_a, moved_b) < 0)
		return -1;
	/* gone */
	gone_d = sock(SOCK_DGRAM);
	s = sock(SOCK_DGRAM);
	if (gone_d < 0 || s < 0 || bind_to(gone_d, gone) < 0 || connect_to(s, gone) < 0 || send(s, "to-gone", 7, 0) != 7)
		return -1;
	close(s);
	if (unlink(gone) < 0)
		return -1;
	/* orphan */
	l = sock(SOCK_STREAM);
	orphan_c = sock(SOCK_STREAM);
	if (l < 0 || orphan_c < 0 || bind_to(l, orphan) < 0 || listen(l, 1) < 0 || connect_to(orphan_c, orphan) < 0)
		return -1;
	orphan_s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	if (orphan_s < 0 || send(orphan_s, "to-client", 9, 0) != 9 || send(orphan_c, "to-server", 9, 0) != 9)
		return -1;
	/* closedacc: through the rel listener's sibling, an abstract one */
	ca_l = sock(SOCK_STREAM);
	ca_c = sock(SOCK_STREAM);
	if (ca_l < 0 || ca_c < 0 || bind_to(ca_l, abs_b) < 0 || listen(ca_l, 4) < 0 || connect_to(ca_c, abs_b) < 0)
		return -1;
	s = accept4(ca_l, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0 || send(s, "last-words", 10, 0) != 10)
		return -1;
	close(s);
	/* deadpeer */
	dp_a = sock(SOCK_DGRAM);
	s = sock(SOCK_DGRAM);
	if (dp_a < 0 || s < 0 || bind_to(dp_a, abs_a) < 0 || bind_to(s, abs_q) < 0 || connect_to(dp_a, abs_q) < 0 ||
	    connect_to(s, abs_a) < 0 || send(s, "dead-1", 6, 0) != 6 || send(s, "dead-2", 6, 0) != 6)
		return -1;
	close(s);
	/* odd */
	odd = sock(SOCK_SEQPACKET);
	autob = sock(SOCK_DGRAM);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	memcpy(a.sun_path, odd_name, sizeof(odd_name));
	if (odd < 0 || autob < 0 || bind(odd, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + sizeof(odd_name)) < 0)
		return -1;
	if (bind(autob, (struct sockaddr *)&a, sizeof(sa_family_t)) < 0)
		return -1;
	autob_len = sizeof(autob_addr);
	getsockname(autob, (struct sockaddr *)&autob_addr, &autob_len);
	/* paired */
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, pr) < 0)
		return -1;
	snprintf(a.sun_path, sizeof(a.sun_path), "%c%s-pr", 0, abs_q + 1);
	if (bind(pr[1], (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1)) < 0 ||
	    send(pr[1], "paired", 6, 0) != 6)
		return -1;
	return 0;
}

static void check(void)
{
	struct stat st;
	char name[80];

	check_path_name(rel_l, false, "rel.sock", "rel");
	check_accepts(rel_l, "rel.sock", "rel");
	check_path_name(moved_l, false, moved_a, "moved");
	WL_CHECK(lstat(moved_a, &st) < 0 && errno == ENOENT, "moved: a file is at %s", moved_a);
	check_accepts(moved_l, moved_b, "moved");
	check_path_name(gone_d, false, gone, "gone");
	WL_CHECK(lstat(gone, &st) < 0 && errno == ENOENT, "gone: a file is at %s", gone);
	expect(gone_d, "to-gone", "gone");
	check_path_name(orphan_s, false, orphan, "orphan: accepted end");
	check_path_name(orphan_c, true, orphan, "orphan: client's peer");
	WL_CHECK(lstat(orphan, &st) == 0 && S_ISSOCK(st.st_mode), "orphan: the stale socket file %s is gone", orphan);
	expect(orphan_c, "to-client", "orphan: client");
	expect(orphan_s, "to-server", "orphan: accepted end");
	if (send(orphan_s, "again", 5, 0) != 5)
		wl_fail("orphan: send: %s", strerror(errno));
	expect(orphan_c, "again", "orphan: client");
	check_abs_name(ca_c, true, abs_b, "closedacc: peer");
	expect(ca_c, "last-words", "closedacc");
	WL_CHECK(recv(ca_c, name, 1, MSG_DONTWAIT) == 0, "closedacc: no end of file after the data");
	check_abs_name(dp_a, true, abs_q, "deadpeer: peer");
	for (int i = 1; i <= 2; i++) {
		struct sockaddr_un a;
		socklen_t al = sizeof(a);
		char buf[16] = "", want[16];
		ssize_t n = recvfrom(dp_a, buf, sizeof(buf) - 1, MSG_DONTWAIT, (struct sockaddr *)&a, &al);

		snprintf(want, sizeof(want), "dead-%d", i);
		if (n < 0 || strcmp(buf, want) || al != offsetof(struct sockaddr_un, sun_path) + strlen(abs_q) ||
		    memcmp(a.sun_path + 1, abs_q + 1, strlen(abs_q) - 1))
			wl_fail("deadpeer: datagram %d: '%s' from %u bytes of address", i, buf, al);
	}
	WL_CHECK(send(dp_a, "x", 1, MSG_DONTWAIT) < 0 && errno == ECONNREFUSED, "deadpeer: send did not give ECONNREFUSED");
	check_addr(odd, false, odd_name, sizeof(odd_name), "odd: abstract name with NUL bytes");
	check_addr(autob, false, autob_addr.sun_path, autob_len - offsetof(struct sockaddr_un, sun_path), "odd: autobound");
	{
		struct sockaddr_un a, w;
		socklen_t al = sizeof(a);
		char buf[16] = "";
		ssize_t n = recvfrom(pr[0], buf, sizeof(buf) - 1, MSG_DONTWAIT, (struct sockaddr *)&a, &al);

		snprintf(w.sun_path, sizeof(w.sun_path), "%c%s-pr", 0, abs_q + 1);
		if (n != 6 || strcmp(buf, "paired") || al != offsetof(struct sockaddr_un, sun_path) + 1 + strlen(w.sun_path + 1) ||
		    memcmp(a.sun_path, w.sun_path, 1 + strlen(w.sun_path + 1)))
			wl_fail("paired: '%s' from %u bytes of address", buf, al);
	}
}

int main(int argc, char **argv)
{
	char tmp[2048];

	wl_init(argc, argv);
	snprintf(tmp, sizeof(tmp), "%s", argv[2]);
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	if (chdir(dir) < 0)
		return 2;
	snprintf(moved_a, sizeof(moved_a), "%s/moved-a.sock", dir);
	snprintf(moved_b, sizeof(moved_b), "%s/moved-b.sock", dir);
	snprintf(gone, sizeof(gone), "%s/gone.sock", dir);
	snprintf(orphan, sizeof(orphan), "%s/orphan.sock", dir);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)tmp);
	snprintf(abs_a, sizeof(abs_a), "@ckpt-un-a-%08lx", random());
	snprintf(abs_b, sizeof(abs_b), "@ckpt-un-b-%08lx", random());
	snprintf(abs_q, sizeof(abs_q), "@ckpt-un-q-%08lx", random());
	unlink("rel.sock"), unlink(moved_a), unlink(moved_b), unlink(gone), unlink(orphan);
	if (setup() < 0) {
		fprintf(stderr, "setup: %s\n", strerror(errno));
		return 2;
	}
	wl_ready();
	wl_wait();
	check();
	return wl_finish();
}
