# Threads blocked in nanosleep (relative and absolute), futex (with and
# without timeout), pthread_cond_wait, pause, sigsuspend and poll: after a
# cycle each is still (or again) waiting and wakes correctly.
start_workload syscalls
cycle || fail "checkpoint/restore cycle"
verify || fail "syscalls after restore"
