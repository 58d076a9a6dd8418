# dump --leave-running of unlinked files only reads them: the original tree
# must find every file, offset and mapping as it was; then the image
# restores (the files are made again, unlinked).
start_workload unlinked
dump --leave-running || fail "dump --leave-running: $(tail -n 3 "$WORK/dump.log")"
check_untouched || fail "tree left traced or stopped"
verify || fail "unlinked files after dump --leave-running"
kill_tree "$PID" || fail "cannot kill the original tree"
rm -f "$WORK/unlinked.result"
restore || fail "restore"
verify || fail "unlinked files restored from a --leave-running image"
