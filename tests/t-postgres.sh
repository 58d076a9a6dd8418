# A real server: PostgreSQL 15, the whole postmaster tree (checkpointer,
# background writer, WAL writer, autovacuum, the backend of our session),
# with a psql session from outside the tree (another network namespace,
# across a veth link) inside an open transaction across dump, kill and
# restore: after the restore the same session (same backend pid) sees its
# uncommitted rows, commits, and the data is there for everyone.
#
# PostgreSQL keeps a small SysV shared memory segment (attached by every
# process of the tree, and removed by the dump with the tree: docs/ipc.md)
# and, in Debian's build, signalfds.
netns_enter
PG=/usr/lib/postgresql/15/bin
[ -x "$PG/postgres" ] && command -v psql >/dev/null ||
	skip "PostgreSQL 15 is not installed (apt-get install postgresql-15 postgresql-client-15)"
id postgres >/dev/null 2>&1 || skip "no postgres user"
netns_peer

mkdir -p "$WORK/pg" && chown postgres: "$WORK/pg" && chmod 700 "$WORK/pg"
setpriv --reuid postgres --regid postgres --init-groups -- "$PG/initdb" -D "$WORK/pg" -A trust -U postgres \
	>"$WORK/initdb.out" 2>&1 || fail "initdb: $(tail -n 3 "$WORK/initdb.out")"
echo "host all all $NET_OUT4/32 trust" >>"$WORK/pg/pg_hba.conf"
# The postmaster in its own session, its parent the reaper; no unix sockets.
# A simple command in the background: $! is the postmaster itself (setsid
# and setpriv exec it), not a shell waiting for it outside its session.
(cd "$WORK/pg" || exit
	setsid setpriv --reuid postgres --regid postgres --init-groups -- "$PG/postgres" -D "$WORK/pg" \
		-c listen_addresses="$NET_IN4" -c port=5432 -c unix_socket_directories= </dev/null >"$WORK/pg.out" 2>&1 &
	echo $! >"$WORK/pg.pid")
PID=$(cat "$WORK/pg.pid")
i=0
until in_peer "$PG/pg_isready" -q -h "$NET_IN4" -p 5432; do
	[ $i -lt 200 ] || fail "the postmaster does not answer: $(tail -n 3 "$WORK/pg.out")"
	sleep 0.1
	i=$((i + 1))
done
sql() { in_peer psql -X -q -A -t -h "$NET_IN4" -U postgres -c "$1" postgres; }
sql "CREATE TABLE t (k int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 1000) g;" ||
	fail "creating the table"

# The session: psql reading from a FIFO the test keeps open.
mkfifo "$WORK/psql.in"
in_peer psql -X -q -A -t -h "$NET_IN4" -U postgres postgres <"$WORK/psql.in" >"$WORK/psql.out" 2>&1 &
PSQL=$!
exec 3>"$WORK/psql.in"
NMARK=0
# session SQL...: run the statements in the session, wait for their output (REPLY).
session() {
	local start mark i=0
	NMARK=$((NMARK + 1))
	mark="mark-$NMARK"
	start=$(wc -l <"$WORK/psql.out")
	printf '%s\n' "$@" "\\echo $mark" >&3
	until tail -n 1 "$WORK/psql.out" | grep -qx "$mark"; do
		[ $i -lt 1200 ] || fail "psql gave no answer in 60 s: $(tail -n 3 "$WORK/psql.out")"
		sleep 0.05
		i=$((i + 1))
	done
	REPLY=$(tail -n +$((start + 1)) "$WORK/psql.out" | sed '$d')
}
session "BEGIN;" "INSERT INTO t SELECT g, 'new ' || g FROM generate_series(1001, 1100) g;" \
	"SELECT pg_backend_pid(), count(*) FROM t;"
backend=${REPLY%%|*}
[ "${REPLY#*|}" = 1100 ] || fail "inside the transaction before the dump: $REPLY"
[ "$(sql 'SELECT count(*) FROM t')" = 1000 ] || fail "the open transaction shows outside it"
log "postmaster $PID, backend $backend, $(tree_pids "$PID" | wc -l) processes"

pids=$(tree_pids "$PID")
# key, id and size of the SysV segments the tree made (cpid in the tree)
tree_shm() { awk -v pids=" $(echo $pids) " 'NR > 1 && index(pids, " " $5 " ") { print $1, $2, $4 }' /proc/sysvipc/shm; }
shm_before=$(tree_shm)
[ -n "$shm_before" ] || fail "the postmaster made no SysV shared memory"
# The server runs until the dump freezes it: its processes open and close
# files of the data directory (WAL segments, relations) at any time, so
# those descriptors are left out of the comparison.
pg_state() { tree_state "$1.all" && grep -v -- "-> $WORK/pg/" "$1.all" >"$1"; }
pg_state "$WORK/state.before"
dump --tcp-established || fail "dump of the postmaster tree: $(grep -E '^ckpt: ' "$WORK/dump.log" | tail -n 1)"
wait_gone $pids || fail "the postmaster tree still runs after the dump"
restore || fail "restore of the postmaster tree"
pg_state "$WORK/state.after"
diff -u "$WORK/state.before" "$WORK/state.after" >"$WORK/state.diff" ||
	fail "the restored tree differs: $(grep '^[-+][^-+]' "$WORK/state.diff" | head -n 5 | tr '\n' ' ')"
[ "$(tree_shm)" = "$shm_before" ] || fail "SysV shared memory after restore: $(tree_shm) (want $shm_before)"
kill -0 "$PSQL" || fail "psql is gone"
session "SELECT pg_backend_pid(), count(*) FROM t;" "COMMIT;"
[ "$REPLY" = "$backend|1100" ] || fail "the session after restore: $REPLY (want $backend|1100)"
got=$(sql 'SELECT count(*), max(v) FROM t WHERE k > 1000' 2>&1)
[ "$got" = "100|new 1100" ] || fail "the committed rows are not there: $got"
log "the same session (backend $backend) committed its transaction after the restore"
exec 3>&-
wait "$PSQL"
# A fast shutdown of the restored server: it detaches and removes its SysV
# segment itself, as a server that was never checkpointed does.
kill -INT "$PID"
wait_gone $(tree_pids "$PID") "$PID" || fail "the restored postmaster does not shut down"
[ -z "$(tree_shm)" ] || fail "SysV shared memory left after the shutdown: $(tree_shm)"
grep -q 'database system is shut down' "$WORK/pg.out" || fail "no clean shutdown: $(tail -n 3 "$WORK/pg.out")"
