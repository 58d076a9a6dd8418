# Credentials across a cycle: a root parent with a thread whose capabilities
# differ from the process's; a child with uids 65534/65534/0 (fsuid 0), gids
# 100/65534/0 (fsgid 100) and groups {65534, 100}; a child that stays root
# with reduced effective/permitted/bounding sets, inheritable and ambient
# capabilities, SECBIT_NOROOT and no_new_privs. All must be exactly equal.
start_workload creds
cycle || fail "checkpoint/restore cycle"
verify || fail "creds after restore"
