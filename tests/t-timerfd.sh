# timerfds on every clock: intervals, time left, expirations not read,
# settime flags (TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET), O_NONBLOCK, a
# thread blocked reading one. Time the tree spends checkpointed does not
# count for relative timers; absolute wall-clock timers keep their date.

# dump --leave-running: the original's timers go on as before.
start_workload timerfd 0
dump --leave-running || fail "dump --leave-running"
check_untouched || fail "tree left traced or stopped by dump --leave-running"
verify || fail "the original's timers after dump --leave-running"

# A checkpoint that lasts 5 s: the workload knows, and checks that the
# timers did not run meanwhile.
start_workload timerfd 5
pids=$(tree_pids "$PID")
tree_state "$WORK/state.before"
dump || fail "dump"
wait_gone $pids || fail "tree still running after dump"
sleep 5
restore || fail "restore"
tree_state "$WORK/state.after"
diff -u "$WORK/state.before" "$WORK/state.after" || fail "the restored tree differs"
verify || fail "timerfd after a 5 s checkpoint"

# As on a kernel without TFD_IOC_SET_TICKS: the expirations not read come
# back from a timer armed to be due at once. The first timer with
# expirations is T0 (periodic, 3 of them), the third is T5 (one shot).
for nth in 1 3; do
	want=$([ $nth = 1 ] && echo 3 || echo 1)
	start_workload timerfd 0
	pids=$(tree_pids "$PID")
	dump || fail "dump ($nth)"
	wait_gone $pids || fail "tree still running after dump ($nth)"
	CKPT_FAIL_AT=timerfd-set-ticks:$nth restore -v || fail "restore without TFD_IOC_SET_TICKS ($nth)"
	grep -q "no TFD_IOC_SET_TICKS: armed to be due at once for $want expirations" "$WORK/restore.log" ||
		fail "the restore did not take the path without TFD_IOC_SET_TICKS ($nth)"
	verify || fail "timerfd restored without TFD_IOC_SET_TICKS ($nth)"
done

# Hostile images: a clock or settime flags restore does not know are refused.
build_imgtool
wait_gone "$PID" || fail "the last workload did not end"
for change in "21 5" "22 4"; do
	rm -f "$WORK/img.bad"
	for i in $("$IMGTOOL" list "$WORK/img" | awk '$3 == 5 {print $1}'); do
		"$IMGTOOL" set "$WORK/img" "$WORK/img.bad" "$i" $change 2>/dev/null && break
	done
	[ -s "$WORK/img.bad" ] || fail "no timerfd File record to change ($change)"
	timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" restore -i "$WORK/img.bad" --detach >"$WORK/bad.log" 2>&1
	rc=$?
	[ $rc = 1 ] && grep -q "^ckpt: image damaged: timerfd file" "$WORK/bad.log" ||
		fail "field $change: restore exited with $rc: $(tail -n 2 "$WORK/bad.log")"
	! kill -0 "$PID" 2>/dev/null || fail "field $change: the refused image left pid $PID running"
done
