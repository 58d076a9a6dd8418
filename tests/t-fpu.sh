# x87, SSE, AVX and AVX-512 registers (and k masks, MXCSR, x87 control word)
# of spinning threads across a cycle.
start_workload fpu
grep -q avx512 "$WORK/fpu.ready" || log "no AVX-512 on this CPU: only x87/SSE/AVX parts checked"
cycle || fail "checkpoint/restore cycle"
verify || fail "fpu after restore"
