# Job-control stopped processes (one with its stop already collected by the
# parent, one not yet, one with two threads): still stopped after a cycle,
# the uncollected stop is reported, SIGCONT resumes them.
start_workload stopped
cycle || fail "checkpoint/restore cycle"
verify || fail "stopped after restore"
