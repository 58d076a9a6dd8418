# SysV shared memory (attached in two processes, not attached at all,
# removed, locked, partly attached), semaphores with SEM_UNDO adjustments,
# and message queues, through two checkpoint/restore cycles
# (tests/workloads/sysv.c checks every object).
own_ipc_namespace
start_workload sysv
ipcs >"$WORK/ipcs.before"
cycle || fail "first cycle"
# The dump that ended the tree took its objects into the image: the restore
# made them again with the same ids.
ipcs >"$WORK/ipcs.after"
diff <(awk 'NF >= 5 {print $1, $2, $4}' "$WORK/ipcs.before") <(awk 'NF >= 5 {print $1, $2, $4}' "$WORK/ipcs.after") ||
	fail "the restored objects differ in key, id or mode"
cycle || fail "second cycle"
verify || fail "SysV IPC after two cycles"
# P's own adjustment of semaphore 0 (+1) goes back into the set when P ends.
wait_gone "$PID" || fail "the workload did not end"
id=$(ipcs -s | awk '$1 == "0x00005a05" {print $2}')
[ -n "$id" ] || fail "no semaphore set with key 0x5a05 left"
val=$(ipcs -s -i "$id" | awk '$1 == "0" && NF == 5 {print $2}')
[ "$val" = 3 ] || fail "semaphore 0 is $val once the root ended, want 3 (its adjustment of +1 was lost)"
