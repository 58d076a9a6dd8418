/* SPDX-License-Identifier: MIT */
/*
 * The pump: code a --leave-running snapshot runs so that it hands its pages
 * over without a ptrace round trip per chunk (lib/dump_snap.c). ckpt copies
 * these bytes into a fresh mapping of the snapshot, which never runs the
 * target's own code, and starts it there with
 *   %rdi = ctl (read end: commands from ckpt),
 *   %rsi = data (write end: the pages),
 *   %rdx = status (write end: one report per command),
 * and %rsp on a stack in the same mapping. Signals are blocked.
 *
 * Each command is 16 bytes, {address, length}: the pump vmsplices that range
 * into data (references to the pages, no copy), blocking while the pipe is
 * full, then writes 8 bytes to status: how many bytes it spliced, which is
 * less than asked when vmsplice failed (a PROT_NONE page, say). A short
 * read of ctl (ckpt closed it) ends the pump.
 *
 * It is data here, in .rodata: it runs only in the snapshot.
 */
	.section .rodata
	.balign	16
	.globl	snap_pump_code
	.globl	snap_pump_code_end
snap_pump_code:
	mov	%rdi, %r12
	mov	%rsi, %r13
	mov	%rdx, %r14
	sub	$32, %rsp		/* 0: iovec {base, len}; 16: bytes spliced */
1:	xor	%eax, %eax		/* read(ctl, &cmd, 16) */
	mov	%r12, %rdi
	mov	%rsp, %rsi
	mov	$16, %edx
	syscall
	cmp	$16, %rax
	jne	4f
	movq	$0, 16(%rsp)
2:	cmpq	$0, 8(%rsp)
	je	3f
	mov	$278, %eax		/* vmsplice(data, &iov, 1, 0) */
	mov	%r13, %rdi
	mov	%rsp, %rsi
	mov	$1, %edx
	xor	%r10d, %r10d
	syscall
	test	%rax, %rax
	jle	3f
	add	%rax, 0(%rsp)
	sub	%rax, 8(%rsp)
	add	%rax, 16(%rsp)
	jmp	2b
3:	mov	$1, %eax		/* write(status, &spliced, 8) */
	mov	%r14, %rdi
	lea	16(%rsp), %rsi
	mov	$8, %edx
	syscall
	jmp	1b
4:	mov	$60, %eax		/* exit(0) */
	xor	%edi, %edi
	syscall
	ud2
snap_pump_code_end:
	.section .note.GNU-stack, "", @progbits
