/*
 * tree: NPROC processes, each holding MIB MiB of memory laid out as bt.h
 * says.  Process i (the root is 0) is the parent of 10i+1 .. 10i+10, so 100
 * processes make a root with 10 children, 89 grandchildren under them.
 *
 *   tree READY RESULT NPROC MIB
 *
 * Every process fills its memory after forking its children, reports to
 * the root through a pipe that every process closes once set up, and the
 * root writes READY (its pid) when all have.  All are in the root's process
 * group; SIGUSR1 to the group makes each process check its memory and write
 * RESULT.<i> ("PASS ..." or "FAIL: ...").
 */
#include "bt.h"

static int nproc;
static size_t size;

static void run(int idx, int ready_wr, const char *ready, const char *result)
{
	sigset_t wait_mask;
	char path[4200], msg[512], why[256];
	size_t zres, ures;
	char *base;

	bt_setup_signals(&wait_mask);
	base = bt_mem_fill(size, (uint64_t)idx + 1);
	if (idx != 0) {
		if (write(ready_wr, "x", 1) != 1)
			bt_die("write to the root");
		close(ready_wr);
	} else {
		/* The root's own memory comes last: READY means all are set. */
		snprintf(msg, sizeof(msg), "%d", (int)getpid());
		if (bt_write_file(ready, msg) < 0)
			bt_die("write %s", ready);
	}
	snprintf(path, sizeof(path), "%s.%d", result, idx);
	for (;;) {
		bt_wait_usr1(&wait_mask);
		if (bt_mem_check(base, size, (uint64_t)idx + 1, why, sizeof(why), &zres, &ures) < 0)
			snprintf(msg, sizeof(msg), "FAIL: process %d (pid %d): %s", idx, (int)getpid(), why);
		else
			snprintf(msg, sizeof(msg), "PASS zero_resident=%zu untouched_resident=%zu", zres, ures);
		bt_write_file(path, msg);
	}
}

int main(int argc, char **argv)
{
	int p[2], idx = 0;
	char c;

	if (argc != 5)
		bt_die("usage: tree READY RESULT NPROC MIB\n");
	nproc = atoi(argv[3]);
	size = strtoull(argv[4], NULL, 0) << 20;
	if (nproc < 1 || size == 0 || size % (4 * BT_PAGE) || (size > BT_GROUP && size % BT_GROUP))
		bt_die("bad NPROC or MIB\n");
	if (pipe(p) < 0)
		bt_die("pipe");
	/* Fork the subtree of idx: children 10*idx+1 .. 10*idx+10. */
	for (int k = 1; k <= 10; k++) {
		int child = 10 * idx + k;
		pid_t pid;

		if (child >= nproc)
			break;
		pid = fork();
		if (pid < 0)
			bt_die("fork");
		if (pid == 0) {
			close(p[0]);
			idx = child;
			k = 0; /* now fork this child's own children */
		}
	}
	if (idx != 0) {
		run(idx, p[1], NULL, argv[2]);
		return 0;
	}
	close(p[1]);
	for (int n = 0; n < nproc - 1; n++)
		if (read(p[0], &c, 1) != 1)
			bt_die("a process of the tree died during setup\n");
	close(p[0]);
	run(0, -1, argv[1], argv[2]);
	return 0;
}
