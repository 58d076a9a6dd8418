# tests/lib.sh: helpers for tests/t-*.sh.  tests/run sources this file and then
# the test script, inside a private PID namespace whose PID 1 is tests/reaper.
#
# Environment (set by tests/run; defaults here so a script can be tried by hand):
#   ROOT  the source tree            CKPT  the ckpt binary (absolute path)
#   BIN   compiled workloads         WORK  private work dir of this test
#   TEST  the test's name
#
# Exit status of a test: 0 pass, 1 fail, 77 skip (print the reason first).
#
# Globals set by the helpers:
#   PID   root of the workload tree (start_workload)
#   WL    name of the last started workload (verify reads $WORK/$WL.result)

: "${ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${CKPT:=$ROOT/build/ckpt}"
: "${BIN:=$ROOT/build/tests}"
: "${WORK:=$(mktemp -d /tmp/ckpt-test.XXXXXX)}"
: "${TEST:=manual}"
: "${CKPT_TIMEOUT:=60}"
export ROOT CKPT BIN WORK TEST
PID=
WL=
NDUMP=0
NRESTORE=0

# fail MSG...: print the reason and end the test as failed.
fail() {
	echo "FAIL: $*"
	exit 1
}

# skip MSG...: print the reason and end the test as skipped.
skip() {
	echo "SKIP: $*"
	exit 77
}

log() { echo "[$TEST] $*"; }

# wait_file FILE SECONDS: wait until FILE exists and is not empty.
wait_file() {
	local i=0 n=$(($2 * 20))
	while [ ! -s "$1" ] && [ $i -lt $n ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -s "$1" ]
}

# start_workload NAME [ARGS...]: start $BIN/NAME READY RESULT ARGS... as a new
# session in the background (stdin /dev/null, stdout/stderr to $WORK/NAME.out),
# wait up to 20 s for it to write READY, and set PID and WL.  The workload is
# started through a short-lived subshell, so its parent is PID 1 (the reaper),
# as a restored tree's root will be.
start_workload() {
	local name=$1
	shift
	[ -x "$BIN/$name" ] || fail "no workload binary $BIN/$name"
	rm -f "$WORK/$name".{ready,result,pid,out}
	(
		setsid "$BIN/$name" "$WORK/$name.ready" "$WORK/$name.result" "$@" \
			</dev/null >"$WORK/$name.out" 2>&1 &
		echo $! >"$WORK/$name.pid"
	)
	WL=$name
	PID=$(cat "$WORK/$name.pid")
	# Wait for READY, or until the workload is gone.
	local i=0
	while [ ! -s "$WORK/$name.ready" ] && [ $i -lt 400 ] && [ -e /proc/"$PID" ]; do
		sleep 0.05
		i=$((i + 1))
	done
	if [ ! -s "$WORK/$name.ready" ]; then
		echo "--- $name output:"
		tail -n 5 "$WORK/$name.out" 2>/dev/null
		[ -s "$WORK/$name.result" ] && cat "$WORK/$name.result"
		fail "workload $name did not become ready (waited $((i / 20)) s)"
	fi
	# setsid forks only if it was a process group leader; then the
	# workload is its child.
	if [ "$(readlink /proc/"$PID"/exe 2>/dev/null)" != "$(readlink -f "$BIN/$name")" ]; then
		local kid
		kid=$(cat /proc/"$PID"/task/*/children 2>/dev/null | awk '{print $1}')
		[ -n "$kid" ] && PID=$kid
	fi
	kill -0 "$PID" 2>/dev/null || fail "workload $name (pid $PID) is not running"
	log "started $name, pid $PID"
}

# tree_pids PID: PID and all its descendants, recursively.
tree_pids() {
	local p kids k
	for p in "$@"; do
		[ -d /proc/"$p" ] || continue
		echo "$p"
		kids=$(cat /proc/"$p"/task/*/children 2>/dev/null)
		for k in $kids; do
			tree_pids "$k"
		done
	done
}

# tree_tids PID: every thread of the tree, as PID/TID.
tree_tids() {
	local p t
	for p in $(tree_pids "$1"); do
		for t in /proc/"$p"/task/*; do
			[ -d "$t" ] && echo "$p/${t##*/}"
		done
	done
}

# wait_gone PIDS...: wait up to 10 s until none of PIDS exists any more.
wait_gone() {
	local i=0 p left
	while [ $i -lt 200 ]; do
		left=
		for p in "$@"; do
			[ -e /proc/"$p" ] && left="$left $p"
		done
		[ -z "$left" ] && return 0
		sleep 0.05
		i=$((i + 1))
	done
	echo "still present after 10 s:$left"
	return 1
}

# kill_tree PID: SIGKILL the tree and wait until its pids are free.
kill_tree() {
	local pids
	pids=$(tree_pids "${1:-$PID}")
	[ -n "$pids" ] || return 0
	kill -9 $pids 2>/dev/null
	wait_gone $pids
}

# dump [OPTS...]: $CKPT dump -t $PID -o $WORK/img OPTS...; log in $WORK/dump.log
# (also kept as $WORK/dump.N.log).  Returns ckpt's status.
dump() {
	local rc
	NDUMP=$((NDUMP + 1))
	log "dump #$NDUMP (pid $PID) $*"
	timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" dump -t "$PID" -o "$WORK/img" "$@" >"$WORK/dump.log" 2>&1
	rc=$?
	cp "$WORK/dump.log" "$WORK/dump.$NDUMP.log"
	[ $rc -eq 0 ] || { echo "dump exited with $rc:"; tail -n 5 "$WORK/dump.log"; }
	return $rc
}

# restore [OPTS...]: $CKPT restore -i $WORK/img --detach OPTS...; log in
# $WORK/restore.log (and restore.N.log).  Returns ckpt's status.
restore() {
	local rc
	NRESTORE=$((NRESTORE + 1))
	log "restore #$NRESTORE $*"
	timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" restore -i "$WORK/img" --detach "$@" >"$WORK/restore.log" 2>&1
	rc=$?
	cp "$WORK/restore.log" "$WORK/restore.$NRESTORE.log"
	[ $rc -eq 0 ] || { echo "restore exited with $rc:"; tail -n 5 "$WORK/restore.log"; }
	return $rc
}

# tree_state FILE: what a restore must reproduce exactly and a running,
# waiting workload does not change: for every process of the tree its ids,
# parent, state class, comm, threads, and fd table (targets; pipe/socket
# inode numbers left out).
tree_state() {
	local p t f st
	{
		for p in $(tree_pids "$PID"); do
			st=$(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null | cut -d' ' -f1-5)
			# Running and sleeping are the same class here.
			set -- $st
			case $1 in R | S | D) st="live $2 $3 $4" ;; *) st="$1 $2 $3 $4" ;; esac
			echo "pid $p: $st comm=$(cat /proc/"$p"/comm 2>/dev/null)"
			echo "  threads: $(ls /proc/"$p"/task 2>/dev/null | sort -n | tr '\n' ' ')"
			for f in /proc/"$p"/fd/*; do
				[ -L "$f" ] || continue
				echo "  fd ${f##*/} -> $(readlink "$f" | sed 's/^\(pipe\|socket\):\[[0-9]*\]$/\1/')"
			done
		done
	} >"$1"
}

# cycle [DUMP_OPTS...]: dump (which kills the tree), wait until every pid of
# the tree is free, restore.  Also checks that the restored tree has the
# same processes, threads, ids, comms and fds (tree_state) as before.
# Returns non-zero (with a message) on failure.
cycle() {
	local pids
	pids=$(tree_pids "$PID")
	[ -n "$pids" ] || { echo "cycle: tree $PID is not running"; return 1; }
	tree_state "$WORK/state.before"
	dump "$@" || { echo "cycle: dump failed"; return 1; }
	wait_gone $pids || { echo "cycle: tree still running after dump"; return 1; }
	restore || { echo "cycle: restore failed"; return 1; }
	kill -0 "$PID" 2>/dev/null || { echo "cycle: $PID not running after restore"; return 1; }
	tree_state "$WORK/state.after"
	if ! diff -u "$WORK/state.before" "$WORK/state.after" >"$WORK/state.diff"; then
		echo "cycle: the restored tree differs (- before dump, + after restore):"
		grep '^[-+][^-+]' "$WORK/state.diff" | head -n 10
		return 1
	fi
	return 0
}

# verify: send SIGUSR1 to $PID, wait up to 20 s for $WORK/$WL.result, print
# it; succeed only if its first line starts with PASS.
verify() {
	local res=$WORK/$WL.result
	kill -USR1 "$PID" 2>/dev/null || { echo "verify: cannot signal $PID (gone)"; }
	if ! wait_file "$res" 20; then
		echo "verify: no result from $WL (pid $PID) in 20 s"
		if [ -d /proc/"$PID" ]; then
			local t
			for t in $(tree_tids "$PID"); do
				echo "  $t $(awk '{print $3}' /proc/"${t%/*}"/task/"${t#*/}"/stat 2>/dev/null)" \
					"wchan=$(cat /proc/"${t%/*}"/task/"${t#*/}"/wchan 2>/dev/null)"
			done
		fi
		[ -s "$WORK/$WL.out" ] && { echo "--- $WL output:"; tail -n 5 "$WORK/$WL.out"; }
		return 1
	fi
	cat "$res"
	[ -s "$WORK/$WL.out" ] && { echo "--- $WL output:"; tail -n 5 "$WORK/$WL.out"; }
	head -n 1 "$res" | grep -q '^PASS'
}

# snapshot FILE: record the tree's pids, each thread's tracer, each process's
# maps and fd targets.
snapshot() {
	local p f
	{
		for p in $(tree_pids "$PID"); do
			echo "== pid $p"
			grep -H TracerPid /proc/"$p"/task/*/status 2>/dev/null
			cat /proc/"$p"/maps 2>/dev/null
			echo "-- fds"
			for f in /proc/"$p"/fd/*; do
				[ -e "$f" ] || [ -L "$f" ] || continue
				echo "${f##*/} -> $(readlink "$f")"
			done
		done
	} >"$1"
}

# check_untouched: no thread of the tree is traced by a process outside the
# tree (a workload may trace its own children) or stopped (t: in a ptrace
# stop, T: stopped, unless the workload stopped it itself: pass the pids
# that may be stopped in $MAY_BE_STOPPED).
check_untouched() {
	local t s st tracer pids bad=0
	pids=" $(tree_pids "$PID" | tr '\n' ' ') "
	for t in $(tree_tids "$PID"); do
		s=/proc/${t%/*}/task/${t#*/}
		tracer=$(awk '/^TracerPid:/ {print $2}' "$s"/status 2>/dev/null)
		if [ -n "$tracer" ] && [ "$tracer" != 0 ] && [ "${pids#* "$tracer" }" = "$pids" ]; then
			echo "thread $t still traced: TracerPid $tracer"
			bad=1
		fi
		st=$(sed 's/.*) //' "$s"/stat 2>/dev/null | cut -d' ' -f1)
		case "$st" in
		t) echo "thread $t left in a trace stop"; bad=1 ;;
		T) case " ${MAY_BE_STOPPED:-} " in
			*" ${t%/*} "*) ;;
			*) echo "thread $t left stopped (state T)"; bad=1 ;;
			esac ;;
		esac
	done
	return $bad
}

# expect_dump_refused PATTERN: the dump must fail with a message matching
# PATTERN (grep -E on dump.log); the tree must be left as it was: running,
# not traced, same maps and fds, and verify must PASS.
expect_dump_refused() {
	local pat=$1 pids
	pids=$(tree_pids "$PID")
	snapshot "$WORK/before"
	if dump; then
		fail "dump succeeded, expected a refusal matching /$pat/"
	fi
	grep -Eq -- "$pat" "$WORK/dump.log" ||
		fail "dump refused without a message matching /$pat/: $(tail -n 3 "$WORK/dump.log")"
	local p
	for p in $pids; do
		kill -0 "$p" 2>/dev/null || fail "pid $p of the tree is gone after a refused dump"
	done
	check_untouched || fail "tree left traced or stopped after a refused dump"
	snapshot "$WORK/after"
	diff -u "$WORK/before" "$WORK/after" >"$WORK/snapshot.diff" ||
		fail "maps or fds changed by a refused dump: $(head -n 20 "$WORK/snapshot.diff")"
	verify || fail "workload failed after a refused dump"
}
