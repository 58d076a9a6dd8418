# A unix stream connection accepted mid-exchange, checkpointed and restored
# while both ends keep sending (tests/workloads/unix_stream.c): the numbered
# records and their answers go on with none lost, repeated or changed, and
# the exchange makes progress after the restore.
progress() { cat "$WORK/unix_stream.result.progress" 2>/dev/null || echo 0; }

# went_on N: the exchange passes N + 300 records within 30 s.
went_on() {
	local i=0
	while [ "$(progress)" -lt $(($1 + 300)) ] && [ $i -lt 600 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ "$(progress)" -ge $(($1 + 300)) ]
}

start_workload unix_stream
cycle || fail "checkpoint/restore cycle"
at_dump=$(progress)
went_on "$at_dump" || fail "no progress after restore: $(progress) records, $at_dump at the dump"
log "records at the dump: $at_dump, after: $(progress)"
# Once more on the same tree: a restored connection dumps and restores too.
cycle || fail "second checkpoint/restore cycle"
went_on "$(progress)" || fail "no progress after the second restore"
verify || fail "numbered stream after two restores"

# --leave-running while it runs: the original goes on without a gap.
start_workload unix_stream
dump --leave-running || fail "dump --leave-running: $(tail -n 3 "$WORK/dump.log")"
went_on "$(progress)" || fail "no progress after dump --leave-running"
verify || fail "numbered stream after dump --leave-running"
