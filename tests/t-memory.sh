# Memory of a two-process tree across a cycle: patterned private anonymous
# memory with copy-on-write between parent and child, shared anonymous memory
# used in both directions after the restore, private file mappings with some
# pages copied on write (the file untouched), a shared file mapping whose
# writes reach the file, malloc/sbrk heap and brk, a sparse 64 MiB region
# whose untouched pages must stay absent, guard and read-only protections,
# MADV_DONTFORK/WIPEONFORK/DONTDUMP/HUGEPAGE/NOHUGEPAGE, mlock, a deep stack.
# The workload compares its whole /proc/self/smaps layout with the one it
# had (see tests/workloads/memory.c for the one allowed difference).
start_workload memory
cycle || fail "checkpoint/restore cycle"
verify || fail "memory after restore"
