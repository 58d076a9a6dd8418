# Process tree with process groups and sessions: dump, kill, restore, verify.
start_workload proctree
cycle || fail "checkpoint/restore cycle"
verify || fail "proctree after restore"
