# Listening unix sockets by path and abstract name, with an accepted
# connection mid-exchange, one left waiting to be accepted, and a named
# datagram socket holding datagrams from named and unnamed senders.
# The dump kills the tree but its socket files stay: the restore must find
# them stale and bind again, with the file's mode.
start_workload unix_listen
[ -S "$WORK/ul.sock" ] || fail "no socket file $WORK/ul.sock"
cycle || fail "checkpoint/restore cycle"
verify || fail "listening sockets after restore"

# A socket file some live socket still has is not removed: the restore is
# refused, naming it.
start_workload unix_listen
dump || fail "dump: $(tail -n 3 "$WORK/dump.log")"
wait_gone "$PID" || fail "tree still there after dump"
rm -f "$WORK/ul.sock"
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
open(sys.argv[2], "w").write("up\n"); time.sleep(30)' "$WORK/ul.sock" "$WORK/holder.up" &
holder=$!
wait_file "$WORK/holder.up" 10 || fail "the holder of $WORK/ul.sock did not start"
restore && fail "restore succeeded while $WORK/ul.sock is in use"
grep -Eq "pid [0-9]+ fd [0-9]+: unix socket path .*ul.sock is in use by a running socket" "$WORK/restore.log" ||
	fail "restore refused without naming the path in use: $(tail -n 2 "$WORK/restore.log")"
kill "$holder"
wait "$holder" 2>/dev/null
restore || fail "restore once the path is free again"
verify || fail "listening sockets after the second restore"

# --leave-running: the original keeps its waiting connection and its data.
start_workload unix_listen
dump --leave-running || fail "dump --leave-running: $(tail -n 3 "$WORK/dump.log")"
verify || fail "listening sockets after dump --leave-running"
