# dump --leave-running must not disturb the tree: each of these workloads is
# dumped and left running, then checks its own state (memory layout, page
# residency, VmFlags, mm fields, credentials, settings, descriptor tables and
# offsets) against what it recorded before the dump.
failed=
for wl in memory mmfields creds settings fds epoll; do
	if (
		trap 'kill_tree "$PID" >/dev/null 2>&1' EXIT
		start_workload "$wl"
		dump --leave-running || fail "$wl: dump --leave-running failed"
		check_untouched || fail "$wl: tree left traced or stopped"
		verify || fail "$wl: state changed by dump --leave-running"
	); then
		log "$wl: ok"
	else
		failed="$failed $wl"
	fi
done
[ -z "$failed" ] || fail "disturbed by dump --leave-running:$failed"
