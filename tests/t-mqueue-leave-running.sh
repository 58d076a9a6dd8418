# dump --leave-running reads every message of a POSIX message queue (taking
# them and putting them back, the tree frozen) and every notification (set
# off on purpose, caught, registered again): the tree that goes on must find
# its queues as they were, its registrations in place and no signal it did
# not ask for. Its queues keep their names, so restoring the image here is
# refused, naming one; once they are removed, the image restores.
own_ipc_namespace
mkdir -p "$WORK/mq" && mount -t mqueue none "$WORK/mq" || fail "cannot mount the mqueue filesystem"
queues() {
	local q
	for q in "$WORK"/mq/*; do
		[ -e "$q" ] && echo "${q##*/}: $(cat "$q")"
	done
}
start_workload mqueue
queues >"$WORK/queues.before"
dump --leave-running || fail "dump --leave-running"
queues >"$WORK/queues.after"
diff -u "$WORK/queues.before" "$WORK/queues.after" || fail "dump --leave-running changed the queues"
verify || fail "the tree that went on after dump --leave-running"
wait_gone "$PID" || fail "the workload did not end"

queues >"$WORK/queues.before"
restore && fail "restore over the queues of the tree that went on succeeded"
grep -q "POSIX message queue /wl-q[124] exists already" "$WORK/restore.log" ||
	fail "restore refused without naming the queue: $(tail -n 2 "$WORK/restore.log")"
queues >"$WORK/queues.after"
diff -u "$WORK/queues.before" "$WORK/queues.after" || fail "the refused restore changed the queues that were there"

rm -f "$WORK"/mq/*
restore || fail "restore once the queues are gone"
verify || fail "POSIX message queues restored from the image of dump --leave-running"
