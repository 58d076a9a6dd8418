# Regular files unlinked while open or mapped, across a cycle: their content
# (7 MiB with a hole) is saved, and they come back unlinked with the same
# name, owner, mode, times, offsets and shared descriptions; private and
# shared mappings are of the restored file, and so are mappings of files
# no descriptor holds. Then the same with the workload's own executable
# unlinked (a program whose binary was replaced while it ran).
start_workload unlinked
cycle || fail "checkpoint/restore cycle"
verify || fail "unlinked files after restore"
[ -z "$(ls "$WORK" | grep '^wl-unl\|^\.ckpt-')" ] || fail "files left behind in $WORK: $(ls -a "$WORK")"
kill_tree "$PID"

mkdir -p "$WORK/bin"
cp "$BIN/unlinked" "$WORK/bin/unlinked"
bin=$BIN
BIN=$WORK/bin start_workload unlinked "$WORK" exe-deleted
rm -f "$WORK/bin/unlinked"
case $(readlink /proc/"$PID"/exe) in
*" (deleted)") ;;
*) fail "the workload's executable is not unlinked: $(readlink /proc/"$PID"/exe)" ;;
esac
BIN=$bin
cycle || fail "checkpoint/restore cycle with the executable unlinked"
verify || fail "unlinked executable after restore"
