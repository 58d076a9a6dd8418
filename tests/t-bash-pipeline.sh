# A real shell pipeline, producer | sort | consumer, checkpointed while data
# is in flight in both pipes and in sort's memory: after restore its output
# must equal that of an uninterrupted run.
pipeline='for i in $(seq 1 1500); do echo $(( (i * 7919) % 10007 )) line-$i; [ $((i % 10)) = 0 ] && sleep 0.01; done | sort -n | awk "{ s += \$1; print NR, \$0 } END { print \"sum\", s }" > "$1"'
run_pipeline() { # out -> sets PID
	(
		setsid bash -c "$pipeline" pipeline "$1" </dev/null >/dev/null 2>&1 &
		echo $! >"$WORK/pipeline.pid"
	)
	PID=$(cat "$WORK/pipeline.pid")
}
run_pipeline "$WORK/ref.out"
for _ in $(seq 600); do [ -e /proc/"$PID" ] || break; sleep 0.05; done
[ -s "$WORK/ref.out" ] || fail "the reference run wrote nothing"

run_pipeline "$WORK/ckpt.out"
sleep 0.6
[ -e /proc/"$PID" ] || fail "the pipeline finished before the checkpoint; make it longer"
pids=$(tree_pids "$PID")
log "pipeline tree: $pids"
dump || fail "dump: $(tail -n 3 "$WORK/dump.log")"
wait_gone $pids || fail "tree still running after dump"
restore || fail "restore"
for _ in $(seq 600); do [ -e /proc/"$PID" ] || break; sleep 0.05; done
[ -e /proc/"$PID" ] && fail "the restored pipeline did not finish"
cmp -s "$WORK/ref.out" "$WORK/ckpt.out" ||
	fail "output differs from an uninterrupted run: $(diff "$WORK/ref.out" "$WORK/ckpt.out" | head -n 4 | tr '\n' ' ')"
log "output of $(wc -l <"$WORK/ckpt.out") lines equals the uninterrupted run's"
