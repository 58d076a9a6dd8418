// SPDX-License-Identifier: MIT
/*
 * Where a restored process gets its vDSO. The running kernel's own vDSO is
 * always the one used (the image's bytes would call into a vvar page laid
 * out for another kernel). When it looks exactly like the image's, it is
 * simply moved to the image's address. Otherwise it goes to a free place,
 * and the image's vDSO address gets trampolines: at the offset of each
 * function the old vDSO exported, a jump to the same function of the new
 * one, so pointers that glibc cached at start-up keep working. The rest of
 * the old vDSO's bytes stay, so its ELF tables still answer the symbol
 * lookups glibc makes when it binds an IFUNC (gettimeofday) lazily.
 */
#include "restore_vdso.h"

int vdso_current(struct vdso_layout *cur)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");

	memset(cur, 0, sizeof(*cur));
	cur->vdso_idx = -1;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long s, e;
		bool is_vdso = strstr(line, "[vdso]") != NULL;

		if ((is_vdso || strstr(line, "[vvar")) && sscanf(line, "%llx-%llx", &s, &e) == 2 && cur->n < 3) {
			if (is_vdso)
				cur->vdso_idx = (int)cur->n;
			cur->r[cur->n][0] = s;
			cur->r[cur->n][1] = e;
			cur->n++;
		}
	}
	if (f)
		fclose(f);
	return 0;
}

/* The image's [vvar...] and [vdso] mappings, in address order. */
static size_t image_vdso(const struct rproc *rp, const Ckpt__Vma **out, int *vdso_idx)
{
	size_t n = 0;

	*vdso_idx = -1;
	for (size_t i = 0; i < rp->nr_vmas && n < 3; i++) {
		const Ckpt__Vma *v = rp->vmas[i];

		if (v->kind != CKPT__VMA_KIND__VMA_VDSO && v->kind != CKPT__VMA_KIND__VMA_VVAR)
			continue;
		if (v->kind == CKPT__VMA_KIND__VMA_VDSO)
			*vdso_idx = (int)n;
		out[n++] = v;
	}
	return n;
}

static bool same_symbols(const struct vdso_info *old, const struct vdso_layout *cur)
{
	const uint64_t start = cur->r[cur->vdso_idx][0], len = cur->r[cur->vdso_idx][1] - start;
	struct vdso_info now;

	if (!old)
		return true; /* nothing to compare with: the layout has to do */
	if (old->size != len || vdso_parse((const uint8_t *)start, len, &now) < 0 || now.nr != old->nr)
		return false;
	for (size_t i = 0; i < old->nr; i++) {
		const struct vdso_sym *s = vdso_find(&now, old->syms[i].name);

		if (!s || s->offset != old->syms[i].offset)
			return false;
	}
	return true;
}

uint64_t vdso_proxy_len(const struct restore *rs, const struct rproc *rp, const struct vdso_layout *cur)
{
	const Ckpt__Vma *img[3];
	int img_vdso;
	size_t n = image_vdso(rp, img, &img_vdso);
	bool same = !rs->opts->vdso_proxy && n == cur->n && img_vdso == cur->vdso_idx && cur->vdso_idx >= 0;

	if (img_vdso < 0 || cur->vdso_idx < 0)
		return 0; /* no old vDSO to stand in for, or no new one to reach */
	for (size_t i = 0; same && i < n; i++)
		same = img[i]->end - img[i]->start == cur->r[i][1] - cur->r[i][0] &&
		       img[i]->start - img[0]->start == cur->r[i][0] - cur->r[0][0];
	if (same && same_symbols(rp->old_vdso, cur))
		return 0;
	return img[img_vdso]->end - img[img_vdso]->start;
}

static int cmp_offset(const void *a, const void *b)
{
	const struct vdso_sym *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Writes the trampolines for the old vDSO into buf (len bytes). */
static int write_proxy(const struct rproc *rp, const struct vdso_layout *cur, uint64_t new_vdso, uint8_t *buf,
		       uint64_t len, char *why, size_t whylen)
{
	struct vdso_info now, old = *rp->old_vdso;
	const uint64_t start = cur->r[cur->vdso_idx][0];

	if (vdso_parse((const uint8_t *)start, cur->r[cur->vdso_idx][1] - start, &now) < 0)
		return snprintf(why, whylen, "cannot read this kernel's vDSO symbols"), -ENOEXEC;
	/* The old vDSO's bytes keep its ELF tables; only function entries change. */
	memcpy(buf, rp->p->mm->vdso_image.data, len);
	qsort(old.syms, old.nr, sizeof(old.syms[0]), cmp_offset);
	for (size_t i = 0; i < old.nr; i++) {
		const struct vdso_sym *o = &old.syms[i], *s = vdso_find(&now, o->name);
		int nr = vdso_fallback_syscall(o->name);

		if (i > 0 && o->offset == old.syms[i - 1].offset)
			continue; /* an alias of the one before */
		if (o->offset + VDSO_TRAMPOLINE_LEN > len ||
		    (i + 1 < old.nr && old.syms[i + 1].offset != o->offset &&
		     old.syms[i + 1].offset < o->offset + VDSO_TRAMPOLINE_LEN))
			return snprintf(why, whylen, "vDSO function %s of the image is too close to the next", o->name),
			       -ENOEXEC;
		if (s)
			vdso_write_jump(buf + o->offset, new_vdso + s->offset);
		else if (nr)
			vdso_write_syscall(buf + o->offset, nr);
		else
			return snprintf(why, whylen, "this kernel's vDSO has no %s, which the image's had", o->name),
			       -ENOEXEC;
	}
	return 0;
}

int vdso_setup(const struct rproc *rp, const struct vdso_layout *cur, struct rst_args *a, uint8_t *proxy_buf,
	       uint64_t proxy_len, uint64_t free_at, char *why, size_t whylen)
{
	const Ckpt__Vma *img[3];
	int img_vdso;

	image_vdso(rp, img, &img_vdso);
	memcpy(a->vdso_cur, cur->r, sizeof(cur->r));
	a->nr_vdso_cur = cur->n;
	if (img_vdso < 0 || cur->vdso_idx < 0) {
		a->vdso_target = 0; /* the image had none: drop ours */
		return 0;
	}
	if (!proxy_len) {
		a->vdso_target = img[0]->start;
		return 0;
	}
	if (!rp->old_vdso)
		return snprintf(why, whylen, "this kernel's vDSO differs from the image's, which does not hold it"),
		       -ENOEXEC;
	a->vdso_target = free_at;
	a->proxy_addr = img[img_vdso]->start;
	a->proxy_len = proxy_len;
	return write_proxy(rp, cur, free_at + (cur->r[cur->vdso_idx][0] - cur->r[0][0]), proxy_buf, proxy_len, why,
			   whylen);
}
