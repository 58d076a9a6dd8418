# dump --leave-running of a tree under seccomp (strict mode included): the
# calls ckpt runs inside it must not be judged by its filters, and the tree
# must go on filtered as before.
start_workload seccomp
dump --leave-running || fail "dump --leave-running: $(tail -n 3 "$WORK/dump.log")"
verify || fail "seccomp after dump --leave-running"
