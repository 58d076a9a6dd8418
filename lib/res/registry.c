// SPDX-License-Identifier: MIT
/* The one list of resource kinds. */
#include "res.h"

static const struct res_ops *const kinds[] = {
	&res_path,
	&res_chardev,
	&res_tty,
};

const struct res_ops *res_by_kind(uint32_t kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (kinds[i]->kind == kind)
			return kinds[i];
	return NULL;
}

const struct res_ops *res_for_fd(const struct fd_desc *fd)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (kinds[i]->match(fd))
			return kinds[i];
	return NULL;
}

const char *fd_kind_name(const struct fd_desc *fd, char *buf, size_t len)
{
	const char *l = fd->link;

	if (!strncmp(l, "anon_inode:", 11)) {
		l += 11;
		snprintf(buf, len, "%.*s", (int)strcspn(l + (*l == '['), "]"), l + (*l == '['));
	} else if (!strncmp(l, "pipe:", 5)) {
		snprintf(buf, len, S_ISFIFO(fd->st.st_mode) ? "pipe" : "%s", l);
	} else if (!strncmp(l, "socket:", 7)) {
		snprintf(buf, len, "socket");
	} else if (S_ISFIFO(fd->st.st_mode)) {
		snprintf(buf, len, "fifo %s", l);
	} else if (S_ISCHR(fd->st.st_mode)) {
		snprintf(buf, len, "character device %s", l);
	} else if (S_ISBLK(fd->st.st_mode)) {
		snprintf(buf, len, "block device %s", l);
	} else {
		snprintf(buf, len, "%s", l);
	}
	return buf;
}
