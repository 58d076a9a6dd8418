# A real program holding a pty master: python3's pty.spawn() runs a shell
# pipeline on a new pseudo-terminal (the shell is a session leader with the
# pty as its controlling terminal) and copies what it prints to a file.
# Checkpointed and restored in the middle, the output goes on where it
# was: every line once, in order.
command -v python3 >/dev/null || skip "no python3"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts || skip "cannot mount a devpts instance"
N=80
cat >"$WORK/spawn.py" <<'PY'
import os, pty, sys
def read(fd):
    data = os.read(fd, 1024)
    if data and not os.path.exists(sys.argv[2]):
        open(sys.argv[2], "w").write("started\n")
    return data
status = pty.spawn(["/bin/sh", "-c", sys.argv[1]], read)
open(sys.argv[3] + ".tmp", "w").write("%d\n" % status)
os.rename(sys.argv[3] + ".tmp", sys.argv[3])
PY
(
	setsid python3 "$WORK/spawn.py" "i=0; while [ \$i -lt $N ]; do echo \"line \$i\"; i=\$((i+1)); sleep 0.05; done | cat" \
		"$WORK/started" "$WORK/status" </dev/null >"$WORK/out" 2>"$WORK/err" &
	echo $! >"$WORK/pid"
)
PID=$(cat "$WORK/pid")
wait_file "$WORK/started" 20 || fail "python did not start: $(cat "$WORK/err")"
sleep 0.5
[ -e "$WORK/status" ] && fail "the pipeline ended before the checkpoint"
# Sessions, groups, terminal and foreground group of the processes that
# last (the loop's sleeps come and go).
ttys() {
	local p
	for p in $(tree_pids "$PID"); do
		echo "$p $(cat /proc/"$p"/comm) $(sed 's/.*) //' /proc/"$p"/stat | cut -d' ' -f3-6)"
	done 2>/dev/null | awk 'NF == 6 && $2 != "sleep"'
}
ttys >"$WORK/ttys.before"
[ "$(wc -l <"$WORK/ttys.before")" -ge 4 ] || fail "expected python, sh, the loop and cat: $(cat "$WORK/ttys.before")"
[ "$(awk '$6 != 0' "$WORK/ttys.before" | wc -l)" -ge 3 ] || fail "the pipeline has no terminal: $(cat "$WORK/ttys.before")"
pids=$(tree_pids "$PID")
dump || fail "dump"
wait_gone $pids || fail "tree still running after dump"
restore || fail "restore"
ttys >"$WORK/ttys.after"
# The processes that are there before and after (one may be between fork and exec).
same=$(awk 'NR == FNR { a[$1] = $0; next } ($1 in a) && a[$1] == $0' "$WORK/ttys.before" "$WORK/ttys.after" | wc -l)
changed=$(awk 'NR == FNR { a[$1] = $0; c[$1] = $2; next } ($1 in a) && c[$1] == $2 && a[$1] != $0' "$WORK/ttys.before" "$WORK/ttys.after")
[ -z "$changed" ] && [ "$same" -ge 4 ] ||
	fail "sessions, groups, terminals or foreground groups differ after restore: $(cat "$WORK/ttys.before") / $(cat "$WORK/ttys.after")"
wait_file "$WORK/status" 30 || fail "the restored pipeline did not finish: $(tail -n 2 "$WORK/out")"
[ "$(cat "$WORK/status")" = 0 ] || fail "pty.spawn returned status $(cat "$WORK/status")"
tr -d '\r' <"$WORK/out" >"$WORK/lines"
seq 0 $((N - 1)) | sed 's/^/line /' >"$WORK/want"
diff -u "$WORK/want" "$WORK/lines" >"$WORK/lines.diff" || fail "output after restore is not every line once, in order: $(grep '^[-+]l' "$WORK/lines.diff" | head -n 5 | tr '\n' ' ')"
echo "PASS: $N lines, across the restore"
