# File locks held by two processes of the tree (tests/workloads/locks.c):
# flock (shared and exclusive), POSIX record locks on several ranges, OFD
# locks and a lease come back held by the same processes and descriptions.
# Also: a --leave-running dump leaves the original's locks as they were,
# and a restore that meets a conflicting lock held by another process fails
# and names the holder.
command -v python3 >/dev/null || skip "no python3"

# The tree's locks as /proc/locks lists them: kind, type, pid, file, range.
locks_of_tree() {
	local pids
	pids=" $(tree_pids "$PID" | tr '\n' ' ')"
	awk -v pids="$pids" '$2 != "->" && (index(pids, " " $5 " ") || $5 == -1) { print $2, $3, $4, $5, $6, $7, $8 }' \
		/proc/locks | sort
}

expect_restore_refused() { # PATTERN
	restore && fail "restore succeeded despite the conflicting lock"
	grep -Eq -- "$1" "$WORK/restore.log" || fail "no message matching /$1/: $(tail -n 2 "$WORK/restore.log")"
	log "refused as expected: $(grep '^ckpt:' "$WORK/restore.log" | tail -n 1)"
	for p in $pids; do
		[ -e /proc/"$p" ] && fail "pid $p is left over from the refused restore"
	done
	return 0
}

# 1. A checkpoint/restore cycle.
start_workload locks
locks_of_tree >"$WORK/locks.before"
[ "$(wc -l <"$WORK/locks.before")" -ge 9 ] || fail "the workload holds too few locks: $(cat "$WORK/locks.before")"
cycle || fail "checkpoint/restore cycle"
locks_of_tree >"$WORK/locks.after"
diff -u "$WORK/locks.before" "$WORK/locks.after" || fail "/proc/locks differs after restore"
verify || fail "locks after restore"

# 2. --leave-running: the original keeps its locks, and the image restores.
start_workload locks
pids=$(tree_pids "$PID")
locks_of_tree >"$WORK/locks.before"
dump --leave-running || fail "dump --leave-running"
locks_of_tree >"$WORK/locks.after"
diff -u "$WORK/locks.before" "$WORK/locks.after" || fail "dump --leave-running changed the locks"
verify || fail "the original after dump --leave-running"
wait_gone $pids || fail "original did not end"
rm -f "$WORK/locks.result"
restore || fail "restore from the --leave-running image"
verify || fail "locks restored from the --leave-running image"

# 3. Conflicting locks held by processes outside the tree (as the original
#    itself would, were it still running): the restore fails, names them,
#    and leaves nothing behind; once they are gone it works.
start_workload locks
pids=$(tree_pids "$PID")
dump || fail "dump"
wait_gone $pids || fail "tree still running after dump"
flock --no-fork -x "$WORK/locks.data" sleep 1000 &
holder=$!
sleep 0.3
expect_restore_refused "file $WORK/locks.data: cannot take its flock LOCK_SH again: another process \(pid $holder\) holds a conflicting lock"
kill $holder; wait $holder 2>/dev/null
python3 -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 10, 350)
open(sys.argv[2], "w").write("locked\n")
time.sleep(1000)' "$WORK/locks.data" "$WORK/held" &
holder=$!
wait_file "$WORK/held" 10 || fail "POSIX lock holder did not start"
expect_restore_refused "pid [0-9]+ fd [0-9]+: cannot take its POSIX lock F_WRLCK on bytes 300-399 again: pid $holder holds a conflicting lock"
kill $holder; wait $holder 2>/dev/null
restore || fail "restore once the conflicting locks are gone"
verify || fail "locks after the restore that followed the refused ones"
