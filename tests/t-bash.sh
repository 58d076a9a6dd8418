# A real program: a bash loop appending a counter to a file (forking sleep
# each time).  Checkpoint it mid-way, restore, let it run, kill it: the file
# must hold 1..N with no gap and no repeat, and N must have grown after the
# restore.
lines=$WORK/lines
(
	setsid bash -c 'i=0; while :; do i=$((i+1)); echo $i >> "$1"; sleep 0.05; done' loop "$lines" \
		</dev/null >/dev/null 2>&1 &
	echo $! >"$WORK/bash.pid"
)
PID=$(cat "$WORK/bash.pid")
i=0
while [ "$(wc -l <"$lines" 2>/dev/null || echo 0)" -lt 20 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
[ "$(wc -l <"$lines")" -ge 20 ] || fail "the bash loop does not run"
pids=$(tree_pids "$PID")
dump || fail "dump"
wait_gone $pids || fail "tree still running after dump"
n0=$(wc -l <"$lines")
restore || fail "restore"
sleep 1.5
n1=$(wc -l <"$lines")
kill_tree "$PID"
log "lines at dump: $n0, after restore + 1.5 s: $n1"
[ "$n1" -gt $((n0 + 5)) ] || fail "the restored loop did not run on ($n0 -> $n1 lines)"
seq 1 "$(wc -l <"$lines")" | diff - "$lines" >"$WORK/lines.diff" ||
	fail "lines are not 1..N: $(head -n 8 "$WORK/lines.diff" | tr '\n' ' ')"
