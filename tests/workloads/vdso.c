/*
 * vdso: the vDSO after restore.
 *
 *   vdso READY RESULT [proxy]
 *
 * Before the checkpoint: records where [vdso] and [vvar] are mapped and the
 * clocks.  A forked probe checks that this machine's clock_gettime,
 * gettimeofday and time go through the vDSO (they still work with those
 * syscalls forbidden by seccomp); if not, READY says "ready novdso" and the
 * test is skipped.
 * After restore (SIGUSR1):
 *   - [vdso] and [vvar] are at the same addresses, AT_SYSINFO_EHDR agrees;
 *     with "proxy" (restored with --vdso-proxy, as when the restoring
 *     kernel's vDSO differs): the kernel's [vdso] is somewhere else, and the
 *     old vDSO address holds an executable mapping of the same size that
 *     glibc's cached pointers still reach the clocks through;
 *   - every vDSO clock agrees with the same clock read by a real syscall,
 *     and the clocks went forward across the checkpoint;
 *   - then a seccomp filter makes clock_gettime, gettimeofday and time
 *     fail with EPERM, and the glibc calls must still succeed (so they made
 *     no syscall) and go forward.
 */
#include "wl.h"
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>

struct area {
	unsigned long start, end;
};

static const clockid_t clocks[] = { CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_MONOTONIC_RAW,
				    CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_TAI };
static const char *clock_names[] = { "REALTIME", "MONOTONIC", "BOOTTIME", "MONOTONIC_RAW",
				     "REALTIME_COARSE", "MONOTONIC_COARSE", "TAI" };
#define NCLK (sizeof(clocks) / sizeof(clocks[0]))

static struct area find_area(const char *name)
{
	struct area a = { 0, 0 };
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	while (f && fgets(line, sizeof(line), f)) {
		char *n = strchr(line, '[');
		if (!n)
			continue;
		size_t l = strlen(name);
		if (strncmp(n + 1, name, l) == 0 && n[1 + l] == ']') {
			sscanf(line, "%lx-%lx", &a.start, &a.end);
			break;
		}
	}
	if (f)
		fclose(f);
	return a;
}

/* Is [start, end) exactly one r-xp mapping? */
static int has_exec_mapping(unsigned long start, unsigned long end)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], perms[8];
	unsigned long s, e;
	int found = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3 && s == start && e == end && perms[2] == 'x')
			found = 1;
	if (f)
		fclose(f);
	return found;
}

static int64_t ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int forbid_clock_syscalls(void)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clock_gettime, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_gettimeofday, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_time, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	};
	struct sock_fprog fp = { .len = sizeof(prog) / sizeof(prog[0]), .filter = prog };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp);
}

/* With the clock syscalls forbidden, do the glibc calls still work? */
static int clocks_without_syscalls(int64_t *last_mono, int64_t *last_real)
{
	struct timespec ts;
	struct timeval tv;
	errno = 0;
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == 0 || errno != EPERM)
		return wl_fail("the seccomp filter does not forbid clock_gettime"), -1;
	for (size_t i = 0; i < NCLK; i++) {
		if (clocks[i] == CLOCK_TAI || clocks[i] == CLOCK_MONOTONIC_RAW)
			continue; /* not in every vDSO */
		if (clock_gettime(clocks[i], &ts) != 0)
			return wl_fail("clock_gettime(%s) made a syscall: %s", clock_names[i], strerror(errno)), -1;
		if (clocks[i] == CLOCK_MONOTONIC) {
			if (ns(&ts) < *last_mono)
				return wl_fail("MONOTONIC went back by %lld ns", (long long)(*last_mono - ns(&ts))), -1;
			*last_mono = ns(&ts);
		}
	}
	if (gettimeofday(&tv, NULL) != 0)
		return wl_fail("gettimeofday made a syscall: %s", strerror(errno)), -1;
	int64_t real = (int64_t)tv.tv_sec * 1000000000 + tv.tv_usec * 1000;
	if (real + 1000 < *last_real)
		return wl_fail("gettimeofday went back by %lld ns", (long long)(*last_real - real)), -1;
	*last_real = real;
	time_t t = time(NULL);
	if (t == (time_t)-1)
		return wl_fail("time() made a syscall: %s", strerror(errno)), -1;
	if ((int64_t)t < tv.tv_sec - 1)
		return wl_fail("time() %lld behind gettimeofday %lld", (long long)t, (long long)tv.tv_sec), -1;
	return 0;
}

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	int proxy = argc > 3 && !strcmp(argv[3], "proxy");
	struct area vdso = find_area("vdso"), vvar = find_area("vvar");
	unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);
	if (!vdso.start || ehdr != vdso.start) {
		fprintf(stderr, "vdso: no [vdso] (%#lx) or AT_SYSINFO_EHDR %#lx differs\n", vdso.start, ehdr);
		return 2;
	}

	/* Probe: on this machine, do the clocks work without syscalls? */
	int vdso_clocks = 0;
	pid_t p = fork();
	if (p == 0) {
		int64_t m = 0, r = 0;
		_exit(forbid_clock_syscalls() == 0 && clocks_without_syscalls(&m, &r) == 0 ? 0 : 1);
	}
	int st;
	if (waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		vdso_clocks = 1;

	struct timespec before[NCLK];
	for (size_t i = 0; i < NCLK; i++)
		clock_gettime(clocks[i], &before[i]);
	wl_ready_msg(vdso_clocks ? "ready" : "ready novdso");
	wl_wait();

	struct area v2 = find_area("vdso"), vv2 = find_area("vvar");
	if (proxy) {
		WL_CHECK(v2.start && v2.start != vdso.start, "[vdso] at %#lx, expected it moved from %#lx", v2.start,
			 vdso.start);
		WL_CHECK(has_exec_mapping(vdso.start, vdso.end), "no executable mapping at the old vDSO %#lx-%#lx",
			 vdso.start, vdso.end);
	} else {
		WL_CHECK(v2.start == vdso.start && v2.end == vdso.end, "[vdso] at %#lx-%#lx, was %#lx-%#lx",
			 v2.start, v2.end, vdso.start, vdso.end);
		WL_CHECK(vv2.start == vvar.start, "[vvar] at %#lx, was %#lx", vv2.start, vvar.start);
	}
	WL_CHECK(getauxval(AT_SYSINFO_EHDR) == vdso.start, "AT_SYSINFO_EHDR %#lx, [vdso] was at %#lx",
		 getauxval(AT_SYSINFO_EHDR), vdso.start);

	/* vDSO clocks agree with the syscalls, and went forward. */
	for (size_t i = 0; i < NCLK; i++) {
		struct timespec a, b, c;
		if (clock_gettime(clocks[i], &a) != 0) {
			wl_fail("clock_gettime(%s): %s", clock_names[i], strerror(errno));
			continue;
		}
		syscall(SYS_clock_gettime, clocks[i], &b);
		clock_gettime(clocks[i], &c);
		int coarse = clocks[i] == CLOCK_REALTIME_COARSE || clocks[i] == CLOCK_MONOTONIC_COARSE;
		int64_t slack = coarse ? 50000000 : 1000000; /* 50 ms / 1 ms */
		WL_CHECK(ns(&b) >= ns(&a) - slack && ns(&c) >= ns(&b) - slack && ns(&c) - ns(&a) < 1000000000,
			 "%s: vDSO %lld, syscall %lld, vDSO %lld ns disagree", clock_names[i], (long long)ns(&a),
			 (long long)ns(&b), (long long)ns(&c));
		WL_CHECK(ns(&a) >= ns(&before[i]) - slack, "%s went back across the checkpoint (%lld -> %lld)",
			 clock_names[i], (long long)ns(&before[i]), (long long)ns(&a));
	}
	struct timeval tv1, tv2;
	gettimeofday(&tv1, NULL);
	syscall(SYS_gettimeofday, &tv2, NULL);
	int64_t d = ((int64_t)tv2.tv_sec - tv1.tv_sec) * 1000000 + (tv2.tv_usec - tv1.tv_usec);
	WL_CHECK(d >= -1000 && d < 1000000, "gettimeofday: vDSO and syscall differ by %lld us", (long long)d);

	if (vdso_clocks) {
		struct timespec m;
		clock_gettime(CLOCK_MONOTONIC, &m);
		int64_t last_mono = ns(&m), last_real = (int64_t)tv1.tv_sec * 1000000000 + tv1.tv_usec * 1000;
		if (forbid_clock_syscalls() != 0)
			wl_fail("cannot install the seccomp filter: %s", strerror(errno));
		else
			for (int k = 0; k < 3 && !wl_why[0]; k++)
				clocks_without_syscalls(&last_mono, &last_real);
	}
	return wl_finish();
}
