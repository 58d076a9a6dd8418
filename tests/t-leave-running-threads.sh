# dump --leave-running of a multi-threaded process whose threads are blocked
# in syscalls: all of them must go on in the original (it is interrupted by
# the dump and must be resumed transparently), then the image restores.
start_workload syscalls
dump --leave-running || fail "dump --leave-running"
check_untouched || fail "threads left traced or stopped by dump --leave-running"
# The original verifies: its threads were resumed in their syscalls.
verify || fail "the original after dump --leave-running"
wait_gone "$PID" || fail "original did not exit after verify"
restore || fail "restore"
rm -f "$WORK/syscalls.result"
verify || fail "syscalls restored from a --leave-running image"
