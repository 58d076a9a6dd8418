/* SPDX-License-Identifier: MIT */
/*
 * Pseudo-terminals held inside the tree, shared by lib/res/pty*.c: the
 * pair's state read through its master, and the bytes queued in it.
 */
#ifndef CKPT_RES_PTY_H
#define CKPT_RES_PTY_H

#include "res.h"

/* What a line discipline (N_TTY) holds at most in one direction. */
#define PTY_QUEUE_MAX 4095u

/* Indexes of /dev/pts/N are below this (NR_UNIX98_PTY_MAX). */
#define PTY_INDEX_LIMIT (1u << 20)

struct termios2;

/* struct termios2 <-> PtyState. */
void pty_termios_to_state(const struct termios2 *t, Ckpt__PtyState *ps, struct arena *a);
void pty_state_to_termios(const Ckpt__PtyState *ps, struct termios2 *t);

/*
 * Dump: copies the bytes queued in both directions into ps, reading them
 * through master and (if not -1) a slave of the tree, and puts them back as
 * they were. who names the pty in messages.
 */
int pty_save_queues(struct ckpt_ctx *ctx, const char *who, int master, int slave, Ckpt__PtyState *ps,
		    struct arena *a);
/* Restore: queues ps's bytes into a new pair (slave may be -1 if ps has no input). */
int pty_load_queues(struct ckpt_ctx *ctx, const char *who, int master, int slave, const Ckpt__PtyState *ps);
/* Checks the sizes of the queues an image holds. */
bool pty_queues_valid(const Ckpt__PtyState *ps);

/*
 * Dump, once every descriptor is dumped: each live process whose
 * controlling terminal is a pty of the tree gets ctty_file_id. Fails if
 * the session leader or the foreground group of such a pty is not in the
 * tree.
 */
int pty_dump_cttys(struct ckpt_ctx *ctx, struct model *m);

#endif
