/*
 * tcpstream: a TCP connection carrying a numbered stream each way, busy
 * when the tree is checkpointed.
 *
 *   tcpstream READY RESULT pair ADDR          server and client in the tree
 *   tcpstream READY RESULT server ADDR PORT   only the server; the client is
 *   tcpstream --client RESULT ADDR PORT       ... this, outside the tree
 *
 * Each end writes as fast as it can (non-blocking) a stream whose byte at
 * position i is a function of i and the direction, and reads slowly, so
 * that at any moment both send queues (sent and unacknowledged, and never
 * sent) and both receive queues hold data. Each end checks every byte it
 * reads against its position: a byte lost, duplicated or reordered shows.
 *
 * The server (the root) is ready once 1 MiB went each way. On SIGUSR1 it
 * goes on until another 1 MiB went each way, then stops writing (shutdown);
 * the client, on the end of the stream, stops too; each reads to the end of
 * the other's stream. The results say how much each end sent and received:
 * "PASS sent=N received=M". In pair mode the client is a child that tells
 * the server its counts through a pipe, and the server compares; in server
 * mode the test compares the two result files. Pair mode also checks that
 * the listening socket, checkpointed with the rest, still takes connections.
 */
#include "wl.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define MIB (1u << 20)

struct stream {
	int sk;
	uint8_t out_key, in_key;  /* which direction: the two differ */
	uint64_t sent, rcvd;
	int stop_writing, wr_done, rd_done;
	double last_read;
	char why[256];
};

static uint8_t pat(uint64_t pos, uint8_t key)
{
	uint64_t w = pos / 4;

	return (uint8_t)(w >> (8 * (pos % 4))) ^ key;
}

static void sfail(struct stream *s, const char *fmt, ...)
{
	va_list ap;

	if (s->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

/* One round: write what fits, read at most 32 KiB every 2 ms (a slow reader keeps queues full). */
static void step(struct stream *s)
{
	static uint8_t buf[65536];
	struct pollfd p = { s->sk, 0, 0 };
	ssize_t n;

	if (!s->wr_done && !s->stop_writing)
		p.events |= POLLOUT;
	if (!s->rd_done)
		p.events |= POLLIN;
	if (poll(&p, 1, 2) < 0 && errno != EINTR) {
		sfail(s, "poll: %s", strerror(errno));
		return;
	}
	if (s->stop_writing && !s->wr_done) {
		if (shutdown(s->sk, SHUT_WR) < 0)
			sfail(s, "shutdown: %s", strerror(errno));
		s->wr_done = 1;
	}
	if (p.revents & POLLOUT) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = pat(s->sent + i, s->out_key);
		n = send(s->sk, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			s->sent += (uint64_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			sfail(s, "send at byte %llu: %s", (unsigned long long)s->sent, strerror(errno));
	}
	if (s->rd_done || wl_now() - s->last_read < 0.002)
		return;
	s->last_read = wl_now();
	n = recv(s->sk, buf, 32768, MSG_DONTWAIT);
	if (n == 0) {
		s->rd_done = 1;
	} else if (n > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pat(s->rcvd + (uint64_t)i, s->in_key)) {
				sfail(s, "byte %llu of the stream read is 0x%02x, want 0x%02x (lost, duplicated or reordered)",
				      (unsigned long long)(s->rcvd + (uint64_t)i), buf[i], pat(s->rcvd + (uint64_t)i, s->in_key));
				s->rd_done = s->wr_done = 1;
				return;
			}
		s->rcvd += (uint64_t)n;
	} else if (errno != EAGAIN && errno != EINTR) {
		sfail(s, "recv at byte %llu: %s", (unsigned long long)s->rcvd, strerror(errno));
		s->rd_done = s->wr_done = 1;
	}
}

/* The client: stops writing when the server's stream ends; its counts go to report. */
static int client(int sk, FILE *report, double limit)
{
	struct stream s = { .sk = sk, .out_key = 0x5a, .in_key = 0x00 };
	double t0 = wl_now();

	while (!(s.rd_done && s.wr_done) && !s.why[0]) {
		step(&s);
		if (s.rd_done)
			s.stop_writing = 1;
		if (wl_now() - t0 > limit)
			sfail(&s, "the stream did not end in %.0f s (sent %llu, received %llu)", limit,
			      (unsigned long long)s.sent, (unsigned long long)s.rcvd);
	}
	if (s.why[0])
		fprintf(report, "FAIL: client: %s\n", s.why);
	else
		fprintf(report, "PASS sent=%llu received=%llu\n", (unsigned long long)s.sent, (unsigned long long)s.rcvd);
	fflush(report);
	return s.why[0] ? 1 : 0;
}

static socklen_t make_addr(const char *addr, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		return sizeof(*a4);
	}
	if (inet_pton(AF_INET6, addr, &a6->sin6_addr) != 1) {
		fprintf(stderr, "bad address %s\n", addr);
		exit(2);
	}
	a6->sin6_family = AF_INET6;
	a6->sin6_port = htons((uint16_t)port);
	return sizeof(*a6);
}

static int connect_to(const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(addr, port, &ss);
	int sk = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	for (int i = 0; sk >= 0 && i < 200; i++) {
		if (connect(sk, (struct sockaddr *)&ss, len) == 0)
			return sk;
		if (errno != ECONNREFUSED && errno != EINTR)
			break;
		wl_msleep(50);
	}
	return -1;
}

static int client_main(int argc, char **argv)
{
	FILE *out;
	int sk, r;

	if (argc != 5) {
		fprintf(stderr, "usage: tcpstream --client RESULT ADDR PORT\n");
		return 2;
	}
	sk = connect_to(argv[3], atoi(argv[4]));
	out = fopen(argv[2], "w");
	if (!out)
		return 2;
	if (sk < 0) {
		fprintf(out, "FAIL: client: connect: %s\n", strerror(errno));
		return 1;
	}
	r = client(sk, out, 300);
	fclose(out);
	return r;
}

/* The server's side, to the end of both streams. */
static void serve(int sk, struct stream *s)
{
	uint64_t want_s = 0, want_r = 0;
	int ready = 0;

	s->sk = sk;
	s->out_key = 0x00;
	s->in_key = 0x5a;
	while (!(s->rd_done && s->wr_done) && !s->why[0]) {
		step(s);
		if (!ready && s->sent >= MIB && s->rcvd >= MIB) {
			wl_ready();
			ready = 1;
		}
		if (wl_usr1 && !want_s) {
			want_s = s->sent + MIB;
			want_r = s->rcvd + MIB;
		}
		if (want_s && s->sent >= want_s && s->rcvd >= want_r)
			s->stop_writing = 1;
		if (s->rd_done && !s->stop_writing)
			sfail(s, "the client's stream ended early, at byte %llu", (unsigned long long)s->rcvd);
	}
	if (!ready)
		wl_ready();
}

static int accept_one(int lsk)
{
	int sk;

	do
		sk = accept4(lsk, NULL, NULL, SOCK_CLOEXEC);
	while (sk < 0 && errno == EINTR);
	return sk;
}

/* The listening socket still takes a connection. */
static void check_listener(int lsk, const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int c, a;

	if (getsockname(lsk, (struct sockaddr *)&ss, &len) < 0) {
		wl_fail("getsockname of the listening socket: %s", strerror(errno));
		return;
	}
	c = connect_to(addr, ntohs(((struct sockaddr_in *)&ss)->sin_port));
	a = c >= 0 ? accept_one(lsk) : -1;
	WL_CHECK(c >= 0 && a >= 0, "the listening socket takes no connection after restore: %s", strerror(errno));
	if (c >= 0)
		close(c);
	if (a >= 0)
		close(a);
}

static int pair_main(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(addr, 0, &ss);
	struct stream s = { 0 };
	int lsk = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), sk, p[2], st;
	unsigned long long cs = 0, cr = 0;
	char line[512] = "";
	pid_t kid;

	if (lsk < 0 || bind(lsk, (struct sockaddr *)&ss, len) < 0 || listen(lsk, 8) < 0 || pipe(p) < 0)
		return 2;
	len = sizeof(ss);
	getsockname(lsk, (struct sockaddr *)&ss, &len);
	kid = fork();
	if (kid == 0) {
		FILE *f = fdopen(p[1], "w");

		close(p[0]);
		close(lsk);
		sk = connect_to(addr, ntohs(((struct sockaddr_in *)&ss)->sin_port));
		if (sk < 0) {
			fprintf(f, "FAIL: client: connect: %s\n", strerror(errno));
			_exit(1);
		}
		_exit(client(sk, f, 300));
	}
	close(p[1]);
	sk = accept_one(lsk);
	if (sk < 0)
		return 2;
	serve(sk, &s);
	if (s.why[0])
		wl_fail("server: %s", s.why);
	check_listener(lsk, addr);
	if (read(p[0], line, sizeof(line) - 1) <= 0)
		wl_fail("no report from the client");
	line[strcspn(line, "\n")] = 0;
	waitpid(kid, &st, 0);
	if (strncmp(line, "PASS", 4))
		wl_fail("%s", line);
	else if (sscanf(line, "PASS sent=%llu received=%llu", &cs, &cr) != 2 || cs != s.rcvd || cr != s.sent)
		wl_fail("the server sent %llu and received %llu bytes, the client %s", (unsigned long long)s.sent,
			(unsigned long long)s.rcvd, line);
	if (!wl_why[0]) {
		snprintf(line, sizeof(line), "PASS sent=%llu received=%llu", (unsigned long long)s.sent,
			 (unsigned long long)s.rcvd);
		wl_write_file(wl_result_path, line);
		return 0;
	}
	return wl_finish();
}

static int server_main(const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(addr, port, &ss);
	struct stream s = { 0 };
	int lsk = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, sk;
	char line[128];

	if (lsk < 0 || setsockopt(lsk, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lsk, (struct sockaddr *)&ss, len) < 0 || listen(lsk, 8) < 0)
		return 2;
	/* Ready for the client first, then ready for the checkpoint (the file is rewritten). */
	wl_ready_msg("listening");
	sk = accept_one(lsk);
	if (sk < 0)
		return 2;
	close(lsk);
	unlink(wl_ready_path);
	serve(sk, &s);
	if (s.why[0]) {
		wl_fail("server: %s", s.why);
		return wl_finish();
	}
	snprintf(line, sizeof(line), "PASS sent=%llu received=%llu", (unsigned long long)s.sent,
		 (unsigned long long)s.rcvd);
	wl_write_file(wl_result_path, line);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--client"))
		return client_main(argc, argv);
	wl_init(argc, argv);
	if (argc == 5 && !strcmp(argv[3], "pair"))
		return pair_main(argv[4]);
	if (argc == 6 && !strcmp(argv[3], "server"))
		return server_main(argv[4], atoi(argv[5]));
	if (argc == 3)
		return pair_main("127.0.0.1");
	fprintf(stderr, "usage: tcpstream READY RESULT pair ADDR | server ADDR PORT\n");
	return 2;
}
