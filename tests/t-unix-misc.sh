# Unix socket state beyond data (tests/workloads/unix_misc.c): shutdown
# states, closed peers, SO_PASSCRED and the credentials of queued
# messages, descriptors in flight (SCM_RIGHTS) received after restore and
# usable, SO_PEEK_OFF, and a datagram socket connected to a logger outside
# the tree, connected to it again by name.
start_workload unix_misc
cycle || fail "checkpoint/restore cycle"
verify || fail "unix socket state after restore"
# The original keeps its queues and its descriptors in flight.
start_workload unix_misc
dump --leave-running || fail "dump --leave-running: $(tail -n 3 "$WORK/dump.log")"
verify || fail "unix socket state after dump --leave-running"
