# A file opened read-only, or mapped, whose size or modification time
# changed between dump and restore: the restore refuses it, naming the pid,
# the descriptor or mapping and the file, and leaves nothing running;
# restore --allow-file-changes accepts it, and the restored process reads
# the file as it is now.

# expect_restore_refused PATTERN: restore must fail with a message matching
# PATTERN and no process of the tree may be left.
expect_restore_refused() {
	if restore; then
		fail "restore succeeded, expected a refusal matching /$1/"
	fi
	grep -Eq -- "$1" "$WORK/restore.log" || fail "restore refused without a message matching /$1/: $(tail -n 3 "$WORK/restore.log")"
	! kill -0 "$PID" 2>/dev/null || fail "pid $PID runs after a refused restore"
	log "refused as expected: $(grep '^ckpt: ' "$WORK/restore.log" | tail -n 1)"
}

# re TEXT: TEXT as an extended regular expression matching only itself.
re() { printf '%s' "$1" | sed 's/[][\.*^$(){}?+|]/\\&/g'; }

# A file opened read-only that grew.
start_workload rofile "$WORK"
dump || fail "dump"
wait_gone "$PID" || fail "tree still running after dump"
printf 'more' >>"$WORK/wl-ro.$PID"
expect_restore_refused "pid $PID fd 9: file $(re "$WORK/wl-ro.$PID") changed since the dump .*--allow-file-changes"
restore --allow-file-changes || fail "restore --allow-file-changes"
verify || fail "rofile restored with the file changed"

# A mapped file whose modification time alone changed.
kill_tree "$PID"
rm -f "$WORK/rofile.result"
start_workload rofile "$WORK"
addr=$(awk -v n="$WORK/wl-ro-map.$PID" '$6 == n { split($1, a, "-"); print a[1]; exit }' /proc/"$PID"/maps)
[ -n "$addr" ] || fail "no mapping of $WORK/wl-ro-map.$PID"
dump || fail "dump"
wait_gone "$PID" || fail "tree still running after dump"
touch -d '2001-02-03 04:05:06' "$WORK/wl-ro-map.$PID"
expect_restore_refused "pid $PID vma 0x$(printf '%x' $((16#$addr))): mapped file $(re "$WORK/wl-ro-map.$PID") changed since the dump"
restore --allow-file-changes || fail "restore --allow-file-changes"
verify || fail "rofile restored with the mapped file changed"
