/* SPDX-License-Identifier: MIT */
/*
 * fd tables and fs (cwd, root, umask) shared between processes: how the
 * tree is made again so that the same processes share them (lib/share.c).
 * The dump runs the plan to refuse a tree that cannot be made again; the
 * restore follows it.
 */
#ifndef CKPT_SHARE_H
#define CKPT_SHARE_H

#include "model.h"

/* Per process, in the order of m->procs. */
struct share_plan {
	size_t *creator;     /* index of the process that clones it: its parent, or a sibling; SIZE_MAX: ckpt */
	uint64_t *flags;     /* CLONE_FILES, CLONE_FS, CLONE_PARENT */
	bool *files_shared;  /* another process of the tree has its fd table */
};

/* Fails, naming the processes, if some sharing cannot be made again. */
int share_plan(const struct model *m, struct ckpt_ctx *ctx, struct share_plan *sp);
void share_plan_free(struct share_plan *sp);

#endif
