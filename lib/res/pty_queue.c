// SPDX-License-Identifier: MIT
/*
 * The bytes queued in a pseudo-terminal pair. Both directions end in an
 * N_TTY line discipline buffer, which no interface shows without taking
 * the bytes out; so the dump reads them and puts them back with TIOCSTI,
 * which hands bytes to a line discipline at once, as if they had just
 * arrived:
 *  - output (the slave side wrote, the master has not read): read from the
 *    master, whose own termios is raw, and put back into it unchanged;
 *  - input (the master wrote, the slave side has not read): read from a
 *    slave held in the tree, as its reader would get it. In canonical mode
 *    whole lines come first; the line still being typed is only readable
 *    once ICANON is off, so it is switched off for that read and back on
 *    with the buffer empty. The bytes go back in with echo and the input
 *    conversions off (they were done when the bytes first came), ICANON as
 *    it is, so lines stay lines; a line that ended with VEOF gets VEOF back.
 * The restore queues the same bytes in the same way into the new pair.
 *
 * Lost or refused: input when no process of the tree holds the slave;
 * more than a line discipline buffer (4095 bytes) in one direction
 * (refused); in packet mode, a status byte not yet read by the master
 * (refused), and a termios change that would post one (EXTPROC, refused).
 * Bytes that were typed literally (after VLNEXT) and are special characters
 * (VERASE, VKILL, VEOF, VSTART, VSTOP) are taken as special when put back.
 */
#include <asm/termbits.h>
#include <poll.h>
#include <sys/ioctl.h>

#include "pty.h"

struct pty_input {
	uint8_t data[PTY_QUEUE_MAX + 1];
	size_t len;
	/* Whole lines end at line_end[i] (data[line_end[i - 1] .. line_end[i])); the rest follows. */
	size_t nr_lines;
	uint16_t line_end[PTY_QUEUE_MAX + 1];
	bool line_eof[PTY_QUEUE_MAX + 1];
};

static int queued(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) < 0 ? -errno : n;
}

static int sti(int fd, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ioctl(fd, TIOCSTI, (const char *)&p[i]) < 0)
			return -errno;
	return 0;
}

void pty_termios_to_state(const struct termios2 *t, Ckpt__PtyState *ps, struct arena *a)
{
	ps->iflag = t->c_iflag;
	ps->oflag = t->c_oflag;
	ps->cflag = t->c_cflag;
	ps->lflag = t->c_lflag;
	ps->line = t->c_line;
	ps->cc.len = NCCS;
	ps->cc.data = arena_alloc(a, NCCS);
	memcpy(ps->cc.data, t->c_cc, NCCS);
	ps->ispeed = t->c_ispeed;
	ps->ospeed = t->c_ospeed;
}

void pty_state_to_termios(const Ckpt__PtyState *ps, struct termios2 *t)
{
	memset(t, 0, sizeof(*t));
	t->c_iflag = ps->iflag;
	t->c_oflag = ps->oflag;
	t->c_cflag = ps->cflag;
	t->c_lflag = ps->lflag;
	t->c_line = (cc_t)ps->line;
	memcpy(t->c_cc, ps->cc.data, ps->cc.len < NCCS ? ps->cc.len : NCCS);
	t->c_ispeed = ps->ispeed;
	t->c_ospeed = ps->ospeed;
}

/*
 * Bytes that just arrived wait in the tty's buffers until a worker hands
 * them to the line discipline, where FIONREAD counts them. poll() on an
 * empty line discipline waits for that worker: after reading what was
 * counted, poll and look again.
 */
static int settled_queued(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	int n = queued(fd);

	if (n != 0)
		return n;
	poll(&p, 1, 0);
	return queued(fd);
}

/*
 * A full buffer may have more behind it, held back until the reader makes
 * room: reading it would let those in ahead of what is put back. Refused
 * before anything is read.
 */
static int check_room(int fd)
{
	int n = queued(fd);

	return n < 0 ? n : (unsigned)n >= PTY_QUEUE_MAX ? -EFBIG : 0;
}

/* Reads the master's queue: in packet mode each read starts with a TIOCPKT_DATA byte. */
static int take_output(int master, bool packet, uint8_t *buf, size_t *len)
{
	uint8_t tmp[PTY_QUEUE_MAX + 2];
	int r = check_room(master);

	*len = 0;
	if (r < 0)
		return r;
	for (;;) {
		int n = settled_queued(master);
		ssize_t got;

		if (n <= 0)
			return n;
		if (*len + (size_t)n > PTY_QUEUE_MAX)
			return -EFBIG;
		got = read(master, tmp, (size_t)n + packet);
		if (got < 0)
			return -errno;
		if (packet && (got == 0 || tmp[0] != TIOCPKT_DATA))
			return -EPROTO; /* a status byte: refused before reading, so not expected */
		memcpy(buf + *len, tmp + packet, (size_t)got - packet);
		*len += (size_t)got - packet;
		if (got <= (ssize_t)packet)
			return 0;
	}
}

static bool ends_line(const struct termios2 *t, uint8_t c)
{
	return c == '\n' || (t->c_cc[VEOL] && c == t->c_cc[VEOL]) || (t->c_cc[VEOL2] && c == t->c_cc[VEOL2]);
}

/* Whole lines, one read each: a read in canonical mode ends at a line's end. */
static int take_lines(int slave, const struct termios2 *t, struct pty_input *in)
{
	while (in->nr_lines < PTY_QUEUE_MAX) {
		int n = queued(slave);
		ssize_t got;

		if (n <= 0)
			return n;
		if (in->len + (size_t)n > PTY_QUEUE_MAX)
			return -EFBIG;
		got = read(slave, in->data + in->len, (size_t)n);
		if (got < 0)
			return -errno;
		in->len += (size_t)got;
		in->line_end[in->nr_lines] = (uint16_t)in->len;
		in->line_eof[in->nr_lines] = got == 0 || !ends_line(t, in->data[in->len - 1]);
		in->nr_lines++;
	}
	return -EFBIG;
}

/* What is left: bytes of a non-canonical reader, or the line being typed. */
static int take_rest(int slave, struct pty_input *in)
{
	int n = queued(slave);
	ssize_t got;

	if (n <= 0)
		return n;
	if (in->len + (size_t)n > PTY_QUEUE_MAX)
		return -EFBIG;
	got = read(slave, in->data + in->len, (size_t)n);
	if (got < 0)
		return -errno;
	in->len += (size_t)got;
	return 0;
}

static int set_termios(int master, const struct termios2 *t)
{
	return ioctl(master, TCSETS2, t) < 0 ? -errno : 0;
}

static int take_input_once(int master, int slave, const struct termios2 *t, struct pty_input *in)
{
	struct termios2 raw = *t;
	int r, r2;

	if (!(t->c_lflag & ICANON))
		return take_rest(slave, in);
	r = take_lines(slave, t, in);
	if (r < 0)
		return r;
	raw.c_lflag &= ~(tcflag_t)ICANON;
	r = set_termios(master, &raw);
	if (r < 0)
		return r;
	r = take_rest(slave, in);
	r2 = set_termios(master, t);
	return r < 0 ? r : r2;
}

/* Again once the line discipline is empty, for bytes that were on their way (settled_queued). */
static int take_input(int master, int slave, const struct termios2 *t, struct pty_input *in)
{
	int r = check_room(slave);

	for (int i = 0; r == 0 && i < 4; i++) {
		size_t seen = in->len + in->nr_lines;
		struct pollfd p = { slave, POLLIN, 0 };

		if (i > 0)
			poll(&p, 1, 0);
		r = take_input_once(master, slave, t, in);
		if (i > 0 && in->len + in->nr_lines == seen)
			break;
	}
	return r;
}

/* Queues in's bytes as input of the slave, under t's ICANON but no echo nor conversion. */
static int put_input(int master, int slave, const struct termios2 *t, const struct pty_input *in)
{
	struct termios2 quiet = *t;
	size_t start = 0;
	int r, r2;

	if (!in->len && !in->nr_lines)
		return 0;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL | ECHOCTL | ECHOPRT | ECHOKE | ISIG | IEXTEN);
	quiet.c_iflag &= ~(tcflag_t)(ISTRIP | INLCR | IGNCR | ICRNL | IUCLC);
	r = set_termios(master, &quiet);
	for (size_t i = 0; r == 0 && i < in->nr_lines; i++) {
		r = sti(slave, in->data + start, in->line_end[i] - start);
		if (r == 0 && in->line_eof[i])
			r = sti(slave, &t->c_cc[VEOF], 1);
		start = in->line_end[i];
	}
	if (r == 0)
		r = sti(slave, in->data + start, in->len - start);
	r2 = set_termios(master, t);
	return r < 0 ? r : r2;
}

static int refuse_packet_state(struct ckpt_ctx *ctx, const char *who, int master, const struct termios2 *t,
			       bool packet, bool reads_input)
{
	struct pollfd pfd = { master, POLLPRI, 0 };

	if (!packet)
		return 0;
	if (poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLPRI))
		return fail(ctx, -EOPNOTSUPP, "%s: a packet-mode status byte is waiting to be read; not supported", who);
	if (reads_input && (t->c_lflag & EXTPROC))
		return fail(ctx, -EOPNOTSUPP,
			    "%s: packet mode with EXTPROC: reading its input would post a status byte; not supported",
			    who);
	return 0;
}

static void save_input(const struct pty_input *in, Ckpt__PtyState *ps, struct arena *a)
{
	size_t start = 0;

	ps->n_input_lines = in->nr_lines;
	ps->input_lines = arena_alloc(a, in->nr_lines * sizeof(*ps->input_lines) + 1);
	for (size_t i = 0; i < in->nr_lines; i++) {
		Ckpt__PtyLine *l = arena_alloc(a, sizeof(*l));

		ckpt__pty_line__init(l);
		l->data.len = in->line_end[i] - start;
		l->data.data = arena_alloc(a, l->data.len + 1);
		memcpy(l->data.data, in->data + start, l->data.len);
		l->eof = in->line_eof[i];
		ps->input_lines[i] = l;
		start = in->line_end[i];
	}
	if (in->len > start) {
		ps->has_input = true;
		ps->input.len = in->len - start;
		ps->input.data = arena_alloc(a, ps->input.len);
		memcpy(ps->input.data, in->data + start, ps->input.len);
	}
}

static const char *queue_err(int r)
{
	return r == -EFBIG ? "its line discipline's buffer is full (its reader is not reading)" : strerror(-r);
}

int pty_save_queues(struct ckpt_ctx *ctx, const char *who, int master, int slave, Ckpt__PtyState *ps,
		    struct arena *a)
{
	_cleanup_free_ struct pty_input *in = xcalloc(1, sizeof(*in));
	uint8_t out[PTY_QUEUE_MAX + 1];
	struct termios2 t;
	size_t out_len = 0;
	int r, r2 = 0, r3 = 0;

	pty_state_to_termios(ps, &t);
	r = refuse_packet_state(ctx, who, master, &t, ps->packet, slave >= 0);
	if (r < 0)
		return r;
	r = take_output(master, ps->packet, out, &out_len);
	if (r == 0 && slave >= 0)
		r2 = take_input(master, slave, &t, in);
	/* Back as they were, whatever happened: the tree may go on running. */
	if (slave >= 0)
		r3 = put_input(master, slave, &t, in);
	if (out_len && sti(master, out, out_len) < 0 && !r3)
		r3 = -errno;
	if (r < 0)
		return fail(ctx, r, "%s: reading the bytes the master has not read: %s", who, queue_err(r));
	if (r2 < 0)
		return fail(ctx, r2, "%s: reading the input the slave side has not read: %s", who, queue_err(r2));
	if (r3 < 0)
		return fail(ctx, r3, "%s: putting its queued bytes back: %s", who, strerror(-r3));
	if (out_len) {
		ps->has_output = true;
		ps->output.len = out_len;
		ps->output.data = arena_alloc(a, out_len);
		memcpy(ps->output.data, out, out_len);
	}
	save_input(in, ps, a);
	return 0;
}

bool pty_queues_valid(const Ckpt__PtyState *ps)
{
	size_t in = ps->input.len;

	for (size_t i = 0; i < ps->n_input_lines && in <= PTY_QUEUE_MAX; i++)
		in += ps->input_lines[i]->data.len + ps->input_lines[i]->eof;
	return ps->output.len <= PTY_QUEUE_MAX && in <= PTY_QUEUE_MAX && ps->n_input_lines <= PTY_QUEUE_MAX;
}

int pty_load_queues(struct ckpt_ctx *ctx, const char *who, int master, int slave, const Ckpt__PtyState *ps)
{
	_cleanup_free_ struct pty_input *in = xcalloc(1, sizeof(*in));
	struct termios2 t;
	int r = 0;

	pty_state_to_termios(ps, &t);
	for (size_t i = 0; i < ps->n_input_lines; i++) {
		const Ckpt__PtyLine *l = ps->input_lines[i];

		if (l->data.len)
			memcpy(in->data + in->len, l->data.data, l->data.len);
		in->len += l->data.len;
		in->line_end[i] = (uint16_t)in->len;
		in->line_eof[i] = l->eof;
	}
	in->nr_lines = ps->n_input_lines;
	if (ps->input.len)
		memcpy(in->data + in->len, ps->input.data, ps->input.len);
	in->len += ps->input.len;
	if (in->len || in->nr_lines) {
		if (slave < 0)
			return fail(ctx, -EBADMSG, "image damaged: %s has input but no slave", who);
		r = put_input(master, slave, &t, in);
	}
	if (r == 0)
		r = set_termios(master, &t);
	if (r == 0 && ps->output.len)
		r = sti(master, ps->output.data, ps->output.len);
	if (r < 0)
		return fail(ctx, r, "%s: queueing its bytes again: %s%s", who, strerror(-r),
			    r == -EPERM || r == -EIO ? " (TIOCSTI needs CAP_SYS_ADMIN)" : "");
	return 0;
}
