# Two checkpoint/restore cycles in a row on the same tree, then verify: the
# restored state must itself be dumpable and restorable.
start_workload threads
cycle || fail "first cycle"
cycle || fail "second cycle"
verify || fail "threads after two cycles"
