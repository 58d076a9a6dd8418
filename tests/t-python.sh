# A real program: python3 with four threads computing parts of a
# deterministic sum, sleeping between rounds.  Checkpointed while it runs;
# the restored run must give the result of an uninterrupted run.
command -v python3 >/dev/null || skip "no python3"
cat >"$WORK/calc.py" <<'PY'
import os, sys, threading, time
out, started = sys.argv[1], sys.argv[2]
N, ROUNDS, M = 4, 4, 150000
results = [0] * N
def work(k):
    s, x = 0, k * 7919 + 1
    for r in range(ROUNDS):
        for i in range(M):
            x = (x * 1103515245 + 12345) % 2147483648
            s = (s + x * (i + 1 + r * M)) % 1000000007
        time.sleep(0.3)
    results[k] = s
ts = [threading.Thread(target=work, args=(k,)) for k in range(N)]
for t in ts:
    t.start()
with open(started, "w") as f:
    f.write("started\n")
for t in ts:
    t.join()
with open(out + ".tmp", "w") as f:
    f.write(" ".join(map(str, results)) + "\n")
os.replace(out + ".tmp", out)
PY
run_calc() { # tag -> sets PID
	rm -f "$WORK/$1".*
	(
		setsid python3 "$WORK/calc.py" "$WORK/$1.result" "$WORK/$1.started" </dev/null >"$WORK/$1.out" 2>&1 &
		echo $! >"$WORK/$1.pid"
	)
	PID=$(cat "$WORK/$1.pid")
}
run_calc ref
wait_file "$WORK/ref.result" 60 || fail "reference run did not finish: $(tail -n 3 "$WORK/ref.out")"
expected=$(cat "$WORK/ref.result")
log "reference result: $expected"

run_calc ckpt
wait_file "$WORK/ckpt.started" 20 || fail "python did not start: $(tail -n 3 "$WORK/ckpt.out")"
sleep 0.7
[ -e "$WORK/ckpt.result" ] && fail "python finished before the checkpoint; make it longer"
cycle || fail "checkpoint/restore cycle"
wait_file "$WORK/ckpt.result" 60 || fail "restored python did not finish: $(tail -n 3 "$WORK/ckpt.out")"
got=$(cat "$WORK/ckpt.result")
[ "$got" = "$expected" ] || fail "result after restore '$got', want '$expected'"
echo "PASS: $got"
