/*
 * mem: one process holding SIZE_MIB MiB of memory laid out as bt.h says
 * (half random bytes, a quarter zero-filled pages, a quarter never touched).
 *
 *   mem READY RESULT SIZE_MIB
 *
 * On SIGUSR1 it checks the region (bt_mem_check) and writes
 *   PASS zero_resident=N/M untouched_resident=N/M
 * (how many pages of the zero quarter and of the never-touched quarter are
 * resident: a restore that maps holes as holes keeps them at 0).
 */
#include "bt.h"

int main(int argc, char **argv)
{
	sigset_t wait_mask;
	char msg[512], why[256];
	size_t size, zres, ures;
	char *base;

	if (argc != 4)
		bt_die("usage: mem READY RESULT SIZE_MIB\n");
	size = strtoull(argv[3], NULL, 0) << 20;
	if (size == 0 || size % BT_GROUP)
		bt_die("SIZE_MIB must be a multiple of 4\n");
	bt_setup_signals(&wait_mask);
	base = bt_mem_fill(size, 1);
	snprintf(msg, sizeof(msg), "%d", (int)getpid());
	if (bt_write_file(argv[1], msg) < 0)
		bt_die("write %s", argv[1]);
	for (;;) {
		bt_wait_usr1(&wait_mask);
		if (bt_mem_check(base, size, 1, why, sizeof(why), &zres, &ures) < 0)
			snprintf(msg, sizeof(msg), "FAIL: %s", why);
		else
			snprintf(msg, sizeof(msg), "PASS zero_resident=%zu/%zu untouched_resident=%zu/%zu", zres,
				 size / BT_PAGE / 4, ures, size / BT_PAGE / 4);
		bt_write_file(argv[2], msg);
	}
}
