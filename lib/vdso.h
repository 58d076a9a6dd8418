/* SPDX-License-Identifier: MIT */
/*
 * The vDSO's exported functions. A restored process keeps calling the vDSO
 * at the addresses glibc found when it started; if the restoring kernel's
 * vDSO differs, restore puts jumps to the new one at those addresses.
 */
#ifndef CKPT_VDSO_H
#define CKPT_VDSO_H

#include "internal.h"

#define VDSO_MAX_SYMS 64
#define VDSO_MAX_SIZE (1u << 20)

struct vdso_sym {
	char name[64];
	uint64_t offset;
};

struct vdso_info {
	struct vdso_sym syms[VDSO_MAX_SYMS];
	size_t nr;
	uint64_t size;
};

/* Reads the function symbols of a vDSO image of len bytes. */
int vdso_parse(const uint8_t *img, size_t len, struct vdso_info *out);
const struct vdso_sym *vdso_find(const struct vdso_info *v, const char *name);

/* Bytes of one trampoline: movabs $target, %rax; jmp *%rax. */
#define VDSO_TRAMPOLINE_LEN 12
void vdso_write_jump(uint8_t *at, uint64_t target);
/* For a function the new vDSO lacks: the plain system call. 0 if unknown. */
int vdso_fallback_syscall(const char *name);
void vdso_write_syscall(uint8_t *at, int nr);

#endif
