# A process whose main thread has called pthread_exit while two other threads
# go on (the group leader is a zombie thread): a cycle must keep it so.
start_workload leaderexit
cycle || fail "checkpoint/restore cycle"
verify || fail "leaderexit after restore"
