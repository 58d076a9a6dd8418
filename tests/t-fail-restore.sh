# A restore that fails at any step must leave nothing behind.
#
# Walks every failure injection point of restore (CKPT_FAIL_AT=STEP:N; every
# fail_point() in lib/restore*.c or named restore*) on an image of failsafe
# (3 processes, 7 threads).  restore-pages is reached once per Pages record
# (counted with tests/imgtool): N = 1, the middle and the last; other points
# N = 1 and, if they are reached more often, the last time (counted with
# probe restores).  After each failed restore: ckpt exits 1 (no crash, hang
# or sanitizer report) with a `ckpt: ...injected failure` message; within
# 2 s no pid or tid of the image exists any more; and a normal restore of
# the same image then works and the tree verifies itself (PASS), which also
# proves that every pid was free again.  The same once without --detach and
# once from a pipe (-i -).

points=$(cd "$ROOT" && grep -o 'fail_point([^"]*"[^"]*")' lib/*.c lib/res/*.c |
	sed -n 's/^\([^:]*\):.*"\([^"]*\)")$/\1 \2/p' | grep -E '^lib/restore|^[^ ]* restore' | sort -u -k2,2)
[ -n "$points" ] || fail "no restore fail_point() found in lib/"
steps=$(echo "$points" | awk '{print $2}' | tr '\n' ' ')
log "restore failure points: $steps"

build_imgtool
start_workload failsafe
pids=$(tree_pids "$PID")
ids=$(for t in $(tree_tids "$PID"); do echo "${t#*/}"; done | sort -n -u | tr '\n' ' ')
log "image pids and tids: $ids"
dump || fail "dump"
wait_gone $pids || fail "tree still running after dump"
npages=$("$IMGTOOL" list "$WORK/img" | awk '$3 == 8' | wc -l)
log "the image has $npages Pages records"

# try_restore LABEL [RESTORE_OPTS...]: ckpt restore of $WORK/img with
# $CKPT_FAIL_AT from the environment; log in $WORK/restore.log; returns its
# status.  Options -i - and --stdin make it read the image from a pipe.
try_restore() {
	local label=$1 rc
	shift
	NRESTORE=$((NRESTORE + 1))
	log "restore #$NRESTORE ($label) $*${CKPT_FAIL_AT:+ (CKPT_FAIL_AT=$CKPT_FAIL_AT)}"
	if [ "${1:-}" = --stdin ]; then
		shift
		cat "$WORK/img" | timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" restore -i - "$@" >"$WORK/restore.log" 2>&1
		rc=${PIPESTATUS[1]}
	else
		timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" restore -i "$WORK/img" "$@" >"$WORK/restore.log" 2>&1
		rc=$?
	fi
	cp "$WORK/restore.log" "$WORK/restore.$NRESTORE.log"
	return $rc
}

# restore_and_verify: a normal restore of the image, verify, wait until the
# tree has ended.
restore_and_verify() {
	rm -f "$WORK/failsafe.result" "$WORK/failsafe.result.C" "$WORK/failsafe.result.G"
	try_restore normal --detach || fail "normal restore after a failed one: $(tail -n 3 "$WORK/restore.log")"
	verify || fail "the tree restored after a failed restore does not verify"
	wait_gone $ids >/dev/null || fail "restored tree still there after verify"
}

# probe_fails STEP N: does a restore fail at the Nth STEP?  (One that gets
# through is verified and ended.)
probe_fails() {
	local rc
	CKPT_FAIL_AT=$1:$2 try_restore "probe" --detach
	rc=$?
	case $rc in
	0) verify >/dev/null || fail "probe restore CKPT_FAIL_AT=$1:$2 got through, but the tree does not verify"
	   wait_gone $ids >/dev/null
	   return 1 ;;
	1) grep -q 'injected failure' "$WORK/restore.log" ||
		fail "probe restore CKPT_FAIL_AT=$1:$2 failed on its own: $(tail -n 3 "$WORK/restore.log")"
	   wait_gone $ids >/dev/null || fail "probe restore CKPT_FAIL_AT=$1:$2 left processes behind"
	   return 0 ;;
	*) fail "probe restore CKPT_FAIL_AT=$1:$2 exited with $rc: $(tail -n 3 "$WORK/restore.log")" ;;
	esac
}

failed=
# one_case STEP N [OPTS...]: a restore failing at the Nth STEP; then a normal one.
one_case() {
	local s=$1 n=$2 label rc why
	shift 2
	label="$s:$n${1:+ $*}"
	if (
		export CKPT_FAIL_AT=$s:$n
		try_restore "$label" "$@"
		rc=$?
		unset CKPT_FAIL_AT
		if why=$(crashed $rc "$WORK/restore.log"); then
			fail "restore $why: $(tail -n 3 "$WORK/restore.log" | tr '\n' '|')"
		fi
		[ $rc -ne 0 ] || fail "restore succeeded, expected an injected failure"
		[ $rc -eq 1 ] || fail "restore exited with $rc, not 1: $(tail -n 3 "$WORK/restore.log" | tr '\n' '|')"
		grep -Eq '^ckpt: .*injected failure' "$WORK/restore.log" ||
			fail "no message about the failure: $(tail -n 3 "$WORK/restore.log" | tr '\n' '|')"
		log "failed as expected: $(grep -E '^ckpt: ' "$WORK/restore.log" | tail -n 1)"
		why=$(gone_soon 2 $ids) || fail "processes of the image left after the failed restore: $why"
		restore_and_verify
	) >"$WORK/case.log" 2>&1; then
		log "ok   $label"
	else
		log "FAIL $label: $(grep -E '^FAIL' "$WORK/case.log" | tail -n 1)"
		sed 's/^/    /' "$WORK/case.log" | tail -n 20
		failed="$failed $label;"
		# Whatever is left must not spoil the next case.
		kill -9 $ids 2>/dev/null
		wait_gone $ids >/dev/null
	fi
}

for s in $steps; do
	case $s in
	restore-pages) k=$npages ;;
	*)
		# Reached how often? (restore-finish: once.)
		k=0
		while [ $k -lt 64 ] && probe_fails "$s" $((k + 1)); do
			k=$((k + 1))
		done
		[ $k -lt 64 ] || log "point $s: reached 64 times or more, walking the first 64"
		;;
	esac
	[ "$k" -gt 0 ] || { failed="$failed $s (never reached);"; log "FAIL point $s is never reached"; continue; }
	log "point $s is reached $k times"
	for n in $(printf '%s\n' 1 2 $(((k + 1) / 2)) "$k" | awk -v k="$k" '$1 <= k' | sort -n -u); do
		one_case "$s" "$n" --detach
	done
done
# Without --detach (ckpt would wait for the root) and from a pipe.
one_case restore-finish 1
one_case restore-pages 1 --stdin --detach
one_case restore-pages "$npages" --stdin --detach

[ -z "$failed" ] || fail "restores that failed uncleanly:$failed"
log "every injected restore failure left nothing behind"
