# Eight threads in different states (busy, nanosleep, cond wait, pause,
# sigwaitinfo, robust mutex owner and waiter, sem_wait): TLS, masks, names,
# tids, rseq, clear_child_tid and robust futex lists across a cycle.
start_workload threads
cycle || fail "checkpoint/restore cycle"
verify || fail "threads after restore"
