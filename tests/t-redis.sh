# A real server: redis-server with 100,000 keys, in the tree alone, and a
# redis-cli connection from outside the tree (another network namespace,
# across a veth link) held open across dump, kill and restore. After the
# restore the same connection (the same client id on the server) reads
# back every key and DBSIZE matches.
netns_enter
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
	skip "redis-server and redis-cli are not installed (apt-get install redis-server redis-tools)"
netns_peer
NKEYS=100000

# Started as a workload would be: its own session, its parent the reaper.
(setsid redis-server --port 6379 --bind "$NET_IN4" --save "" --appendonly no --protected-mode no \
	--daemonize no </dev/null >"$WORK/redis.out" 2>&1 & echo $! >"$WORK/redis.pid")
PID=$(cat "$WORK/redis.pid")
i=0
until in_peer redis-cli -h "$NET_IN4" ping 2>/dev/null | grep -q PONG; do
	[ $i -lt 100 ] || fail "redis-server did not answer: $(tail -n 3 "$WORK/redis.out")"
	sleep 0.1
	i=$((i + 1))
done
log "redis-server pid $PID, threads $(ls /proc/"$PID"/task | wc -l)"
awk -v n=$NKEYS 'BEGIN { for (i = 1; i <= n; i++) printf "SET key:%d val:%d\n", i, i * 7 }' |
	in_peer redis-cli -h "$NET_IN4" --pipe >"$WORK/load.out" 2>&1 || fail "loading the keys: $(tail -n 2 "$WORK/load.out")"
grep -q "errors: 0, replies: $NKEYS" "$WORK/load.out" || fail "loading the keys: $(tail -n 2 "$WORK/load.out")"

# The held connection: redis-cli reading commands from a FIFO the test
# keeps open, answering into a file.
mkfifo "$WORK/cli.in"
in_peer redis-cli -h "$NET_IN4" <"$WORK/cli.in" >"$WORK/cli.out" 2>&1 &
CLI=$!
exec 3>"$WORK/cli.in"
NMARK=0
# cli CMD...: send the commands (one a line) and wait for their replies;
# REPLY holds them.
cli() {
	local start mark i=0
	NMARK=$((NMARK + 1))
	mark="mark-$NMARK"
	start=$(wc -l <"$WORK/cli.out")
	printf '%s\n' "$@" "ECHO $mark" >&3
	until tail -n 1 "$WORK/cli.out" | grep -qx "$mark"; do
		[ $i -lt 1200 ] || fail "redis-cli gave no answer to $1 in 60 s: $(tail -n 3 "$WORK/cli.out")"
		sleep 0.05
		i=$((i + 1))
	done
	REPLY=$(tail -n +$((start + 1)) "$WORK/cli.out" | sed '$d')
}
cli "CLIENT ID" "DBSIZE"
id=$(echo "$REPLY" | sed -n 1p)
[ "$(echo "$REPLY" | sed -n 2p)" = $NKEYS ] || fail "DBSIZE before the dump: $REPLY"
peer=$(in_peer ss -Htn state established "dst $NET_IN4:6379" | awk '{print $3}')
log "client id $id, connection from $peer"

cycle --tcp-established || fail "checkpoint/restore of redis-server"
kill -0 "$CLI" || fail "redis-cli is gone"
cli "CLIENT ID" "DBSIZE"
[ "$(echo "$REPLY" | sed -n 1p)" = "$id" ] || fail "not the same connection: client id $(echo "$REPLY" | sed -n 1p), was $id"
[ "$(echo "$REPLY" | sed -n 2p)" = $NKEYS ] || fail "DBSIZE after restore: $(echo "$REPLY" | sed -n 2p), want $NKEYS"
[ "$(in_peer ss -Htn state established "dst $NET_IN4:6379" | awk '{print $3}')" = "$peer" ] ||
	fail "the client's connection changed"
# Every key, 1000 at a time.
cmds=$(awk -v n=$NKEYS 'BEGIN { for (i = 1; i <= n; i += 1000) { printf "MGET"; for (k = i; k < i + 1000 && k <= n; k++) printf " key:%d", k; printf "\n" } }')
mapfile -t lines <<<"$cmds"
cli "${lines[@]}"
echo "$REPLY" >"$WORK/values"
bad=$(awk '{ if ($0 != "val:" NR * 7) { print NR ": " $0; exit } } END { if (NR != '$NKEYS') print "only " NR " values" }' "$WORK/values")
[ -z "$bad" ] || fail "the keys read back differ: $bad"
cli "CLIENT ID" "SET after restore" "GET after"
[ "$(echo "$REPLY" | tr '\n' ' ')" = "$id OK restore " ] || fail "the connection after reading: $REPLY"
log "the same connection (client id $id) read back all $NKEYS keys"
exec 3>&-
wait "$CLI"
