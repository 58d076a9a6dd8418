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

# ckpt info shows them: the 20 ms one, the thread-aimed one, the disarmed one.
"$CKPT" info -i "$WORK/img" >"$WORK/info.txt" || fail "ckpt info failed"
grep -Eq "POSIX timer [0-9]+: clock 1, notify signal, signal [0-9]+, value 0x6f: [0-9.]+ s left, every 0.020000000 s" "$WORK/info.txt" &&
	grep -Eq "POSIX timer [0-9]+: clock 7, notify signal to thread [0-9]+, signal [0-9]+, value 0xde: .* every 0.030000000 s" "$WORK/info.txt" &&
	grep -Eq "POSIX timer [0-9]+: clock 1, notify signal, signal 12, value 0x0: 0.000000000 s left" "$WORK/info.txt" ||
	fail "ckpt info does not show the timers: $(grep -A6 timers: "$WORK/info.txt")"
"$CKPT" info --json -i "$WORK/img" | python3 -c 'import json, sys
p = [p for p in json.load(sys.stdin)["processes"] if p.get("posix_timers")]
assert p and len(p[0]["posix_timers"]) == 4, p' || fail "ckpt info --json does not list the four timers"
