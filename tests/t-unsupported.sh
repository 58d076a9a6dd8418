# Objects ckpt cannot dump yet must be refused with a message naming the pid,
# the descriptor (or mapping) and the kind, and the tree must go on unharmed
# (running, not traced or stopped, same maps and fds, and its own check of
# the object's state passes: data queued in a pipe or socket, an eventfd
# count, a pending signal in a signalfd, an inotify event, ...).
# One run per kind; the workload puts the object at fd 9 (see
# tests/workloads/unsupported.c). Kinds this machine cannot make are skipped.

# re TEXT: TEXT as an extended regular expression matching only itself.
re() { printf '%s' "$1" | sed 's/[][\.*^$(){}?+|]/\\&/g'; }

# vma_of PID NAME: start address (hex, no 0x) of PID's mapping named NAME...
vma_of() {
	awk -v n="$2" 'index($0, n) { split($1, a, "-"); print a[1]; exit }' /proc/"$1"/maps
}

failed= passed= skipped=
for kind in $("$BIN/unsupported" --list); do
	if ! why=$("$BIN/unsupported" --probe "$kind" 2>&1); then
		log "$kind: skipped, cannot be made here: $why"
		skipped="$skipped $kind"
		continue
	fi
	if (
		trap 'kill_tree "$PID" >/dev/null 2>&1' EXIT
		start_workload unsupported "$kind"
		p="pid $PID fd 9"
		case $kind in
		pipe-rdwr) pat="$p: a pipe opened for reading and writing is not supported yet" ;;
		unix-outside) pat="$p: unix stream socket is connected to @wl-unsupported-outside-[0-9-]* \\(socket [0-9]+\\), outside the tree; not supported" ;;
		unix-oob) pat="$p: unix socket: an out-of-band byte \\(MSG_OOB\\) waits in it; not supported yet" ;;
		unix-unaccepted-data) pat="$p: unix stream socket waits to be accepted by @wl-unsupported-l-[0-9-]* and has already sent data, which cannot be read before it is accepted; not supported" ;;
		raw) pat="$p: raw IPv4 socket of protocol 1 is not supported \(only TCP and UDP are\)" ;;
		packet) pat="$p: packet socket \(type 3, protocol [0-9]+\) is not supported" ;;
		netlink-queued) pat="$p: netlink socket \(protocol 0, NETLINK_ROUTE\) has [0-9]+ bytes queued \(unread replies or events\); they cannot be saved|$p: netlink socket \(protocol 0, NETLINK_ROUTE\) has messages queued \([0-9]+ bytes with overhead: unread replies or events\); they cannot be saved" ;;
		tcp-pending) pat="$p: listening TCP socket on port [0-9]+ has 1 connections the program has not accepted yet; they cannot be saved \\(--tcp-close drops them\\)" ;;
		epoll-closed) pat="$p: epoll watches a file added as fd 10 that is no longer open there; not supported yet" ;;
		fanotify | userfaultfd | pidfd | io_uring)
			pat="$p: $kind is not supported yet" ;;
		memfd-hugetlb) pat="$p: memfd /memfd:wl-unsupported-huge \\(deleted\\) on huge pages \\(MFD_HUGETLB\\) is not supported yet" ;;
		deleted-linked) pat="$p: file $(re "$WORK/wl-linked.$PID") \\(deleted\\) was unlinked but has other names; not supported yet" ;;
		procfile) pat="$p: /proc/1/status belongs to pid 1, which is not in the tree; not supported" ;;
		proc-mem) pat="$p: /proc/$PID/mem cannot be reopened safely; not supported" ;;
		proc-shared) pat="pid [0-9]+ fd 9: /proc/$PID/status is shared with pid $PID; not supported yet" ;;
		proc-write) pat="$p: /proc/$PID/comm: only regular files opened read-only under /proc and /sys are supported" ;;
		fifo-deleted) pat="$p: fifo $(re "$WORK/wl-fifo.$PID") \\(deleted\\) was unlinked; not supported yet" ;;
		memfd-sealed-map)
			name=/memfd:wl-unsupported-sealed
			what="writable shared mapping of /memfd:wl-unsupported-sealed (deleted), sealed against writes since"
			addr=$(vma_of "$PID" "$name")
			[ -n "$addr" ] || fail "$kind: no mapping $name in /proc/$PID/maps"
			pat="pid $PID vma 0x$(printf '%x' $((16#$addr))): $(re "$what").* not supported yet" ;;
		*) fail "no expected message for kind $kind" ;;
		esac
		expect_dump_refused "$pat"
	); then
		log "$kind: refused as expected, tree unharmed"
		passed="$passed $kind"
	else
		echo "--- $kind: dump log:"
		tail -n 3 "$WORK/dump.log" 2>/dev/null
		failed="$failed $kind"
	fi
done
log "passed:$passed"
[ -z "$skipped" ] || log "skipped:$skipped"
[ -z "$failed" ] || fail "kinds not refused properly:$failed"
[ -n "$passed" ] || skip "no kind could be made"
