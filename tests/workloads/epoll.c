/*
 * epoll: eventfds and epolls across a checkpoint.
 *
 *   epoll READY RESULT
 *
 * Before: eventfd C (count 5), eventfd S (EFD_SEMAPHORE|EFD_NONBLOCK, 3);
 * epoll E1 watches pipe P1 (4 bytes in it, EPOLLIN, data 0x1111), C
 * (EPOLLIN|EPOLLET, data 0x2222) and epoll E2; E2 watches eventfd N
 * (count 1, data 0x3333); epoll E3 watches the empty pipe P2 (data 0x4444)
 * and a thread is blocked in epoll_wait(E3).
 * After restore (SIGUSR1): the thread is still in epoll_wait, E1 reports
 * P1, C and E2 ready with their data, E2 reports N, a write to P2 wakes the
 * thread with data 0x4444, C reads 5, S reads 1 three times then EAGAIN,
 * and EPOLL_CTL_MOD/DEL on E1 by the same fd numbers work.
 */
#include "wl.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

static int C, S, N, E1, E2, E3, P1[2], P2[2];
static volatile pid_t waiter_tid;
static volatile uint64_t woke_data;
static volatile int woke_n = -2;

static void *waiter(void *arg)
{
	struct epoll_event ev;
	int n;

	(void)arg;
	waiter_tid = wl_gettid();
	/* A stop, like a checkpoint, makes epoll_wait fail with EINTR: the kernel's rule. */
	do
		n = epoll_wait(E3, &ev, 1, -1);
	while (n < 0 && errno == EINTR);
	woke_data = ev.data.u64;
	woke_n = n;
	return NULL;
}

static int add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static uint64_t ready_data(int ep, uint64_t want)
{
	struct epoll_event ev[8];
	int n = epoll_wait(ep, ev, 8, 0);

	for (int i = 0; i < n; i++)
		if (ev[i].data.u64 == want)
			return want;
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t t;
	uint64_t v;

	wl_init(argc, argv);
	C = eventfd(5, 0);
	S = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
	N = eventfd(1, 0);
	E1 = epoll_create1(0);
	E2 = epoll_create1(0);
	E3 = epoll_create1(EPOLL_CLOEXEC);
	if (C < 0 || S < 0 || N < 0 || E1 < 0 || E2 < 0 || E3 < 0 || pipe(P1) || pipe(P2) ||
	    write(P1[1], "data", 4) != 4 || add(E1, P1[0], EPOLLIN, 0x1111) || add(E1, C, EPOLLIN | EPOLLET, 0x2222) ||
	    add(E2, N, EPOLLIN, 0x3333) || add(E1, E2, EPOLLIN, 0x5555) || add(E3, P2[0], EPOLLIN, 0x4444))
		return 2;
	pthread_create(&t, NULL, waiter, NULL);
	static const long in_wait[] = { SYS_epoll_wait, SYS_epoll_pwait };
	while (!waiter_tid)
		wl_msleep(1);
	if (wl_wait_in_syscall(waiter_tid, in_wait, 2, 2000) < 0)
		return 2;
	wl_ready();
	wl_wait();

	WL_CHECK(wl_wait_in_syscall(waiter_tid, in_wait, 2, 2000) >= 0, "the waiter is not in epoll_wait any more");
	WL_CHECK(woke_n == -2, "the waiter woke up early (%d)", woke_n);
	WL_CHECK(ready_data(E1, 0x1111), "E1 does not report the pipe with data 0x1111");
	WL_CHECK(ready_data(E1, 0x5555), "E1 does not report the nested E2");
	WL_CHECK(ready_data(E2, 0x3333), "E2 does not report its eventfd");
	WL_CHECK(write(P2[1], "w", 1) == 1, "write P2: %s", strerror(errno));
	pthread_join(t, NULL);
	WL_CHECK(woke_n == 1 && woke_data == 0x4444, "the waiter got %d events, data 0x%llx", woke_n,
		 (unsigned long long)woke_data);
	WL_CHECK(read(C, &v, 8) == 8 && v == 5, "eventfd C read %llu, want 5", (unsigned long long)v);
	for (int i = 0; i < 3; i++)
		WL_CHECK(read(S, &v, 8) == 8 && v == 1, "semaphore eventfd read %d gave %llu", i, (unsigned long long)v);
	WL_CHECK(read(S, &v, 8) == -1 && errno == EAGAIN, "semaphore eventfd not empty after 3 reads or blocking");
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x6666 };
	WL_CHECK(epoll_ctl(E1, EPOLL_CTL_MOD, P1[0], &ev) == 0, "EPOLL_CTL_MOD on E1's pipe: %s", strerror(errno));
	WL_CHECK(ready_data(E1, 0x6666), "E1 does not report the new data after MOD");
	WL_CHECK(epoll_ctl(E1, EPOLL_CTL_DEL, C, NULL) == 0, "EPOLL_CTL_DEL of C: %s", strerror(errno));
	WL_CHECK((fcntl(E3, F_GETFD) & FD_CLOEXEC), "E3 lost FD_CLOEXEC");
	return wl_finish();
}
