// SPDX-License-Identifier: MIT
/*
 * tiny: the smallest process tree there is to dump, for the raw seed images
 * of fuzz/corpus (fuzz/make-corpus builds and dumps it). No libc: a static
 * executable whose whole address space is its code, its stack and the vDSO,
 * so that its image holds a few pages of data.
 *
 *   tiny        one process, waiting in pause()
 *   tiny 2      a parent and its child, both waiting
 *
 * Built with: gcc -O1 -static -no-pie -nostdlib -ffreestanding
 *             -fno-stack-protector -fcf-protection=none -o tiny fuzz/tiny.c
 */
#define SYS_pause 34
#define SYS_fork 57

static long sys0(long nr)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
	return ret;
}

__attribute__((used, noreturn)) void tiny_main(long *sp)
{
	long argc = sp[0];
	const char *arg = argc > 1 ? (const char *)sp[2] : "1";

	if (arg[0] == '2' && arg[1] == 0)
		sys0(SYS_fork);
	for (;;)
		sys0(SYS_pause);
}

/* The kernel starts us with the stack pointer at argc, 16-byte aligned. */
__asm__(".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call tiny_main\n"
	"	hlt\n");
