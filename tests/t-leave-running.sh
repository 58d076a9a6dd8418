# dump --leave-running: the original tree keeps running, untouched (not
# traced, not stopped, same maps and fds); then it is killed and the image
# restored, and the restored tree verifies.
start_workload proctree
pids=$(tree_pids "$PID")
snapshot "$WORK/before"
dump --leave-running || fail "dump --leave-running"
for p in $pids; do
	kill -0 "$p" 2>/dev/null || fail "pid $p gone after dump --leave-running"
done
check_untouched || fail "tree left traced or stopped by dump --leave-running"
snapshot "$WORK/after"
diff -u "$WORK/before" "$WORK/after" >"$WORK/snapshot.diff" ||
	fail "maps or fds changed by dump --leave-running: $(head -n 20 "$WORK/snapshot.diff")"
# The original still works (it is only signalled, not verified: verify ends it).
sleep 0.2
for p in $pids; do
	kill -0 "$p" 2>/dev/null || fail "pid $p died after dump --leave-running"
done
kill_tree "$PID" || fail "cannot kill the original tree"
restore || fail "restore"
verify || fail "proctree restored from a --leave-running image"
