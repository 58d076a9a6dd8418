/*
 * unix_stream: a connection accepted mid-exchange, checkpointed while both
 * ends keep talking.
 *
 *   unix_stream READY RESULT
 *
 * The root P listens on DIR/us.sock (DIR: the directory of RESULT) and
 * accepts its child C's connection. C sends numbered records (an 8-byte
 * header: number and length, then patterned bytes, up to 20000) and keeps
 * up to 64 of them unacknowledged; P checks each and answers with its
 * number. Neither waits for the other, so records and answers are in
 * flight both ways whenever the checkpoint comes. On SIGUSR1, P tells C to
 * stop (SIGUSR1); C sends no new record, waits for every answer, and sends
 * an end record. Any record or answer lost, repeated, reordered or changed
 * fails the run. Every 50 records P writes how many it has had to
 * RESULT.progress, so a test can see the exchange go on after restore.
 */
#include "unixwl.h"
#include <libgen.h>
#include <poll.h>

#define WINDOW 64
#define MAXREC 20000
#define END_REC 0xffffffffu

struct hdr {
	uint32_t seq, len;
};

static char sockpath[2200];
static volatile sig_atomic_t stop;

static void on_usr1(int sig)
{
	(void)sig;
	stop = 1;
	wl_usr1 = 1;
}

static uint32_t rec_len(uint32_t seq)
{
	return (seq * 2654435761u) % MAXREC;
}

static unsigned char rec_byte(uint32_t seq, uint32_t i)
{
	return (unsigned char)(seq * 7 + i * 31 + (i >> 5));
}

/* Output buffer: what is written but not yet taken by the socket. */
struct out {
	unsigned char buf[4 * (MAXREC + 8)];
	size_t len;
};

static int flush(int fd, struct out *o)
{
	while (o->len) {
		ssize_t n = send(fd, o->buf, o->len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		memmove(o->buf, o->buf + n, o->len - (size_t)n);
		o->len -= (size_t)n;
	}
	return 0;
}

static void put(struct out *o, const void *p, size_t len)
{
	memcpy(o->buf + o->len, p, len);
	o->len += len;
}

/* Input buffer: bytes read, not yet a whole record. */
struct in {
	unsigned char buf[2 * (MAXREC + 8)];
	size_t len;
};

static int fill(int fd, struct in *i)
{
	ssize_t n = recv(fd, i->buf + i->len, sizeof(i->buf) - i->len, MSG_DONTWAIT);

	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	i->len += (size_t)n;
	return 0;
}

static void take(struct in *i, size_t n)
{
	memmove(i->buf, i->buf + n, i->len - n);
	i->len -= n;
}

static void wait_io(int fd, bool want_out)
{
	struct pollfd p = { fd, (short)(POLLIN | (want_out ? POLLOUT : 0)), 0 };

	poll(&p, 1, 20);
}

static int client(const char *result)
{
	static struct out o;
	static struct in in;
	struct sockaddr_un a;
	uint32_t next = 0, acked = 0;
	char path[4096];
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(path, sizeof(path), "%s.child", result);
	wl_result_path = path;
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, uw_addr(&a, sockpath)) < 0)
		_exit(3);
	while (!stop || acked < next) {
		while (!stop && next - acked < WINDOW && o.len < sizeof(o.buf) - MAXREC - 8) {
			struct hdr h = { next, rec_len(next) };
			unsigned char rec[MAXREC];

			for (uint32_t i = 0; i < h.len; i++)
				rec[i] = rec_byte(next, i);
			put(&o, &h, sizeof(h));
			put(&o, rec, h.len);
			next++;
		}
		if (flush(fd, &o) < 0 || fill(fd, &in) < 0) {
			wl_fail("C: connection lost after %u records: %s", acked, strerror(errno));
			_exit(wl_finish());
		}
		for (; in.len >= 4; take(&in, 4)) {
			uint32_t seq;

			memcpy(&seq, in.buf, 4);
			if (seq != acked) {
				wl_fail("C: answer %u, want %u", seq, acked);
				_exit(wl_finish());
			}
			acked++;
		}
		wait_io(fd, o.len > 0);
	}
	put(&o, &(struct hdr){ END_REC, 0 }, sizeof(struct hdr));
	while (o.len && flush(fd, &o) == 0)
		wait_io(fd, true);
	_exit(wl_finish());
}

int main(int argc, char **argv)
{
	static struct out o;
	static struct in in;
	struct sigaction sa = { .sa_handler = on_usr1 };
	char tmp[2048];
	uint32_t expect = 0, at_signal = 0, progress = 0;
	bool signalled = false, ready = false;
	char progress_path[4200];
	int l, fd;
	pid_t c;

	wl_init(argc, argv);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	snprintf(progress_path, sizeof(progress_path), "%s.progress", argv[2]);
	snprintf(tmp, sizeof(tmp), "%s", argv[2]);
	snprintf(sockpath, sizeof(sockpath), "%s/us.sock", dirname(tmp));
	unlink(sockpath);
	{
		struct sockaddr_un a;

		l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (l < 0 || bind(l, (struct sockaddr *)&a, uw_addr(&a, sockpath)) < 0 || listen(l, 1) < 0)
			return 2;
	}
	c = fork();
	if (c == 0)
		client(argv[2]);
	fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return 3;
	for (;;) {
		if (wl_usr1 && !signalled) {
			signalled = true;
			at_signal = expect;
			kill(c, SIGUSR1);
		}
		if (expect >= 200 && !ready) {
			ready = true;
			wl_ready(); /* well into the exchange */
		}
		if (expect >= progress + 50) {
			char msg[32];

			progress = expect;
			snprintf(msg, sizeof(msg), "%u", expect);
			wl_write_file(progress_path, msg);
		}
		if (fill(fd, &in) < 0) {
			wl_fail("P: connection lost after %u records", expect);
			break;
		}
		while (in.len >= sizeof(struct hdr)) {
			struct hdr h;

			memcpy(&h, in.buf, sizeof(h));
			if (h.seq == END_REC)
				goto done;
			if (h.seq != expect || h.len != rec_len(expect)) {
				wl_fail("P: record %u of %u bytes, want record %u of %u", h.seq, h.len, expect, rec_len(expect));
				goto done;
			}
			if (in.len < sizeof(h) + h.len)
				break;
			for (uint32_t i = 0; i < h.len; i++)
				if (in.buf[sizeof(h) + i] != rec_byte(h.seq, i)) {
					wl_fail("P: record %u: byte %u differs", h.seq, i);
					goto done;
				}
			take(&in, sizeof(h) + h.len);
			put(&o, &h.seq, 4);
			expect++;
		}
		if (flush(fd, &o) < 0) {
			wl_fail("P: answering: %s", strerror(errno));
			break;
		}
		wait_io(fd, o.len > 0);
	}
done:
	uw_wait_child(c, argv[2]);
	WL_CHECK(signalled, "P: ended before SIGUSR1");
	WL_CHECK(expect > 200, "P: only %u records", expect);
	printf("records: %u (%u when asked to stop)\n", expect, at_signal);
	return wl_finish();
}
