# Unix socket names a restore must reproduce (tests/workloads/unix_names.c):
# a relative name, a socket file renamed or unlinked after bind, an accepted
# end whose listener is closed, closed peers with names, abstract names with
# NUL bytes, an autobound name, the sender address of a paired socket.
start_workload unix_names
cycle || fail "checkpoint/restore cycle"
verify || fail "unix socket names after restore"
start_workload unix_names
dump --leave-running || fail "dump --leave-running: $(tail -n 3 "$WORK/dump.log")"
verify || fail "unix socket names after dump --leave-running"
