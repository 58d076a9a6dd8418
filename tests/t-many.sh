# A tree of 500 processes, and a process with 1000 threads: both must dump
# and restore (the times are in the log; speed is measured by bench/run).
for cfg in "500 1" "1 1000"; do
	set -- $cfg
	start_workload many "$1" "$2"
	t0=$(date +%s.%N)
	cycle || fail "checkpoint/restore cycle of $1 processes x $2 threads"
	log "$1 processes x $2 threads: dump + restore in $(echo "$(date +%s.%N) - $t0" | bc) s (with waiting for pids)"
	verify || fail "$1 processes x $2 threads after restore"
	wait_gone $(tree_pids "$PID") 2>/dev/null
done
