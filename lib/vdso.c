// SPDX-License-Identifier: MIT
/* vDSO symbol tables and the trampolines that stand in for an old vDSO. */
#include <elf.h>
#include <sys/syscall.h>

#include "vdso.h"

static bool in_bounds(size_t len, uint64_t off, uint64_t size)
{
	return off <= len && size <= len - off;
}

/* The lowest PT_LOAD address: symbol values are relative to it. */
static int load_base(const uint8_t *img, size_t len, const Elf64_Ehdr *eh, uint64_t *base)
{
	bool found = false;

	if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    !in_bounds(len, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return -EINVAL;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, img + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && (!found || ph.p_vaddr < *base)) {
			*base = ph.p_vaddr;
			found = true;
		}
	}
	return found ? 0 : -EINVAL;
}

static void add_sym(struct vdso_info *out, const char *name, size_t max, uint64_t off)
{
	struct vdso_sym *s;
	size_t n = strnlen(name, max);

	if (out->nr >= VDSO_MAX_SYMS || n == 0 || n >= sizeof(s->name))
		return;
	s = &out->syms[out->nr++];
	memcpy(s->name, name, n);
	s->name[n] = 0;
	s->offset = off;
}

int vdso_parse(const uint8_t *img, size_t len, struct vdso_info *out)
{
	Elf64_Ehdr eh;
	uint64_t base = 0;

	memset(out, 0, sizeof(*out));
	out->size = len;
	if (len < sizeof(eh))
		return -EINVAL;
	memcpy(&eh, img, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_shentsize != sizeof(Elf64_Shdr) || load_base(img, len, &eh, &base) < 0 ||
	    !in_bounds(len, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr)))
		return -EINVAL;
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh, str;

		memcpy(&sh, img + eh.e_shoff + i * sizeof(sh), sizeof(sh));
		if (sh.sh_type != SHT_DYNSYM || sh.sh_link >= eh.e_shnum || !in_bounds(len, sh.sh_offset, sh.sh_size))
			continue;
		memcpy(&str, img + eh.e_shoff + sh.sh_link * sizeof(str), sizeof(str));
		if (!in_bounds(len, str.sh_offset, str.sh_size))
			return -EINVAL;
		for (uint64_t k = 0; k + sizeof(Elf64_Sym) <= sh.sh_size; k += sizeof(Elf64_Sym)) {
			Elf64_Sym sym;

			memcpy(&sym, img + sh.sh_offset + k, sizeof(sym));
			if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF ||
			    sym.st_name >= str.sh_size || sym.st_value < base || sym.st_value - base >= len)
				continue;
			add_sym(out, (const char *)img + str.sh_offset + sym.st_name, str.sh_size - sym.st_name,
				sym.st_value - base);
		}
		return out->nr ? 0 : -EINVAL;
	}
	return -EINVAL;
}

const struct vdso_sym *vdso_find(const struct vdso_info *v, const char *name)
{
	for (size_t i = 0; i < v->nr; i++)
		if (!strcmp(v->syms[i].name, name))
			return &v->syms[i];
	return NULL;
}

void vdso_write_jump(uint8_t *at, uint64_t target)
{
	at[0] = 0x48; /* movabs $target, %rax */
	at[1] = 0xb8;
	memcpy(at + 2, &target, 8);
	at[10] = 0xff; /* jmp *%rax */
	at[11] = 0xe0;
}

int vdso_fallback_syscall(const char *name)
{
	static const struct {
		const char *name;
		int nr;
	} calls[] = {
		{ "clock_gettime", SYS_clock_gettime }, { "gettimeofday", SYS_gettimeofday },
		{ "time", SYS_time },                   { "getcpu", SYS_getcpu },
		{ "clock_getres", SYS_clock_getres },
	};

	if (!strncmp(name, "__vdso_", 7))
		name += 7;
	for (size_t i = 0; i < ARRAY_SIZE(calls); i++)
		if (!strcmp(name, calls[i].name))
			return calls[i].nr;
	return 0;
}

void vdso_write_syscall(uint8_t *at, int nr)
{
	at[0] = 0xb8; /* mov $nr, %eax */
	memcpy(at + 1, &nr, 4);
	at[5] = 0x0f; /* syscall */
	at[6] = 0x05;
	at[7] = 0xc3; /* ret */
}
