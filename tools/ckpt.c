// SPDX-License-Identifier: MIT
/*
 * The ckpt command: a thin layer over libckpt (include/ckpt.h).
 *
 *   ckpt dump -t PID -o FILE|- [--leave-running] [--shell-job] [--no-sync] [--tcp-established|--tcp-close]
 *             [--ipc-key KEY]...
 *   ckpt restore -i FILE|- [--detach] [--shell-job] [--pid-wait-ms N] [--allow-file-changes]
 *   ckpt info -i FILE|- [--json]
 *
 * Exit status: 0 success, 1 the operation failed, 2 usage error; restore
 * without --detach exits with the status of the restored root.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt.h"

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE = 2,
	PROCEED = -1, /* option parsing went fine: run the command */
};

enum {
	OPT_LOG_FILE = 0x100,
	OPT_LEAVE_RUNNING,
	OPT_SHELL_JOB,
	OPT_PID_WAIT,
	OPT_VDSO_PROXY,
	OPT_JSON,
	OPT_NO_SYNC,
	OPT_ALLOW_FILE_CHANGES,
	OPT_TCP_ESTABLISHED,
	OPT_TCP_CLOSE,
	OPT_IPC_KEY,
};

#define COMMON_SHORT ":vh"
#define COMMON_LONG                                                    \
	{ "verbose", no_argument, NULL, 'v' },                         \
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },         \
	{ "help", no_argument, NULL, 'h' }

#define COMMON_HELP                                                                  \
	"  -v, --verbose         more messages: -v for progress, -vv for debugging\n"  \
	"      --log-file FILE   write messages and errors to FILE instead of stderr\n" \
	"  -h, --help            show this help\n"

#define EXIT_HELP                                                         \
	"Exit status:\n"                                                  \
	"  0  success\n"                                                  \
	"  1  the operation failed; the message says why\n"               \
	"  2  usage error\n"                                              \
	"  restore without --detach exits with the restored root's status:\n" \
	"  its exit code, or 128+N if signal N killed it (like a shell)\n"

/* What every command has: options, the library context and the log. */
struct cmd {
	const char *name;
	const char *help;
	int verbose;
	bool want_help;
	const char *log_file;
	FILE *log;
	struct ckpt_ctx *ctx;
};

static const char main_help[] =
	"Usage: ckpt COMMAND [OPTIONS]\n"
	"Checkpoint and restore Linux process trees.\n"
	"\n"
	"Commands:\n"
	"  dump      write an image of a running process tree\n"
	"  restore   start a process tree again from an image\n"
	"  info      describe an image\n"
	"\n"
	"Options of every command:\n" COMMON_HELP
	"\n"
	"  ckpt --help      this help\n"
	"  ckpt --version   print the version\n"
	"\n" EXIT_HELP
	"\n"
	"Run 'ckpt COMMAND --help' for the options of a command.\n";

static const char dump_help[] =
	"Usage: ckpt dump -t PID -o FILE|- [--leave-running] [--shell-job] [--no-sync]\n"
	"                 [--tcp-established | --tcp-close] [--ipc-key KEY]... [-v] [--log-file FILE]\n"
	"Write an image of the process tree rooted at PID. Once the image is\n"
	"complete the tree is killed, unless --leave-running is given. If the dump\n"
	"fails, the tree goes on running and a partly written FILE is removed.\n"
	"\n"
	"  -t, --tree PID        root of the tree to dump\n"
	"  -o, --output FILE     write the image to FILE (created with mode 0600);\n"
	"                        - writes it to stdout, which may be a pipe\n"
	"      --leave-running   let the tree go on after the dump\n"
	"      --shell-job       allow the caller's terminal as descriptors of the tree\n"
	"      --no-sync         do not wait for FILE to reach the disk: page data goes\n"
	"                        through the page cache and nothing is synced; faster,\n"
	"                        but a machine crash soon after loses the image\n"
	"      --ipc-key KEY     also save the SysV IPC objects with this key (decimal,\n"
	"                        or hex with 0x); may be given more than once. Without\n"
	"                        it a dump saves those the tree attached, created or\n"
	"                        used last (docs/ipc.md)\n"
	"      --tcp-established save established TCP connections with their data; their\n"
	"                        packets are dropped (nftables table inet ckpt) until\n"
	"                        the restore, or until the tree goes on after the dump\n"
	"      --tcp-close       save established TCP connections as dropped: the tree's\n"
	"                        end is closed as the tree ends, and the restored\n"
	"                        program finds them aborted (ECONNABORTED)\n"
	"Without either, a tree with an established TCP connection is not dumped.\n" COMMON_HELP
	"\n" EXIT_HELP;

static const char restore_help[] =
	"Usage: ckpt restore -i FILE|- [--detach] [--shell-job] [--pid-wait-ms N] [--allow-file-changes]\n"
	"                    [-v] [--log-file FILE]\n"
	"Start the process tree of an image again, with the same pids.\n"
	"\n"
	"  -i, --input FILE      read the image from FILE; - reads stdin, which may be a pipe\n"
	"  -d, --detach          return once the tree runs; with -v, print the root pid\n"
	"      --shell-job       give terminal descriptors this command's terminal\n"
	"      --pid-wait-ms N   how long to wait for a pid still in use (default 3000;\n"
	"                        0 does not wait)\n"
	"      --vdso-proxy      reach this kernel's vDSO through jumps at the old vDSO's\n"
	"                        place even if both are alike (done by itself when they\n"
	"                        differ; this forces it, for testing)\n"
	"      --allow-file-changes  accept files opened read-only or mapped whose size or\n"
	"                        modification time changed since the dump (refused\n"
	"                        otherwise, naming the file)\n" COMMON_HELP
	"\n"
	"Without --detach, ckpt waits for the restored root and exits with its\n"
	"status: its exit code, or 128+N if signal N killed it.\n"
	"\n" EXIT_HELP;

static const char info_help[] =
	"Usage: ckpt info -i FILE|- [--json] [-v] [--log-file FILE]\n"
	"Check an image completely and describe it: the machine it came from, the\n"
	"process tree, threads, mappings, descriptors and the size of the page data.\n"
	"\n"
	"  -i, --input FILE      read the image from FILE; - reads stdin\n"
	"      --json            print one JSON object instead of text\n" COMMON_HELP
	"\n" EXIT_HELP;

static void say(struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Errors go to the log (stderr or --log-file), and to stderr as well if they differ. */
static void say(struct cmd *c, const char *fmt, ...)
{
	FILE *outs[2] = { c->log ? c->log : stderr, stderr };
	va_list ap;

	for (int i = 0; i < 2; i++) {
		if (i == 1 && outs[1] == outs[0])
			break;
		va_start(ap, fmt);
		fputs("ckpt: ", outs[i]);
		vfprintf(outs[i], fmt, ap);
		fputc('\n', outs[i]);
		fflush(outs[i]);
		va_end(ap);
	}
}

static int usage_error(struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(struct cmd *c, const char *fmt, ...)
{
	va_list ap;

	fputs("ckpt: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (c && c->name)
		fprintf(stderr, "\nTry 'ckpt %s --help'.\n", c->name);
	else
		fputs("\nTry 'ckpt --help'.\n", stderr);
	return EXIT_USAGE;
}

static int parse_int(struct cmd *c, const char *opt, const char *s, long min, long max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return usage_error(c, "%s wants a number from %ld to %ld, not '%s'", opt, min, max, s);
	*out = (int)v;
	return PROCEED;
}

/* Options every command takes; returns PROCEED, an exit code, or 0 if opt is not one. */
static int common_opt(struct cmd *c, int opt, char **argv)
{
	switch (opt) {
	case 'v':
		c->verbose++;
		return PROCEED;
	case OPT_LOG_FILE:
		c->log_file = optarg;
		return PROCEED;
	case 'h':
		c->want_help = true;
		return PROCEED;
	case ':':
		return usage_error(c, "option %s needs a value", argv[optind - 1]);
	case '?':
		if (optopt > 0 && optopt < 0x100)
			return usage_error(c, "unknown option -%c", optopt);
		return usage_error(c, "unknown option %s", argv[optind - 1]);
	}
	return 0;
}

typedef int (*cmd_opt_fn)(struct cmd *c, void *o, int opt);

/* Parses argv; returns PROCEED to run the command, else the exit code. */
static int parse(struct cmd *c, int argc, char **argv, const char *shortopts, const struct option *longopts,
		 cmd_opt_fn fn, void *o)
{
	int opt, r;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		r = common_opt(c, opt, argv);
		if (r == 0)
			r = fn(c, o, opt);
		if (r != PROCEED)
			return r;
	}
	if (c->want_help) {
		fputs(c->help, stdout);
		return EXIT_OK;
	}
	if (optind < argc)
		return usage_error(c, "unexpected argument '%s'", argv[optind]);
	return PROCEED;
}

static enum ckpt_log_level log_level(int verbose)
{
	int l = CKPT_LOG_WARN + verbose;

	return l > CKPT_LOG_DEBUG ? CKPT_LOG_DEBUG : (enum ckpt_log_level)l;
}

/* Opens the log and makes the library context. */
static int cmd_setup(struct cmd *c)
{
	int fd, r;

	c->log = stderr;
	if (c->log_file) {
		fd = open(c->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0 || !(c->log = fdopen(fd, "a"))) {
			c->log = stderr;
			say(c, "cannot open log file %s: %s", c->log_file, strerror(errno));
			if (fd >= 0)
				close(fd);
			return EXIT_FAILED;
		}
		setvbuf(c->log, NULL, _IOLBF, 0);
	}
	r = ckpt_ctx_new(&c->ctx);
	if (r < 0) {
		say(c, "cannot make a context: %s", strerror(-r));
		return EXIT_FAILED;
	}
	ckpt_set_log(c->ctx, c->log, log_level(c->verbose));
	return PROCEED;
}

static int cmd_done(struct cmd *c, int code)
{
	if (c->ctx)
		ckpt_ctx_free(c->ctx);
	if (c->log && c->log != stderr)
		fclose(c->log);
	return code;
}

static int lib_failed(struct cmd *c)
{
	say(c, "%s", ckpt_error(c->ctx));
	return EXIT_FAILED;
}

/* Progress messages of the command itself, shown with -v. */
static void note(struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct cmd *c, const char *fmt, ...)
{
	va_list ap;

	if (c->verbose < 1)
		return;
	va_start(ap, fmt);
	fputs("ckpt: ", c->log);
	vfprintf(c->log, fmt, ap);
	fputc('\n', c->log);
	fflush(c->log);
	va_end(ap);
}

static double ms(unsigned long long ns)
{
	return (double)ns / 1e6;
}

/* Input: "-" is stdin. */
static int open_input(struct cmd *c, const char *path, int *fd)
{
	if (!strcmp(path, "-")) {
		if (isatty(STDIN_FILENO))
			return usage_error(c, "-i - reads the image from stdin, but stdin is a terminal");
		*fd = STDIN_FILENO;
		return PROCEED;
	}
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		say(c, "cannot open %s: %s", path, strerror(errno));
		return EXIT_FAILED;
	}
	return PROCEED;
}

/* dump */

#define MAX_IPC_KEYS 64

struct dump_args {
	struct ckpt_dump_opts o;
	const char *out;
	int keys[MAX_IPC_KEYS];
};

/* A SysV key as ipcs shows it (hex) or as a program passes it (decimal); IPC_PRIVATE names nothing. */
static int parse_ipc_key(struct cmd *c, struct dump_args *a, const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || *end || v == 0 || v < INT32_MIN || v > UINT32_MAX)
		return usage_error(c, "--ipc-key: '%s' is not a SysV key (a nonzero 32-bit number)", s);
	if (a->o.nr_ipc_keys == MAX_IPC_KEYS)
		return usage_error(c, "--ipc-key: at most %d keys", MAX_IPC_KEYS);
	a->keys[a->o.nr_ipc_keys++] = (int)(uint32_t)v;
	a->o.ipc_keys = a->keys;
	return PROCEED;
}

static int dump_opt(struct cmd *c, void *p, int opt)
{
	struct dump_args *a = p;

	switch (opt) {
	case 't':
		return parse_int(c, "-t", optarg, 1, INT_MAX, &a->o.pid);
	case 'o':
		a->out = optarg;
		return PROCEED;
	case OPT_LEAVE_RUNNING:
		a->o.leave_running = true;
		return PROCEED;
	case OPT_SHELL_JOB:
		a->o.shell_job = true;
		return PROCEED;
	case OPT_NO_SYNC:
		a->o.no_sync = true;
		return PROCEED;
	case OPT_TCP_ESTABLISHED:
		a->o.tcp_established = true;
		return PROCEED;
	case OPT_TCP_CLOSE:
		a->o.tcp_close = true;
		return PROCEED;
	case OPT_IPC_KEY:
		return parse_ipc_key(c, a, optarg);
	}
	return usage_error(c, "unexpected option");
}

/*
 * A file is written under a temporary name in the same directory and
 * renamed over the path only once the dump succeeded: a failed dump never
 * destroys an image that was there, nor leaves a partial one. Anything
 * else (a device, a FIFO) is written directly.
 */
static int open_output(struct cmd *c, const char *path, int *fd, char **tmp)
{
	struct stat st;
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path + 1) : 0;

	*tmp = NULL;
	if (!strcmp(path, "-")) {
		if (isatty(STDOUT_FILENO))
			return usage_error(c, "-o - writes the image to stdout, but stdout is a terminal");
		*fd = STDOUT_FILENO;
		return PROCEED;
	}
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		*fd = open(path, O_WRONLY | O_CLOEXEC);
		if (*fd < 0) {
			say(c, "cannot open %s: %s", path, strerror(errno));
			return EXIT_FAILED;
		}
		return PROCEED;
	}
	if (asprintf(tmp, "%.*s.%s.ckpt-XXXXXX", dirlen, path, path + dirlen) < 0)
		return EXIT_FAILED;
	*fd = mkostemp(*tmp, O_CLOEXEC); /* mode 0600 */
	if (*fd < 0) {
		say(c, "cannot create %s: %s", path, strerror(errno));
		free(*tmp);
		*tmp = NULL;
		return EXIT_FAILED;
	}
	return PROCEED;
}

/* Puts a complete image in place: the rename, then the directory on disk. */
static int commit_output(struct cmd *c, const char *tmp, const char *path, bool sync_dir)
{
	char *dir;
	int dfd;

	if (rename(tmp, path) < 0) {
		say(c, "the image is complete in %s but cannot be renamed to %s: %s", tmp, path, strerror(errno));
		return -errno;
	}
	dir = sync_dir ? strdup(path) : NULL;
	if (dir) {
		char *slash = strrchr(dir, '/');

		if (slash)
			slash[1] = 0;
		dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	return 0;
}

static int run_dump(struct cmd *c, struct dump_args *a)
{
	const struct ckpt_stats *s;
	char *tmp = NULL;
	int r;

	r = open_output(c, a->out, &a->o.out_fd, &tmp);
	if (r != PROCEED)
		return r;
	/* A reader that goes away must give EPIPE, not kill us with the tree frozen. */
	signal(SIGPIPE, SIG_IGN);
	r = ckpt_dump(c->ctx, &a->o);
	if (a->o.out_fd != STDOUT_FILENO && close(a->o.out_fd) < 0 && r == 0) {
		say(c, "closing %s: %s", a->out, strerror(errno));
		r = -EIO;
	} else if (r < 0) {
		lib_failed(c);
	}
	if (r == 0 && tmp)
		r = commit_output(c, tmp, a->out, !a->o.no_sync) < 0 ? -EIO : 0;
	else if (r < 0 && tmp && unlink(tmp) < 0)
		say(c, "cannot remove the partial image %s: %s", tmp, strerror(errno));
	free(tmp);
	if (r < 0)
		return EXIT_FAILED;
	s = ckpt_stats(c->ctx);
	note(c, "dumped %u processes, %u threads: %llu bytes of pages, image %llu bytes; frozen %.1f ms, total %.1f ms",
	     s->processes, s->threads, s->page_bytes, s->image_bytes, ms(s->frozen_ns), ms(s->total_ns));
	return EXIT_OK;
}

static int cmd_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tree", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "leave-running", no_argument, NULL, OPT_LEAVE_RUNNING },
		{ "shell-job", no_argument, NULL, OPT_SHELL_JOB },
		{ "no-sync", no_argument, NULL, OPT_NO_SYNC },
		{ "tcp-established", no_argument, NULL, OPT_TCP_ESTABLISHED },
		{ "tcp-close", no_argument, NULL, OPT_TCP_CLOSE },
		{ "ipc-key", required_argument, NULL, OPT_IPC_KEY },
		COMMON_LONG,
		{ NULL, 0, NULL, 0 },
	};
	struct cmd c = { .name = "dump", .help = dump_help };
	struct dump_args a = { .o = { .out_fd = -1 } };
	int r = parse(&c, argc, argv, COMMON_SHORT "t:o:", longopts, dump_opt, &a);

	if (r != PROCEED)
		return r;
	if (!a.o.pid)
		return usage_error(&c, "dump needs the pid of the tree: -t PID");
	if (!a.out)
		return usage_error(&c, "dump needs an output: -o FILE, or -o - for stdout");
	if (a.o.tcp_established && a.o.tcp_close)
		return usage_error(&c, "--tcp-established and --tcp-close exclude each other");
	r = cmd_setup(&c);
	if (r == PROCEED)
		r = run_dump(&c, &a);
	return cmd_done(&c, r);
}

/* restore */

struct restore_args {
	struct ckpt_restore_opts o;
	const char *in;
};

static int restore_opt(struct cmd *c, void *p, int opt)
{
	struct restore_args *a = p;
	int r;

	switch (opt) {
	case 'i':
		a->in = optarg;
		return PROCEED;
	case 'd':
		a->o.detach = true;
		return PROCEED;
	case OPT_SHELL_JOB:
		a->o.shell_job = true;
		return PROCEED;
	case OPT_PID_WAIT:
		r = parse_int(c, "--pid-wait-ms", optarg, 0, INT_MAX, &a->o.pid_wait_ms);
		/* The library reads 0 as "the default"; 1 ms is as good as no wait. */
		if (r == PROCEED && a->o.pid_wait_ms == 0)
			a->o.pid_wait_ms = 1;
		return r;
	case OPT_VDSO_PROXY:
		a->o.vdso_proxy = true;
		return PROCEED;
	case OPT_ALLOW_FILE_CHANGES:
		a->o.allow_file_changes = true;
		return PROCEED;
	}
	return usage_error(c, "unexpected option");
}

/* The restored root's wait status as a shell would report it. */
static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_FAILED;
}

static int run_restore(struct cmd *c, struct restore_args *a)
{
	const struct ckpt_stats *s;
	pid_t root = 0;
	int status = 0, r;

	r = open_input(c, a->in, &a->o.in_fd);
	if (r != PROCEED)
		return r;
	/* Restored processes are forked from us: nothing may be left buffered. */
	fflush(NULL);
	r = ckpt_restore(c->ctx, &a->o, &root, &status);
	if (a->o.in_fd != STDIN_FILENO)
		close(a->o.in_fd);
	if (r < 0)
		return lib_failed(c);
	s = ckpt_stats(c->ctx);
	note(c, "restored %u processes, %u threads, root pid %d: %llu bytes of pages in %.1f ms", s->processes,
	     s->threads, root, s->page_bytes, ms(s->total_ns));
	if (a->o.detach) {
		if (c->verbose)
			printf("%d\n", root);
		return fflush(stdout) ? EXIT_FAILED : EXIT_OK;
	}
	note(c, "pid %d ended with wait status 0x%x", root, status);
	return exit_code(status);
}

static int cmd_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "detach", no_argument, NULL, 'd' },
		{ "shell-job", no_argument, NULL, OPT_SHELL_JOB },
		{ "pid-wait-ms", required_argument, NULL, OPT_PID_WAIT },
		{ "vdso-proxy", no_argument, NULL, OPT_VDSO_PROXY },
		{ "allow-file-changes", no_argument, NULL, OPT_ALLOW_FILE_CHANGES },
		COMMON_LONG,
		{ NULL, 0, NULL, 0 },
	};
	struct cmd c = { .name = "restore", .help = restore_help };
	struct restore_args a = { .o = { .in_fd = -1 } };
	int r = parse(&c, argc, argv, COMMON_SHORT "i:d", longopts, restore_opt, &a);

	if (r != PROCEED)
		return r;
	if (!a.in)
		return usage_error(&c, "restore needs an image: -i FILE, or -i - for stdin");
	r = cmd_setup(&c);
	if (r == PROCEED)
		r = run_restore(&c, &a);
	return cmd_done(&c, r);
}

/* info */

struct info_args {
	const char *in;
	bool json;
};

static int info_opt(struct cmd *c, void *p, int opt)
{
	struct info_args *a = p;

	switch (opt) {
	case 'i':
		a->in = optarg;
		return PROCEED;
	case OPT_JSON:
		a->json = true;
		return PROCEED;
	}
	return usage_error(c, "unexpected option");
}

static int run_info(struct cmd *c, struct info_args *a)
{
	int fd, r;

	r = open_input(c, a->in, &fd);
	if (r != PROCEED)
		return r;
	r = ckpt_info(c->ctx, fd, stdout, a->json);
	if (fd != STDIN_FILENO)
		close(fd);
	return r < 0 ? lib_failed(c) : EXIT_OK;
}

static int cmd_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, OPT_JSON },
		COMMON_LONG,
		{ NULL, 0, NULL, 0 },
	};
	struct cmd c = { .name = "info", .help = info_help };
	struct info_args a = { 0 };
	int r = parse(&c, argc, argv, COMMON_SHORT "i:", longopts, info_opt, &a);

	if (r != PROCEED)
		return r;
	if (!a.in)
		return usage_error(&c, "info needs an image: -i FILE, or -i - for stdin");
	r = cmd_setup(&c);
	if (r == PROCEED)
		r = run_info(&c, &a);
	return cmd_done(&c, r);
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "dump", cmd_dump, dump_help },
	{ "restore", cmd_restore, restore_help },
	{ "info", cmd_info, info_help },
};

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : NULL;

	if (!name)
		return usage_error(NULL, "no command given");
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		for (size_t i = 0; argc > 2 && i < sizeof(commands) / sizeof(commands[0]); i++)
			if (!strcmp(argv[2], commands[i].name))
				return fputs(commands[i].help, stdout) < 0 ? EXIT_FAILED : EXIT_OK;
		return fputs(main_help, stdout) < 0 ? EXIT_FAILED : EXIT_OK;
	}
	if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
		printf("ckpt %s\n", CKPT_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(name, commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	if (name[0] == '-')
		return usage_error(NULL, "unknown option %s; options come after the command", name);
	return usage_error(NULL, "unknown command '%s'", name);
}
