/*
 * imgtool: look into and change ckpt images for the tests of damaged and
 * hostile images (docs/image-format.md).  Independent of libckpt on purpose:
 * a second reader of the format.
 *
 *   imgtool list IMG
 *       one line per record, in file order:
 *         INDEX OFFSET TYPE LEN                     (frame at OFFSET, payload LEN bytes)
 *         INDEX OFFSET 8 LEN DATA_OFFSET NR_PAGES   (a Pages record and its page data)
 *         INDEX OFFSET 10 LEN DATA_OFFSET NR_PAGES  (a FileData record and its data)
 *         INDEX OFFSET 13 LEN DATA_OFFSET NR_PAGES  (the same for SysvPages)
 *       then `tail OFFSET SIZE` (offset of the tail, size of the file)
 *   imgtool set IMG OUT INDEX FIELD VALUE
 *       write IMG to OUT with top-level field FIELD of record INDEX set to
 *       VALUE: a number for a varint field, s:TEXT for a string of the same
 *       length; the encoded length may not change (exit 3 if it would).
 *       Then reseals (below).
 *   imgtool xor IMG OUT OFFSET MASK [reseal]
 *       write IMG to OUT with the byte at OFFSET xor MASK; with `reseal`,
 *       make every checksum fit again afterwards.
 *   imgtool reseal IMG OUT
 *       recompute every record checksum and the image checksum in the
 *       trailer (page data checksums are left alone), rewrite the tail.
 *
 * Exit status: 0 done, 1 error (the image does not parse), 2 usage, 3 the
 * change is not possible.
 *
 * Built by the tests that use it (tests/lib.sh: build_imgtool).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define PAGE 4096u
#define REC_PAGES 8u
#define REC_TRAILER 9u
#define REC_FILEDATA 10u
#define REC_SYSV_PAGES 13u
/* Records followed by page data, and the field number of their nr_pages. */
#define HAS_DATA(t) ((t) == REC_PAGES || (t) == REC_FILEDATA || (t) == REC_SYSV_PAGES)
#define NR_PAGES_FIELD(t) ((t) == REC_PAGES ? 4 : 3)
#define REC_MAGIC 0x43524b43u

struct frame {
	uint32_t magic, type, len, reserved;
	uint64_t hash;
};

static uint8_t *img;
static size_t img_len;

static void die(int code, const char *fmt, const char *arg)
{
	fprintf(stderr, "imgtool: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(code);
}

static void load(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 20, n;

	if (!f)
		die(1, "cannot open %s", path);
	img = malloc(cap);
	while (img && (n = fread(img + img_len, 1, cap - img_len, f)) > 0) {
		img_len += n;
		if (img_len == cap)
			img = realloc(img, cap *= 2);
	}
	if (!img || ferror(f))
		die(1, "cannot read %s", path);
	fclose(f);
}

static void save(const char *path)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(img, 1, img_len, f) != img_len || fclose(f) != 0)
		die(1, "cannot write %s", path);
}

static int get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*pos >= len)
			return -1;
		uint8_t b = p[(*pos)++];
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return n;
}

/*
 * Finds top-level field FIELD of the protobuf message P[0..LEN): its value's
 * offset and length in P (for a varint: the varint's bytes; for
 * length-delimited: the bytes after the length).  Returns the wire type, or -1.
 */
static int find_field(const uint8_t *p, size_t len, uint32_t field, size_t *off, size_t *vlen)
{
	size_t pos = 0;
	uint64_t key, v;

	while (pos < len) {
		if (get_varint(p, len, &pos, &key) < 0)
			return -1;
		int wt = (int)(key & 7);
		size_t start = pos;
		switch (wt) {
		case 0:
			if (get_varint(p, len, &pos, &v) < 0)
				return -1;
			break;
		case 1:
			pos += 8;
			break;
		case 2:
			if (get_varint(p, len, &pos, &v) < 0 || v > len - pos)
				return -1;
			start = pos;
			pos += v;
			break;
		case 5:
			pos += 4;
			break;
		default:
			return -1;
		}
		if (pos > len)
			return -1;
		if ((key >> 3) == field) {
			*off = start;
			*vlen = pos - start;
			return wt;
		}
	}
	return -1;
}

struct rec {
	size_t off, len, data_off, nr_pages;
	uint32_t type;
};

static struct rec *recs;
static size_t nr_recs;
static size_t tail_off;

/* Walks the records; the last one must be the trailer. */
static void parse(void)
{
	size_t pos = 16, cap = 0;

	if (img_len < 16 || memcmp(img, "CKPTIMG", 8))
		die(1, "%s", "not an image");
	for (;;) {
		struct frame f;
		struct rec r = { 0 };

		if (pos + sizeof(f) > img_len)
			die(1, "%s", "truncated frame");
		memcpy(&f, img + pos, sizeof(f));
		if (f.magic != REC_MAGIC)
			die(1, "%s", "bad frame magic");
		r.off = pos;
		r.len = f.len;
		r.type = f.type;
		pos += sizeof(f) + f.len;
		if (pos > img_len)
			die(1, "%s", "truncated payload");
		if (HAS_DATA(f.type)) {
			size_t o, l;
			uint64_t v;
			if (find_field(img + r.off + sizeof(f), f.len, NR_PAGES_FIELD(f.type), &o, &l) != 0)
				die(1, "%s", "pages record without nr_pages");
			o += r.off + sizeof(f);
			if (get_varint(img, o + l, &o, &v) < 0)
				die(1, "%s", "bad nr_pages");
			r.nr_pages = v;
			r.data_off = (pos + PAGE - 1) / PAGE * PAGE;
			pos = r.data_off + v * PAGE;
			if (pos > img_len)
				die(1, "%s", "truncated page data");
		}
		if (nr_recs == cap)
			recs = realloc(recs, (cap = cap ? cap * 2 : 64) * sizeof(*recs));
		recs[nr_recs++] = r;
		if (f.type == REC_TRAILER)
			break;
	}
	tail_off = pos;
}

/* Record checksums, then the image checksum in a rebuilt trailer, then the tail. */
static void reseal(void)
{
	XXH3_state_t *h = XXH3_createState();
	struct rec *t = &recs[nr_recs - 1];

	XXH3_64bits_reset(h);
	XXH3_64bits_update(h, img, 16);
	for (size_t i = 0; i + 1 < nr_recs; i++) {
		struct rec *r = &recs[i];
		struct frame f;

		memcpy(&f, img + r->off, sizeof(f));
		f.hash = XXH3_64bits_withSeed(img + r->off + sizeof(f), r->len, f.type);
		memcpy(img + r->off, &f, sizeof(f));
		XXH3_64bits_update(h, img + r->off, sizeof(f) + r->len);
		if (HAS_DATA(r->type)) {
			size_t end = r->off + sizeof(f) + r->len;
			XXH3_64bits_update(h, img + end, r->data_off - end);
		}
	}
	uint64_t digest = XXH3_64bits_digest(h);
	XXH3_freeState(h);

	/* The trailer: every field as it was but image_hash (3), which goes last. */
	const uint8_t *p = img + t->off + sizeof(struct frame);
	size_t pos = 0, n = 0;
	uint8_t *np = malloc(t->len + 16);
	uint64_t key, v;
	while (pos < t->len) {
		size_t start = pos;
		if (get_varint(p, t->len, &pos, &key) < 0)
			die(1, "%s", "bad trailer");
		if ((key & 7) == 0) {
			if (get_varint(p, t->len, &pos, &v) < 0)
				die(1, "%s", "bad trailer");
		} else if ((key & 7) == 2) {
			if (get_varint(p, t->len, &pos, &v) < 0 || v > t->len - pos)
				die(1, "%s", "bad trailer");
			pos += v;
		} else {
			die(1, "%s", "unexpected wire type in the trailer");
		}
		if ((key >> 3) == 3)
			continue;
		memcpy(np + n, p + start, pos - start);
		n += pos - start;
	}
	np[n++] = 3 << 3;
	n += put_varint(np + n, digest);

	struct frame f = { REC_MAGIC, REC_TRAILER, (uint32_t)n, 0, XXH3_64bits_withSeed(np, n, REC_TRAILER) };
	size_t new_len = t->off + sizeof(f) + n + 16;
	img = realloc(img, new_len > img_len ? new_len : img_len);
	memcpy(img + t->off, &f, sizeof(f));
	memcpy(img + t->off + sizeof(f), np, n);
	memcpy(img + t->off + sizeof(f) + n, "CKPTEND", 8);
	uint64_t toff = t->off;
	memcpy(img + t->off + sizeof(f) + n + 8, &toff, 8);
	img_len = new_len;
	free(np);
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "list")) {
		load(argv[2]);
		parse();
		for (size_t i = 0; i < nr_recs; i++) {
			printf("%zu %zu %u %zu", i, recs[i].off, recs[i].type, recs[i].len);
			if (HAS_DATA(recs[i].type))
				printf(" %zu %zu", recs[i].data_off, recs[i].nr_pages);
			printf("\n");
		}
		printf("tail %zu %zu\n", tail_off, img_len);
		return 0;
	}
	if (argc >= 4 && !strcmp(argv[1], "reseal")) {
		load(argv[2]);
		parse();
		reseal();
		save(argv[3]);
		return 0;
	}
	if (argc >= 6 && !strcmp(argv[1], "xor")) {
		size_t off = strtoull(argv[4], NULL, 0);
		unsigned mask = (unsigned)strtoul(argv[5], NULL, 0);
		load(argv[2]);
		if (off >= img_len)
			die(3, "%s", "offset past the end");
		img[off] ^= (uint8_t)mask;
		if (argc >= 7 && !strcmp(argv[6], "reseal")) {
			parse();
			reseal();
		}
		save(argv[3]);
		return 0;
	}
	if (argc >= 7 && !strcmp(argv[1], "set")) {
		size_t idx = strtoull(argv[4], NULL, 10), off, vlen;
		uint32_t field = (uint32_t)strtoul(argv[5], NULL, 10);
		const char *val = argv[6];
		load(argv[2]);
		parse();
		if (idx >= nr_recs)
			die(3, "%s", "no such record");
		uint8_t *p = img + recs[idx].off + sizeof(struct frame);
		int wt = find_field(p, recs[idx].len, field, &off, &vlen);
		if (!strncmp(val, "s:", 2)) {
			if (wt != 2 || strlen(val + 2) != vlen)
				die(3, "%s", "no string field of that length");
			memcpy(p + off, val + 2, vlen);
		} else {
			uint8_t buf[16];
			errno = 0;
			uint64_t v = strtoull(val, NULL, 0);
			if (wt != 0 || errno)
				die(3, "%s", "no varint field there");
			if (put_varint(buf, v) != vlen)
				die(3, "%s", "the new value has another encoded length");
			memcpy(p + off, buf, vlen);
		}
		reseal();
		save(argv[3]);
		return 0;
	}
	fprintf(stderr, "usage: imgtool list IMG | set IMG OUT INDEX FIELD VALUE | xor IMG OUT OFFSET MASK [reseal] | reseal IMG OUT\n");
	return 2;
}
