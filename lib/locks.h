/* SPDX-License-Identifier: MIT */
/*
 * File locks held by the tree: flock and OFD locks belong to an open file
 * description and are taken again by the restore coordinator on the
 * description it opens; POSIX locks and leases belong to a process and are
 * taken again inside that process once its restore is complete.
 */
#ifndef CKPT_LOCKS_H
#define CKPT_LOCKS_H

#include "model.h"

enum lock_kind {
	LOCK_KIND_FLOCK = 1,
	LOCK_KIND_POSIX = 2,
	LOCK_KIND_OFD = 3,
	LOCK_KIND_LEASE = 4,
};

struct fd_desc;
struct remote;

/*
 * Dump: the locks the fdinfo text of fd shows. flock and OFD locks (and
 * leases) go with the description, recorded once (first: f was just made);
 * POSIX locks go to p, the process that took them.
 */
int locks_dump_fd(struct ckpt_ctx *ctx, const struct fd_desc *fd, const char *fdinfo, Ckpt__File *f, bool first,
		  Ckpt__Process *p, struct model *m);
/*
 * Restore, coordinator: OFD locks of f on the description fd, and its
 * flocks whose taker does not hold it.
 */
int locks_take_file(struct ckpt_ctx *ctx, const struct model *m, const Ckpt__File *f, int fd);
/*
 * Restore, last stage, inside p by rm: the flocks p took on the
 * descriptions it holds (fds, its descriptors), its POSIX locks and leases.
 */
int locks_take_process(struct ckpt_ctx *ctx, struct remote *rm, const struct model *m, const Ckpt__Process *p,
		       Ckpt__Fd *const *fds, size_t nr_fds);
/* "POSIX F_WRLCK on bytes 0-99 through fd 3", for ckpt info. */
const char *lock_str(const Ckpt__Lock *l, char *buf, size_t len);
/* Checks the lock records of an image. */
int locks_validate(const struct model *m, struct ckpt_ctx *ctx);

#endif
