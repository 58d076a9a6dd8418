# Socketpairs of every type (stream, datagram, seqpacket) between two
# processes and within one, with messages queued both ways: every byte and
# every message boundary comes back, and the pairs still connect.
start_workload unix_pairs
cycle || fail "checkpoint/restore cycle"
verify || fail "socketpairs after restore"
# dump --leave-running reads the queues without taking anything out of
# them: the tree that goes on must find every message.
start_workload unix_pairs
dump --leave-running || fail "dump --leave-running: $(tail -n 3 "$WORK/dump.log")"
verify || fail "socketpairs after dump --leave-running"
