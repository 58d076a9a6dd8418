# The image cannot be written, or ckpt is told to stop: the dump must fail
# cleanly and the tree go on exactly as before.  For every case: ckpt ends
# (no hang) with status 1 and a message saying what went wrong, no partial
# image file is left, no thread is traced or stopped, maps, fds, signal
# state, credentials and limits are unchanged (dump_failure_problems in
# lib.sh), and the workload (failsafe: 3 processes, 7 threads) verifies.
#
#   full disk: -o FILE on a tmpfs of 8 KiB (full in the records), 1 MiB
#     (full in the first page data) and 6 MiB (full in the middle of the
#     8 MiB region); -o - into /dev/full
#   -o - into a pipe whose reader is killed (SIGKILL) after 4 KiB (in the
#     records) and after 4 MiB (in the page data)
#   SIGINT, SIGTERM, SIGHUP to ckpt during the dump of a 512 MiB tree: while
#     it freezes the tree (as soon as a thread is traced), after 64 MiB and
#     after 256 MiB of image
#   SIGTERM while ckpt is blocked writing into a pipe whose reader stopped
#     reading: ckpt must give up within 5 s (a stalled consumer, a hung ssh,
#     must not keep the tree frozen once ckpt is told to stop)
#
# The tmpfs is mounted in the test's own mount namespace (tests/run gives
# each test one, with tests/reaper as PID 1); run by hand, those cases are
# skipped.

failed=
# run_case LABEL CMD...: run CMD in a subshell; record LABEL if it fails.
run_case() {
	local label=$1
	shift
	if (
		trap 'kill_tree "$PID" >/dev/null 2>&1' EXIT
		"$@"
	) >"$WORK/case.log" 2>&1; then
		log "ok   $label: $(grep -E '^ckpt: ' "$WORK/dump.log" 2>/dev/null | tail -n 1)"
	else
		log "FAIL $label"
		sed 's/^/    /' "$WORK/case.log" | tail -n 25
		failed="$failed $label;"
	fi
}

new_tree() { # MIB
	rm -f "$WORK/failsafe".*
	start_workload failsafe "$1"
}

# --- full disk -----------------------------------------------------------
own_ns=0
[ "$(readlink -f /proc/1/exe 2>/dev/null)" = "$(readlink -f "$BIN/reaper")" ] && own_ns=1
full_disk() { # SIZE
	local dir=$WORK/full-$1
	mkdir -p "$dir"
	mount -t tmpfs -o size="$1",mode=0700 tmpfs "$dir" || fail "cannot mount a tmpfs of $1 on $dir"
	new_tree 8
	expect_dump_fails "No space left on device" "$dir/img"
	[ -z "$(ls -A "$dir")" ] || fail "files left on the full tmpfs: $(ls -A "$dir" | tr '\n' ' ')"
	umount "$dir"
}
if [ $own_ns -eq 1 ]; then
	for size in 8k 1m 6m; do
		run_case "full disk (tmpfs size=$size)" full_disk $size
	done
else
	log "not under tests/run (PID 1 is not the reaper): no private mount namespace, tmpfs cases skipped"
fi

dev_full() {
	new_tree 8
	DUMP_STDOUT=/dev/full expect_dump_fails "No space left on device" -
}
run_case "-o - into /dev/full" dev_full

# --- a pipe whose reader is killed ----------------------------------------
# start_reader BYTES: a reader on $WORK/fifo that reads BYTES and then keeps
# the pipe open without reading; sets READER.
start_reader() {
	rm -f "$WORK/fifo" "$WORK/partial"
	mkfifo "$WORK/fifo" || fail "mkfifo"
	(
		exec <"$WORK/fifo"
		head -c "$1" >"$WORK/partial"
		exec sleep 600
	) &
	READER=$!
}

# start_dump OUT: ckpt dump -t $PID -o OUT in the background (stdout of -o
# - to $WORK/fifo); sets CK.  full_snapshot in $WORK/before first.
start_dump() {
	PIDS=$(tree_pids "$PID")
	full_snapshot "$WORK/before"
	NDUMP=$((NDUMP + 1))
	log "dump #$NDUMP (pid $PID) -o $1 in the background"
	if [ "$1" = - ]; then
		"$CKPT" dump -t "$PID" -o - >"$WORK/fifo" 2>"$WORK/dump.log" &
	else
		"$CKPT" dump -t "$PID" -o "$1" >"$WORK/dump.log" 2>&1 &
	fi
	CK=$!
}

# running PID: PID exists and is not a zombie.
running() {
	local st
	st=$(sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# wait_ckpt SECONDS: wait until ckpt ($CK) has ended, at most SECONDS;
# sets RC (its status) and returns 0, or returns 1 if it still runs.
wait_ckpt() {
	local i=0
	while running "$CK" && [ $i -lt $(($1 * 20)) ]; do
		sleep 0.05
		i=$((i + 1))
	done
	running "$CK" && return 1
	wait "$CK"
	RC=$?
	return 0
}

# tree_threads_state: "tid:state tracer" of every thread of the tree.
tree_threads_state() {
	local t
	for t in $(tree_tids "$PID"); do
		printf '%s:%s/%s ' "${t#*/}" "$(sed 's/.*) //' /proc/"${t%/*}"/task/"${t#*/}"/stat 2>/dev/null | cut -d' ' -f1)" \
			"$(awk '/^TracerPid:/ {print $2}' /proc/"${t%/*}"/task/"${t#*/}"/status 2>/dev/null)"
	done
}

# wait_size FILE BYTES: until FILE has BYTES bytes or ckpt ended (10 s at most).
wait_size() {
	local i=0
	while [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -lt "$2" ] && running "$CK" && [ $i -lt 1000 ]; do
		sleep 0.01
		i=$((i + 1))
	done
}

# wait_image_size BYTES: until the image being written (under the temporary
# name ckpt writes it under, beside its path) has BYTES bytes, or ckpt ended.
wait_image_size() {
	local i=0 f
	while running "$CK" && [ $i -lt 1000 ]; do
		f=$(ls "$WORK"/.img.ckpt-* 2>/dev/null | head -n 1)
		[ -n "$f" ] && [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" -ge "$1" ] && break
		sleep 0.01
		i=$((i + 1))
	done
}

# finish_case PATTERN OUT: the dump has ended with $RC: check everything, then verify.
finish_case() {
	local why
	cp "$WORK/dump.log" "$WORK/dump.$NDUMP.log"
	why=$(dump_failure_problems "$1" "$2" "$RC" "$PIDS" "$WORK/before") || fail "$(echo "$why" | head -n 1)
$(echo "$why" | tail -n +2)"
	verify || fail "workload failed after the dump"
}

reader_killed() { # BYTES
	new_tree 64
	start_reader "$1"
	start_dump -
	wait_size "$WORK/partial" "$1"
	[ "$(stat -c %s "$WORK/partial" 2>/dev/null)" = "$1" ] || fail "the reader did not get $1 bytes"
	sleep 0.3 # ckpt is now blocked writing
	kill -9 "$READER"
	wait "$READER" 2>/dev/null
	wait_ckpt 20 || fail "ckpt still runs 20 s after its reader was killed (tree: $(tree_threads_state))"
	finish_case "Broken pipe|EPIPE|pipe.*(closed|gone)|reader" -
}
run_case "-o - into a pipe, reader killed after 4 KiB" reader_killed 4096
run_case "-o - into a pipe, reader killed after 4 MiB" reader_killed 4194304

# --- signals to ckpt during a dump of 512 MiB ------------------------------
# when: traced (as soon as a thread of the tree is traced) or a byte count.
signalled() { # SIG WHEN
	local sig=$1 when=$2 i=0
	new_tree 512
	start_dump "$WORK/img"
	if [ "$when" = traced ]; then
		while running "$CK" && [ $i -lt 2000 ] &&
			! grep -q '^TracerPid:[[:space:]]*[1-9]' /proc/"$PID"/task/*/status 2>/dev/null; do
			i=$((i + 1))
		done
	else
		wait_image_size "$when"
	fi
	running "$CK" || fail "ckpt ended before SIG$sig could be sent ($when)"
	log "SIG$sig to ckpt (image: $(stat -c %s "$WORK"/.img.ckpt-* 2>/dev/null) bytes; tree: $(tree_threads_state))"
	kill -"$sig" "$CK"
	wait_ckpt 20 || fail "ckpt still runs 20 s after SIG$sig (tree: $(tree_threads_state))"
	finish_case "interrupted.*SIG$sig|SIG$sig.*interrupted" "$WORK/img"
	ls "$WORK"/.img.ckpt-* >/dev/null 2>&1 && fail "the interrupted dump left its partial image behind"
	true
}
run_case "SIGTERM while freezing" signalled TERM traced
run_case "SIGINT after 64 MiB" signalled INT 67108864
run_case "SIGTERM after 256 MiB" signalled TERM 268435456
run_case "SIGHUP after 64 MiB" signalled HUP 67108864

# --- SIGTERM while blocked on a stalled pipe -------------------------------
stalled() {
	local problems=
	new_tree 64
	start_reader 1048576
	start_dump -
	wait_size "$WORK/partial" 1048576
	sleep 0.3 # ckpt is now blocked writing, the tree frozen
	log "SIGTERM to ckpt blocked in a write (wchan $(cat /proc/"$CK"/wchan 2>/dev/null); tree: $(tree_threads_state))"
	kill -TERM "$CK"
	if ! wait_ckpt 5; then
		problems="ckpt still runs 5 s after SIGTERM, blocked in $(cat /proc/"$CK"/wchan 2>/dev/null), the tree still frozen: $(tree_threads_state)"
		echo "$problems"
		# Let it go: the reader leaves.
		kill -9 "$READER"
		wait_ckpt 20 || fail "$problems; still running 20 s after the reader was killed too"
	fi
	kill -9 "$READER" 2>/dev/null
	wait "$READER" 2>/dev/null
	if ! (finish_case "interrupted.*SIGTERM" -) >"$WORK/finish.log" 2>&1; then
		cat "$WORK/finish.log"
		problems="$problems${problems:+; }$(grep '^FAIL' "$WORK/finish.log" | head -n 1)"
	fi
	[ -z "$problems" ] || fail "$problems"
}
run_case "SIGTERM while blocked writing to a stalled pipe" stalled

[ -z "$failed" ] || fail "dumps that did not fail cleanly:$failed"
log "every output error and signal left the tree unharmed"
