#!/usr/bin/env python3
"""A small unix socket service for tests/t-unix-python.sh.

  unix_app.py client SOCKET RESULT N   start the server (a child process),
                                       then send it N requests and check the
                                       answers; RESULT gets "PASS" or
                                       "FAIL: why", RESULT.progress the
                                       number of answers so far
  unix_app.py server SOCKET            serve (socketserver.ThreadingUnixStreamServer)

Each request is a number; the server answers with how many requests it has
had from everyone and the sum of the numbers on this connection. The
client also keeps a second, idle connection, and asks over it at the end.
"""
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        total = 0
        for line in self.rfile:
            line = line.strip()
            if line == b"quit":
                threading.Thread(target=self.server.shutdown).start()
                self.wfile.write(b"bye\n")
                return
            total += int(line)
            with self.server.lock:
                self.server.count += 1
                count = self.server.count
            time.sleep(0.005)  # an answer is often still to come at the checkpoint
            self.wfile.write(b"%d %d\n" % (count, total))


def serve(path):
    if os.path.exists(path):
        os.unlink(path)
    with socketserver.ThreadingUnixStreamServer(path, Handler) as srv:
        srv.lock = threading.Lock()
        srv.count = 0
        srv.daemon_threads = True
        srv.serve_forever()


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text + "\n")
    os.replace(path + ".tmp", path)


def ask(f, line):
    f.write(line + b"\n")
    f.flush()
    return f.readline().strip()


def client(path, result, n):
    server = subprocess.Popen([sys.executable, __file__, "server", path])
    for _ in range(400):
        if os.path.exists(path):
            break
        time.sleep(0.05)
    conns = []
    for _ in range(2):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        conns.append((s, s.makefile("rwb")))
    main, idle = conns[0][1], conns[1][1]
    total = 0
    why = None
    for k in range(1, n + 1):
        total += k
        got = ask(main, b"%d" % k)
        if got != b"%d %d" % (k, total):
            why = "request %d: answer %r, want %r" % (k, got, b"%d %d" % (k, total))
            break
        if k % 10 == 0:
            write(result + ".progress", str(k))
        time.sleep(0.01)
    if why is None:
        got = ask(idle, b"5")
        if got != b"%d 5" % (n + 1):
            why = "idle connection: answer %r, want %r" % (got, b"%d 5" % (n + 1))
    ask(main, b"quit")
    server.wait(timeout=20)
    if why is None and server.returncode != 0:
        why = "server exit status %d" % server.returncode
    write(result, "PASS" if why is None else "FAIL: " + why)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(sys.argv[2])
    else:
        client(sys.argv[2], sys.argv[3], int(sys.argv[4]))
