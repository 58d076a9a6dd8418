/* SPDX-License-Identifier: MIT */
/*
 * Helpers for socket kinds (unix, and later inet): a copy of a target's
 * socket, sock_diag netlink queries, socket options.
 */
#ifndef CKPT_RES_SOCK_H
#define CKPT_RES_SOCK_H

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "res.h"

/*
 * A descriptor of ours for the socket behind fd (pidfd_getfd: the same
 * socket, not a new one). Returns it, or -errno with a message.
 */
int sock_take(struct ckpt_ctx *ctx, const struct fd_desc *fd);

/*
 * Sends one NETLINK_SOCK_DIAG request (req, len bytes, starting with its
 * nlmsghdr) and calls cb for each reply message until the end of the
 * answer. cb returns 0 to go on or -errno to stop. A netlink error reply
 * is returned as its -errno.
 */
int sock_diag(const void *req, size_t len, int (*cb)(const struct nlmsghdr *h, void *arg), void *arg);

/* Fills tb[type] (types 0..max) with the attributes after a hdrlen-byte header. */
void sock_attrs(const struct nlmsghdr *h, size_t hdrlen, const struct rtattr **tb, int max);

int sock_get_int(int sk, int level, int opt, int *val);
int sock_set_int(int sk, int level, int opt, int val);

#endif
