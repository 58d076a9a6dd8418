# The vDSO after a cycle: same address, clocks agree with the syscalls, go
# forward, and clock_gettime/gettimeofday/time make no syscall (seccomp).
start_workload vdso
grep -q novdso "$WORK/vdso.ready" && skip "clock_gettime does not use the vDSO on this machine (clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null))"
cycle || fail "checkpoint/restore cycle"
verify || fail "vdso after restore"
