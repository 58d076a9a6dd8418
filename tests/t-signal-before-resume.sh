# A signal that reaches a restored thread before it is back in the system
# call it was interrupted in (pause() here) must interrupt that call, as it
# would have without the checkpoint: the handler runs and pause() returns
# EINTR.  A restore that re-enters the call after the handler (by pointing
# the thread back at the syscall instruction) loses the wakeup: the thread
# sleeps on, and the program hangs.
#
# Made deterministic with a stopped process: failsafe's root (main thread in
# its wl_wait() pause() loop) is stopped with SIGSTOP, dumped (restored
# stopped), sent SIGUSR1 while stopped, then SIGCONT.  Without checkpoint
# (checked first) that wakes it and it writes its result; after restore it
# must too -- no second SIGUSR1 is sent.

rm -f "$WORK"/failsafe.*
start_workload failsafe
kill -STOP "$PID"
sleep 0.2
kill -USR1 "$PID"
sleep 0.1
kill -CONT "$PID"
wait_file "$WORK/failsafe.result" 10 || fail "baseline: the stopped workload did not wake on SIGUSR1 + SIGCONT"
head -n 1 "$WORK/failsafe.result" | grep -q '^PASS' || fail "baseline: $(cat "$WORK/failsafe.result")"
wait_gone $(tree_pids "$PID") >/dev/null

rm -f "$WORK"/failsafe.*
start_workload failsafe
ids=$(for t in $(tree_tids "$PID"); do echo "${t#*/}"; done | sort -n -u)
kill -STOP "$PID"
sleep 0.2
dump || fail "dump"
wait_gone $ids || fail "tree still running after dump"
restore || fail "restore"
st=$(sed 's/.*) //' /proc/"$PID"/stat | cut -d' ' -f1)
[ "$st" = T ] || fail "restored root is in state $st, not stopped"
kill -USR1 "$PID"
sleep 0.1
kill -CONT "$PID"
if ! wait_file "$WORK/failsafe.result" 10; then
	echo "root $PID: main thread in $(cat /proc/"$PID"/task/"$PID"/wchan 2>/dev/null)," \
		"$(grep -E '^(State|SigPnd|ShdPnd|SigBlk)' /proc/"$PID"/status | tr '\n\t' '  ')"
	fail "the restored root slept on in pause(): SIGUSR1 that came before it was back in the call was lost"
fi
head -n 1 "$WORK/failsafe.result" | grep -q '^PASS' || fail "after restore: $(cat "$WORK/failsafe.result")"
