# Pseudo-terminal pairs held inside the tree (tests/workloads/pty.c): index,
# termios, window size, lock, packet mode, queued bytes both ways, the
# session's controlling terminal and its foreground group. Runs on a devpts
# instance of its own, so that the indexes are not shared with other tests.
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts || skip "cannot mount a devpts instance"

# Holds the lowest free pty indexes (N of them) until killed; prints its pid.
hold_ptys() { # N
	python3 -c '
import os, sys, time
fds = [os.openpty() for _ in range(int(sys.argv[1]))]
open(sys.argv[2], "w").write(" ".join(os.ttyname(s) for m, s in fds) + "\n")
time.sleep(1000)' "$1" "$WORK/held" &
	HOLDER=$!
	wait_file "$WORK/held" 10 || fail "pty holder did not start"
	log "holding $(cat "$WORK/held")"
	rm -f "$WORK/held"
}

# Terminal, foreground group of each process: what /proc/PID/stat says.
ttys() {
	local p
	for p in $(tree_pids "$PID"); do
		echo "$p $(sed 's/.*) //' /proc/"$p"/stat | cut -d' ' -f5-6)"
	done
}

# 1. --leave-running: the original keeps its queued bytes and settings.
start_workload pty
ttys >"$WORK/ttys.before"
pids=$(tree_pids "$PID")
dump --leave-running || fail "dump --leave-running"
verify || fail "the original after dump --leave-running"
wait_gone $pids || fail "original tree did not end"
rm -f "$WORK/pty.result"
restore || fail "restore after --leave-running"
ttys >"$WORK/ttys.after"
diff -u "$WORK/ttys.before" "$WORK/ttys.after" || fail "terminals or foreground groups differ after restore"
verify || fail "restored from the --leave-running image"
wait_gone $pids || fail "restored tree did not end"

# 2. The workload gets ptys 1 and 2; at restore 0 is free again, so the
#    restore opens 0 on its way to 1 and gives it back.
hold_ptys 1
start_workload pty
ls /dev/pts | grep -qx 1 || fail "the workload does not hold /dev/pts/1"
kill $HOLDER; wait $HOLDER 2>/dev/null
cycle || fail "checkpoint/restore cycle with a lower index free"
[ -e /dev/pts/0 ] && fail "/dev/pts/0 is still open after restore: $(ls /dev/pts)"
verify || fail "pty after restore"

# 3. Index taken by another process: the restore fails and says so.
hold_ptys 1
start_workload pty
pids=$(tree_pids "$PID")
kill $HOLDER; wait $HOLDER 2>/dev/null
dump || fail "dump"
wait_gone $pids || fail "tree still running after dump"
hold_ptys 2
restore && fail "restore succeeded while /dev/pts/1 is held by another process"
grep -q "pty 1 (/dev/pts/1) is in use by another process" "$WORK/restore.log" ||
	fail "no clear message: $(tail -n 2 "$WORK/restore.log")"
kill $HOLDER; wait $HOLDER 2>/dev/null
restore || fail "restore once /dev/pts/1 is free"
verify || fail "pty after the second restore"
