/*
 * fpu: FPU/SIMD register state across a checkpoint.
 *
 *   fpu READY RESULT
 *
 * Threads that load known values into registers in one inline-asm block,
 * spin in that block (counting, checking a stop flag) and only at the end
 * store the registers back:
 *   x87      st(0)-st(7) (80-bit values), x87 control word, MXCSR
 *   sse      xmm0-xmm15 (legacy SSE encoding)
 *   avx      ymm0-ymm15 (upper halves included)         if the CPU has AVX
 *   avx512a  zmm0-zmm31 and k0-k7                        if AVX-512F
 *   avx512b  the same with other values                  if AVX-512F
 * The checkpoint happens while they spin.  On SIGUSR1 the main thread checks
 * that every thread still spins, stops them, and compares what they stored
 * with what they loaded.  All signals are blocked in the spinning threads.
 */
#include "wl.h"
#include <stdatomic.h>
#include <stdint.h>

enum kind { K_X87, K_SSE, K_AVX, K_AVX512 };

struct spin {
	const char *name;
	enum kind kind;
	uint64_t seed;
	int enabled;
	pthread_t pt;
	volatile int stop;
	volatile unsigned long count;
	_Alignas(64) uint8_t src[32 * 64 + 8 * 8];
	_Alignas(64) uint8_t dst[32 * 64 + 8 * 8];
	uint16_t fcw_in, fcw_out;
	uint32_t mxcsr_in, mxcsr_out;
};

static struct spin spins[] = {
	{ .name = "x87", .kind = K_X87, .seed = 0x1234567 },
	{ .name = "sse", .kind = K_SSE, .seed = 0x2345678 },
	{ .name = "avx", .kind = K_AVX, .seed = 0x3456789 },
	{ .name = "avx512a", .kind = K_AVX512, .seed = 0x456789a },
	{ .name = "avx512b", .kind = K_AVX512, .seed = 0x56789ab },
};
#define NSPIN (sizeof(spins) / sizeof(spins[0]))

static int have_kmovq;

static void fill(uint8_t *p, size_t n, uint64_t x)
{
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 24);
	}
}

static void run_x87(struct spin *s)
{
	asm volatile("fninit\n\t"
		     "fldcw %[fcwin]\n\t"
		     "ldmxcsr %[mxin]\n\t"
		     ".irp r,0,1,2,3,4,5,6,7\n\t"
		     "fldt 10*\\r(%[src])\n\t"
		     ".endr\n"
		     "1:\n\t"
		     "incq %[count]\n\t"
		     "pause\n\t"
		     "cmpl $0, %[stop]\n\t"
		     "je 1b\n\t"
		     "fnstcw %[fcwout]\n\t"
		     "stmxcsr %[mxout]\n\t"
		     ".irp r,7,6,5,4,3,2,1,0\n\t"
		     "fstpt 10*\\r(%[dst])\n\t"
		     ".endr\n\t"
		     "fninit\n\t"
		     : [count] "+m"(s->count), [fcwout] "=m"(s->fcw_out), [mxout] "=m"(s->mxcsr_out)
		     : [src] "r"(s->src), [dst] "r"(s->dst), [stop] "m"(s->stop), [fcwin] "m"(s->fcw_in),
		       [mxin] "m"(s->mxcsr_in)
		     : "memory", "cc", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
	/* Back to the defaults for the rest of the thread. */
	uint32_t mx = 0x1f80;
	asm volatile("ldmxcsr %0" ::"m"(mx));
}

static void run_sse(struct spin *s)
{
	asm volatile(".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t"
		     "movdqu 16*\\r(%[src]), %%xmm\\r\n\t"
		     ".endr\n"
		     "1:\n\t"
		     "incq %[count]\n\t"
		     "pause\n\t"
		     "cmpl $0, %[stop]\n\t"
		     "je 1b\n\t"
		     ".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t"
		     "movdqu %%xmm\\r, 16*\\r(%[dst])\n\t"
		     ".endr\n\t"
		     : [count] "+m"(s->count)
		     : [src] "r"(s->src), [dst] "r"(s->dst), [stop] "m"(s->stop)
		     : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
		       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

__attribute__((target("avx"))) static void run_avx(struct spin *s)
{
	asm volatile(".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t"
		     "vmovdqu 32*\\r(%[src]), %%ymm\\r\n\t"
		     ".endr\n"
		     "1:\n\t"
		     "incq %[count]\n\t"
		     "pause\n\t"
		     "cmpl $0, %[stop]\n\t"
		     "je 1b\n\t"
		     ".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t"
		     "vmovdqu %%ymm\\r, 32*\\r(%[dst])\n\t"
		     ".endr\n\t"
		     "vzeroupper\n\t"
		     : [count] "+m"(s->count)
		     : [src] "r"(s->src), [dst] "r"(s->dst), [stop] "m"(s->stop)
		     : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
		       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

#define ZMM_CLOBBERS                                                                                   \
	"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", \
		"xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21",   \
		"xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31",   \
		"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"

#define ZMM_LOAD                                                                     \
	".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n\t" \
	"vmovdqu64 64*\\r(%[src]), %%zmm\\r\n\t"                                       \
	".endr\n\t"
#define ZMM_STORE                                                                    \
	".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n\t" \
	"vmovdqu64 %%zmm\\r, 64*\\r(%[dst])\n\t"                                       \
	".endr\n\t"
#define SPIN_LOOP          \
	"1:\n\t"           \
	"incq %[count]\n\t" \
	"pause\n\t"        \
	"cmpl $0, %[stop]\n\t" \
	"je 1b\n\t"

/* k0-k7 as 64-bit masks (AVX512BW). */
__attribute__((target("avx512f,avx512bw"))) static void run_avx512_q(struct spin *s)
{
	asm volatile(ZMM_LOAD ".irp r,0,1,2,3,4,5,6,7\n\t"
			      "kmovq 2048+8*\\r(%[src]), %%k\\r\n\t"
			      ".endr\n\t" SPIN_LOOP ZMM_STORE ".irp r,0,1,2,3,4,5,6,7\n\t"
			      "kmovq %%k\\r, 2048+8*\\r(%[dst])\n\t"
			      ".endr\n\t"
			      "vzeroupper\n\t"
		     : [count] "+m"(s->count)
		     : [src] "r"(s->src), [dst] "r"(s->dst), [stop] "m"(s->stop)
		     : "memory", "cc", ZMM_CLOBBERS);
}

/* k0-k7 as 16-bit masks (AVX-512F only). */
__attribute__((target("avx512f"))) static void run_avx512_w(struct spin *s)
{
	asm volatile(ZMM_LOAD ".irp r,0,1,2,3,4,5,6,7\n\t"
			      "kmovw 2048+8*\\r(%[src]), %%k\\r\n\t"
			      ".endr\n\t" SPIN_LOOP ZMM_STORE ".irp r,0,1,2,3,4,5,6,7\n\t"
			      "kmovw %%k\\r, 2048+8*\\r(%[dst])\n\t"
			      ".endr\n\t"
			      "vzeroupper\n\t"
		     : [count] "+m"(s->count)
		     : [src] "r"(s->src), [dst] "r"(s->dst), [stop] "m"(s->stop)
		     : "memory", "cc", ZMM_CLOBBERS);
}

static void *spin_main(void *arg)
{
	struct spin *s = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	switch (s->kind) {
	case K_X87: run_x87(s); break;
	case K_SSE: run_sse(s); break;
	case K_AVX: run_avx(s); break;
	case K_AVX512:
		if (have_kmovq)
			run_avx512_q(s);
		else
			run_avx512_w(s);
		break;
	}
	return NULL;
}

static void compare(struct spin *s)
{
	if (s->kind == K_X87) {
		for (int i = 0; i < 8; i++)
			if (memcmp(s->src + 10 * i, s->dst + 10 * i, 10) != 0) {
				long double a, b;
				memcpy(&a, s->src + 10 * i, 10);
				memcpy(&b, s->dst + 10 * i, 10);
				wl_fail("x87: loaded value %d (%Lg) came back as %Lg", i, a, b);
				return;
			}
		WL_CHECK(s->fcw_out == s->fcw_in, "x87 control word %#x, want %#x", s->fcw_out, s->fcw_in);
		WL_CHECK(s->mxcsr_out == s->mxcsr_in, "MXCSR %#x, want %#x", s->mxcsr_out, s->mxcsr_in);
		return;
	}
	size_t reg = s->kind == K_SSE ? 16 : s->kind == K_AVX ? 32 : 64;
	size_t nregs = s->kind == K_AVX512 ? 32 : 16;
	for (size_t r = 0; r < nregs; r++) {
		for (size_t b = 0; b < reg; b++) {
			if (s->src[r * reg + b] != s->dst[r * reg + b]) {
				wl_fail("%s: register %zu differs at byte %zu (%#x, want %#x)", s->name, r, b,
					s->dst[r * reg + b], s->src[r * reg + b]);
				return;
			}
		}
	}
	if (s->kind == K_AVX512) {
		size_t kb = have_kmovq ? 8 : 2;
		for (int k = 0; k < 8; k++)
			if (memcmp(s->src + 2048 + 8 * k, s->dst + 2048 + 8 * k, kb) != 0) {
				wl_fail("%s: mask register k%d differs", s->name, k);
				return;
			}
	}
}

int main(int argc, char **argv)
{
	wl_init(argc, argv);
	__builtin_cpu_init();
	int avx = __builtin_cpu_supports("avx");
	int avx512 = __builtin_cpu_supports("avx512f");
	have_kmovq = __builtin_cpu_supports("avx512bw");

	/* MXCSR: round up, flush-to-zero, denormals-are-zero if supported. */
	_Alignas(16) uint8_t fx[512];
	memset(fx, 0, sizeof(fx));
	asm volatile("fxsave %0" : "=m"(fx));
	uint32_t mxcsr_mask;
	memcpy(&mxcsr_mask, fx + 28, 4);
	if (!mxcsr_mask)
		mxcsr_mask = 0xffbf;

	for (size_t i = 0; i < NSPIN; i++) {
		struct spin *s = &spins[i];
		s->enabled = s->kind == K_AVX ? avx : s->kind == K_AVX512 ? avx512 : 1;
		fill(s->src, sizeof(s->src), s->seed);
		memset(s->dst, 0, sizeof(s->dst));
		if (s->kind == K_X87) {
			for (int v = 0; v < 8; v++) {
				long double x = (v + 1) * 3.14159265358979323846264338327950288L / (v + 7) - v * 1e300L;
				if (v == 5)
					x = -1.0L / 3.0L;
				if (v == 6)
					x = 1e-4000L;
				memset(s->src + 10 * v, 0, 10);
				memcpy(s->src + 10 * v, &x, 10);
			}
			s->fcw_in = 0x0e7f; /* all exceptions masked, double precision, toward zero */
			s->mxcsr_in = (0x1f80 | 0x4000 | 0x8000 | 0x40) & mxcsr_mask;
		}
	}
	/* The spinning threads take no signals; SIGUSR1 goes to main. */
	for (size_t i = 0; i < NSPIN; i++) {
		if (!spins[i].enabled)
			continue;
		if (pthread_create(&spins[i].pt, NULL, spin_main, &spins[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 2;
		}
	}
	for (size_t i = 0; i < NSPIN; i++)
		while (spins[i].enabled && spins[i].count < 1000)
			wl_msleep(1);
	char msg[128];
	snprintf(msg, sizeof(msg), "ready%s%s", avx ? " avx" : "", avx512 ? " avx512" : "");
	wl_ready_msg(msg);
	wl_wait();

	unsigned long before[NSPIN];
	for (size_t i = 0; i < NSPIN; i++)
		before[i] = spins[i].count;
	wl_msleep(200);
	for (size_t i = 0; i < NSPIN; i++)
		if (spins[i].enabled && spins[i].count == before[i])
			wl_fail("thread %s does not spin after restore", spins[i].name);
	for (size_t i = 0; i < NSPIN; i++) {
		if (!spins[i].enabled)
			continue;
		spins[i].stop = 1;
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 5;
		if (pthread_timedjoin_np(spins[i].pt, NULL, &dl) != 0) {
			wl_fail("thread %s did not stop", spins[i].name);
			continue;
		}
		compare(&spins[i]);
	}
	return wl_finish();
}
