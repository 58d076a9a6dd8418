# restore without --detach waits for the restored root and exits with its
# status: 0 for a root that exits 0 (verify PASS), and the exit code of a
# root that fails.
start_workload proctree
cp_pids=$(tree_pids "$PID")
dump || fail "dump"
wait_gone $cp_pids || fail "tree still running after dump"
cp "$WORK/img" "$WORK/img.keep"
timeout -k 5 60 "$CKPT" restore -i "$WORK/img" >"$WORK/restore.log" 2>&1 &
rpid=$!
i=0
while ! kill -0 "$PID" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
kill -0 "$PID" 2>/dev/null || fail "tree not restored: $(tail -n 3 "$WORK/restore.log")"
sleep 0.2
kill -0 "$rpid" 2>/dev/null || { wait "$rpid"; fail "restore without --detach returned ($?) while the tree runs"; }
verify || fail "proctree after restore"
wait "$rpid"
rc=$?
[ "$rc" = 0 ] || fail "restore exited with $rc for a root that exited 0: $(tail -n 3 "$WORK/restore.log")"

# The same image again; this time the root is killed by SIGTERM: 128+15.
wait_gone $cp_pids || fail "tree still there after verify"
cp "$WORK/img.keep" "$WORK/img"
timeout -k 5 60 "$CKPT" restore -i "$WORK/img" >"$WORK/restore2.log" 2>&1 &
rpid=$!
i=0
while ! kill -0 "$PID" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
kill -0 "$PID" 2>/dev/null || fail "tree not restored the second time: $(tail -n 3 "$WORK/restore2.log")"
sleep 0.2
kill -TERM "$PID"
wait "$rpid"
rc=$?
[ "$rc" = 143 ] || fail "restore exited with $rc for a root killed by SIGTERM, want 143: $(tail -n 3 "$WORK/restore2.log")"
echo PASS
