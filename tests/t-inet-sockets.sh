# Inet sockets that are not busy connections: listening sockets (bound
# addresses, backlogs, SO_REUSEADDR, a SO_REUSEPORT group, IPV6_V6ONLY or
# dual-stack), a bound socket, sockets with many options set, UDP sockets
# with queued datagrams from several senders (and from IPv4 to a dual-stack
# socket), connected UDP, multicast memberships on IPv4 and IPv6, and an
# IPv4-mapped IPv6 connection. After restore every address, option and
# backlog is as it was and each socket works (tests/workloads/inetsock.c).
# Then the same with --leave-running: the tree goes on unchanged.
netns_enter
netns_peer
start_workload inetsock 17000 ckpt-in
cycle --tcp-established || fail "checkpoint/restore cycle"
verify || fail "inet sockets after restore"
kill_tree "$PID"

# New ports: the first run's connections linger in TIME-WAIT.
start_workload inetsock 18000 ckpt-in
dump --leave-running --tcp-established || fail "dump --leave-running"
verify || fail "inet sockets of the tree that went on after the dump"
