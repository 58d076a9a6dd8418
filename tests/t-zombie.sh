# Unreaped zombies (exit 7, SIGTERM) and parent-death signals across a cycle.
start_workload zombie
cycle || fail "checkpoint/restore cycle"
verify || fail "zombie after restore"
