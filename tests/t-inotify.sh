# inotify: watches on directories, files and a symbolic link come back with
# the same watch descriptors and masks, and report events; a thread blocked
# reading one wakes. Events queued at the dump are not saved (the dump says
# so), and the restore's own opens of the program's files leave no events.

# dump --leave-running: the original keeps its watches and its queued event.
start_workload inotify keep
dump --leave-running || fail "dump --leave-running"
check_untouched || fail "tree left traced or stopped by dump --leave-running"
verify || fail "the original's inotify after dump --leave-running"

start_workload inotify lose
cycle || fail "checkpoint/restore cycle"
grep -q "pid $PID fd [0-9]*: inotify: [0-9]* bytes of events not read yet are not saved" "$WORK/dump.log" ||
	fail "the dump did not warn about the queued event: $(tail -n 3 "$WORK/dump.log")"
verify || fail "inotify after restore"

# As on a kernel without INOTIFY_IOC_SETNEXTWD: the numbers between the
# wds are spent on scratch watches (the first instance, I1, has gaps).
start_workload inotify lose
pids=$(tree_pids "$PID")
dump || fail "dump"
wait_gone $pids || fail "tree still running after dump"
CKPT_FAIL_AT=inotify-next-wd restore -v || fail "restore without INOTIFY_IOC_SETNEXTWD"
grep -q "inotify: no INOTIFY_IOC_SETNEXTWD" "$WORK/restore.log" ||
	fail "the restore did not take the path without INOTIFY_IOC_SETNEXTWD"
verify || fail "inotify restored without INOTIFY_IOC_SETNEXTWD"

# A watch ckpt cannot find again (a /proc file has no file handle to open).
start_workload inotify refuse
expect_dump_refused "pid $PID fd [0-9]+: inotify watch 2 on inode [0-9]+ .*not supported yet"

# A hostile image: a watch mask with a bit restore does not know is refused.
# The first watch of I1 (its first File record with watches) is wd 1 on D,
# mask 0x320: its bytes are 08 01 10 a0 06 1a LEN PATH; a0 46 is 0x2320.
build_imgtool
start_workload inotify lose
dir=$(readlink -f "$WORK/inotify-dir.$PID")
pids=$(tree_pids "$PID")
dump || fail "dump"
wait_gone $pids || fail "tree still running after dump"
# The path's length as a protobuf varint.
n=${#dir}
len=$(if [ "$n" -lt 128 ]; then printf "\\x%02x" "$n"; else printf "\\x%02x\\x%02x" $((n % 128 + 128)) $((n / 128)); fi)
good=$(printf "\x08\x01\x10\xa0\x06\x1a$len%s" "$dir")
bad=$(printf "\x08\x01\x10\xa0\x46\x1a$len%s" "$dir")
for i in $("$IMGTOOL" list "$WORK/img" | awk '$3 == 5 {print $1}'); do
	"$IMGTOOL" set "$WORK/img" "$WORK/img.same" "$i" 27 "s:$good" 2>/dev/null || continue
	cmp -s "$WORK/img" "$WORK/img.same" || fail "record $i: the first watch is not wd 1 on $dir with mask 0x320"
	"$IMGTOOL" set "$WORK/img" "$WORK/img.bad" "$i" 27 "s:$bad" || fail "imgtool set"
	break
done
[ -s "$WORK/img.bad" ] || fail "no inotify File record with the first watch on $dir"
timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" restore -i "$WORK/img.bad" --detach >"$WORK/bad.log" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "^ckpt: image damaged: inotify file" "$WORK/bad.log" ||
	fail "restore of a hostile watch mask exited with $rc: $(tail -n 2 "$WORK/bad.log")"
! kill -0 "$PID" 2>/dev/null || fail "the refused image left pid $PID running"
