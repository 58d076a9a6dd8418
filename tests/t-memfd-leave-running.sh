# dump --leave-running of memfds only reads them: the original tree must find
# every memfd, seal, offset and mapping as it was; then the image restores.
start_workload memfd
dump --leave-running || fail "dump --leave-running: $(tail -n 3 "$WORK/dump.log")"
check_untouched || fail "tree left traced or stopped"
verify || fail "memfd after dump --leave-running"
kill_tree "$PID" || fail "cannot kill the original tree"
rm -f "$WORK/memfd.result"
restore || fail "restore"
verify || fail "memfd restored from a --leave-running image"
