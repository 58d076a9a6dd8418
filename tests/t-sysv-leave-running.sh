# dump --leave-running reads SysV objects without changing them: the tree
# that goes on finds its segments, semaphore values and adjustments and its
# messages as they were. The objects then still exist, so restoring the
# image here is refused, naming one, and leaves them alone; once they are
# removed, the image restores.
own_ipc_namespace
objects() { ipcs -m -s -q | awk 'NF >= 5 && $1 != "key"'; }
start_workload sysv
objects >"$WORK/ipcs.before"
dump --leave-running || fail "dump --leave-running"
objects >"$WORK/ipcs.after"
diff -u "$WORK/ipcs.before" "$WORK/ipcs.after" || fail "dump --leave-running changed the objects (ipcs)"
verify || fail "the tree that went on after dump --leave-running"
wait_gone "$PID" || fail "the workload did not end"

objects >"$WORK/ipcs.before"
restore && fail "restore over the objects of the tree that went on succeeded"
grep -Eq "SysV (shared memory|semaphore set|message queue) id [0-9]+ exists already \(key 0x5a0[0-9]\)" "$WORK/restore.log" ||
	fail "restore refused without naming the object: $(tail -n 2 "$WORK/restore.log")"
objects >"$WORK/ipcs.after"
diff -u "$WORK/ipcs.before" "$WORK/ipcs.after" || fail "the refused restore changed the objects that were there"

ipcrm --all
restore || fail "restore once the objects are gone"
verify || fail "SysV IPC restored from the image of dump --leave-running"
