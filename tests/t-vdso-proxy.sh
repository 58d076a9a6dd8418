# The vDSO when the restoring kernel's differs from the dumping one's: with
# --vdso-proxy restore takes that path on this one kernel. The kernel's vDSO
# goes elsewhere and the old address gets jumps into it; the clocks must
# still be right and still make no syscall (seccomp).
start_workload vdso proxy
grep -q novdso "$WORK/vdso.ready" && skip "clock_gettime does not use the vDSO on this machine"
pids=$(tree_pids "$PID")
dump || fail "dump: $(tail -n 3 "$WORK/dump.log")"
wait_gone $pids || fail "tree still running after dump"
restore --vdso-proxy || fail "restore --vdso-proxy"
verify || fail "vdso through trampolines after restore"
