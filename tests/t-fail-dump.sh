# A dump that fails at any step must leave the tree exactly as it was.
#
# Walks every failure injection point of dump (CKPT_FAIL_AT=STEP:N; the
# points are read from the source: every fail_point() in lib/ that is not a
# restore point) against trees that are multi-process and multi-threaded.
# After each failed dump (expect_dump_fails in lib.sh): ckpt exits 1 with a
# `ckpt: ...injected failure` message, every process and thread still runs,
# none is traced or stopped, maps, fds (targets, positions, flags), signal
# masks, handlers, pending signals, credentials and limits are as before, no
# image file is left behind, and the workload verifies itself (PASS).
#
#   failsafe (tests/workloads/failsafe.c; 3 processes, 7 threads): for each
#     point, N = 1, the middle and the last time the point is reached (the
#     count varies a little with the address space layout: it is found with
#     --leave-running probe dumps on a separate tree, and for the last N on
#     the very tree that is then dumped); then N = 1 and the last N again
#     with --leave-running.
#   threads, proctree and the shared smoke tree (if ../shared/smoke/tree.c
#     is there): N = 1 for every point, and the last thread for seize.

# Dump points, as "FILE STEP" lines.
points=$(cd "$ROOT" && grep -o 'fail_point([^"]*"[^"]*")' lib/*.c lib/res/*.c |
	sed -n 's/^\([^:]*\):.*"\([^"]*\)")$/\1 \2/p' | grep -v -E '^lib/restore|^[^ ]* restore' | sort -u -k2,2)
[ -n "$points" ] || fail "no fail_point() found in lib/"
steps=$(echo "$points" | awk '{print $2}' | tr '\n' ' ')
log "dump failure points: $steps"
# The points this test was written for must still be there (a rename must
# not silently drop one from the walk).
for s in seize collect fd pages image-write image-write-pages before-release; do
	case " $steps " in *" $s "*) ;; *) log "note: point $s is gone from the source" ;; esac
done

failed=
# probe_fails STEP N: does a --leave-running dump of $PID fail at the Nth STEP?
probe_fails() {
	CKPT_FAIL_AT=$1:$2 timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" dump -t "$PID" -o "$WORK/probe.img" --leave-running \
		>"$WORK/probe.log" 2>&1
	local rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
		fail "probe dump with CKPT_FAIL_AT=$1:$2 exited with $rc: $(tail -n 3 "$WORK/probe.log")"
	fi
	if [ $rc -eq 1 ] && ! grep -q 'injected failure' "$WORK/probe.log"; then
		fail "probe dump with CKPT_FAIL_AT=$1:$2 failed on its own: $(tail -n 3 "$WORK/probe.log")"
	fi
	[ $rc -eq 1 ]
}

# count_hits STEP GUESS: how often a dump of $PID reaches STEP (0 if never),
# found with probe dumps (--leave-running) around GUESS: step away from it
# until one fails and one gets through, then bisect.
count_hits() {
	local s=$1 lo hi d=1 mid
	if probe_fails "$s" "$2"; then
		lo=$2
		while probe_fails "$s" $((lo + d)); do
			lo=$((lo + d)) d=$((d * 2))
			[ $d -le 1048576 ] || fail "point $s: still failing at N=$lo"
		done
		hi=$((lo + d))
	else
		hi=$2
		while :; do
			if [ $((hi - d)) -lt 1 ]; then
				lo=0
				[ "$hi" -gt 1 ] && probe_fails "$s" 1 && lo=1
				break
			fi
			if probe_fails "$s" $((hi - d)); then
				lo=$((hi - d))
				break
			fi
			hi=$((hi - d)) d=$((d * 2))
		done
		[ $lo -gt 0 ] || { echo 0; return 0; }
	fi
	while [ $((hi - lo)) -gt 1 ]; do
		mid=$(((lo + hi) / 2))
		if probe_fails "$s" $mid; then lo=$mid; else hi=$mid; fi
	done
	echo $lo
}

# one_case LABEL WORKLOAD STEP N [DUMP_OPTS...]: a fresh tree, a dump that
# fails at the Nth STEP; records LABEL in $failed if anything is wrong.
# N `last:GUESS` is the last time STEP is reached in a dump of this very
# tree (the count varies with the address space layout), found first with
# probe dumps (count_hits) that must themselves leave the tree unharmed.
one_case() {
	local label=$1 wl=$2 step=$3 n=$4
	shift 4
	if (
		trap 'kill_tree "$PID" >/dev/null 2>&1' EXIT
		rm -f "$WORK/$wl".*
		start_workload $wl
		case $n in
		last:*)
			n=$(count_hits "$step" "${n#last:}") || fail "counting $step: $n"
			[ "$n" -gt 0 ] || fail "point $step is not reached"
			log "$step is reached $n times in a dump of this tree"
			check_untouched || fail "the probe dumps left the tree traced or stopped"
			;;
		esac
		export CKPT_FAIL_AT=$step:$n
		expect_dump_fails "injected failure" "$WORK/img" "$@"
	) >"$WORK/case.log" 2>&1; then
		log "ok   $label$(sed -n 's/.* is reached \([0-9]*\) times in a dump of this tree$/ (N=\1)/p' "$WORK/case.log")"
	else
		log "FAIL $label: $(grep -E '^FAIL' "$WORK/case.log" | tail -n 1)"
		sed 's/^/    /' "$WORK/case.log" | tail -n 25
		failed="$failed $label;"
	fi
}

# How often each step is reached in a dump of failsafe (roughly: the
# number of mappings, page runs and records varies a little from tree to
# tree with the address space layout).
start_workload failsafe
probe_pid=$PID
declare -A last
unreached=
for s in $steps; do
	k=$(count_hits "$s" 1) || fail "counting $s: $k"
	if [ "$k" -eq 0 ]; then
		file=$(echo "$points" | awk -v s="$s" '$2 == s {print $1; exit}')
		case $file in
		lib/res/*) log "point $s ($file) is not reached by a dump of failsafe: not walked" ;;
		*) unreached="$unreached $s" ;;
		esac
		continue
	fi
	last[$s]=$k
	log "point $s is reached $k times"
done
check_untouched || fail "the probe tree was left traced or stopped"
verify || fail "the probe tree failed after the probe dumps"
wait_gone $(tree_pids "$probe_pid") >/dev/null
[ -z "$unreached" ] || fail "dump points never reached by a dump of failsafe:$unreached"

for s in "${!last[@]}"; do
	k=${last[$s]}
	for n in $(printf '%s\n' 1 $(((k + 1) / 2)) | awk -v k="$k" '$1 < k' | sort -n -u); do
		one_case "failsafe $s:$n" failsafe "$s" "$n"
	done
	one_case "failsafe $s:last" failsafe "$s" "last:$k"
	one_case "failsafe $s:1 --leave-running" failsafe "$s" 1 --leave-running
	[ "$k" -gt 1 ] && one_case "failsafe $s:last --leave-running" failsafe "$s" "last:$k" --leave-running
done

# Other trees: every point once, and seize at the last thread.
smoke_src=$ROOT/../shared/smoke/tree.c
others="threads proctree"
if [ -f "$smoke_src" ]; then
	mkdir -p "$WORK/smoke"
	if gcc -O1 -pthread -o "$WORK/smoke/tree" "$smoke_src" >"$WORK/smoke/build.log" 2>&1; then
		others="$others smoke"
	else
		log "cannot build $smoke_src: $(head -n 2 "$WORK/smoke/build.log")"
		failed="$failed build-smoke-tree;"
	fi
else
	log "no $smoke_src: the smoke tree is left out"
fi
for wl in $others; do
	bin=$BIN name=$wl
	[ "$wl" = smoke ] && bin=$WORK/smoke name=tree
	for s in "${!last[@]}"; do
		BIN=$bin one_case "$wl $s:1" "$name" "$s" 1
	done
	BIN=$bin one_case "$wl seize:last" "$name" seize last:2
done

[ -z "$failed" ] || fail "dumps that failed uncleanly or harmed the tree:$failed"
log "every injected dump failure left the tree unharmed"
