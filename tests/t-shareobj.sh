# Objects two processes share after fork: one open file description, whose
# offset both move, and memory mapped from /dev/zero, shared (one object
# both write) and private (each its own copy); also with --leave-running.
start_workload shareobj
cycle || fail "checkpoint/restore cycle"
verify || fail "shared description and /dev/zero memory after restore"
start_workload shareobj
pids=$(tree_pids "$PID")
dump --leave-running || fail "dump --leave-running"
check_untouched || fail "tree left traced or stopped by dump --leave-running"
verify || fail "the original after dump --leave-running"
wait_gone $pids || fail "the original tree did not end"
rm -f "$WORK/shareobj.result"
restore || fail "restore of the --leave-running image"
verify || fail "restored from a --leave-running image"
