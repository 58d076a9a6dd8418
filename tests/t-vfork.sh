# A parent in the middle of vfork cannot be stopped until its child execs or
# exits: the dump gives up with a message naming the wait, and the parent
# goes on when its child exits, untraced.
start_workload vforker 14
out=$("$CKPT" dump -t "$PID" -o "$WORK/img" 2>&1) && fail "dump of a vfork parent succeeded"
echo "$out"
echo "$out" | grep -q "pid\|tid $PID: does not stop" || fail "no clear message: $out"
echo "$out" | grep -q "vfork" || fail "the message does not say vfork: $out"
[ -e "$WORK/img" ] && fail "a partial image was left behind"
wait_file "$WORK/vforker.result" 30 || fail "the parent did not go on after its child exited"
head -n 1 "$WORK/vforker.result" | grep -q '^PASS' || fail "parent: $(cat "$WORK/vforker.result")"
