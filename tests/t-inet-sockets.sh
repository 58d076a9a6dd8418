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
kill_tree "$PID"

# Restore sets options only CAP_NET_ADMIN may set (SO_MARK here) only for
# processes that have it: an unprivileged process holding such a socket
# (it got it from a privileged one) is refused, naming the option.
(setsid python3 -c '
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 36, 7)  # SO_MARK
os.dup2(s.fileno(), 9, inheritable=True)
os.execvp("setpriv", ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "1000"])
' </dev/null >"$WORK/mark.out" 2>&1 & echo $! >"$WORK/mark.pid")
PID=$(cat "$WORK/mark.pid")
i=0
until [ "$(readlink /proc/"$PID"/exe 2>/dev/null)" = "$(readlink -f "$(command -v sleep)")" ] || [ $i -ge 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
grep -q '^CapEff:\s*0*$' /proc/"$PID"/status || fail "the holder of the SO_MARK socket kept capabilities"
dump || fail "dump of the unprivileged holder of a SO_MARK socket"
wait_gone "$PID" || fail "still running after the dump"
restore && fail "restored a socket option needing CAP_NET_ADMIN for a process without it"
grep -q "socket option 1/36 needs CAP_NET_ADMIN, which the processes holding the socket do not have" "$WORK/restore.log" ||
	fail "refused otherwise: $(tail -n 2 "$WORK/restore.log")"
