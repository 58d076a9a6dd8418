/*
 * maps: one process with NMAPS small mappings: NMAPS pages of private
 * anonymous memory, each written with a pattern, every other one then made
 * read-only so that no two neighbours merge into one mapping.
 *
 *   maps READY RESULT NMAPS
 *
 * On SIGUSR1 it checks every page's pattern and that /proc/self/maps still
 * shows NMAPS mappings in the region, and writes "PASS maps=N" or "FAIL: ...".
 */
#include "bt.h"

static int count_maps(uintptr_t lo, uintptr_t hi)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s >= lo && e <= hi)
			n++;
	}
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	sigset_t wait_mask;
	char msg[512];
	size_t n;
	char *base;

	if (argc != 4)
		bt_die("usage: maps READY RESULT NMAPS\n");
	n = strtoull(argv[3], NULL, 0);
	if (n < 1)
		bt_die("bad NMAPS\n");
	bt_setup_signals(&wait_mask);
	base = mmap(NULL, n * BT_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		bt_die("mmap");
	for (size_t i = 0; i < n; i++) {
		uint64_t *p = (uint64_t *)(base + i * BT_PAGE);

		for (size_t w = 0; w < BT_PAGE / 8; w += 64)
			p[w] = i * 1000003 + w;
	}
	for (size_t i = 1; i < n; i += 2)
		if (mprotect(base + i * BT_PAGE, BT_PAGE, PROT_READ) < 0)
			bt_die("mprotect (vm.max_map_count too low?)");
	snprintf(msg, sizeof(msg), "%d", (int)getpid());
	if (bt_write_file(argv[1], msg) < 0)
		bt_die("write %s", argv[1]);
	for (;;) {
		int got;

		bt_wait_usr1(&wait_mask);
		msg[0] = 0;
		for (size_t i = 0; i < n && !msg[0]; i++) {
			const uint64_t *p = (const uint64_t *)(base + i * BT_PAGE);

			for (size_t w = 0; w < BT_PAGE / 8; w++)
				if (p[w] != (w % 64 ? 0 : i * 1000003 + w)) {
					snprintf(msg, sizeof(msg), "FAIL: page %zu of the mappings differs", i);
					break;
				}
		}
		got = count_maps((uintptr_t)base, (uintptr_t)base + n * BT_PAGE);
		if (!msg[0] && got != (int)n)
			snprintf(msg, sizeof(msg), "FAIL: %d mappings in the region instead of %zu", got, n);
		if (!msg[0])
			snprintf(msg, sizeof(msg), "PASS maps=%zu", n);
		bt_write_file(argv[2], msg);
	}
}
