# A real program: a socketserver.ThreadingUnixStreamServer and a python3
# client that talks to it (tests/unix_app.py), checkpointed and restored
# mid-exchange. The client checks every answer after the restore (the
# server counts requests and sums them per connection), and a second
# connection that was idle all along still works.
command -v python3 >/dev/null || skip "no python3"
rm -f "$WORK"/app.*
(
	setsid python3 "$ROOT/tests/unix_app.py" client "$WORK/app.sock" "$WORK/app.result" 400 \
		</dev/null >"$WORK/app.out" 2>&1 &
	echo $! >"$WORK/app.pid"
)
PID=$(cat "$WORK/app.pid")
progress() { cat "$WORK/app.result.progress" 2>/dev/null || echo 0; }
i=0
while [ "$(progress)" -lt 50 ] && [ $i -lt 400 ]; do
	sleep 0.05
	i=$((i + 1))
done
[ "$(progress)" -ge 50 ] || fail "the client did not get going: $(tail -n 3 "$WORK/app.out")"
[ -e "$WORK/app.result" ] && fail "the client finished before the checkpoint: $(cat "$WORK/app.result")"
[ "$(tree_pids "$PID" | wc -l)" -ge 2 ] || fail "the server is not in the tree"
cycle || fail "checkpoint/restore cycle"
log "answers at the checkpoint: $(progress)"
wait_file "$WORK/app.result" 60 || fail "no result after restore: $(tail -n 3 "$WORK/app.out")"
cat "$WORK/app.result"
[ "$(cat "$WORK/app.result")" = PASS ] || fail "client after restore: $(cat "$WORK/app.result")"
