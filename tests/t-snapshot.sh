# dump --leave-running lets the tree run while its private memory is
# written, reading it from a copy-on-write snapshot (lib/dump_snap.c). The
# image must still hold memory as it was at one instant: memwriter rewrites
# 64 MiB pass after pass during the dump, and after restore its writer
# checks every page holds the stamp of the pass its registers say it was in.
# 256 KiB of it are PROT_NONE, which the snapshot's pump cannot splice.
# The snapshot must leave nothing behind in the original (no child, no
# zombie, no fd), and the original goes on writing consistently too.
start_workload memwriter
snapshot "$WORK/before"
for n in 1 2 3; do
	dump --leave-running -v || fail "dump --leave-running #$n"
	grep -q "pid $PID: copy-on-write snapshot .* taken" "$WORK/dump.log" ||
		fail "dump #$n took no snapshot: $(tail -n 3 "$WORK/dump.log")"
	! grep -q "its pump" "$WORK/dump.log" ||
		fail "dump #$n: the snapshot's pump failed: $(grep "its pump" "$WORK/dump.log")"
	check_untouched || fail "tree left traced or stopped"
	kids=$(cat /proc/"$PID"/task/*/children 2>/dev/null | tr -d ' \n')
	[ -z "$kids" ] || fail "snapshot left a child (or zombie) in pid $PID: $kids"
done
snapshot "$WORK/after"
diff -u "$WORK/before" "$WORK/after" >"$WORK/snapshot.diff" ||
	fail "maps or fds changed by the snapshots: $(head -n 20 "$WORK/snapshot.diff")"
kill_tree "$PID" || fail "cannot kill the original"
restore || fail "restore"
verify || fail "memory in the image is not as at one instant"
