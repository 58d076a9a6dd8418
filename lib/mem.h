/* SPDX-License-Identifier: MIT */
/* Mapping attributes shared by dump, restore and info. */
#ifndef CKPT_MEM_H
#define CKPT_MEM_H

/* madvise and mlock state of a mapping, as stored in Vma.madv. */
enum {
	CKPT_MADV_DONTFORK = 1 << 0,
	CKPT_MADV_WIPEONFORK = 1 << 1,
	CKPT_MADV_DONTDUMP = 1 << 2,
	CKPT_MADV_HUGEPAGE = 1 << 3,
	CKPT_MADV_NOHUGEPAGE = 1 << 4,
	CKPT_MADV_LOCKED = 1 << 5,
	CKPT_MADV_LOCKONFAULT = 1 << 6,
	/* VM_ACCOUNT: the mapping was writable once. Kept so that mappings the
	 * kernel kept apart are not merged on restore. */
	CKPT_MADV_ACCOUNT = 1 << 7,
	CKPT_MADV_MERGEABLE = 1 << 8, /* MADV_MERGEABLE (KSM) */
	CKPT_MADV_SEALED = 1 << 9,    /* mseal(2) */
	CKPT_MADV_ALL = (1 << 10) - 1,
};

#define CKPT_TASK_SIZE 0x7ffffffff000ULL

#endif
