# A dump that fails leaves an image already at its path as it was, and no
# partial file beside it; a dump that succeeds replaces it whole.
start_workload proctree
dump --leave-running || fail "first dump"
sum1=$(md5sum <"$WORK/img")
CKPT_FAIL_AT=pages:1 "$CKPT" dump -t "$PID" -o "$WORK/img" >"$WORK/fail.log" 2>&1 && fail "the injected failure did not fail the dump"
[ -s "$WORK/img" ] || fail "the failed dump removed the image that was there"
[ "$(md5sum <"$WORK/img")" = "$sum1" ] || fail "the failed dump changed the image that was there"
ls -a "$WORK" | grep -q '\.ckpt-' && fail "a partial image was left: $(ls -a "$WORK" | grep '\.ckpt-')"
[ "$(stat -c %a "$WORK/img")" = 600 ] || fail "image mode $(stat -c %a "$WORK/img")"
pids=$(tree_pids "$PID")
dump || fail "second dump"
wait_gone $pids || fail "tree still running after dump"
restore || fail "restore"
verify || fail "proctree after restore"
