# A process in a namespace other than ckpt's (mount, UTS, PID, user,
# network, cgroup, time) would come back in ckpt's: other mounts, hostname,
# pids, ids. Namespaces are not saved yet, so the dump refuses such a tree,
# naming the process and the namespace, and the tree goes on unharmed
# (tests/workloads/unsupported.c with nothing unusual, run by unshare(1)).
command -v unshare >/dev/null || skip "no unshare(1)"
WL=unsupported
tried=0
for ns in mount uts pid user net cgroup time; do
	rm -f "$WORK/$WL".{ready,result}
	case $ns in
	pid) opts="--pid --fork" what="PID namespace for its children \\(unshare\\(CLONE_NEWPID\\)\\)" ;;
	time) opts="--time --fork" what="time namespace for its children" ;;
	mount) opts=--mount what="mount namespace" ;;
	uts) opts=--uts what="UTS namespace \\(hostname\\)" ;;
	net) opts=--net what="network namespace" ;;
	*) opts=--$ns what="$ns namespace" ;;
	esac
	# unshare runs the workload in place (or forks it, for pid and time: the
	# namespace is its children's), so $! is the root of the tree.
	if ! unshare $opts true 2>/dev/null; then
		log "$ns: skipped, unshare $opts does not work here"
		continue
	fi
	unshare $opts "$BIN/$WL" "$WORK/$WL.ready" "$WORK/$WL.result" none </dev/null >"$WORK/$WL.out" 2>&1 &
	PID=$!
	wait_file "$WORK/$WL.ready" 20 || fail "$ns: the workload did not become ready: $(cat "$WORK/$WL.out")"
	if [ "$ns" = pid ] || [ "$ns" = time ]; then
		# The tree's root is unshare; the workload, its child, takes the check.
		dump && fail "$ns: dump succeeded, expected a refusal"
		grep -Eq "pid $PID: its $what is not ckpt's; namespaces are not supported yet" "$WORK/dump.log" ||
			fail "$ns: refused without naming the namespace: $(tail -n 3 "$WORK/dump.log")"
		check_untouched || fail "$ns: tree left traced or stopped after a refused dump"
		child=$(cat /proc/"$PID"/task/*/children | tr -d ' ')
		kill -USR1 "$child"
		wait_file "$WORK/$WL.result" 20 && head -n 1 "$WORK/$WL.result" | grep -q '^PASS' ||
			fail "$ns: workload after a refused dump: $(cat "$WORK/$WL.result" 2>/dev/null)"
	else
		expect_dump_refused "pid $PID: its $what is not ckpt's; namespaces are not supported yet"
	fi
	kill_tree "$PID"
	tried=$((tried + 1))
	log "$ns: refused, tree unharmed"
done
[ $tried -gt 0 ] || skip "no namespace could be made"
