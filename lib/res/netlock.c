// SPDX-License-Identifier: MIT
/*
 * The network lock: while a TCP connection is dumped, and until it is
 * restored, its packets are dropped both ways, so that neither end's
 * kernel answers for a socket that is being read or is gone (with a reset
 * that would end the connection), and the peer just retransmits into
 * silence. The lock is an nftables table of this network namespace,
 * "inet ckpt": two sets of connections (local address . port . remote
 * address . port) and input/output chains that drop their packets, except
 * those ckpt marks as its own (INET_MARK: segments it sends to put a
 * restored socket in its state). It is changed with nft(8), one atomic
 * transaction per change; an element is added by a dump or a restore and
 * taken out once the socket is restored, or the tree goes on after a dump.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "inet.h"

static const char nft_setup[] =
	"add table inet ckpt\n"
	"add set inet ckpt conn4 { type ipv4_addr . inet_service . ipv4_addr . inet_service ; }\n"
	"add set inet ckpt conn6 { type ipv6_addr . inet_service . ipv6_addr . inet_service ; }\n"
	"add chain inet ckpt in { type filter hook input priority -300 ; policy accept ; }\n"
	"add chain inet ckpt out { type filter hook output priority -300 ; policy accept ; }\n"
	"flush chain inet ckpt in\n"
	"flush chain inet ckpt out\n"
	"add rule inet ckpt in meta mark 0x636b7074 accept\n"
	"add rule inet ckpt in ip daddr . tcp dport . ip saddr . tcp sport @conn4 drop\n"
	"add rule inet ckpt in ip6 daddr . tcp dport . ip6 saddr . tcp sport @conn6 drop\n"
	"add rule inet ckpt out meta mark 0x636b7074 accept\n"
	"add rule inet ckpt out ip saddr . tcp sport . ip daddr . tcp dport @conn4 drop\n"
	"add rule inet ckpt out ip6 saddr . tcp sport . ip6 daddr . tcp dport @conn6 drop\n";

static const char *nft_path(void)
{
	static const char *const paths[] = { "/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/usr/local/sbin/nft" };

	for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* Runs nft -f - on script; its complaint, if any, goes to err. */
static int nft_run(const char *nft, const char *script, char *err, size_t errlen)
{
	int in[2], out[2], st;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	err[0] = 0;
	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return -errno;
	}
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0)
			_exit(127);
		syscall(SYS_close_range, 3, ~0U, 0);
		execl(nft, "nft", "-f", "-", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (pid > 0 && write_full(in[1], script, strlen(script)) < 0)
		snprintf(err, errlen, "writing to nft: %s", strerror(errno));
	close(in[1]);
	while ((n = read(out[0], err + got, errlen - 1 - got)) > 0 || (n < 0 && errno == EINTR))
		got += n > 0 ? (size_t)n : 0;
	err[got] = 0;
	close(out[0]);
	if (pid < 0)
		return -errno;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static void elem(const struct inet_conn *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr[0], a, sizeof(a));
	inet_ntop(c->family, c->addr[1], b, sizeof(b));
	snprintf(buf, len, "inet ckpt %s { %s . %u . %s . %u }", c->family == AF_INET ? "conn4" : "conn6", a,
		 c->port[0], b, c->port[1]);
}

int netlock(struct ckpt_ctx *ctx, const char *who, const struct inet_conn *c, bool lock)
{
	const char *nft = nft_path();
	char e[256], what[160], script[sizeof(nft_setup) + 600], err[512];
	int r;

	if (!nft)
		return fail(ctx, -ENOENT,
			    "%sTCP connection %s: its packets must be held back while it is %s, with nft(8), which is not installed (apt-get install nftables)",
			    who, inet_conn_str(c, what, sizeof(what)), lock ? "saved" : "restored");
	elem(c, e, sizeof(e));
	/* Deleting an element that is not there fails the whole change: add it first. */
	if (lock)
		snprintf(script, sizeof(script), "%sadd element %s\n", nft_setup, e);
	else
		snprintf(script, sizeof(script), "add element %s\ndelete element %s\n", e, e);
	r = nft_run(nft, script, err, sizeof(err));
	if (r < 0) {
		err[strcspn(err, "\n")] = 0;
		return fail(ctx, r, "%sTCP connection %s: %s its packets with nft: %s", who,
			    inet_conn_str(c, what, sizeof(what)), lock ? "holding back" : "letting through",
			    err[0] ? err : strerror(-r));
	}
	pr_debug(ctx, "%sTCP connection %s: %s", who, inet_conn_str(c, what, sizeof(what)), lock ? "locked" : "unlocked");
	return 0;
}
