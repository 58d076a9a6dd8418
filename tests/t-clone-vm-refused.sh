# Two processes of the tree in one address space (clone with CLONE_VM and
# no CLONE_THREAD) would come back with a copy of the memory each: the dump
# refuses them, naming both, and the tree goes on unharmed
# (tests/workloads/unsupported.c, kind clone-vm).
start_workload unsupported clone-vm
expect_dump_refused "pid [0-9]+ and pid [0-9]+ share their memory \(clone with CLONE_VM, not a thread\); not supported yet"
