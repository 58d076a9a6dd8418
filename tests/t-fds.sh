# Descriptor tables across a cycle: regular files with access modes, offsets
# and O_APPEND/O_NONBLOCK/O_NOATIME/O_PATH, a directory, memory devices,
# FD_CLOEXEC per descriptor, a description dup()ed within a process and one
# shared with a child (offsets move together), a high fd and gaps, and a
# child whose table differs from its parent's at the same fd numbers.
start_workload fds
cycle || fail "checkpoint/restore cycle"
verify || fail "fds after restore"
