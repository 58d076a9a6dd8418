# A tree that creates and ends threads, forks and reaps children and gets
# signals all the time, dumped while it does: three dumps with
# --leave-running must leave it consistent, and a dump and restore must
# bring back a consistent tree that goes on.
start_workload churn
for i in 1 2 3; do
	dump --leave-running || fail "dump --leave-running #$i: $(tail -n 3 "$WORK/dump.log")"
done
pids=$(tree_pids "$PID")
dump || fail "dump: $(tail -n 3 "$WORK/dump.log")"
wait_gone $pids || fail "tree still running after dump"
restore || fail "restore"
verify || fail "churn after restore"
