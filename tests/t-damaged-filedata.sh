# Damaged FileData records (the content of memfds and unlinked files) are
# refused like damaged pages: by ckpt info and ckpt restore, with status 1
# and a message, never a crash or hang, and a failed restore leaves no
# process and no file behind. The image is of memfd (a 9 MiB memfd with a
# hole, others) and unlinked (a 7 MiB unlinked file with a hole).
build_imgtool
CKPT_TIMEOUT=20
failed=

# run_ckpt LOG CMD...: ckpt CMD with a timeout; sets RC.
run_ckpt() {
	local log=$1
	shift
	timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" "$@" >"$log" 2>&1
	RC=$?
}

# refused LABEL LOG: the run that ended with $RC refused the image cleanly.
refused() {
	local why
	if why=$(crashed "$RC" "$2"); then
		echo "$1: ckpt $why"
		return 1
	fi
	[ "$RC" -eq 1 ] || { echo "$1: exited with $RC"; return 1; }
	grep -a -Eq '^ckpt: .' "$2" || { echo "$1: no message"; return 1; }
}

# try LABEL IMG [MAY_SUCCEED]: ckpt info and restore of IMG must refuse it
# (or, with MAY_SUCCEED, may restore it: that tree is killed again).
try() {
	local label=$1 img=$2 may=${3:-0} why problems= left
	run_ckpt "$WORK/info.log" info -i "$img"
	if [ "$RC" -ne 0 ] || [ "$may" = 0 ]; then
		why=$(refused info "$WORK/info.log") || problems="$why"
	fi
	run_ckpt "$WORK/restore.log" restore -i "$img" --detach --pid-wait-ms 2000
	if [ "$RC" -eq 0 ] && [ "$may" = 1 ]; then
		kill -9 $pids 2>/dev/null
	else
		why=$(refused restore "$WORK/restore.log") || problems="${problems:+$problems; }$why"
	fi
	if ! left=$(gone_soon 2 $pids); then
		problems="${problems:+$problems; }processes left: $left"
		kill -9 $pids 2>/dev/null
		wait_gone $pids >/dev/null
	fi
	left=$(ls -A "$WORK" | grep -E '^(wl-unl|\.ckpt-)')
	[ -z "$left" ] || problems="${problems:+$problems; }files left: $left"
	if [ -n "$problems" ]; then
		log "FAIL $label: $problems"
		cp "$img" "$WORK/failed.$(echo "$label" | tr -c 'a-zA-Z0-9\n' '_').img"
		failed="$failed $label;"
	else
		log "ok   $label: $(grep -a -E '^ckpt: ' "$WORK/restore.log" | tail -n 1 | cut -c1-120)"
	fi
}

for wl in memfd unlinked; do
	start_workload "$wl"
	pids=$(tree_pids "$PID")
	dump || fail "$wl: dump"
	wait_gone $pids || fail "$wl: tree still running after dump"
	cp "$WORK/img" "$WORK/img.good"
	"$IMGTOOL" list "$WORK/img.good" >"$WORK/records" || fail "imgtool cannot read the image"
	awk '$1 != "tail" && $3 == 10 {print $2, $4, $5, $6}' "$WORK/records" >"$WORK/fd.recs"
	n=$(wc -l <"$WORK/fd.recs")
	[ "$n" -ge 2 ] || fail "$wl: $n FileData records in the image"
	log "$wl: $n FileData records"
	for w in 1 $n; do
		set -- $(sed -n "${w}p" "$WORK/fd.recs")
		for o in "$(($1 + 8)):frame len" "$(($1 + 24 + $2 / 2)):payload" "$(($3 - 1)):padding" \
			"$3:data, first byte" "$(($3 + $4 * 2048 + 5)):data, middle" "$(($3 + $4 * 4096 - 1)):data, last byte"; do
			"$IMGTOOL" xor "$WORK/img.good" "$WORK/img.bad" "${o%%:*}" 0x80 || fail "imgtool xor"
			try "$wl: record $w: byte ${o%%:*} (${o#*:}) ^ 0x80" "$WORK/img.bad"
		done
		for len in $(($1 + 24 + $2)) $(($3 + 4096)) $(($3 + $4 * 4096 - 1)); do
			head -c "$len" "$WORK/img.good" >"$WORK/img.bad"
			try "$wl: truncated to $len bytes, in record $w" "$WORK/img.bad"
		done
		# Hostile: the payload changed and every checksum made to fit.
		for frac in 0 3 7; do
			off=$(($1 + 24 + ($2 - 1) * frac / 7))
			"$IMGTOOL" xor "$WORK/img.good" "$WORK/img.bad" "$off" 0x21 reseal 2>/dev/null || continue
			try "$wl: record $w resealed with byte $off ^ 0x21" "$WORK/img.bad" 1
		done
		# FileData.file_id (1) naming a File that is not a memfd or unlinked file.
		if "$IMGTOOL" set "$WORK/img.good" "$WORK/img.bad" "$(grep -n "^[0-9]* $1 " "$WORK/records" | cut -d: -f1 | awk '{print $1 - 1}')" 1 1 2>/dev/null; then
			try "$wl: record $w names file 1" "$WORK/img.bad"
		fi
	done
	cp "$WORK/img.good" "$WORK/img"
	restore || fail "$wl: the undamaged image does not restore"
	verify || fail "$wl: the tree restored from the undamaged image does not verify"
	kill_tree "$PID"
	rm -f "$WORK/$wl.result"
done
[ -z "$failed" ] || fail "damaged images not refused cleanly:$failed"
