# signalfds: their masks and flags, the signals pending for them from before
# the dump (thread and process queues, real-time signals with their values),
# a thread blocked reading one, and signals sent after the restore.
# First dump --leave-running: the original keeps its pending signals and
# verifies; then the image restores and verifies again.
start_workload signalfd
dump --leave-running || fail "dump --leave-running"
check_untouched || fail "tree left traced or stopped by dump --leave-running"
pids=$(tree_pids "$PID")
verify || fail "the original after dump --leave-running"
wait_gone $pids || fail "the original did not end after verifying"
rm -f "$WORK/signalfd.result"
restore || fail "restore of the --leave-running image"
verify || fail "signalfd restored from the --leave-running image"

start_workload signalfd
cycle || fail "checkpoint/restore cycle"
verify || fail "signalfd after restore"
