# memfds across a cycle: names, seals, sizes, modes, content with a hole,
# descriptions shared or not, shared and private mappings of the restored
# memfd itself (writes through a descriptor show in them; pages copied on
# write keep their own content), a memfd reached only through a mapping,
# and a child that shares a memfd and its mapping.
start_workload memfd
cycle || fail "checkpoint/restore cycle"
verify || fail "memfd after restore"
