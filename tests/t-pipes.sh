# Pipes with data in flight, a capacity that is not the default, a thread
# blocked in read() on a pipe, non-blocking and widowed ends.
start_workload pipes
cycle || fail "checkpoint/restore cycle"
verify || fail "pipes after restore"
