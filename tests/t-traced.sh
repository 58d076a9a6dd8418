# A child ptraced by its parent: the dump must be refused (a traced task
# cannot be seized) and leave the tree, and the ptrace relationship,
# unharmed.
start_workload traced
expect_dump_refused 'traced'
