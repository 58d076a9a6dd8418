/* SPDX-License-Identifier: MIT */
/* Placing the running kernel's vDSO in a restored process (restore_vdso.c). */
#ifndef CKPT_RESTORE_VDSO_H
#define CKPT_RESTORE_VDSO_H

#include "restore.h"

/* This process's [vvar...] and [vdso] mappings. */
struct vdso_layout {
	uint64_t r[3][2];
	uint32_t n;
	int vdso_idx;
};

int vdso_current(struct vdso_layout *cur);
/* Bytes of trampolines needed, 0 when the vDSO can simply move into place. */
uint64_t vdso_proxy_len(const struct restore *rs, const struct rproc *rp, const struct vdso_layout *cur);
/*
 * Fills the vDSO part of the restorer's arguments. With trampolines, they
 * are written to proxy_buf and this kernel's vDSO goes to free_at.
 */
int vdso_setup(const struct rproc *rp, const struct vdso_layout *cur, struct rst_args *a, uint8_t *proxy_buf,
	       uint64_t proxy_len, uint64_t free_at, char *why, size_t whylen);

#endif
