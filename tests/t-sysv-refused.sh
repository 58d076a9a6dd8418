# SysV IPC that a dump cannot save as it is must be refused with a message
# naming the object, the tree going on unharmed:
#  - a segment of the tree also attached by a process outside it (a dump
#    that ends the tree would move the segment away from that process);
#  - --ipc-key naming no object.
own_ipc_namespace
start_workload sysv
# A process outside the tree attaches segment A (key 0x5a01).
python3 -c '
import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
id = libc.shmget(0x5a01, 0, 0)
if id < 0 or libc.shmat(id, None, 0) in (None, ctypes.c_void_p(-1).value):
    sys.exit("cannot attach: %d" % ctypes.get_errno())
open(sys.argv[1], "w").write("attached\n")
time.sleep(600)
' "$WORK/outside.ready" &
outside=$!
wait_file "$WORK/outside.ready" 10 || fail "the outside process did not attach the segment"
id=$(ipcs -m | awk '$1 == "0x00005a01" {print $2}')
# As expect_dump_refused, but the outside process must go before verify.
snapshot "$WORK/before"
dump && fail "dump succeeded with a segment attached outside the tree"
grep -Eq "SysV shared memory id $id \(key 0x5a01\): attached 4 times, 3 of them by the tree; a process outside the tree uses it" \
	"$WORK/dump.log" || fail "dump refused without naming the segment: $(tail -n 2 "$WORK/dump.log")"
check_untouched || fail "tree left traced or stopped after a refused dump"
snapshot "$WORK/after"
diff -u "$WORK/before" "$WORK/after" || fail "maps or fds changed by a refused dump"
kill "$outside"
wait "$outside" 2>/dev/null
verify || fail "workload failed after a refused dump"
wait_gone "$PID" || fail "the workload did not end"
ipcrm --all

start_workload sysv
expect_dump_refused "--ipc-key 0x1234abcd: no SysV object has this key" --ipc-key 0x1234abcd
