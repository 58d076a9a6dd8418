# seccomp: stacked filters, per-thread filters, a TSYNC filter, and strict
# mode, restored so that each thread is filtered exactly as before.
start_workload seccomp
cycle || fail "checkpoint/restore cycle"
verify || fail "seccomp after restore"
