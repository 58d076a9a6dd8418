/*
 * churn: a tree that keeps changing while it is dumped.
 *
 *   churn READY RESULT
 *
 * One thread keeps creating short-lived threads and joining them, one keeps
 * forking children that exit at once and reaping them, one keeps sending
 * SIGUSR2 to the process (counted by a handler). After restore (SIGUSR1):
 * the loops are stopped, every thread created was joined and every child
 * forked was reaped with status 7, no child is left, the handler ran, and
 * each loop made progress after the restore.
 */
#include "wl.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

static atomic_int stop;
static atomic_long created, joined, forked, reaped, bad_status, sent, handled;

static void on_usr2(int sig)
{
	(void)sig;
	atomic_fetch_add(&handled, 1);
}

static void *short_lived(void *arg)
{
	(void)arg;
	return NULL;
}

static void *spawner(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		pthread_t t;

		if (pthread_create(&t, NULL, short_lived, NULL) == 0) {
			atomic_fetch_add(&created, 1);
			if (pthread_join(t, NULL) == 0)
				atomic_fetch_add(&joined, 1);
		}
	}
	return NULL;
}

static void *forker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		int st;
		pid_t c = fork();

		if (c == 0)
			_exit(7);
		if (c < 0)
			continue;
		atomic_fetch_add(&forked, 1);
		while (waitpid(c, &st, 0) < 0 && errno == EINTR)
			;
		atomic_fetch_add(&reaped, 1);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 7)
			atomic_fetch_add(&bad_status, 1);
	}
	return NULL;
}

static void *signaller(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		kill(getpid(), SIGUSR2);
		atomic_fetch_add(&sent, 1);
		wl_msleep(1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr2, .sa_flags = SA_RESTART };
	pthread_t t[3];

	wl_init(argc, argv);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	pthread_create(&t[0], NULL, spawner, NULL);
	pthread_create(&t[1], NULL, forker, NULL);
	pthread_create(&t[2], NULL, signaller, NULL);
	while (atomic_load(&joined) < 50 || atomic_load(&reaped) < 20)
		wl_msleep(5);
	wl_ready();
	wl_wait();

	long j0 = atomic_load(&joined), r0 = atomic_load(&reaped), h0 = atomic_load(&handled);
	wl_msleep(300);
	WL_CHECK(atomic_load(&joined) > j0, "no thread was created and joined after the restore");
	WL_CHECK(atomic_load(&reaped) > r0, "no child was forked and reaped after the restore");
	WL_CHECK(atomic_load(&handled) > h0, "no SIGUSR2 was handled after the restore");
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	WL_CHECK(atomic_load(&created) == atomic_load(&joined), "%ld threads created, %ld joined",
		 atomic_load(&created), atomic_load(&joined));
	WL_CHECK(atomic_load(&forked) == atomic_load(&reaped), "%ld children forked, %ld reaped", atomic_load(&forked),
		 atomic_load(&reaped));
	WL_CHECK(atomic_load(&bad_status) == 0, "%ld children ended with the wrong status", atomic_load(&bad_status));
	WL_CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "a child is left over");
	return wl_finish();
}
