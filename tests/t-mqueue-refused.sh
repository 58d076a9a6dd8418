# A POSIX message queue whose notification is registered by a process
# outside the tree cannot be saved (the registration could not be made again
# in the tree): the dump is refused, naming the queue and the process, and
# the tree goes on unharmed. Then dumps made to fail (CKPT_FAIL_AT) while
# they hold a queue's messages or once a notification went off.
own_ipc_namespace
python3 -c '
import ctypes, signal, sys, time
libc = ctypes.CDLL(None, use_errno=True)
q = libc.mq_open(b"/wl-out", 0o102, 0o600, None)  # O_RDWR | O_CREAT
sev = (ctypes.c_char * 64)()
ctypes.c_int.from_buffer(sev, 8).value = int(signal.SIGUSR2)  # sigev_signo; sigev_notify 0 is SIGEV_SIGNAL
if q < 0 or libc.mq_notify(q, sev) < 0:
    sys.exit("mq_open or mq_notify: %d" % ctypes.get_errno())
open(sys.argv[1], "w").write("registered\n")
time.sleep(600)
' "$WORK/outside.ready" &
outside=$!
wait_file "$WORK/outside.ready" 10 || fail "the outside process did not register"
start_workload mqueue /wl-out
expect_dump_refused "POSIX message queue /wl-out: notification registered by pid $outside, outside the tree"
kill "$outside"
kill_tree "$PID"
unlink_queues() {
	python3 -c '
import ctypes, sys
for q in sys.argv[1:]:
    ctypes.CDLL(None).mq_unlink(q.encode())' /wl-q1 /wl-q2 /wl-q4
}
unlink_queues

# A dump that fails while it holds a queue's messages, or once it has set
# off a notification, gives the queues back as they were: the same messages
# in the same order, the registrations with their values, no signal seen
# (the workload checks all of it).
for at in mqueue-drained:1 mqueue-drained:4 mqueue-fired:1 mqueue-fired:2 mqueue-fired:3; do
	start_workload mqueue
	CKPT_FAIL_AT=$at expect_dump_fails "injected failure" "$WORK/img"
	log "$at: the queues are as they were"
	wait_gone "$PID" || fail "the workload did not end"
	unlink_queues
done
