# Damaged images of trees with SysV IPC (tests/workloads/sysv.c) and POSIX
# message queues (tests/workloads/mqueue.c): ckpt info and ckpt restore must
# refuse each with status 1 and a message, never crash or hang; a failed
# restore leaves no process of the image and no IPC object behind (the
# root may have made the SysV objects, the coordinator the queues, before
# the damage shows).
#   truncated: inside the SysV records (12 objects, 14 messages), inside the
#     SysV segment contents (13 and their data), and inside the File records
#     of the queues
#   hostile: bytes changed inside those records (and the mappings of SysV
#     segments, the File records of queues) and every checksum made to fit
#     again (tests/imgtool reseal), and fields the restore trusts set to
#     other values (ids, kinds, sizes, offsets, counts, attributes): restore
#     may then succeed (the tree is killed again and its objects removed)
#     or be refused, cleanly.
own_ipc_namespace
build_imgtool
mkdir -p "$WORK/mq" && mount -t mqueue none "$WORK/mq" || fail "cannot mount the mqueue filesystem"
CKPT_TIMEOUT=20
failed=

leftovers() { # IPC objects and queues of the namespace, one per line
	ipcs -m -s -q | awk '$1 ~ /^0x/ {print "sysv", $1, $2}'
	ls "$WORK/mq"
}

# try LABEL IMG IDS: ckpt info and ckpt restore --detach of IMG, then clean up.
try() {
	local label=$1 img=$2 ids=$3 problems='' why rc left
	for cmd in info restore; do
		if [ $cmd = info ]; then
			timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" info -i "$img" >"$WORK/try.log" 2>&1
		else
			timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" restore -i "$img" --detach --pid-wait-ms 2000 >"$WORK/try.log" 2>&1
		fi
		rc=$?
		if why=$(crashed "$rc" "$WORK/try.log"); then
			problems="$problems $cmd: ckpt $why;"
		elif [ "$rc" -ne 0 ] && { [ "$rc" -ne 1 ] || ! grep -a -Eq '^ckpt: .' "$WORK/try.log"; }; then
			problems="$problems $cmd: exited with $rc without a message;"
		fi
	done
	if [ "$rc" -eq 0 ]; then
		kill -9 $ids 2>/dev/null # a hostile image that restores: end that tree
		wait_gone $ids >/dev/null
	elif ! left=$(gone_soon 2 $ids); then
		problems="$problems processes of the image left after the failed restore: $left;"
		kill -9 $ids 2>/dev/null
		wait_gone $ids >/dev/null
	fi
	left=$(leftovers | tr '\n' ' ')
	if [ "$rc" -ne 0 ] && [ -n "$left" ]; then
		problems="$problems IPC objects left after the failed restore: $left;"
	fi
	ipcrm --all 2>/dev/null
	rm -f "$WORK"/mq/*
	if [ -n "$problems" ]; then
		log "FAIL $label:$problems"
		cp "$img" "$WORK/failed.$(echo "$label" | tr -c 'a-zA-Z0-9\n' '_').img"
		failed="$failed $label;"
	else
		log "ok   $label: $([ "$rc" -eq 0 ] && echo restored || grep -a -E '^ckpt: ' "$WORK/try.log" | tail -n 1 | cut -c1-110)"
	fi
}

# records IMG: "OFFSET TYPE LEN [DATA_OFF NR]" of each record.
records() { "$IMGTOOL" list "$1" | awk '$1 != "tail" {print $2, $3, $4, $5, $6}'; }

# select NAME TYPE [TEXT]: the first and last records of TYPE (holding TEXT).
select_records() {
	local good=$WORK/img.$1.good
	if [ -n "${3:-}" ]; then
		grep -obUa -- "$3" "$good" | cut -d: -f1 >"$WORK/hits"
		awk -v t="$2" 'NR == FNR {hit[NR] = $1; n = NR; next}
			$2 == t {for (i = 1; i <= n; i++) if (hit[i] > $1 && hit[i] < $1 + 24 + $3) {print; break}}' \
			"$WORK/hits" "$WORK/records.$1"
	else
		awk -v t="$2" '$2 == t' "$WORK/records.$1"
	fi | sed -n '1p;$p' | sort -u
}

# damage NAME TYPE[:TEXT]...: truncated and resealed copies of
# $WORK/img.NAME.good, inside records of TYPE (that hold TEXT).
damage() {
	local name=$1 good=$WORK/img.$1.good ids n=0 off len dat nr mask
	shift
	ids=$(cat "$WORK/ids.$name")
	records "$good" >"$WORK/records.$name" || fail "imgtool cannot read the $name image"
	for spec in "$@"; do
		t=${spec%%:*}
		select_records "$name" "$t" "$([ "$spec" = "$t" ] || echo "${spec#*:}")" >"$WORK/sel"
		while read -r off _ len dat nr; do
			for cut in $((off + 24 + len / 2)) ${dat:+$((dat + nr * 2048))}; do
				head -c "$cut" "$good" >"$WORK/img.bad"
				try "$name: truncated to $cut bytes (in a record of type $t)" "$WORK/img.bad" "$ids"
			done
			for frac in 0 2 5 7; do
				off2=$((off + 24 + (len - 1) * frac / 7))
				mask=$(((n * 37 + 1) % 255 + 1))
				n=$((n + 1))
				"$IMGTOOL" xor "$good" "$WORK/img.bad" "$off2" "$mask" reseal 2>/dev/null || continue
				try "$name: resealed, record type $t byte $off2 ^ $mask" "$WORK/img.bad" "$ids"
			done
		done <"$WORK/sel"
	done
}

# fields NAME TYPE FIELD VALUES...: every record of TYPE with FIELD set to
# each value (where the encoding keeps its length).
fields() {
	local name=$1 t=$2 f=$3 ids idx v
	shift 3
	ids=$(cat "$WORK/ids.$name")
	for idx in $("$IMGTOOL" list "$WORK/img.$name.good" | awk -v t="$t" '$1 != "tail" && $3 == t {print $1}'); do
		for v in "$@"; do
			"$IMGTOOL" set "$WORK/img.$name.good" "$WORK/img.bad" "$idx" "$f" "$v" 2>/dev/null || continue
			try "$name: record $idx (type $t) field $f = $v" "$WORK/img.bad" "$ids"
		done
	done
}

for name in sysv mqueue; do
	start_workload "$name"
	tree_pids "$PID" >"$WORK/ids.$name"
	pids=$(cat "$WORK/ids.$name")
	dump || fail "dump of $name"
	wait_gone $pids || fail "$name still running after the dump"
	cp "$WORK/img" "$WORK/img.$name.good"
done
damage sysv 12 13 14 4:/SYSV
damage mqueue 5:/wl-q
fields sysv 12 1 0 4            # SysvObject.kind
fields sysv 12 2 7 99           # SysvObject.id
fields sysv 12 10 1 127         # SysvObject.shm_size
fields sysv 12 31 7             # SysvObject.msg_qnum
fields sysv 13 1 5              # SysvPages.shm_id
fields sysv 13 2 4096 16384     # SysvPages.offset
fields sysv 14 1 3              # SysvMsg.queue_id
fields sysv 14 2 0              # SysvMsg.mtype
fields sysv 4 30 3              # Vma.sysv_shm_id
fields mqueue 5 91 0 127        # File.mq_maxmsg
fields mqueue 5 92 1 127        # File.mq_msgsize

# The good images still restore.
for name in sysv mqueue; do
	cp "$WORK/img.$name.good" "$WORK/img"
	start_pid=$(head -n 1 "$WORK/ids.$name")
	restore || fail "the undamaged $name image does not restore"
	PID=$start_pid WL=$name verify || fail "the $name tree restored from the undamaged image does not verify"
	wait_gone $(cat "$WORK/ids.$name") || fail "the $name workload did not end"
done
[ -z "$failed" ] || fail "damaged images not refused cleanly:$failed"
log "every damaged image was refused cleanly"
