# fd tables and cwd/root/umask shared between processes (CLONE_FILES,
# CLONE_FS), between a parent and its children and between siblings whose
# parent does not share them: after restore the same processes share them
# again (kcmp), and a file one opens is in the other's table.
start_workload share
cycle || fail "checkpoint/restore cycle"
verify || fail "sharing after restore"
# dump --leave-running: the original goes on sharing as before, and the
# image restores once it is gone.
start_workload share
pids=$(tree_pids "$PID")
dump --leave-running || fail "dump --leave-running"
check_untouched || fail "tree left traced or stopped by dump --leave-running"
verify || fail "the original after dump --leave-running"
wait_gone $pids || fail "the original tree did not end"
rm -f "$WORK/share.result"
restore || fail "restore of the --leave-running image"
verify || fail "sharing restored from a --leave-running image"
