# Images through stdout/stdin: (1) dump -o - to a file, restore -i - from it;
# (2) real pipes on both sides: dump -o - | cat > img, then cat img | restore -i -.
# (A direct dump | restore on one machine cannot work with original pids:
# they stay taken until the dump has ended.)
start_workload proctree
pids=$(tree_pids "$PID")
timeout -k 5 60 "$CKPT" dump -t "$PID" -o - >"$WORK/img" 2>"$WORK/dump.log" || fail "dump -o -: $(tail -n 3 "$WORK/dump.log")"
[ -s "$WORK/img" ] || fail "dump -o - wrote nothing"
wait_gone $pids || fail "tree still running after dump -o -"
timeout -k 5 60 "$CKPT" restore -i - --detach <"$WORK/img" >"$WORK/restore.log" 2>&1 ||
	fail "restore -i - from a file: $(tail -n 3 "$WORK/restore.log")"
verify || fail "proctree restored from stdin"
wait_gone $(tree_pids "$PID")

# (2) real pipes.
rm -f "$WORK"/proctree.*
start_workload proctree
pids=$(tree_pids "$PID")
log "pipe: dump -o - | cat; cat | restore -i - --detach"
timeout -k 5 60 bash -c 'set -o pipefail; "$1" dump -t "$2" -o - 2>"$3/dump-pipe.log" | cat >"$3/img-pipe"' pipe "$CKPT" "$PID" "$WORK" ||
	fail "dump into a pipe: $(tail -n 3 "$WORK/dump-pipe.log")"
wait_gone $pids || fail "tree still running after dump into a pipe"
timeout -k 5 60 bash -c 'set -o pipefail; cat "$3/img-pipe" | "$1" restore -i - --detach >"$3/restore-pipe.log" 2>&1' pipe "$CKPT" "$PID" "$WORK" ||
	fail "restore from a pipe: $(tail -n 3 "$WORK/restore-pipe.log")"
verify || fail "proctree restored through a pipe"
