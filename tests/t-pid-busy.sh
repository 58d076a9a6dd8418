# A restore whose pids are taken must fail with a message naming the pid,
# leave nothing of the tree behind, and the image must restore once the pid
# is free again.  The taken pid is the last one of the tree (a grandchild),
# so the restore has to undo the processes it already made.
start_workload proctree
pids=$(tree_pids "$PID")
busy=$(echo "$pids" | sort -n | tail -n 1)
dump || fail "dump"
wait_gone $pids || fail "tree still running after dump"
# Occupy $busy with a sleep: the next pid handed out is ns_last_pid + 1.
sleeper=
for try in 1 2 3 4 5; do
	echo $((busy - 1)) >/proc/sys/kernel/ns_last_pid || skip "cannot write ns_last_pid"
	sleep 1000 </dev/null >/dev/null 2>&1 &
	if [ $! = "$busy" ]; then sleeper=$!; break; fi
	kill $! 2>/dev/null
done
[ -n "$sleeper" ] || fail "could not get pid $busy for the sleeper"
log "pid $busy taken by a sleep"
if restore --pid-wait-ms 300; then
	fail "restore succeeded although pid $busy is taken"
fi
grep -Eq "\b$busy\b" "$WORK/restore.log" || fail "the refusal does not name pid $busy: $(tail -n 2 "$WORK/restore.log")"
for p in $pids; do
	[ "$p" = "$busy" ] && continue
	wait_gone "$p" >/dev/null || fail "pid $p of the image left running after a failed restore ($(cat /proc/"$p"/comm 2>/dev/null))"
done
kill "$sleeper"
wait "$sleeper" 2>/dev/null
wait_gone "$busy" || fail "sleeper did not go"
restore || fail "restore once the pid is free"
verify || fail "proctree after the second restore"
