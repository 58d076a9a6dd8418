# A listening socket with a connection the kernel accepted but the program
# has not: the dump refuses it (the kernel cannot put a connection back on
# a listener's queue), naming it; with --tcp-close it is dropped instead.
# The server, python3 in the tree, then comes back with an empty queue: its
# first accept() after the restore gets a new client's connection, not the
# old one, and the old client, outside in another network namespace, sees
# its connection reset when the dumped server ends.
command -v python3 >/dev/null || skip "no python3"
netns_enter
netns_peer
port=7301
WL=pending
cat >"$WORK/server.py" <<'PY'
import os, signal, socket, sys
addr, port, ready, result = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((addr, port))
ls.listen(8)
open(ready, "w").write("ready\n")
signal.sigwait([signal.SIGUSR1])
# After the restore: the first connection the program accepts is the next one.
ls.settimeout(10)
try:
    c, peer = ls.accept()
    c.settimeout(10)
    line = c.makefile().readline().strip()
    verdict = "PASS" if line == "new" else "FAIL: the first accepted connection says %r" % line
except Exception as e:
    verdict = "FAIL: accept after restore: %s" % e
open(result + ".tmp", "w").write(verdict + "\n")
os.rename(result + ".tmp", result)
PY
cat >"$WORK/client.py" <<'PY'
import socket, sys, time
addr, port, word, connected, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
s = socket.create_connection((addr, port), timeout=10)
s.sendall((word + "\n").encode())
open(connected, "w").write("connected\n")
if word == "old":
    # Wait for the dumped server's end: a reset, not data and not silence.
    s.settimeout(20)
    try:
        got = s.recv(100)
        verdict = "FAIL: received %r" % got if got else "FAIL: orderly end of stream, not a reset"
    except ConnectionResetError:
        verdict = "reset"
    except Exception as e:
        verdict = "FAIL: %s" % e
    open(out, "w").write(verdict + "\n")
PY

(setsid python3 "$WORK/server.py" "$NET_IN4" $port "$WORK/ready" "$WORK/$WL.result" </dev/null >"$WORK/$WL.out" 2>&1 &
	echo $! >"$WORK/pid")
PID=$(cat "$WORK/pid")
wait_file "$WORK/ready" 20 || fail "the server did not start: $(cat "$WORK/$WL.out")"
in_peer python3 "$WORK/client.py" "$NET_IN4" $port old "$WORK/old.connected" "$WORK/old.result" 2>"$WORK/old.err" &
OLD=$!
wait_file "$WORK/old.connected" 20 || fail "the first client did not connect: $(cat "$WORK/old.err")"

fd=$(for f in /proc/"$PID"/fd/*; do readlink "$f" | grep -q '^socket:' && echo "${f##*/}"; done | head -n 1)
# (expect_dump_refused would verify: this server's check accepts once, after the restore.)
dump && fail "dump succeeded, expected a refusal of the unaccepted connection"
grep -Eq "pid $PID fd $fd: listening TCP socket on port $port has 1 connections the program has not accepted yet; they cannot be saved \\(--tcp-close drops them\\)" \
	"$WORK/dump.log" || fail "dump refused without naming the connection: $(tail -n 3 "$WORK/dump.log")"
check_untouched || fail "tree left traced or stopped after a refused dump"

cycle --tcp-close || fail "checkpoint/restore with --tcp-close"
grep -q "pid $PID fd $fd: listening TCP socket on port $port: 1 connections the program has not accepted yet are dropped (--tcp-close)" \
	"$WORK/dump.log" || fail "the dump did not say it dropped the connection: $(tail -n 3 "$WORK/dump.log")"
wait "$OLD"
[ "$(cat "$WORK/old.result" 2>/dev/null)" = reset ] ||
	fail "the old client: $(cat "$WORK/old.result" "$WORK/old.err" 2>/dev/null)"

kill -USR1 "$PID"
in_peer python3 "$WORK/client.py" "$NET_IN4" $port new "$WORK/new.connected" /dev/null 2>"$WORK/new.err" ||
	fail "a new client cannot connect to the restored server: $(cat "$WORK/new.err")"
wait_file "$WORK/$WL.result" 20 || fail "no verdict from the restored server: $(cat "$WORK/$WL.out")"
head -n 1 "$WORK/$WL.result" | grep -q '^PASS' || fail "restored server: $(cat "$WORK/$WL.result")"
