# A named pipe held for reading, for writing and read-write, with bytes in
# it and a raised capacity.
start_workload fifo
cycle || fail "checkpoint/restore cycle"
verify || fail "fifo after restore"
