# POSIX message queues: messages of several priorities, attributes, flags,
# owner and mode, a queue whose name was removed, and notifications (a
# signal with its value, and one without a signal), through two
# checkpoint/restore cycles (tests/workloads/mqueue.c checks every queue).
# A dump that ends the tree takes the names of its queues with it.
own_ipc_namespace
mkdir -p "$WORK/mq" && mount -t mqueue none "$WORK/mq" || fail "cannot mount the mqueue filesystem"
queues() { # name and status line of every queue, notification pid and all
	local q
	for q in "$WORK"/mq/*; do
		[ -e "$q" ] && echo "${q##*/}: $(cat "$q")"
	done
}
start_workload mqueue
queues >"$WORK/queues.before"
grep -q "^wl-q1: QSIZE:1[0-9]* *NOTIFY:0 *SIGNO:$(($(kill -l RTMIN) + 3)) *NOTIFY_PID:$PID" "$WORK/queues.before" ||
	fail "the workload's Q1 is not as expected: $(cat "$WORK/queues.before")"
pids=$(tree_pids "$PID")
dump || fail "dump"
wait_gone $pids || fail "the tree still runs after the dump"
left=$(queues)
[ -z "$left" ] || fail "queues left after the dump that ended the tree: $left"
restore || fail "restore"
queues >"$WORK/queues.after"
diff -u "$WORK/queues.before" "$WORK/queues.after" || fail "the restored queues differ"
cycle || fail "second cycle"
verify || fail "POSIX message queues after two cycles"
