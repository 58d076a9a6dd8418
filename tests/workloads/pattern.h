/*
 * pattern.h: file contents the workloads write before a checkpoint and
 * check after the restore, byte by byte, without keeping a copy. Include
 * after wl.h.
 */
#ifndef WL_PATTERN_H
#define WL_PATTERN_H

#include <unistd.h>

/* Byte i of the pattern of seed. */
static __attribute__((unused)) unsigned char pat(size_t i, int seed)
{
	return (unsigned char)(i * 31 + seed * 7 + (i >> 12));
}

/* p[0..n) = bytes [off, off+n) of the pattern of seed. */
static __attribute__((unused)) void fill(unsigned char *p, size_t n, size_t off, int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pat(off + i, seed);
}

/* Writes bytes [off, off+len) of the pattern of seed at the same offsets of fd. */
static __attribute__((unused)) int write_pat(int fd, size_t off, size_t len, int seed)
{
	static unsigned char buf[1 << 16];

	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);

		fill(buf, n, off + done, seed);
		if (pwrite(fd, buf, n, (off_t)(off + done)) != (ssize_t)n)
			return -1;
		done += n;
	}
	return 0;
}

/* Checks [off, off+len) of fd: the pattern of seed, or zeros with seed < 0. */
static __attribute__((unused)) void check_pat(int fd, size_t off, size_t len, int seed, const char *what)
{
	static unsigned char buf[1 << 16];

	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);

		if (pread(fd, buf, n, (off_t)(off + done)) != (ssize_t)n) {
			wl_fail("%s: short read at %zu: %s", what, off + done, strerror(errno));
			return;
		}
		for (size_t i = 0; i < n; i++)
			if (buf[i] != (seed < 0 ? 0 : pat(off + done + i, seed))) {
				wl_fail("%s: byte %zu is %u", what, off + done + i, buf[i]);
				return;
			}
		done += n;
	}
}

#endif
