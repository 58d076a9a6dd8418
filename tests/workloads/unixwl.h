/*
 * unixwl.h: helpers for the unix socket workloads (wl.h protocol): numbered
 * messages whose contents and lengths can be checked exactly.
 */
#ifndef UNIXWL_H
#define UNIXWL_H

#include "wl.h"
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/un.h>

/* Message k of stream s: its length and byte i. Lengths vary, 0 included. */
static __attribute__((unused)) size_t uw_len(int s, int k)
{
	static const size_t lens[] = { 1, 0, 17, 300, 4096, 5, 70000, 2, 999 };

	return lens[(size_t)(k + s) % (sizeof(lens) / sizeof(lens[0]))];
}

static __attribute__((unused)) unsigned char uw_byte(int s, int k, size_t i)
{
	return (unsigned char)(s * 31 + k * 7 + i * 13 + (i >> 7));
}

static __attribute__((unused)) void uw_fill(int s, int k, unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = uw_byte(s, k, i);
}

/* Sends message k of stream s as one send(); returns 0 or -1. */
static __attribute__((unused)) int uw_send(int fd, int s, int k, size_t len)
{
	static unsigned char buf[80000];

	uw_fill(s, k, buf, len);
	return send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Receives one datagram or record and checks it is message k of stream s, whole. */
static __attribute__((unused)) int uw_check_msg(int fd, int s, int k, size_t len, const char *what)
{
	static unsigned char buf[80001];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

	if (n != (ssize_t)len)
		return wl_fail("%s: message %d: got %zd bytes (%s), want %zu", what, k, n, n < 0 ? strerror(errno) : "",
			       len), -1;
	for (size_t i = 0; i < len; i++)
		if (buf[i] != uw_byte(s, k, i))
			return wl_fail("%s: message %d: byte %zu differs", what, k, i), -1;
	return 0;
}

/* Reads exactly len bytes of a stream and checks them against message k of stream s. */
static __attribute__((unused)) int uw_check_bytes(int fd, int s, int k, size_t len, const char *what)
{
	static unsigned char buf[80000];
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);

		if (n <= 0)
			return wl_fail("%s: message %d: got %zu of %zu bytes (%s)", what, k, got, len,
				       n < 0 ? strerror(errno) : "end of stream"), -1;
		got += (size_t)n;
	}
	for (size_t i = 0; i < len; i++)
		if (buf[i] != uw_byte(s, k, i))
			return wl_fail("%s: message %d: byte %zu differs", what, k, i), -1;
	return 0;
}

/* Nothing more is queued. */
static __attribute__((unused)) int uw_check_empty(int fd, const char *what)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);

	if (n >= 0 || errno != EAGAIN)
		return wl_fail("%s: expected an empty queue, recv gave %zd (%s)", what, n, n < 0 ? strerror(errno) : "data"),
		       -1;
	return 0;
}

static __attribute__((unused)) int uw_sockopt(int fd, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);

	getsockopt(fd, SOL_SOCKET, opt, &v, &l);
	return v;
}

/* Fills a with NAME: a path, or "@name" for an abstract one; returns its length. */
static __attribute__((unused)) socklen_t uw_addr(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (name[0] == '@') {
		strncpy(a->sun_path + 1, name + 1, sizeof(a->sun_path) - 2);
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name + 1));
	}
	strncpy(a->sun_path, name, sizeof(a->sun_path) - 1);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1);
}

/* The child's report: its exit status and its result file (RESULT.child). */
static __attribute__((unused)) void uw_wait_child(pid_t c, const char *result)
{
	char path[4096], line[512] = "no report";
	int st;

	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st)) {
		snprintf(path, sizeof(path), "%s.child", result);
		wl_read_file(path, line, sizeof(line));
		wl_fail("child: %s", line);
	}
}

#endif
