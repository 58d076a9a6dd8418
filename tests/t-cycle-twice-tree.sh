# Two cycles in a row on a process tree with zombies and pending signals.
start_workload zombie
cycle || fail "first cycle"
cycle || fail "second cycle"
verify || fail "zombie after two cycles"
