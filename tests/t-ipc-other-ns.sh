# A tree in an IPC namespace other than ckpt's: its SysV objects and POSIX
# message queues are not ckpt's to read or to make again (namespaces are not
# supported yet), so a dump of a tree that uses them is refused, naming the
# process, and the tree goes on unharmed.
own_ipc_namespace
for wl in sysv mqueue; do
	rm -f "$WORK/$wl".{ready,result}
	# unshare runs the workload in place, in a new IPC namespace.
	unshare --ipc "$BIN/$wl" "$WORK/$wl.ready" "$WORK/$wl.result" </dev/null >"$WORK/$wl.out" 2>&1 &
	PID=$! WL=$wl
	wait_file "$WORK/$wl.ready" 20 || fail "$wl did not become ready"
	[ "$(readlink /proc/$PID/ns/ipc)" != "$(readlink /proc/self/ns/ipc)" ] || fail "$wl is in our IPC namespace"
	case $wl in
	sysv) pat="pid $PID: lives in another IPC namespace; its SysV IPC objects are not supported yet" ;;
	mqueue) pat="pid $PID fd [0-9]+: POSIX message queue /wl-q1 is not the queue of that name in ckpt's IPC namespace" ;;
	esac
	expect_dump_refused "$pat"
	wait_gone "$PID" || fail "$wl did not end"
done
