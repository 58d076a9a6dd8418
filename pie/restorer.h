/* SPDX-License-Identifier: MIT */
/*
 * What ckpt hands the freestanding restorer (pie/restorer.c): one block of
 * memory laid out as [code | struct rst_args | arrays | stacks | parking].
 * Only fixed-size types: the restorer has no libc. Offsets are from the
 * start of the block, so the block can sit anywhere.
 */
#ifndef CKPT_RESTORER_H
#define CKPT_RESTORER_H

#include <stdint.h>

#define RST_SYSCALL_OFFSET 16   /* a `syscall` instruction in the code */
#define RST_THREAD_STACK (16 * 1024)
#define RST_NR_RLIMITS 16

struct rst_vma {
	uint64_t start, end, pgoff;
	uint32_t prot, flags, madv, kind;
	int32_t fd;                /* -1 for anonymous memory */
	int32_t shmid;             /* RST_KIND_SYSV_SHM: the segment, attached with shmat */
	uint64_t shm_size;         /* its size, in whole pages */
	uint32_t shm_rdonly;       /* attached with SHM_RDONLY */
	uint32_t pad;
};

/* rst_vma.kind of a SysV attachment (VMA_SYSV_SHM in images/ckpt.proto). */
#define RST_KIND_SYSV_SHM 30

struct rst_creds {
	uint32_t uid[4], gid[4];   /* real, effective, saved, fs */
	uint64_t cap_eff, cap_prm, cap_inh, cap_bnd, cap_amb;
	uint32_t securebits;
	uint32_t no_new_privs;
	uint32_t change;           /* 0: same as the restorer's, nothing to do */
	uint32_t pad;
};

struct rst_thread {
	uint32_t tid;
	uint32_t nr_sigpending;
	uint64_t sigpending_off;   /* nr_sigpending siginfos of 128 bytes */
	uint64_t clear_child_tid;
	uint64_t robust_list, robust_list_len;
	uint64_t rseq, rseq_len, rseq_sig;
	uint64_t ss_sp, ss_size;
	uint32_t ss_flags;
	uint32_t pad;
	uint64_t stack_top;        /* absolute address of its restorer stack */
	struct rst_creds creds;
	char comm[16];
	uint32_t seccomp_mode;     /* 0 none, 1 strict, 2 filters */
	uint32_t nr_filters;
	uint64_t filters_off;      /* per filter: u32 insns, u32 flags, insns * 8 bytes */
};

struct rst_rlimit {
	uint64_t cur, max;
	uint32_t set, pad;
};

/* struct prctl_mm_map, copied here to keep the header self-contained. */
struct rst_mm_map {
	uint64_t start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint64_t auxv;             /* absolute address of the auxv copy */
	uint32_t auxv_size;
	uint32_t exe_fd;
};

enum rst_stage {
	RST_MAPPED = 1,            /* memory mapped, waiting for pages */
	RST_THREADS = 2,           /* threads created, waiting to be seized */
	RST_DONE = 3,              /* all set; threads parked for the tracer */
	RST_ERROR = 4,
};

/* Written to report_fd; small enough to be atomic in a pipe. */
struct rst_report {
	int32_t pid;
	int32_t stage;
	int32_t err;               /* -errno */
	int32_t step;              /* where it failed, enum rst_step */
	uint64_t detail;           /* an address, a tid, a signal */
	char msg[224];             /* set by the libc stage, empty in the restorer */
};

enum rst_step {
	STEP_NONE, STEP_PARK_VDSO, STEP_UNMAP, STEP_MMAP, STEP_MADVISE, STEP_VDSO, STEP_MPROTECT,
	STEP_MLOCK, STEP_MM_MAP, STEP_CLONE, STEP_THREAD, STEP_SIGNALS, STEP_CREDS, STEP_RLIMIT,
	STEP_PRCTL, STEP_GO, STEP_VDSO_PROXY, STEP_SECCOMP, STEP_SHMAT, STEP_MSEAL,
};

struct rst_args {
	uint64_t block_start, block_len;
	uint32_t pid;
	int32_t report_fd;
	int32_t go_fd[2];          /* one eventfd per wait, so no process takes another's turn */
	uint32_t ctl_fd_lo;        /* ckpt's fds are all at or above this */
	uint32_t keep_ctl_fds;     /* fd table shared with other processes: ckpt closes them at the end */

	uint64_t vdso_cur[3][2];   /* this kernel's [vvar], [vvar_vclock], [vdso] */
	uint32_t nr_vdso_cur;
	uint32_t pad0;
	uint64_t vdso_target;      /* where the first of them goes; 0 unmaps them */
	uint64_t parking;          /* address inside the block for the vDSO */
	/* Jumps to this kernel's vDSO, put where the image's vDSO was. */
	uint64_t proxy_addr, proxy_len, proxy_off;

	uint32_t nr_vmas, nr_threads;
	uint64_t vmas_off, threads_off;

	struct rst_mm_map mm;
	uint32_t set_mm, nr_groups;
	uint64_t groups_off;
	struct rst_rlimit rlimits[RST_NR_RLIMITS];
	uint32_t nr_shared_sigpending, pad1;
	uint64_t shared_sigpending_off;
	uint32_t pdeath_signal, dumpable, child_subreaper, personality;

	/* Counters the threads share, futex words. */
	int32_t threads_ready;
	int32_t threads_done;
	int32_t release;
	int32_t park;              /* never changes: threads wait here for the tracer */
	uint32_t leader_exits;     /* the image's leader had exited: exit again at the end */
	uint32_t pad3;
};

#endif
