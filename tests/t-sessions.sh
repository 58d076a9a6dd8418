# Process groups and sessions whose leader is gone (killed and reaped, or a
# zombie), a subreaper that adopted a dead session leader's child: a restore
# must recreate groups and sessions without their leaders.
start_workload sessions
cycle || fail "checkpoint/restore cycle"
verify || fail "sessions after restore"
