# Signal dispositions (all flags), alt stacks, per-thread masks, and pending
# signals (private and shared, RT queues with values, standard ones) across
# a cycle.
start_workload signals
cycle || fail "checkpoint/restore cycle"
verify || fail "signals after restore"
