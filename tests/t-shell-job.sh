# --shell-job: a job whose standard descriptors are its terminal (run under
# script(1), as from an interactive shell). Without --shell-job the dump
# refuses it and leaves it unharmed; with it, the tree is restored onto the
# terminal of `ckpt restore` (run under another script(1)).
command -v script >/dev/null || skip "no script(1) (util-linux)"
WL=ttyjob

start_ttyjob() { # tag
	rm -f "$WORK"/ttyjob.*
	script -qfec "exec $BIN/ttyjob $WORK/ttyjob.ready $WORK/ttyjob.result" /dev/null </dev/null \
		>"$WORK/$1.out" 2>&1 &
	wait_file "$WORK/ttyjob.ready" 20 || fail "ttyjob did not start under script: $(tail -n 3 "$WORK/$1.out")"
	PID=$(pgrep -f -n "^$BIN/ttyjob $WORK/ttyjob.ready") || fail "no ttyjob process"
}

start_ttyjob refused
expect_dump_refused "pid $PID fd 0: terminal /dev/pts/[0-9]+ is not supported without --shell-job" ||
	fail "dump without --shell-job"

start_ttyjob job
pids=$(tree_pids "$PID")
dump --shell-job || fail "dump --shell-job: $(tail -n 3 "$WORK/dump.log")"
wait_gone $pids || fail "tree still running after dump"
# Without --detach: the restored job keeps the new terminal as long as it runs.
script -qfec "$CKPT restore -i $WORK/img --shell-job" /dev/null </dev/null >"$WORK/restored.out" 2>&1 &
spid=$!
for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null && break; sleep 0.05; done
verify || fail "ttyjob after restore: $(tail -n 3 "$WORK/restored.out")"
wait "$spid" || fail "restore under script exited $?: $(tail -n 3 "$WORK/restored.out")"
grep -q "still talking" "$WORK/restored.out" || fail "the restored job's output did not reach the new terminal"
