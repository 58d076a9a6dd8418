# TCP connections in every half-closed state (CLOSE-WAIT, FIN-WAIT-1 and 2,
# LAST-ACK, CLOSING, reading shut down), with data stuck behind the FINs,
# and a socket in the middle of connect(), over IPv4 and IPv6: after
# restore each is in its state, every byte and every end of stream arrives,
# and the connecting one connects (see tests/workloads/tcphalf.c).
netns_enter
# The SYNs of the connecting socket are dropped until the restore is done.
nft -f - <<'NFT' || fail "cannot add the nftables rule dropping SYNs"
table inet t {
	chain in {
		type filter hook input priority 0; policy accept;
		tcp dport 7777 tcp flags syn drop
	}
}
NFT
for addr in 127.0.0.1 ::1; do
	log "--- $addr"
	nft flush chain inet t in
	nft add rule inet t in tcp dport 7777 tcp flags syn drop
	start_workload tcphalf "$addr" 7777
	cycle --tcp-established || fail "checkpoint/restore cycle ($addr)"
	nft flush chain inet t in
	verify || fail "half-closed connections after restore ($addr)"
	kill_tree "$PID"
done
