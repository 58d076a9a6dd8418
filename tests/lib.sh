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

# own_ipc_namespace: run the rest of the test in an IPC namespace of its
# own, as ckpt runs there too: SysV objects and POSIX message queues belong
# to the namespace, and tests that run at the same time must neither see
# nor clash with each other's. Call it first in the test script (it starts
# the script again, inside the new namespace).
own_ipc_namespace() {
	[ -n "${CKPT_TEST_IPC_NS:-}" ] && return 0
	CKPT_TEST_IPC_NS=1 exec unshare --ipc bash -c 'source "$1"; source "$2"' "$TEST" \
		"$ROOT/tests/lib.sh" "$ROOT/tests/$TEST.sh"
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
# inode numbers left out). In pid order: the order of a parent's children
# (the order they were made in) is not part of what a restore reproduces.
tree_state() {
	local p t f st
	{
		for p in $(tree_pids "$PID" | sort -n); do
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

# expect_dump_refused PATTERN [DUMP_OPTS...]: the dump must fail with a
# message matching PATTERN (grep -E on dump.log); the tree must be left as
# it was: running, not traced, same maps and fds, and verify must PASS.
expect_dump_refused() {
	local pat=$1 pids
	shift
	pids=$(tree_pids "$PID")
	snapshot "$WORK/before"
	if dump "$@"; then
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

# --- failure safety (t-fail-dump, t-fail-restore, t-dump-output-errors,
# t-restore-refused, t-damaged-image) ---------------------------------------

# full_snapshot FILE: what snapshot records (pids, each thread's tracer,
# maps, fd targets) and, per thread, its comm and the signal, credential,
# seccomp and affinity lines of its status; per process the position and
# flags of every fd, cwd, root, exe and limits: what a dump that failed must
# leave exactly as it was.  (Few forks per process: it runs twice per case.)
full_snapshot() {
	local p
	{
		for p in $(tree_pids "$PID"); do
			echo "== pid $p"
			grep -H -E '^(State|TracerPid|Umask|SigPnd|ShdPnd|SigBlk|SigIgn|SigCgt|Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters|Cpus_allowed_list):' \
				/proc/"$p"/task/*/status 2>/dev/null | sed 's/^State:\t\([RSD]\) .*/State: live/; s/^\(.*status:State:\s*\)[RSD] .*/\1live/'
			grep -H . /proc/"$p"/task/*/comm 2>/dev/null
			cat /proc/"$p"/maps 2>/dev/null
			find /proc/"$p"/fd /proc/"$p"/cwd /proc/"$p"/root /proc/"$p"/exe -maxdepth 1 -type l -printf '%p -> %l\n' 2>/dev/null | sort
			grep -H -E '^(pos|flags):' /proc/"$p"/fdinfo/* 2>/dev/null
			cat /proc/"$p"/limits 2>/dev/null
		done
	} >"$1"
}

# crashed RC LOG: succeeds, printing how, if the ckpt run that ended with
# status RC (as timeout(1) reports it) and wrote LOG crashed or hung: timed
# out (124), could not run (125-127), killed by a signal (128+N), or a
# sanitizer report in LOG.
crashed() {
	case $1 in
	124) echo "timed out"; return 0 ;;
	125 | 126 | 127) echo "could not run (exit $1)"; return 0 ;;
	esac
	if [ "$1" -ge 128 ]; then
		echo "was killed by signal $(($1 - 128)) ($(kill -l $(($1 - 128)) 2>/dev/null))"
		return 0
	fi
	if grep -Eq 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$2" 2>/dev/null; then
		echo "has a sanitizer report: $(grep -Em 1 'ERROR: |runtime error:' "$2")"
		return 0
	fi
	return 1
}

# tree_unharmed PIDS BEFORE: after a dump that failed, every pid of PIDS
# still lives (not a zombie), no thread is traced or stopped, and
# full_snapshot equals BEFORE.  Prints what is wrong; returns non-zero then.
tree_unharmed() {
	local p st
	for p in $1; do
		st=$(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null | cut -d' ' -f1)
		case $st in
		'') echo "pid $p of the tree is gone"; return 1 ;;
		Z | X) echo "pid $p of the tree is dead (state $st)"; return 1 ;;
		esac
	done
	check_untouched || { echo "the tree was left traced or stopped"; return 1; }
	full_snapshot "$WORK/after"
	if ! diff -u "$2" "$WORK/after" >"$WORK/snapshot.diff"; then
		echo "the tree changed (- before, + after):"
		grep '^[-+][^-+]' "$WORK/snapshot.diff" | head -n 20
		return 1
	fi
	return 0
}

# dump_failure_problems PATTERN OUT RC PIDS BEFORE: what is wrong after a
# dump that had to fail ended with status RC (as timeout(1) reports it),
# its messages in $WORK/dump.log: prints one line per problem and returns 1
# if there is any.  Wanted: no crash, hang or sanitizer report; status 1; a
# `ckpt: ` line matching PATTERN (grep -E); OUT (unless -) removed; the tree
# unharmed (tree_unharmed PIDS BEFORE).  Checks everything, so that a
# report shows every problem at once.
dump_failure_problems() {
	local pat=$1 out=$2 rc=$3 pids=$4 before=$5 why bad=0
	if why=$(crashed "$rc" "$WORK/dump.log"); then
		echo "ckpt $why"
		bad=1
	elif [ "$rc" -eq 0 ]; then
		echo "the dump succeeded, a failure matching /$pat/ was expected"
		bad=1
	elif [ "$rc" -ne 1 ]; then
		echo "ckpt exited with $rc, not 1"
		bad=1
	fi
	if ! grep -Eq -- "^ckpt: .*($pat)" "$WORK/dump.log"; then
		echo "no message matching /$pat/ (ckpt said: $(grep -E '^ckpt: ' "$WORK/dump.log" | tail -n 2 | tr '\n' '|'))"
		bad=1
	fi
	if [ "$out" != - ] && [ -e "$out" ]; then
		echo "the failed dump left $out behind ($(stat -c %s "$out") bytes)"
		bad=1
	fi
	why=$(tree_unharmed "$pids" "$before") || { echo "$why"; bad=1; }
	return $bad
}

# expect_dump_fails PATTERN OUT [DUMP_OPTS...]: `ckpt dump -t $PID -o OUT
# DUMP_OPTS` must fail cleanly (dump_failure_problems) and the workload
# verify afterwards.  With OUT -, stdout goes to $DUMP_STDOUT (default
# $WORK/img.stdout).  The environment (CKPT_FAIL_AT, ...) is passed on.
expect_dump_fails() {
	local pat=$1 out=$2 rc why pids
	shift 2
	pids=$(tree_pids "$PID")
	full_snapshot "$WORK/before"
	[ "$out" = - ] || rm -f "$out"
	NDUMP=$((NDUMP + 1))
	log "dump #$NDUMP (pid $PID) -o $out $*${CKPT_FAIL_AT:+ (CKPT_FAIL_AT=$CKPT_FAIL_AT)}"
	if [ "$out" = - ]; then
		timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" dump -t "$PID" -o - "$@" >"${DUMP_STDOUT:-$WORK/img.stdout}" 2>"$WORK/dump.log"
	else
		timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" dump -t "$PID" -o "$out" "$@" >"$WORK/dump.log" 2>&1
	fi
	rc=$?
	cp "$WORK/dump.log" "$WORK/dump.$NDUMP.log"
	why=$(dump_failure_problems "$pat" "$out" "$rc" "$pids" "$WORK/before") || fail "$(echo "$why" | head -n 1)
$(echo "$why" | tail -n +2)"
	log "failed as expected: $(grep -E '^ckpt: ' "$WORK/dump.log" | tail -n 1)"
	verify || fail "workload failed after a failed dump"
}

# gone_soon SECONDS PIDS...: wait up to SECONDS until none of PIDS exists;
# prints the ones left (with their comm) and fails otherwise.
gone_soon() {
	local n=$(($1 * 20)) i=0 p left
	shift
	while :; do
		left=
		for p in "$@"; do
			[ -e /proc/"$p" ] && left="$left $p($(cat /proc/"$p"/comm 2>/dev/null))"
		done
		[ -z "$left" ] && return 0
		[ $i -ge $n ] && break
		sleep 0.05
		i=$((i + 1))
	done
	echo "still there:$left"
	return 1
}

# build_imgtool: build tests/imgtool.c (a second reader and patcher of
# images) into $BIN/imgtool if it is missing or older than its source; sets
# IMGTOOL.
build_imgtool() {
	IMGTOOL=$BIN/imgtool
	if [ ! -x "$IMGTOOL" ] || [ "$ROOT/tests/imgtool.c" -nt "$IMGTOOL" ]; then
		gcc -O1 -g -Wall -Wextra -Werror -o "$BIN/.imgtool.$$" "$ROOT/tests/imgtool.c" -lxxhash \
			>"$WORK/imgtool.build.log" 2>&1 || fail "cannot build tests/imgtool.c: $(head -n 3 "$WORK/imgtool.build.log")"
		mv -f "$BIN/.imgtool.$$" "$IMGTOOL"
	fi
}

# --- networked tests: a network namespace of the test's own ----------------
#
# netns_enter: runs the calling test script again, from its start, in a new
# network namespace with only lo (up, with multicast), so that its sockets,
# its firewall rules and ckpt itself never meet another test's or the
# machine's. Call it first thing in the script. ckpt runs in there too: a
# tree must live in ckpt's own namespaces.
#
# netns_peer: adds a second namespace, "outside", joined to the test's by a
# veth pair: this side ckpt-in has $NET_IN4 and $NET_IN6, the other side
# ckpt-out has $NET_OUT4 and $NET_OUT6 (documentation ranges, reachable only
# between these two namespaces). Run programs there with in_peer CMD...: a
# client outside the dumped tree, whose packets really cross a link.
NET_IN4=192.0.2.1
NET_OUT4=192.0.2.2
NET_IN6=2001:db8::1
NET_OUT6=2001:db8::2
PEER_NS_PID=

netns_enter() {
	local script=${BASH_SOURCE[1]}
	if [ "${CKPT_NETNS_OF:-}" != "$TEST" ]; then
		command -v unshare >/dev/null || skip "no unshare(1) for a network namespace"
		export CKPT_NETNS_OF=$TEST
		exec unshare --net -- "$BASH" -c 'source "$1"; source "$2"' "$TEST" "$ROOT/tests/lib.sh" "$script"
	fi
	# Multicast first: bringing lo up then adds its multicast routes.
	ip link set lo multicast on || fail "netns: cannot turn on multicast on lo"
	ip link set lo up || fail "netns: cannot bring lo up"
}

netns_peer() {
	local i=0 own
	[ "${CKPT_NETNS_OF:-}" = "$TEST" ] || fail "netns_peer: call netns_enter first"
	own=$(readlink /proc/$$/ns/net)
	unshare --net -- sleep 100000 </dev/null >/dev/null 2>&1 &
	PEER_NS_PID=$!
	while [ "$(readlink /proc/$PEER_NS_PID/ns/net 2>/dev/null)" = "$own" ] && [ $i -lt 200 ]; do
		sleep 0.01
		i=$((i + 1))
	done
	[ "$(readlink /proc/$PEER_NS_PID/ns/net 2>/dev/null)" != "$own" ] || fail "netns: the peer namespace did not come up"
	ip link add ckpt-in type veth peer name ckpt-out netns "$PEER_NS_PID" || fail "netns: cannot make a veth pair"
	ip addr add "$NET_IN4/24" dev ckpt-in &&
		ip -6 addr add "$NET_IN6/64" dev ckpt-in nodad &&
		ip link set ckpt-in up || fail "netns: cannot set up ckpt-in"
	in_peer ip link set lo up &&
		in_peer ip addr add "$NET_OUT4/24" dev ckpt-out &&
		in_peer ip -6 addr add "$NET_OUT6/64" dev ckpt-out nodad &&
		in_peer ip link set ckpt-out up || fail "netns: cannot set up ckpt-out"
	# Wait for the link to carry packets both ways.
	i=0
	until { ip link show ckpt-in && in_peer ip link show ckpt-out; } 2>/dev/null | grep -c 'LOWER_UP' | grep -qx 2 ||
		[ $i -ge 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	ip link show ckpt-in | grep -q LOWER_UP || fail "netns: the veth link is not up"
}

# in_peer CMD...: run CMD in the outside namespace of netns_peer.
in_peer() {
	nsenter --target "$PEER_NS_PID" --net -- "$@"
}
