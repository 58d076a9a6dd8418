/* SPDX-License-Identifier: MIT */
/*
 * Start of the restorer block. Offset 0: entry, called with %rdi = args and
 * %rsp on the restorer stack. Offset RST_SYSCALL_OFFSET: a syscall
 * instruction the tracer uses to unmap the block at the very end.
 */
	.section .text.head, "ax"
	.globl rst_head
rst_head:
	jmp	rst_main
	.balign	16
rst_syscall_insn:
	syscall
	ud2

/*
 * long rst_clone_thread(void *clone_args, size_t size,
 *                       void (*fn)(void *, void *), void *a, void *t)
 * The child runs fn(a, t) on the stack given in clone_args; it never returns.
 */
	.text
	.globl rst_clone_thread
rst_clone_thread:
	push	%r12
	push	%r13
	push	%r14
	mov	%rdx, %r12
	mov	%rcx, %r13
	mov	%r8, %r14
	mov	$435, %eax		/* __NR_clone3 */
	syscall
	test	%rax, %rax
	jz	1f
	pop	%r14
	pop	%r13
	pop	%r12
	ret
1:
	xor	%ebp, %ebp
	mov	%r13, %rdi
	mov	%r14, %rsi
	call	*%r12
	ud2
	.section .note.GNU-stack, "", @progbits
