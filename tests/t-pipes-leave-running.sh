# dump --leave-running copies the bytes in a pipe without taking them out:
# the tree that goes on must still find them all.
start_workload pipes
dump --leave-running || fail "dump --leave-running: $(tail -n 3 "$WORK/dump.log")"
verify || fail "pipes after dump --leave-running"
