# POSIX timers (timer_create) come back with their ids, clocks, signals and
# values, to the same thread for SIGEV_THREAD_ID, armed with the time they
# had left; a deleted one stays deleted (tests/workloads/ptimers.c). Once
# with a dump that ends the tree, once after a --leave-running dump (the
# original goes on firing undisturbed).
start_workload ptimers
dump --leave-running || fail "dump --leave-running"
check_untouched || fail "tree left traced or stopped"
kill_tree "$PID" || fail "cannot kill the original"
restore || fail "restore after --leave-running"
verify || fail "timers after restore of a --leave-running image"
kill_tree "$PID"

start_workload ptimers
cycle || fail "checkpoint/restore cycle"
verify || fail "timers after restore"
