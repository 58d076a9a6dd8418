# TCP connections busy both ways (send and receive queues full, data in
# flight) when checkpointed: a server and its client both in the tree, over
# IPv4 and IPv6. After restore the streams go on; each end checks that no
# byte was lost, duplicated or reordered, and that both agree on how much
# went each way. The listening socket also comes back and takes
# connections. Then --leave-running: the tree goes on with its connections
# as if nothing happened, and its image restores once it is gone.
netns_enter

# no_lock: after a restore or a dump that let the tree go, no connection
# is held back any more.
no_lock() {
	local left
	left=$(nft list table inet ckpt 2>/dev/null | grep -c 'elements')
	[ "${left:-0}" -eq 0 ] || { nft list table inet ckpt; return 1; }
}

for addr in 127.0.0.1 ::1; do
	log "--- $addr"
	start_workload tcpstream pair "$addr"
	cycle --tcp-established || fail "checkpoint/restore cycle over $addr"
	no_lock || fail "connections still held back after the restore"
	sleep 0.5
	verify || fail "streams over $addr after restore"
	kill_tree "$PID"
done

log "--- --leave-running"
start_workload tcpstream pair 127.0.0.1
dump --leave-running --tcp-established || fail "dump --leave-running"
no_lock || fail "connections still held back after dump --leave-running"
[ "$(awk '{print $3}' /proc/"$PID"/stat)" != T ] || fail "tree left stopped"
sleep 0.5
verify || fail "streams of the tree that went on after the dump"
wait_gone $(tree_pids "$PID") || fail "workload did not end"
# The connections the tree closed linger in TIME-WAIT, holding the ports
# and ends of the image's: the restore takes them over.
ss -Htan state time-wait | grep -q . || fail "no TIME-WAIT sockets left by the tree (the test needs them)"
rm -f "$WORK/tcpstream.result"
restore || fail "restore of the image made with --leave-running"
sleep 0.5
verify || fail "streams restored from the --leave-running image"
