// SPDX-License-Identifier: MIT
/* The one list of resource kinds. */
#include "res.h"

static const struct res_ops *const kinds[] = {
	&res_mqueue, /* before res_path: a queue's descriptor looks like a regular file */
	&res_path,
	&res_chardev,
	&res_tty,
	&res_pipe,
	&res_eventfd,
	&res_epoll,
	&res_fifo,
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

char *fdinfo_text(const struct fd_desc *fd)
{
	char path[96], *text = NULL;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/fdinfo/%d", fd->pid, fd->tid, fd->fd);
	return read_text(path, &text, NULL) < 0 ? NULL : text;
}

struct res_obj *res_obj_find(struct res_restore *rr, uint32_t kind, uint64_t id)
{
	for (size_t i = 0; i < rr->nr_objs; i++)
		if (rr->objs[i].kind == kind && rr->objs[i].id == id)
			return &rr->objs[i];
	return NULL;
}

struct res_obj *res_obj_add(struct res_restore *rr, uint32_t kind, uint64_t id)
{
	struct res_obj *o = array_push(&rr->objs, &rr->nr_objs, &rr->cap_objs, sizeof(*o));

	o->kind = kind;
	o->id = id;
	o->fds[0] = o->fds[1] = -1;
	return o;
}

/* Every description in use has its own fd by now: drop the kinds' extra ones. */
void res_restore_done(struct res_restore *rr)
{
	for (size_t i = 0; i < rr->nr_objs; i++)
		for (int k = 0; k < 2; k++)
			if (rr->objs[i].fds[k] >= 0)
				close(rr->objs[i].fds[k]);
	free(rr->objs);
	rr->objs = NULL;
	rr->nr_objs = rr->cap_objs = 0;
}
