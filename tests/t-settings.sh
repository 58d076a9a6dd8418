# Per-process settings across a cycle, different in parent and child: umask,
# cwd, personality (READ_IMPLIES_EXEC must still act, and must not have been
# applied to the restored mappings), comm, rlimits, nice, scheduler policy,
# CPU affinity, oom_score_adj, dumpable, child subreaper, parent-death signal
# (which the restore must not fire).
start_workload settings
cycle || fail "checkpoint/restore cycle"
verify || fail "settings after restore"
