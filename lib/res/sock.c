// SPDX-License-Identifier: MIT
/* Helpers shared by socket kinds: see sock.h. */
#include <fcntl.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "sock.h"

int sock_take(struct ckpt_ctx *ctx, const struct fd_desc *fd)
{
	/* ckpt's own copy of a descriptor in flight: a dup will do. */
	int sk = fd->pid == getpid() ? fcntl(fd->fd, F_DUPFD_CLOEXEC, 0) : res_fd_take(fd->tid, fd->fd);

	if (sk < 0 && fd->pid == getpid())
		sk = -errno;
	if (sk < 0)
		return fail(ctx, sk, "pid %d fd %d: taking a copy of the socket (pidfd_getfd): %s", fd->pid, fd->fd,
			    strerror(-sk));
	return sk;
}

static int diag_read(int nl, int (*cb)(const struct nlmsghdr *h, void *arg), void *arg)
{
	_cleanup_free_ char *buf = malloc(32768);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = recv(nl, buf, 32768, 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		size_t left;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		for (left = (size_t)n; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			int r;

			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				return h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error ? e->error : -EIO;
			}
			r = cb(h, arg);
			if (r < 0)
				return r;
			/* An exact query answers with one message and no NLMSG_DONE. */
			if (!(h->nlmsg_flags & NLM_F_MULTI))
				return 0;
		}
	}
}

int sock_diag(const void *req, size_t len, int (*cb)(const struct nlmsghdr *h, void *arg), void *arg)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	_cleanup_close_ int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	if (nl < 0)
		return -errno;
	if (sendto(nl, req, len, 0, (struct sockaddr *)&sa, sizeof(sa)) != (ssize_t)len)
		return -errno;
	return diag_read(nl, cb, arg);
}

void sock_attrs(const struct nlmsghdr *h, size_t hdrlen, const struct rtattr **tb, int max)
{
	const struct rtattr *a = (const struct rtattr *)((const char *)NLMSG_DATA(h) + NLMSG_ALIGN(hdrlen));
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(hdrlen);

	memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type <= max)
			tb[a->rta_type] = a;
}

int sock_get_int(int sk, int level, int opt, int *val)
{
	socklen_t len = sizeof(*val);

	*val = 0;
	return getsockopt(sk, level, opt, val, &len) < 0 ? -errno : 0;
}

int sock_set_int(int sk, int level, int opt, int val)
{
	return setsockopt(sk, level, opt, &val, sizeof(val)) < 0 ? -errno : 0;
}
