/*
 * signalfd: masks, flags and pending signals across a checkpoint.
 *
 *   signalfd READY RESULT
 *
 * Before: SIGUSR2, SIGHUP, SIGWINCH and SIGRTMIN+2 blocked in every thread.
 * A = signalfd {SIGUSR2, SIGRTMIN+2}, O_NONBLOCK; B = signalfd {SIGHUP},
 * blocking and close-on-exec, read by a thread blocked in read(B). Pending:
 * SIGUSR2 for the main thread (tgkill), SIGUSR2 for the process (kill),
 * SIGRTMIN+2 twice (sigqueue, values 1 and 2), and SIGWINCH, in no mask.
 * After restore (SIGUSR1): fdinfo shows the same masks; A is O_NONBLOCK, B
 * is not and is close-on-exec; A reads SIGUSR2 (SI_TKILL), SIGUSR2
 * (SI_USER), SIGRTMIN+2 with value 1, then 2, then EAGAIN; SIGWINCH is
 * still pending; SIGRTMIN+2 sent now (value 7) is read from A; SIGHUP sent
 * now wakes the thread blocked in read(B) with SIGHUP.
 */
#include "wl.h"
#include <fcntl.h>
#include <sys/signalfd.h>

static int A, B;
static volatile pid_t reader_tid;
static volatile int reader_got, reader_err;

static void *reader(void *arg)
{
	struct signalfd_siginfo si;
	sigset_t all;
	ssize_t n;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	reader_tid = wl_gettid();
	/* A stop, like a checkpoint, may end read() with EINTR. */
	do
		n = read(B, &si, sizeof(si));
	while (n < 0 && errno == EINTR);
	reader_err = n == sizeof(si) ? 0 : errno ? errno : EIO;
	reader_got = n == sizeof(si) ? (int)si.ssi_signo : -1;
	return NULL;
}

static uint64_t bit(int sig)
{
	return 1ULL << (sig - 1);
}

/* The sigmask line of our fdinfo for fd. */
static uint64_t fdinfo_mask(int fd)
{
	char path[64], buf[512];
	unsigned long long m = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "sigmask: %llx", &m) == 1)
			break;
	fclose(f);
	return m;
}

/* Reads one signal from A: signo, code, value; 0 signo if none. */
static void read_a(const char *what, int signo, int code, int value)
{
	struct signalfd_siginfo si = { 0 };
	ssize_t n = read(A, &si, sizeof(si));

	WL_CHECK(n == sizeof(si), "%s: read from A: %zd (%s)", what, n, strerror(errno));
	WL_CHECK(n != sizeof(si) || ((int)si.ssi_signo == signo && si.ssi_code == code && (int)si.ssi_int == value),
		 "%s: read signal %u code %d value %d, want %d code %d value %d", what, si.ssi_signo, si.ssi_code,
		 (int)si.ssi_int, signo, code, value);
}

int main(int argc, char **argv)
{
	int rt = SIGRTMIN + 2;
	sigset_t set, pend;
	pthread_t t;

	wl_init(argc, argv);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, rt);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGWINCH);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, rt);
	A = signalfd(-1, &set, SFD_NONBLOCK);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	B = signalfd(-1, &set, SFD_CLOEXEC);
	if (A < 0 || B < 0)
		return 2;
	if (raise(SIGUSR2) || kill(getpid(), SIGUSR2) || sigqueue(getpid(), rt, (union sigval){ .sival_int = 1 }) ||
	    sigqueue(getpid(), rt, (union sigval){ .sival_int = 2 }) || kill(getpid(), SIGWINCH))
		return 2;
	pthread_create(&t, NULL, reader, NULL);
	static const long in_read[] = { SYS_read };
	while (!reader_tid)
		wl_msleep(1);
	if (wl_wait_in_syscall(reader_tid, in_read, 1, 2000) < 0)
		return 2;
	wl_ready();
	wl_wait();

	WL_CHECK(fdinfo_mask(A) == (bit(SIGUSR2) | bit(rt)), "A's sigmask is %llx",
		 (unsigned long long)fdinfo_mask(A));
	WL_CHECK(fdinfo_mask(B) == bit(SIGHUP), "B's sigmask is %llx", (unsigned long long)fdinfo_mask(B));
	WL_CHECK(fcntl(A, F_GETFL) & O_NONBLOCK, "A lost O_NONBLOCK");
	WL_CHECK(!(fcntl(B, F_GETFL) & O_NONBLOCK), "B became O_NONBLOCK");
	WL_CHECK(fcntl(B, F_GETFD) & FD_CLOEXEC, "B lost FD_CLOEXEC");
	WL_CHECK(wl_wait_in_syscall(reader_tid, in_read, 1, 2000) >= 0, "the reader is not in read(B) any more");
	WL_CHECK(reader_got == 0, "the reader woke up early with %d (%s)", reader_got, strerror(reader_err));
	read_a("pending SIGUSR2 of the thread", SIGUSR2, SI_TKILL, 0);
	read_a("pending SIGUSR2 of the process", SIGUSR2, SI_USER, 0);
	read_a("first pending SIGRTMIN+2", rt, SI_QUEUE, 1);
	read_a("second pending SIGRTMIN+2", rt, SI_QUEUE, 2);
	struct signalfd_siginfo si;
	WL_CHECK(read(A, &si, sizeof(si)) < 0 && errno == EAGAIN, "A has more signals than were pending");
	sigpending(&pend);
	WL_CHECK(sigismember(&pend, SIGWINCH), "the pending SIGWINCH is gone");
	WL_CHECK(!sigismember(&pend, SIGUSR2) && !sigismember(&pend, rt), "A's signals are still pending");
	WL_CHECK(sigqueue(getpid(), rt, (union sigval){ .sival_int = 7 }) == 0, "sigqueue: %s", strerror(errno));
	read_a("SIGRTMIN+2 sent after restore", rt, SI_QUEUE, 7);
	WL_CHECK(kill(getpid(), SIGHUP) == 0, "kill SIGHUP: %s", strerror(errno));
	for (int i = 0; i < 400 && !reader_got; i++)
		wl_msleep(5);
	WL_CHECK(reader_got == SIGHUP, "the reader of B got %d (%s), want SIGHUP", reader_got, strerror(reader_err));
	if (reader_got)
		pthread_join(t, NULL);
	return wl_finish();
}
