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
		socketpair | unix-listen | tcp | udp) pat="$p: socket is not supported yet" ;;
		epoll-closed) pat="$p: epoll watches a file added as fd 10 that is no longer open there; not supported yet" ;;
		signalfd | timerfd | inotify | fanotify | userfaultfd | pidfd | io_uring)
			pat="$p: $kind is not supported yet" ;;
		memfd) pat="$p: .*/memfd:wl-unsupported.* (is|are) not supported yet" ;;
		deleted) pat="$p: .*$(re "$WORK/wl-deleted.$PID").*(unlinked|deleted).* not supported yet" ;;
		procfile) pat="$p: /proc files \\(/proc/$PID/status\\) are not supported yet" ;;
		fifo-deleted) pat="$p: fifo $(re "$WORK/wl-fifo.$PID") \\(deleted\\) was unlinked; not supported yet" ;;
		memfd-map | deleted-map)
			case $kind in
			memfd-map) name=/memfd:wl-unsupported-map what="memfd mapping" ;;
			deleted-map) name=$WORK/wl-deleted-map.$PID what="mapping of deleted file" ;;
			esac
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
