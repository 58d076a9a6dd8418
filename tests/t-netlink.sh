# Netlink sockets as programs hold them (tests/workloads/netlink.c): a route
# socket bound to link and IPv4 address groups and two groups above 31, a
# generic netlink socket connected to the kernel, a uevent socket bound to a
# port id of its own, an unbound one; options and buffer sizes set. In a
# network namespace of the test's own, so that the address added after the
# restore makes an RTM_NEWADDR event the restored route socket must receive;
# the workload also checks port ids, groups, peers, options and that the
# kernel answers requests. Then the same with --leave-running.
netns_enter
start_workload netlink 198.51.100.7
cycle || fail "checkpoint/restore cycle"
ip addr add 198.51.100.7/32 dev lo || fail "cannot add an address to lo"
verify || fail "netlink sockets after restore"
kill_tree "$PID"

start_workload netlink 198.51.100.8
dump --leave-running || fail "dump --leave-running"
ip addr add 198.51.100.8/32 dev lo || fail "cannot add an address to lo"
verify || fail "netlink sockets of the tree that went on after the dump"
kill_tree "$PID"

# The uevent socket's port id (0x40000000 | pid) taken by another program
# when the tree comes back: the restore fails, naming the port and holder.
start_workload netlink 198.51.100.9
dump || fail "dump"
wait_gone "$PID" || fail "still running after the dump"
port=$((0x40000000 | PID))
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 15)  # NETLINK_KOBJECT_UEVENT
s.bind((int(sys.argv[1]), 0))
print("bound", flush=True)
time.sleep(60)
' "$port" >"$WORK/squat.out" 2>&1 &
squat=$!
wait_file "$WORK/squat.out" 10 && grep -q bound "$WORK/squat.out" || fail "cannot take port $port: $(cat "$WORK/squat.out")"
restore && fail "restored with the uevent socket's port id taken"
grep -q "pid $PID fd 5: netlink socket (NETLINK_KOBJECT_UEVENT): binding to port id $port (another netlink socket has it)" "$WORK/restore.log" ||
	fail "refused otherwise: $(tail -n 2 "$WORK/restore.log")"
kill "$squat"
wait "$squat" 2>/dev/null
# Freed, the image restores.
restore || fail "restore once the port id is free"
ip addr add 198.51.100.9/32 dev lo || fail "cannot add an address to lo"
verify || fail "netlink sockets restored after a failed restore"
