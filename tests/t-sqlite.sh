# A real program: sqlite3 with its database open and a write transaction in
# progress (BEGIN and 50 INSERTs, not committed), reading its commands from
# a FIFO this script holds open. It is checkpointed and restored, then gets
# 50 more INSERTs and COMMIT. The database must pass PRAGMA integrity_check
# and hold rows 1..200 exactly once, and the restored sqlite3 must still hold
# the POSIX locks it held on the database (another writer is refused).
# Then the same with --leave-running: the original keeps its locks and
# finishes its transaction.
command -v sqlite3 >/dev/null || fail "sqlite3 is not installed (.ci/run installs it)"
db=$WORK/db.sqlite
in=$WORK/sqlite.in
out=$WORK/sqlite.out

# sql_wait MARK: wait up to 10 s until sqlite3 has printed MARK.
sql_wait() {
	local i=0
	while ! grep -qx "$1" "$out" 2>/dev/null && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	grep -qx "$1" "$out" || fail "sqlite3 did not get to '$1': $(tail -n 3 "$out" | tr '\n' '|')"
}

# sql CMDS MARK: send CMDS to sqlite3, then wait until it printed MARK.
sql() {
	printf '%s\nSELECT '"'"'%s'"'"';\n' "$1" "$2" >&7
	sql_wait "$2"
}

# locks_of PID: the POSIX locks PID holds (type, range, file), one a line.
locks_of() {
	awk -v p="$1" '$5 == p { print $2, $3, $4, $6, $7, $8 }' /proc/locks | sort
}

# inserts FROM TO: one INSERT per row.
inserts() {
	local i
	for i in $(seq "$1" "$2"); do
		echo "INSERT INTO t VALUES($i, 'row $i');"
	done
}

# start_sqlite: a database with rows 1..100, and sqlite3 in a transaction
# that added 101..150; sets PID.
start_sqlite() {
	rm -f "$db" "$db-journal" "$in" "$out"
	sqlite3 "$db" "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100)
		INSERT INTO t SELECT x, 'row ' || x FROM c;" || fail "cannot create the database"
	mkfifo "$in" || fail "mkfifo"
	(
		cd "$WORK" || exit 1
		setsid sqlite3 -batch "$db" <"$in" >"$out" 2>&1 &
		echo $! >"$WORK/sqlite.pid"
	)
	exec 7>"$in"
	PID=$(cat "$WORK/sqlite.pid")
	sql "BEGIN;
$(inserts 101 150)" in-transaction
	[ "$(readlink /proc/"$PID"/exe)" = "$(readlink -f "$(command -v sqlite3)")" ] || fail "pid $PID is not sqlite3"
	locks_of "$PID" >"$WORK/locks.before"
	grep -q WRITE "$WORK/locks.before" || fail "sqlite3 holds no write lock in its transaction: $(cat /proc/locks)"
	other_writer_refused || fail "another writer is not refused while sqlite3 is in its transaction"
	log "sqlite3 (pid $PID) in a transaction, holding: $(tr '\n' ';' <"$WORK/locks.before")"
}

# other_writer_refused: a second sqlite3 cannot write while the transaction runs.
other_writer_refused() {
	local msg
	msg=$(sqlite3 -cmd ".timeout 0" "$db" "INSERT INTO t VALUES(9999, 'intruder');" 2>&1) && return 1
	echo "$msg" | grep -q "locked"
}

# finish_and_check WHAT: 50 more INSERTs, COMMIT, then every check.
finish_and_check() {
	sql "$(inserts 151 200)
COMMIT;
SELECT 'rows', count(*), count(DISTINCT id), min(id), max(id), sum(id) FROM t;
PRAGMA integrity_check;" committed
	grep -qx "rows|200|200|1|200|20100" "$out" ||
		fail "$1: the committed table is not rows 1..200 once each: $(grep '^rows' "$out")"
	grep -qx ok "$out" || fail "$1: PRAGMA integrity_check: $(tail -n 4 "$out" | tr '\n' '|')"
	echo ".quit" >&7
	exec 7>&-
	wait_gone "$PID" || fail "$1: sqlite3 did not end"
	# Checked again from the file, by another sqlite3.
	[ "$(sqlite3 "$db" 'PRAGMA integrity_check;')" = ok ] || fail "$1: the database file is damaged"
	[ "$(sqlite3 "$db" "SELECT count(*), count(DISTINCT id), sum(id), sum(v = 'row ' || id) FROM t;")" = "200|200|20100|200" ] ||
		fail "$1: the database file does not hold rows 1..200: $(sqlite3 "$db" 'SELECT count(*), sum(id) FROM t;')"
	[ ! -e "$db-journal" ] || fail "$1: a rollback journal is left behind"
}

start_sqlite
dump || fail "dump of sqlite3 in a transaction"
wait_gone "$PID" || fail "sqlite3 still runs after the dump"
restore || fail "restore of sqlite3"
kill -0 "$PID" 2>/dev/null || fail "sqlite3 is not running after restore"
locks_of "$PID" >"$WORK/locks.after"
locks_ok=1
if ! diff -u "$WORK/locks.before" "$WORK/locks.after" >"$WORK/locks.diff"; then
	locks_ok=0
	log "the restored sqlite3 does not hold its locks: $(grep '^[-+][^-+]' "$WORK/locks.diff" | tr '\n' ';')"
fi
# Only with its locks can another writer be tried: without them it would
# roll back the transaction's journal under the restored sqlite3.
[ $locks_ok = 0 ] || other_writer_refused || fail "another writer is not refused after restore"
finish_and_check "after restore"

start_sqlite
dump --leave-running || fail "dump --leave-running of sqlite3 in a transaction"
check_untouched || fail "sqlite3 left traced or stopped by dump --leave-running"
locks_of "$PID" | diff -u "$WORK/locks.before" - >"$WORK/locks.diff" ||
	fail "dump --leave-running changed sqlite3's locks: $(grep '^[-+][^-+]' "$WORK/locks.diff" | tr '\n' ';')"
other_writer_refused || fail "another writer is not refused after dump --leave-running"
finish_and_check "after dump --leave-running"
# Reported last, so that the rest is checked as well.
[ $locks_ok = 1 ] || fail "the data came through, but the restored sqlite3 lost its POSIX locks on the database" \
	"(another writer could have rolled its transaction back)"
