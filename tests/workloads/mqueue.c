/*
 * mqueue: POSIX message queues across a checkpoint. Run it in an IPC
 * namespace of its own (the names are fixed).
 *
 *   mqueue READY RESULT [NAME]
 *
 * The root P and its child C hold:
 *   Q1 /wl-q1, 8 messages of at most 128 bytes, mode 0640, owner uid 4242;
 *      P reads and writes it (O_NONBLOCK), C writes it. Six messages of
 *      priorities 1 5 1 0 31 5; P registered for SIGRTMIN+3 with value
 *      0xabc123 (mq_notify);
 *   Q2 /wl-q2, P reads it, C writes it (O_NONBLOCK); one message; C
 *      registered without a signal (SIGEV_NONE);
 *   Q3 /wl-q3, unlinked, held by both (P's description, inherited); two
 *      messages;
 *   Q4 /wl-q4, empty, P registered for SIGRTMIN+4 with value 77.
 * After restore (SIGUSR1 to P) P checks names, attributes, flags, owner and
 * mode, reads every message in the order and with the priorities it had,
 * checks that no notification came meanwhile, that C still holds Q2's
 * registration, and has C send to Q1 (now empty) and Q4: P must get both
 * notifications, with their values. C reports through a pipe.
 * With NAME, P also opens the existing queue NAME and keeps it open.
 */
#include "wl.h"
#include <fcntl.h>
#include <mqueue.h>
#include <sys/stat.h>
#include <sys/wait.h>

static mqd_t q1, q2, q3, q4, extra = -1;
static int cmd[2], rep[2];
static pid_t c;
static volatile sig_atomic_t got3, got4, val3, val4, code3, code4;

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig == SIGRTMIN + 3) {
		got3++;
		val3 = si->si_value.sival_int;
		code3 = si->si_code;
	} else {
		got4++;
		val4 = si->si_value.sival_int;
		code4 = si->si_code;
	}
}

static mqd_t open_queue(const char *name, int flags, long maxmsg, long msgsize)
{
	struct mq_attr a = { .mq_maxmsg = maxmsg, .mq_msgsize = msgsize };

	return mq_open(name, flags | O_CREAT | O_EXCL, 0640, &a);
}

static int notify(mqd_t q, int how, int sig, int value)
{
	struct sigevent sev = { .sigev_notify = how, .sigev_signo = sig };

	sev.sigev_value.sival_int = value;
	return mq_notify(q, &sev);
}

static void child(void)
{
	mqd_t w2 = mq_open("/wl-q2", O_WRONLY | O_NONBLOCK);
	char c;

	close(cmd[1]);
	if (w2 < 0 || mq_send(w2, "x", 1, 2) < 0 || notify(w2, SIGEV_NONE, 0, 0) < 0)
		exit(3);
	if (write(rep[1], "u", 1) != 1)
		exit(4);
	while (read(cmd[0], &c, 1) == 1) {
		int r = 0;

		if (c == 'x')
			exit(0);
		if (c == 's') /* notifications of Q1 and Q4 */
			r = mq_send(q1, "from C", 6, 9) | mq_send(q4, "to q4", 5, 1);
		if (c == '3')
			r = mq_send(q3, "c3", 2, 4);
		if (write(rep[1], r ? "f" : "k", 1) != 1 || (r && write(rep[1], &(char){ (char)errno }, 1) != 1))
			exit(5);
	}
	exit(6);
}

static int ask(char what)
{
	char a;

	if (write(cmd[1], &what, 1) != 1 || read(rep[0], &a, 1) != 1)
		return -1;
	if (a != 'k' && read(rep[0], &a, 1) == 1)
		wl_fail("C: %s", strerror(a));
	return a == 'k' ? 0 : -1;
}

static void expect(mqd_t q, const char *what, unsigned prio, const char *text, size_t len)
{
	char buf[200];
	unsigned p = 0;
	ssize_t n = mq_receive(q, buf, sizeof(buf), &p);

	if (n < 0) {
		wl_fail("%s: mq_receive: %s", what, strerror(errno));
		return;
	}
	if ((size_t)n != len || p != prio || memcmp(buf, text, len))
		wl_fail("%s: got %zd bytes at priority %u ('%.*s'), want %zu at %u ('%s')", what, n, p, (int)(n > 20 ? 20 : n),
			buf, len, prio, text);
}

static void check_attr(mqd_t q, const char *what, long maxmsg, long msgsize, long cur, long flags)
{
	struct mq_attr a;

	if (mq_getattr(q, &a) < 0) {
		wl_fail("%s: mq_getattr: %s", what, strerror(errno));
		return;
	}
	WL_CHECK(a.mq_maxmsg == maxmsg && a.mq_msgsize == msgsize && a.mq_curmsgs == cur && a.mq_flags == flags,
		 "%s: maxmsg %ld msgsize %ld curmsgs %ld flags 0x%lx; want %ld %ld %ld 0x%lx", what, a.mq_maxmsg,
		 a.mq_msgsize, a.mq_curmsgs, a.mq_flags, maxmsg, msgsize, cur, flags);
}

static char big[128];

static int setup(void)
{
	struct sigaction sa = { .sa_sigaction = on_rt, .sa_flags = SA_SIGINFO | SA_RESTART };

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('A' + i % 26);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGRTMIN + 3, &sa, NULL);
	sigaction(SIGRTMIN + 4, &sa, NULL);
	q1 = open_queue("/wl-q1", O_RDWR | O_NONBLOCK, 8, 128);
	q2 = open_queue("/wl-q2", O_RDONLY, 4, 64);
	q3 = open_queue("/wl-q3", O_RDWR, 5, 32);
	q4 = open_queue("/wl-q4", O_RDWR, 2, 16);
	if (q1 < 0 || q2 < 0 || q3 < 0 || q4 < 0)
		return wl_fail("mq_open: %s", strerror(errno)), -1;
	if (fchown(q1, 4242, 0) < 0 || mq_send(q1, "a1", 2, 1) || mq_send(q1, "b5", 2, 5) || mq_send(q1, "a2", 2, 1) ||
	    mq_send(q1, "", 0, 0) || mq_send(q1, big, sizeof(big), 31) || mq_send(q1, "b5-2", 4, 5) ||
	    mq_send(q3, "q3 first", 8, 0) || mq_send(q3, "q3 second", 9, 0) || mq_unlink("/wl-q3") < 0)
		return wl_fail("filling the queues: %s", strerror(errno)), -1;
	if (notify(q1, SIGEV_SIGNAL, SIGRTMIN + 3, 0xabc123) < 0 || notify(q4, SIGEV_SIGNAL, SIGRTMIN + 4, 77) < 0)
		return wl_fail("mq_notify: %s", strerror(errno)), -1;
	return 0;
}

static void check_queues(void)
{
	struct stat st;
	mqd_t q;

	WL_CHECK(got3 == 0 && got4 == 0, "notifications came before any message did (%d, %d)", got3, got4);
	WL_CHECK(fstat(q1, &st) == 0 && st.st_uid == 4242 && (st.st_mode & 0777) == 0640, "Q1: owner %u mode 0%o",
		 st.st_uid, st.st_mode & 0777);
	check_attr(q1, "Q1", 8, 128, 6, O_NONBLOCK);
	check_attr(q2, "Q2", 4, 64, 1, 0);
	check_attr(q3, "Q3", 5, 32, 2, 0);
	check_attr(q4, "Q4", 2, 16, 0, 0);
	q = mq_open("/wl-q3", O_RDONLY);
	WL_CHECK(q < 0 && errno == ENOENT, "Q3 has a name again");
	expect(q1, "Q1 #1", 31, big, sizeof(big));
	expect(q1, "Q1 #2", 5, "b5", 2);
	expect(q1, "Q1 #3", 5, "b5-2", 4);
	expect(q1, "Q1 #4", 1, "a1", 2);
	expect(q1, "Q1 #5", 1, "a2", 2);
	expect(q1, "Q1 #6", 0, "", 0);
	WL_CHECK(mq_receive(q1, big, sizeof(big), NULL) < 0 && errno == EAGAIN, "Q1: more messages than sent");
	expect(q2, "Q2", 2, "x", 1);
	/* C holds Q2's registration: nobody else may register. */
	WL_CHECK(notify(q2, SIGEV_NONE, 0, 0) < 0 && errno == EBUSY, "Q2: C's registration is gone");
	/* Q3 is shared with C. */
	WL_CHECK(ask('3') == 0, "C cannot write to Q3");
	expect(q3, "Q3 #1", 4, "c3", 2);
	expect(q3, "Q3 #2", 0, "q3 first", 8);
	expect(q3, "Q3 #3", 0, "q3 second", 9);
	/* The registrations of Q1 (now empty) and Q4 are P's, with their values. */
	WL_CHECK(ask('s') == 0, "C cannot send to Q1 and Q4");
	for (int i = 0; i < 200 && (!got3 || !got4); i++)
		wl_msleep(10);
	WL_CHECK(got3 == 1 && val3 == 0xabc123 && code3 == SI_MESGQ, "Q1 notification: %d signals, value 0x%x, code %d",
		 got3, val3, code3);
	WL_CHECK(got4 == 1 && val4 == 77 && code4 == SI_MESGQ, "Q4 notification: %d signals, value %d, code %d", got4,
		 val4, code4);
	expect(q1, "Q1 from C", 9, "from C", 6);
	expect(q4, "Q4 from C", 1, "to q4", 5);
}

int main(int argc, char **argv)
{
	char a;
	int st;

	wl_init(argc, argv);
	if (argc > 3 && (extra = mq_open(argv[3], O_RDONLY)) < 0)
		wl_fail("%s: %s", argv[3], strerror(errno));
	if (pipe(cmd) < 0 || pipe(rep) < 0 || setup() < 0) {
		wl_ready();
		return wl_finish();
	}
	c = fork();
	if (c == 0)
		child();
	close(cmd[0]);
	if (read(rep[0], &a, 1) != 1)
		wl_fail("C did not start");
	wl_ready();
	wl_wait();
	check_queues();
	WL_CHECK(argc <= 3 || fcntl(extra, F_GETFD) >= 0, "the queue %s is no longer open", argv[3]);
	WL_CHECK(write(cmd[1], "x", 1) == 1 && waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		 "C ended with 0x%x", st);
	return wl_finish();
}
