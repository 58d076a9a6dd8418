/*
 * redisloop: a client that sends PING to a redis server in a loop on one
 * connection and reports the pauses it sees, for bench/run.
 *
 *   redisloop HOST PORT MIN_GAP_MS
 *
 * Prints "start T" once connected, then for each time between two replies
 * longer than MIN_GAP_MS a line "gap FROM TO" (CLOCK_MONOTONIC seconds of
 * the last reply before and the first after), and on SIGTERM "end T
 * replies N". Any error on the connection ends it with "error ...": the
 * connection it measures must never break.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const char ping[] = "*1\r\n$4\r\nPING\r\n";
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sigaction sa = { .sa_handler = on_term };
	unsigned long long replies = 0;
	double last, min_gap;
	int sk, one = 1;

	if (argc != 4 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) {
		fprintf(stderr, "usage: redisloop HOST PORT MIN_GAP_MS\n");
		return 2;
	}
	a.sin_port = htons((uint16_t)atoi(argv[2]));
	min_gap = atof(argv[3]) / 1e3;
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	sk = socket(AF_INET, SOCK_STREAM, 0);
	if (sk < 0 || connect(sk, (struct sockaddr *)&a, sizeof(a)) < 0) {
		printf("error connect: %s\n", strerror(errno));
		return 1;
	}
	setsockopt(sk, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	last = now();
	printf("start %.6f\n", last);
	while (!stop) {
		char buf[64];
		size_t got = 0;
		double t;

		if (send(sk, ping, sizeof(ping) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(ping) - 1) {
			if (errno == EINTR)
				continue;
			printf("error send: %s\n", strerror(errno));
			return 1;
		}
		while (got < 7) { /* "+PONG\r\n" */
			ssize_t n = recv(sk, buf + got, sizeof(buf) - got, 0);

			if (n > 0) {
				got += (size_t)n;
			} else if (n < 0 && errno == EINTR) {
				if (stop)
					break;
			} else {
				printf("error recv: %s\n", n ? strerror(errno) : "the server closed the connection");
				return 1;
			}
		}
		if (got < 7)
			break;
		if (memcmp(buf, "+PONG\r\n", 7)) {
			printf("error reply: %.*s\n", (int)got, buf);
			return 1;
		}
		t = now();
		if (t - last > min_gap)
			printf("gap %.6f %.6f\n", last, t);
		last = t;
		replies++;
	}
	printf("end %.6f replies %llu\n", now(), replies);
	return 0;
}
