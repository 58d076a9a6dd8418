# --ipc-key names SysV objects the tree does not show it uses (made by
# someone else, never touched by the tree): the dump saves them too, takes
# them away with the tree, and the restore makes them again with their ids,
# keys, semaphore values and messages.
own_ipc_namespace
start_workload sysv
ipcmk -S 3 -p 0604 >/dev/null && ipcmk -Q -p 0640 >/dev/null || fail "ipcmk"
skey=$(ipcs -s | awk '$1 ~ /^0x/ && $1 != "0x00005a05" {print $1}')
qkey=$(ipcs -q | awk '$1 ~ /^0x/ && $1 != "0x00005a06" && $1 != "0x00005a07" {print $1}')
[ -n "$skey" ] && [ -n "$qkey" ] || fail "cannot find the keys of ipcmk's objects"
python3 -c '
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
s = libc.semget(int(sys.argv[1], 16), 0, 0)
for i, v in enumerate((11, 0, 2024)):
    if libc.semctl(s, i, 16, v) < 0:  # SETVAL
        sys.exit("SETVAL: %d" % ctypes.get_errno())
q = libc.msgget(int(sys.argv[2], 16), 0)
for t, text in ((4, b"first"), (2, b"second")):
    buf = ctypes.create_string_buffer(8 + len(text))
    ctypes.memmove(buf, ctypes.byref(ctypes.c_long(t)), 8)
    ctypes.memmove(ctypes.addressof(buf) + 8, text, len(text))
    if libc.msgsnd(q, buf, len(text), 0) < 0:
        sys.exit("msgsnd: %d" % ctypes.get_errno())
' "$skey" "$qkey" || fail "filling the objects"
ipcs -s -q | awk 'NF >= 5 && $1 != "key" {print $1, $2, $4}' | sort >"$WORK/ipcs.before"
pids=$(tree_pids "$PID")
dump --ipc-key "$skey" --ipc-key "$qkey" || fail "dump --ipc-key"
wait_gone $pids || fail "the tree still runs after the dump"
left=$(ipcs -m -s -q | awk '$1 ~ /^0x/')
[ -z "$left" ] || fail "objects left after the dump that ended the tree: $left"
"$CKPT" info -i "$WORK/img" | grep -q "sem id [0-9]* key $skey mode 604 .*: 3 semaphores" ||
	fail "ckpt info does not show the semaphore set of key $skey"
restore || fail "restore"
ipcs -s -q | awk 'NF >= 5 && $1 != "key" {print $1, $2, $4}' | sort >"$WORK/ipcs.after"
diff -u "$WORK/ipcs.before" "$WORK/ipcs.after" || fail "the objects differ after restore"
python3 -c '
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
s = libc.semget(int(sys.argv[1], 16), 0, 0)
vals = [libc.semctl(s, i, 12) for i in range(3)]  # GETVAL
if vals != [11, 0, 2024]:
    sys.exit("semaphore values %s" % vals)
q = libc.msgget(int(sys.argv[2], 16), 0)
buf = ctypes.create_string_buffer(108)
for t, text in ((4, b"first"), (2, b"second")):
    n = libc.msgrcv(q, buf, 100, 0, 0o4000)  # IPC_NOWAIT
    got = (ctypes.c_long.from_buffer(buf).value, buf.raw[8:8 + n] if n >= 0 else None)
    if got != (t, text):
        sys.exit("message %s, want %s" % (got, (t, text)))
' "$skey" "$qkey" || fail "the objects named by key are not as they were"
verify || fail "the tree after restore"
