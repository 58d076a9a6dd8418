/*
 * mm fields workload: what the kernel keeps about a process's address
 * space besides its mappings.
 *
 *   mmfields READY_FILE RESULT_FILE [ARGS...]
 *
 * Before READY it records: the /proc/self/stat fields start_code, end_code,
 * start_stack, start_data, end_data, start_brk, arg_start, arg_end,
 * env_start, env_end; brk (sbrk(0) and the brk system call); the bytes of
 * /proc/self/cmdline, /proc/self/environ and /proc/self/auxv;
 * getauxval(AT_PAGESZ, AT_HWCAP, AT_HWCAP2, AT_RANDOM, AT_EXECFN,
 * AT_SYSINFO_EHDR, AT_PHDR, AT_ENTRY, AT_BASE) with the 16 AT_RANDOM bytes
 * and the AT_EXECFN string; readlink(/proc/self/exe) and its inode.
 * The heap is grown with sbrk first, so that brk differs from start_brk.
 * On SIGUSR1 everything must be exactly equal; the result is "PASS" or
 * "FAIL: why" in RESULT_FILE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "report.h"

static volatile sig_atomic_t verify_requested;

static void on_usr1(int sig) { (void)sig; verify_requested = 1; }

static ssize_t read_bin(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	close(fd);
	return (ssize_t)n;
}

/* Field numbers of proc(5), 1-based. */
static const struct {
	int nr;
	const char *name;
} fields[] = {
	{ 26, "start_code" }, { 27, "end_code" }, { 28, "start_stack" }, { 45, "start_data" },
	{ 46, "end_data" },   { 47, "start_brk" }, { 48, "arg_start" },  { 49, "arg_end" },
	{ 50, "env_start" },  { 51, "env_end" },
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const struct {
	unsigned long type;
	const char *name;
} auxkeys[] = {
	{ AT_PAGESZ, "AT_PAGESZ" }, { AT_HWCAP, "AT_HWCAP" }, { AT_HWCAP2, "AT_HWCAP2" },
	{ AT_RANDOM, "AT_RANDOM" }, { AT_EXECFN, "AT_EXECFN" }, { AT_SYSINFO_EHDR, "AT_SYSINFO_EHDR" },
	{ AT_PHDR, "AT_PHDR" },     { AT_ENTRY, "AT_ENTRY" },   { AT_BASE, "AT_BASE" },
	{ AT_UID, "AT_UID" },       { AT_CLKTCK, "AT_CLKTCK" }, { AT_MINSIGSTKSZ, "AT_MINSIGSTKSZ" },
};
#define NAUX (sizeof(auxkeys) / sizeof(auxkeys[0]))

#define BIG (256 * 1024)

struct state {
	unsigned long long stat[NFIELDS];
	void *sbrk0, *brk;
	char cmdline[BIG], environ_[BIG], auxv[8192];
	ssize_t cmdline_len, environ_len, auxv_len;
	unsigned long aux[NAUX];
	unsigned char random[16];
	char execfn[4096];
	char exe[4096];
	dev_t exe_dev;
	ino_t exe_ino;
};

static struct state before, after;

static int read_stat(unsigned long long *out)
{
	char buf[4096], *p;
	ssize_t n = read_bin("/proc/self/stat", buf, sizeof(buf) - 1);
	int field;

	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2; /* now at field 3 */
	for (field = 3; *p; field++) {
		char *end;
		unsigned long long v = strtoull(p, &end, 10);

		for (size_t i = 0; i < NFIELDS; i++)
			if (fields[i].nr == field)
				out[i] = v;
		p = strchr(p, ' ');
		if (!p)
			break;
		p++;
	}
	return field >= 51 ? 0 : -1;
}

static const char *take(struct state *s)
{
	struct stat st;
	ssize_t n;

	if (read_stat(s->stat) < 0)
		return "cannot parse /proc/self/stat";
	s->sbrk0 = sbrk(0);
	s->brk = (void *)syscall(SYS_brk, 0);
	s->cmdline_len = read_bin("/proc/self/cmdline", s->cmdline, sizeof(s->cmdline));
	s->environ_len = read_bin("/proc/self/environ", s->environ_, sizeof(s->environ_));
	s->auxv_len = read_bin("/proc/self/auxv", s->auxv, sizeof(s->auxv));
	if (s->cmdline_len <= 0 || s->environ_len < 0 || s->auxv_len <= 0)
		return "cannot read cmdline, environ or auxv";
	for (size_t i = 0; i < NAUX; i++)
		s->aux[i] = getauxval(auxkeys[i].type);
	if (getauxval(AT_RANDOM))
		memcpy(s->random, (void *)getauxval(AT_RANDOM), 16);
	if (getauxval(AT_EXECFN))
		snprintf(s->execfn, sizeof(s->execfn), "%s", (const char *)getauxval(AT_EXECFN));
	n = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);
	if (n < 0)
		return "cannot readlink /proc/self/exe";
	s->exe[n] = 0;
	if (stat("/proc/self/exe", &st) < 0)
		return "cannot stat /proc/self/exe";
	s->exe_dev = st.st_dev;
	s->exe_ino = st.st_ino;
	return NULL;
}

/* Describes the first difference of two byte strings. */
static void diff_bytes(const char *what, const char *a, ssize_t alen, const char *b, ssize_t blen)
{
	ssize_t i;

	if (alen == blen && !memcmp(a, b, (size_t)alen))
		return;
	for (i = 0; i < alen && i < blen && a[i] == b[i]; i++)
		;
	FAILF("%s: %zd bytes, were %zd; first difference at byte %zd", what, blen, alen, i);
}

static void compare(void)
{
	const char *err = take(&after);

	if (err) {
		FAILF("after: %s", err);
		return;
	}
	for (size_t i = 0; i < NFIELDS; i++)
		if (before.stat[i] != after.stat[i])
			FAILF("/proc/self/stat %s is 0x%llx, was 0x%llx", fields[i].name, after.stat[i], before.stat[i]);
	if (after.sbrk0 != before.sbrk0 || after.brk != before.brk)
		FAILF("brk is %p (sbrk(0) %p), was %p (%p)", after.brk, after.sbrk0, before.brk, before.sbrk0);
	diff_bytes("/proc/self/cmdline", before.cmdline, before.cmdline_len, after.cmdline, after.cmdline_len);
	diff_bytes("/proc/self/environ", before.environ_, before.environ_len, after.environ_, after.environ_len);
	diff_bytes("/proc/self/auxv", before.auxv, before.auxv_len, after.auxv, after.auxv_len);
	for (size_t i = 0; i < NAUX; i++)
		if (before.aux[i] != after.aux[i])
			FAILF("getauxval(%s) is 0x%lx, was 0x%lx", auxkeys[i].name, after.aux[i], before.aux[i]);
	if (memcmp(before.random, after.random, 16))
		FAILF("the AT_RANDOM bytes changed");
	if (strcmp(before.execfn, after.execfn))
		FAILF("AT_EXECFN string is \"%s\", was \"%s\"", after.execfn, before.execfn);
	if (strcmp(before.exe, after.exe))
		FAILF("/proc/self/exe is %s, was %s", after.exe, before.exe);
	if (before.exe_dev != after.exe_dev || before.exe_ino != after.exe_ino)
		FAILF("/proc/self/exe is another file (inode %lu, was %lu)", (unsigned long)after.exe_ino,
		      (unsigned long)before.exe_ino);
}

/* The kernel's own view of the arguments must still match argv. */
static void check_argv(int argc, char **argv)
{
	ssize_t off = 0;

	for (int i = 0; i < argc; i++) {
		size_t len = strlen(argv[i]) + 1;

		if (off + (ssize_t)len > after.cmdline_len || memcmp(after.cmdline + off, argv[i], len)) {
			FAILF("/proc/self/cmdline does not hold argv[%d] \"%s\"", i, argv[i]);
			return;
		}
		off += (ssize_t)len;
	}
	if (after.stat[7] - after.stat[6] != (unsigned long long)off)
		FAILF("arg_end - arg_start is %llu, argv takes %zd bytes", after.stat[7] - after.stat[6], off);
	if (after.stat[6] != (unsigned long long)(uintptr_t)argv[0])
		FAILF("arg_start 0x%llx is not argv[0] %p", after.stat[6], (void *)argv[0]);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigset_t usr1, none;
	const char *err;

	if (argc < 3) {
		fprintf(stderr, "usage: %s READY_FILE RESULT_FILE [ARGS...]\n", argv[0]);
		return 2;
	}
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &none);

	/* brk away from start_brk, and some heap data. */
	if (sbrk(5 * sysconf(_SC_PAGESIZE)) == (void *)-1)
		FAILF("sbrk: %s", strerror(errno));
	err = take(&before);
	if (err)
		FAILF("before: %s", err);
	else if ((uintptr_t)before.brk < before.stat[5] + 5 * (uintptr_t)sysconf(_SC_PAGESIZE))
		FAILF("brk %p is not 5 pages above start_brk 0x%llx", before.brk, before.stat[5]);
	if (why[0]) {
		report(argv[2]);
		write_text(argv[1], "ready", NULL);
		return 1;
	}
	write_text(argv[1], "ready", NULL);
	while (!verify_requested)
		sigsuspend(&none);
	compare();
	check_argv(argc, argv);
	return report(argv[2]);
}
