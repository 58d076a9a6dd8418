# Regular files unlinked while open or mapped, across a cycle: their content
# (7 MiB with a hole) is saved, and they come back unlinked with the same
# name, owner, mode, times, offsets and shared descriptions; private and
# shared mappings are of the restored file, and so are mappings of files
# no descriptor holds. Then the same with the workload's own executable
# unlinked (a program whose binary was replaced while it ran); then with the
# file's name taken by another file before the restore.
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
kill_tree "$PID"

# Its name taken by another file meanwhile: the file comes back under a
# temporary name beside it (and unlinked), and the other file is untouched.
rm -f "$WORK/unlinked.result"
start_workload unlinked
dump || fail "dump"
wait_gone "$PID" || fail "tree still running after dump"
echo "another file" >"$WORK/wl-unl-a.$PID"
restore || fail "restore with the name taken"
link=$(readlink /proc/"$PID"/fd/10)
case $link in
"$WORK/.ckpt-"*" (deleted)") ;;
*) fail "fd 10 is $link, want a temporary name in $WORK, unlinked" ;;
esac
[ "$(stat -L -c %s /proc/"$PID"/fd/10)" = $((7 * 1048576 + 100)) ] || fail "fd 10 has another size"
[ "$(cat "$WORK/wl-unl-a.$PID")" = "another file" ] || fail "the file that took the name was changed"
[ -z "$(ls -A "$WORK" | grep '^\.ckpt-')" ] || fail "the temporary name was left: $(ls -A "$WORK")"
rm -f "$WORK/wl-unl-a.$PID"
