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

# Hostile images: a process that names as its table's group one that does
# not lead a group, or a fs group whose cwd, root or umask differ from its
# own, is refused before any process exists.
start_workload share
read -r _ _ a _ a2 _ b _ _ _ _ _ e <"$WORK/share.ready"
pids=$(tree_pids "$PID")
dump || fail "dump"
wait_gone $pids || fail "tree still running after dump"
build_imgtool
# record_of PID: the index of PID's Process record.
record_of() {
	local i
	for i in $("$IMGTOOL" list "$WORK/img" | awk '$3 == 2 {print $1}'); do
		"$IMGTOOL" set "$WORK/img" "$WORK/img.same" "$i" 1 "$1" 2>/dev/null || continue
		cmp -s "$WORK/img" "$WORK/img.same" && { echo "$i"; return 0; }
	done
	return 1
}
# refused IDX FIELD VALUE PATTERN: with that field of that record, restore fails with PATTERN.
refused() {
	local rc
	"$IMGTOOL" set "$WORK/img" "$WORK/img.bad" "$1" "$2" "$3" || fail "imgtool set record $1 field $2 to $3"
	timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" restore -i "$WORK/img.bad" --detach >"$WORK/bad.log" 2>&1
	rc=$?
	[ $rc = 1 ] && grep -Eq "^ckpt: image damaged: $4" "$WORK/bad.log" ||
		fail "restore of an image with field $2 of record $1 set to $3 exited with $rc: $(tail -n 2 "$WORK/bad.log")"
	for p in $pids; do
		! kill -0 "$p" 2>/dev/null || fail "the refused image left pid $p running"
	done
}
ra=$(record_of "$a") || fail "no Process record for A ($a)"
rb=$(record_of "$b") || fail "no Process record for B ($b)"
# imgtool keeps the encoded length: the pids must take as many varint bytes.
vlen() { if [ "$1" -lt 128 ]; then echo 1; elif [ "$1" -lt 16384 ]; then echo 2; else echo 3; fi; }
[ "$(vlen "$a2")" = "$(vlen "$PID")" ] && [ "$(vlen "$e")" = "$(vlen "$PID")" ] ||
	fail "pids of different encoded lengths: $PID $a2 $e"
refused "$ra" 25 "$a2" "process $a shares the fd table of process $a2"
refused "$rb" 70 "$e" "process $b shares the cwd, root and umask of process $e"
restore || fail "restore of the image itself"
verify || fail "sharing after restore of the image the hostile ones came from"
