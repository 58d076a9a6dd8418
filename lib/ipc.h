/* SPDX-License-Identifier: MIT */
/*
 * SysV IPC (lib/ipc_sysv.c: shared memory, semaphores, message queues) and
 * the parts of POSIX message queues (lib/ipc_mqueue.c) that need the
 * frozen tree or the restored processes; the descriptors themselves are a
 * resource kind, lib/res/mqueue.c. docs/ipc.md says what is saved and which
 * objects belong to a dump.
 */
#ifndef CKPT_IPC_H
#define CKPT_IPC_H

#include "model.h"

struct dump;
struct dproc;
struct restore;
struct rproc;
struct remote;

/* Whether SysV object id of kind (SYSV_SHM ...) exists: 0 and its key in *key, or -errno. */
int sysv_stat_key(uint32_t kind, int id, int *key);

/* ipc_sysv.c, dump */
/* A SysV attachment in /proc/PID/smaps: its flags, once the VmFlags line is read. */
int sysv_vma_flags(struct dump *d, struct dproc *dp, Ckpt__Vma *v, const char *vmflags);
/* Picks the SysV objects of the dump and reads them; the tree is frozen. */
int sysv_collect(struct dump *d);
int sysv_write_records(struct dump *d);
/* The contents of the segments, after the processes' pages. */
int sysv_write_pages(struct dump *d);
/* Once the tree is killed: the objects now live in the image only. */
void ipc_remove_dumped(struct dump *d);

/* ipc_sysv.c, restore */
/* Refuses to restore over an existing object with the same id or key. */
int sysv_restore_check(struct restore *rs);
/* In the root process, before its children exist: makes every object. */
void sysv_restore_create(struct restore *rs);
/* In each process: its semaphore adjustments. */
void sysv_restore_undo(struct restore *rs, struct rproc *rp);
/* Coordinator: one SysvPages record's data, into its segment. */
int sysv_restore_pages(struct restore *rs, const Ckpt__SysvPages *p);
/* Once every page is in: segments marked removed are removed again. */
int sysv_restore_finish(struct restore *rs);
/* A failed restore removes what it made (SysV objects, message queue names). */
void ipc_restore_abort(struct restore *rs);

/* ipc_mqueue.c */
/* Messages and notification of every POSIX message queue; the tree is frozen. */
int mqueue_collect(struct dump *d);
/* Once the tree is killed: the names of its queues go with it. */
void mqueue_remove_dumped(struct dump *d);
/*
 * The notifications rp had registered, registered again from inside it (rm
 * runs in one of its threads), once its descriptors are final: closing one
 * of the queue would undo the registration.
 */
int mqueue_restore_notify(struct restore *rs, struct rproc *rp, struct remote *rm);
/* A failed restore removes the queue names it made. */
void mqueue_restore_abort(struct restore *rs);

#endif
