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

# 4. A master whose reader does not read: its buffer is full and more waits
#    behind it. The dump is refused and the tree keeps every byte, in order.
cat >"$WORK/flood.py" <<'PY'
import os, pty, signal, sys, time, tty
N = 20000
data = bytes(i % 251 for i in range(N))
pid, m = pty.fork()
if pid == 0:
    tty.setraw(0)
    off = 0
    while off < N:
        off += os.write(1, data[off:])
    time.sleep(1000)
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
time.sleep(0.5)
open(sys.argv[1], "w").write("ready\n")
signal.sigwait([signal.SIGUSR1])
got = b""
while len(got) < N:
    got += os.read(m, 65536)
open(sys.argv[2], "w").write("PASS\n" if got == data else "FAIL: %d bytes, first difference at %d\n" % (
    len(got), next(i for i in range(min(len(got), N)) if got[i] != data[i])))
os.kill(pid, 9)
PY
(
	setsid python3 "$WORK/flood.py" "$WORK/flood.ready" "$WORK/flood.result" </dev/null >"$WORK/flood.out" 2>&1 &
	echo $! >"$WORK/flood.pid"
)
PID=$(cat "$WORK/flood.pid")
wait_file "$WORK/flood.ready" 20 || fail "flood did not start: $(cat "$WORK/flood.out")"
pids=$(tree_pids "$PID")
dump && fail "dump succeeded with a full pty buffer"
grep -q "pty [0-9]*: reading the bytes the master has not read: its line discipline's buffer is full" "$WORK/dump.log" ||
	fail "no clear refusal: $(tail -n 2 "$WORK/dump.log")"
for p in $pids; do
	kill -0 "$p" 2>/dev/null || fail "pid $p is gone after the refused dump"
done
check_untouched || fail "tree left traced or stopped by the refused dump"
kill -USR1 "$PID"
wait_file "$WORK/flood.result" 20 || fail "flood did not read its bytes: $(cat "$WORK/flood.out")"
[ "$(cat "$WORK/flood.result")" = PASS ] || fail "bytes after the refused dump: $(cat "$WORK/flood.result")"
