# Only the server in the tree; its client is outside, in another network
# namespace across a veth link, and stays connected throughout: the
# numbered streams go on both ways across dump, kill and restore, over IPv4
# and IPv6, and both ends agree that no byte was lost, duplicated or
# reordered. Without --tcp-established the dump refuses the connection,
# naming it, and the tree and its client go on unharmed. With --tcp-close
# the connection is dropped: the client sees it reset as the tree ends, the
# restored server sees it aborted.
netns_enter
netns_peer

# serve ADDR PORT: the server in the tree and its client outside, streaming.
serve() {
	start_workload tcpstream server "$1" "$2"
	rm -f "$WORK/client.result"
	in_peer "$BIN/tcpstream" --client "$WORK/client.result" "$1" "$2" &
	CLIENT=$!
	local i=0
	until grep -qx ready "$WORK/tcpstream.ready" 2>/dev/null || [ $i -ge 400 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	grep -qx ready "$WORK/tcpstream.ready" || fail "the stream with the client outside did not start"
}

# client_result: the client's last word, once it has ended.
client_result() {
	wait "$CLIENT"
	cat "$WORK/client.result" 2>/dev/null
}

# same_counts: server and client agree on what went each way.
same_counts() {
	local s c ss sr cs cr
	s=$(cat "$WORK/tcpstream.result")
	c=$(client_result)
	log "server: $s; client: $c"
	case $c in PASS*) ;; *) echo "client: $c"; return 1 ;; esac
	ss=${s#*sent=}; ss=${ss%% *}; sr=${s#*received=}
	cs=${c#*sent=}; cs=${cs%% *}; cr=${c#*received=}
	[ "$ss" = "$cr" ] && [ "$sr" = "$cs" ] || { echo "counts differ: server $s, client $c"; return 1; }
}

port=7001
for addr in "$NET_IN4" "$NET_IN6"; do
	log "--- $addr"
	serve "$addr" $port
	cycle --tcp-established || fail "checkpoint/restore of the server at $addr"
	sleep 0.5
	verify || fail "the server's streams after restore ($addr)"
	same_counts || fail "server and client disagree ($addr)"
	kill_tree "$PID"
	port=$((port + 1))
done

log "--- without --tcp-established"
serve "$NET_IN4" $port
fd=$(for f in /proc/"$PID"/fd/*; do readlink "$f" | grep -q '^socket:' && echo "${f##*/}"; done | head -n 1)
expect_dump_refused "pid $PID fd $fd: TCP connection $(echo "$NET_IN4" | sed 's/\./\\./g'):$port -> .* \(established\) is saved only with --tcp-established"
same_counts || fail "server and client disagree after the refused dump"
kill_tree "$PID"
port=$((port + 1))

log "--- --tcp-close"
serve "$NET_IN4" $port
pids=$(tree_pids "$PID")
dump --tcp-close || fail "dump --tcp-close"
wait_gone $pids || fail "tree still running after the dump"
c=$(client_result)
log "client: $c"
case $c in *"reset by peer"* | *"ended early"*) ;; *) fail "the client did not see its connection dropped: $c" ;; esac
restore || fail "restore of the image made with --tcp-close"
wait_file "$WORK/tcpstream.result" 10 || verify
r=$(cat "$WORK/tcpstream.result")
log "server: $r"
case $r in *"Software caused connection abort"*) ;; *) fail "the restored server did not find its connection aborted: $r" ;; esac
kill_tree "$PID"
port=$((port + 1))

# No connection held back any more (the lock of netlock.c).
no_lock() {
	local left
	left=$(nft list table inet ckpt 2>/dev/null | grep -c 'elements')
	[ "${left:-0}" -eq 0 ] || { nft list table inet ckpt; return 1; }
}

# A dump that fails, early or once the image is complete, gives the
# connection back as it was: out of repair mode, its packets let through.
for step in collect before-release; do
	log "--- a dump that fails at $step"
	serve "$NET_IN4" $port
	CKPT_FAIL_AT=$step:1 expect_dump_fails "injected failure" "$WORK/img" --tcp-established
	no_lock || fail "the connection is still held back after the failed dump ($step)"
	same_counts || fail "server and client disagree after the dump failed at $step"
	kill_tree "$PID"
	port=$((port + 1))
done

# A restore that fails at its last step closes its sockets still in repair
# mode, silently, and leaves the lock: the client waits, and the next
# restore takes the connection over.
log "--- a restore that fails, then one that works"
serve "$NET_IN4" $port
pids=$(tree_pids "$PID")
dump --tcp-established || fail "dump"
wait_gone $pids || fail "tree still running after the dump"
CKPT_FAIL_AT=restore-finish:1 restore && fail "the restore with an injected failure succeeded"
grep -q "injected failure before the tree runs" "$WORK/restore.log" || fail "restore failed otherwise: $(tail -n 2 "$WORK/restore.log")"
gone_soon 2 $pids || fail "the failed restore left processes behind"
sleep 1
kill -0 "$CLIENT" 2>/dev/null || fail "the client's connection ended with the failed restore: $(cat "$WORK/client.result")"
restore || fail "the restore after the failed one"
no_lock || fail "the connection is still held back after the restore"
sleep 0.5
verify || fail "the server's streams after the second restore"
same_counts || fail "server and client disagree after the second restore"
