# A real program holding a pty master: script(1) runs a shell pipeline on a
# new pseudo-terminal (its child is the session leader, the pty its
# controlling terminal) and copies what it prints to a file. Checkpointed
# and restored in the middle, the output goes on where it was: every line
# once, in order; the pipeline keeps its session, terminal and foreground
# group.
command -v script >/dev/null || skip "no script(1) (util-linux)"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts || skip "cannot mount a devpts instance"
N=80
(
	setsid script -qfc "i=0; while [ \$i -lt $N ]; do echo \"line \$i\"; i=\$((i+1)); sleep 0.05; done | cat" \
		/dev/null </dev/null >"$WORK/out" 2>"$WORK/err" &
	echo $! >"$WORK/pid"
)
PID=$(cat "$WORK/pid")
wait_file "$WORK/out" 20 || fail "script did not start: $(cat "$WORK/err")"
sleep 0.5
grep -q "line $((N - 1))" "$WORK/out" && fail "the pipeline ended before the checkpoint"

# Sessions, groups, terminal and foreground group of the processes that
# last (the loop's sleeps come and go).
ttys() {
	local p
	for p in $(tree_pids "$PID"); do
		echo "$p $(cat /proc/"$p"/comm) $(sed 's/.*) //' /proc/"$p"/stat | cut -d' ' -f3-6)"
	done 2>/dev/null | awk 'NF == 6 && $2 != "sleep"'
}
ttys >"$WORK/ttys.before"
[ "$(wc -l <"$WORK/ttys.before")" -ge 4 ] || fail "expected script, sh, the loop and cat: $(cat "$WORK/ttys.before")"
[ "$(awk '$6 != 0' "$WORK/ttys.before" | wc -l)" -ge 3 ] || fail "the pipeline has no terminal: $(cat "$WORK/ttys.before")"
pids=$(tree_pids "$PID")
if ! dump; then
	# script(1) of util-linux 2.38 waits for signals with a signalfd.
	grep -q "signalfd is not supported" "$WORK/dump.log" && skip "script(1) holds a signalfd, which this ckpt cannot dump yet"
	fail "dump"
fi
wait_gone $pids || fail "tree still running after dump"
restore || fail "restore"
ttys >"$WORK/ttys.after"
# The processes that are there before and after (one may be between fork and exec).
same=$(awk 'NR == FNR { a[$1] = $0; next } ($1 in a) && a[$1] == $0' "$WORK/ttys.before" "$WORK/ttys.after" | wc -l)
changed=$(awk 'NR == FNR { a[$1] = $0; c[$1] = $2; next } ($1 in a) && c[$1] == $2 && a[$1] != $0' "$WORK/ttys.before" "$WORK/ttys.after")
[ -z "$changed" ] && [ "$same" -ge 4 ] ||
	fail "sessions, groups, terminals or foreground groups differ after restore: $(cat "$WORK/ttys.before") / $(cat "$WORK/ttys.after")"
for _ in $(seq 300); do
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$PID" 2>/dev/null && fail "the restored script did not finish: $(tail -n 2 "$WORK/out")"
tr -d '\r' <"$WORK/out" >"$WORK/lines"
seq 0 $((N - 1)) | sed 's/^/line /' >"$WORK/want"
diff -u "$WORK/want" "$WORK/lines" >"$WORK/lines.diff" ||
	fail "output after restore is not every line once, in order: $(grep '^[-+]l' "$WORK/lines.diff" | head -n 5 | tr '\n' ' ')"
echo "PASS: $N lines, across the restore"
