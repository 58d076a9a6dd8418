# Large SysV segments (two of 192 MiB, every page written, one attached, one
# not) are streamed through a bounded buffer: neither ckpt dump nor ckpt
# restore grows with them (peak RSS measured by time(1)), and the tree finds
# every page after the restore.
own_ipc_namespace
[ -x /usr/bin/time ] || skip "no /usr/bin/time to measure ckpt's memory"
LIMIT_KB=$((128 * 1024)) # the segments are 384 MiB; ckpt (even with ASan) stays well below this
CKPT_TIMEOUT=120
start_workload sysvbig 192
pids=$(tree_pids "$PID")
/usr/bin/time -f %M -o "$WORK/dump.rss" "$CKPT" dump -t "$PID" -o "$WORK/img" >"$WORK/dump.log" 2>&1 ||
	fail "dump: $(tail -n 2 "$WORK/dump.log")"
wait_gone $pids || fail "the tree still runs after the dump"
/usr/bin/time -f %M -o "$WORK/restore.rss" "$CKPT" restore -i "$WORK/img" --detach >"$WORK/restore.log" 2>&1 ||
	fail "restore: $(tail -n 2 "$WORK/restore.log")"
log "peak RSS: dump $(cat "$WORK/dump.rss") KiB, restore $(cat "$WORK/restore.rss") KiB; image $(stat -c %s "$WORK/img") bytes"
[ "$(cat "$WORK/dump.rss")" -lt $LIMIT_KB ] || fail "ckpt dump used $(cat "$WORK/dump.rss") KiB"
[ "$(cat "$WORK/restore.rss")" -lt $LIMIT_KB ] || fail "ckpt restore used $(cat "$WORK/restore.rss") KiB"
verify || fail "the large segments after restore"
