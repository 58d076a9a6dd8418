/* SPDX-License-Identifier: MIT */
/*
 * Unix sockets: what unix.c, unix_dump.c and unix_restore.c share. The
 * image holds one UnixSocket per socket (images/ckpt.proto); the roles
 * (which end of a connection was accepted, which connections wait to be
 * accepted) are decided at dump time, where the kernel can still be asked.
 */
#ifndef CKPT_RES_UNIX_H
#define CKPT_RES_UNIX_H

#include <sys/socket.h>
#include <sys/un.h>

#include "sock.h"

/* UnixSocket.opts */
#define UNIX_OPT_PASSCRED 0x1
#define UNIX_OPT_PASSSEC 0x2
#define UNIX_OPT_PASSPIDFD 0x4
#define UNIX_OPT_NO_PASSRIGHTS 0x8 /* SO_PASSRIGHTS turned off (on by default) */
#define UNIX_OPT_ALL 0xfu

#define UNIX_QUEUE_MAX (32u << 20) /* bytes of queued data saved per socket */
#define UNIX_MSGS_MAX 65536u       /* messages (or runs) saved per socket */
#define UNIX_NAME_MAX 108          /* sizeof(sun_path) */

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

/* What sock_diag says of one unix socket. */
struct unix_diag {
	uint32_t ino, type, state, peer;
	uint32_t rqueue, wqueue;   /* listening: pending connections and backlog */
	uint32_t vfs_ino, vfs_dev; /* the socket file, if bound to a path */
	uint8_t shutdown;
	bool has_vfs;
	uint32_t *icons;           /* listening: clients not accepted yet (malloc'd) */
	size_t nicons;
};

int unix_diag_one(uint64_t ino, struct unix_diag *out);
/* Calls cb for every unix socket of our network namespace. */
int unix_diag_each(int (*cb)(const struct unix_diag *d, void *arg), void *arg);
void unix_diag_free(struct unix_diag *d);

/* A name from the image as a sockaddr; returns its length. */
socklen_t unix_addr(struct sockaddr_un *a, const ProtobufCBinaryData *name);
/* The name for messages: the path, or @ and the abstract name. */
const char *unix_name_str(const ProtobufCBinaryData *name, char *buf, size_t len);
bool unix_name_eq(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b);
bool unix_named(const Ckpt__UnixSocket *u);
const char *unix_type_str(uint32_t type);

/* The unix socket File of the image with this inode, or NULL. */
Ckpt__File *unix_by_ino(const struct model *m, uint64_t ino);
bool unix_dgram_pair(const struct model *m, const Ckpt__File *f);

/* The first Fd naming the File, for messages: "pid P fd N" or "a socket in flight". */
const char *unix_where(const struct model *m, const Ckpt__File *f, char *buf, size_t len);

/* --- restore: unix_restore.c, unix_place.c ----------------------------- */

/*
 * How a socket is reached by its name: from ckpt itself, or from a helper
 * process that first enters root (chroot: a scratch directory where names
 * whose file is gone are bound) and cwd (relative names).
 */
struct uwhere {
	char root[PATH_MAX];
	char cwd[PATH_MAX];
	struct sockaddr_un a;
	socklen_t alen;
};

struct usk {
	const Ckpt__File *f;
	const Ckpt__UnixSocket *u;
	int fd;                   /* the socket once made, -1 before */
	int tmp;                  /* stand-in for a closed peer: writes the queue, then closed */
	bool early;               /* a datagram socket connected before its queue is filled */
	struct uwhere at;         /* sockets bound to a name */
};

/* Sockets made only for the restore: listeners and senders with a given name. */
struct utemp {
	uint32_t type;
	ProtobufCBinaryData name;
	int fd;
	bool listening;
	struct uwhere at;
};

struct ubuild {
	struct ckpt_ctx *ctx;
	struct res_restore *rr;
	struct usk *s;
	size_t n;
	struct utemp *t;
	size_t nt, capt;
	char scratch[64];         /* "" until a name has to be bound outside the file system */
	unsigned next_dir;
	pid_t self;
};

/* Credentials to act with: what the other end's SO_PEERCRED showed. */
struct uas {
	uid_t uid;
	gid_t gid;
};

typedef int (*uat_fn)(const struct uwhere *w, void *arg);
/* Runs fn where w says, as as says (NULL: as ckpt). fn returns 0 or -errno. */
int unix_at(struct ubuild *b, const struct uwhere *w, const struct uas *as, uat_fn fn, void *arg);
/* Binds a socket to its name again, its file at its place with its mode and owner. */
int unix_bind_owner(struct ubuild *b, struct usk *s);
/* Binds a socket made for the restore to a name, leaving no file: a path name goes in a scratch root. */
int unix_bind_temp(struct ubuild *b, int sk, const ProtobufCBinaryData *name, struct uwhere *at);
void unix_scratch_remove(struct ubuild *b);

/* unix_dump.c */
int unix_dump(struct ckpt_ctx *ctx, const struct ckpt_dump_opts *opts, const struct fd_desc *fd, Ckpt__File *f,
	      struct model *m);
int unix_dump_finish(struct ckpt_ctx *ctx, struct model *m);
/* unix_restore.c */
int unix_open(struct ckpt_ctx *ctx, struct res_restore *rr, const Ckpt__File *f, int *fd);

#endif
