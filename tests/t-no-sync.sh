# dump --no-sync writes the image through the page cache without syncing
# it (the default writes page data with O_DIRECT and fsyncs): the image
# must be the same complete, checked image, and restore from it.
start_workload memory
dump --no-sync --leave-running || fail "dump --no-sync --leave-running"
"$CKPT" info -i "$WORK/img" >"$WORK/info.log" 2>&1 || fail "ckpt info rejects the --no-sync image: $(tail -n 2 "$WORK/info.log")"
kill_tree "$PID" || fail "cannot kill the original"
restore || fail "restore"
verify || fail "memory workload restored from a --no-sync image"
