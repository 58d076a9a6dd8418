# Damaged images: ckpt restore and ckpt info must refuse every one with
# status 1 and a message, within a timeout, never crash (status >= 128, a
# sanitizer report), and a failed restore must leave no process of the image.
#
#   corrupted: one byte (xor 0xff, 0x01 or 0x80) at 40+ offsets: each field
#     of the file head, of the first frame and of the tail, inside records of
#     every type (header, process, thread, file, fd, shmem, vma, pages,
#     trailer), in the padding and the page data of the first, a middle and
#     the last Pages record, and at offsets spread evenly over the file
#   truncated: at 35+ lengths (0, inside the head, the first frame, the
#     records, padding, page data, the trailer and the tail, one byte short,
#     and spread evenly), read from the file and, for every third, through
#     a pipe (-i -); and one extra byte after the tail
#   hostile: one byte changed inside the payload of metadata records and
#     every checksum made to fit again (tests/imgtool reseal): the reader's
#     checks of lengths, counts, ids and enums are all that stands between
#     such an image and ckpt.  It may restore or be refused, but never crash
#     or hang; a refusal says why and leaves nothing behind, a tree that does
#     restore is killed again.
# The image is of failsafe (3 processes, 7 threads, 8 MiB).

build_imgtool
rm -f "$WORK"/failsafe.*
start_workload failsafe
pids=$(tree_pids "$PID")
ids=$(for t in $(tree_tids "$PID"); do echo "${t#*/}"; done | sort -n -u | tr '\n' ' ')
dump || fail "dump"
wait_gone $pids || fail "tree still running after dump"
cp "$WORK/img" "$WORK/img.good"
"$IMGTOOL" list "$WORK/img.good" >"$WORK/records" || fail "imgtool cannot read the image"
size=$(stat -c %s "$WORK/img.good")
tail_off=$(awk '$1 == "tail" {print $2}' "$WORK/records")
log "image: $size bytes, $(grep -c -v '^tail' "$WORK/records") records, tail at $tail_off"

# rec TYPE [WHICH]: "OFFSET LEN [DATA_OFF NR]" of the first (WHICH=first),
# middle or last record of TYPE.
rec() {
	awk -v t="$1" '$1 != "tail" && $3 == t {print $2, $4, $5, $6}' "$WORK/records" >"$WORK/rec.sel"
	local n
	n=$(wc -l <"$WORK/rec.sel")
	[ "$n" -gt 0 ] || return 1
	case ${2:-first} in
	first) sed -n 1p "$WORK/rec.sel" ;;
	middle) sed -n "$(((n + 1) / 2))p" "$WORK/rec.sel" ;;
	last) sed -n "${n}p" "$WORK/rec.sel" ;;
	esac
}

failed=
CKPT_TIMEOUT=20

# run_ckpt LOG CMD...: ckpt CMD with a timeout; sets RC.
run_ckpt() {
	local log=$1
	shift
	timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" "$@" >"$log" 2>&1
	RC=$?
}

# judge LABEL LOG MAY_SUCCEED: what is wrong with the run that ended with $RC.
judge() {
	local why
	if why=$(crashed "$RC" "$2"); then
		echo "ckpt $why: $(grep -v '^ *#[0-9]' "$2" | tail -n 3 | tr '\n' '|')"
		return 1
	fi
	if [ "$RC" -eq 0 ]; then
		[ "$3" = 1 ] && return 0
		echo "accepted the damaged image"
		return 1
	fi
	[ "$RC" -eq 1 ] || { echo "exited with $RC"; return 1; }
	grep -a -Eq '^ckpt: .' "$2" || { echo "no message: $(tail -n 2 "$2" | tr '\n' '|')"; return 1; }
	return 0
}

# try LABEL IMG MAY_SUCCEED [stdin]: ckpt info and ckpt restore --detach of IMG.
try() {
	local label=$1 img=$2 may=$3 how=${4:-file} problems='' why left
	if [ "$how" = stdin ]; then
		timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" info -i - <"$img" >"$WORK/info.log" 2>&1
		RC=$?
	else
		run_ckpt "$WORK/info.log" info -i "$img"
	fi
	why=$(judge "$label" "$WORK/info.log" "$may") || problems="info: $why"
	rm -f "$WORK/failsafe.result" "$WORK/failsafe.result.C" "$WORK/failsafe.result.G"
	if [ "$how" = stdin ]; then
		timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" restore -i - --detach --pid-wait-ms 2000 <"$img" >"$WORK/restore.log" 2>&1
		RC=$?
	else
		run_ckpt "$WORK/restore.log" restore -i "$img" --detach --pid-wait-ms 2000
	fi
	if why=$(judge "$label" "$WORK/restore.log" "$may"); then
		if [ "$RC" -eq 0 ]; then
			# A hostile image that restores: end that tree.
			kill -9 $ids 2>/dev/null
		fi
	else
		problems="${problems:+$problems; }restore: $why"
	fi
	if ! left=$(gone_soon 2 $ids); then
		[ "$RC" -eq 1 ] && problems="${problems:+$problems; }processes of the image left after the failed restore: $left"
		kill -9 $ids 2>/dev/null
		wait_gone $ids >/dev/null
	fi
	if [ -n "$problems" ]; then
		log "FAIL $label: $problems"
		cp "$img" "$WORK/failed.$(echo "$label" | tr -c 'a-zA-Z0-9\n' '_').img"
		failed="$failed $label;"
	else
		if [ "$RC" -eq 0 ]; then
			log "ok   $label: restored (and killed again)"
		else
			log "ok   $label: $(grep -a -E '^ckpt: ' "$WORK/restore.log" | tail -n 1 | cut -c1-120)"
		fi
	fi
}

# --- corrupted bytes ---------------------------------------------------------
offsets=()
add() { # OFFSET NAME
	[ "$1" -ge 0 ] && [ "$1" -lt "$size" ] && offsets+=("$1:$2")
}
add 0 "head magic"
add 8 "head format_version"
add 12 "head flags"
add 16 "frame magic"
add 20 "frame type"
add 24 "frame len"
add 27 "frame len, high byte"
add 28 "frame reserved"
add 32 "frame hash"
for t in 1:header 2:process 3:thread 5:file 6:fd 7:shmem 4:vma 9:trailer; do
	r=$(rec "${t%%:*}" middle) || continue
	set -- $r
	add $(($1 + 24)) "${t#*:} payload, first byte"
	add $(($1 + 24 + $2 / 2)) "${t#*:} payload, middle"
	add $(($1 + 23 + $2)) "${t#*:} payload, last byte"
done
for w in first middle last; do
	r=$(rec 8 $w) || continue
	set -- $r
	add $(($1 + 8)) "$w pages frame len"
	add $(($1 + 24 + $2 / 2)) "$w pages payload"
	[ $(($1 + 24 + $2)) -lt "$3" ] && add $(($3 - 1)) "$w pages padding"
	add "$3" "$w pages data, first byte"
	add $(($3 + $4 * 4096 / 2 + 7)) "$w pages data, middle"
	add $(($3 + $4 * 4096 - 1)) "$w pages data, last byte"
done
add "$tail_off" "tail magic"
add $((tail_off + 8)) "tail trailer_offset"
add $((size - 1)) "last byte"
for i in $(seq 1 12); do
	add $((size * i / 13)) "spread $i/13"
done
n=0
for o in "${offsets[@]}"; do
	off=${o%%:*}
	name=${o#*:}
	masks=(0xff 0x01 0x80)
	mask=${masks[$((n % 3))]}
	n=$((n + 1))
	"$IMGTOOL" xor "$WORK/img.good" "$WORK/img.bad" "$off" "$mask" || fail "imgtool xor $off"
	try "byte $off ($name) ^ $mask" "$WORK/img.bad" 0
done
log "$n corrupted bytes tried"

# --- truncations --------------------------------------------------------------
lens="0 1 8 15 16 17 39 40"
first_rec() { awk -v t="$1" '$1 != "tail" && $3 == t {print $2, $4, $5, $6; exit}' "$WORK/records"; }
set -- $(first_rec 1); lens="$lens $(($1 + 24 + $2 / 2)) $(($1 + 24 + $2 - 1)) $(($1 + 24 + $2))"
set -- $(first_rec 2); lens="$lens $(($1 + 10)) $(($1 + 24 + $2))"
set -- $(first_rec 4); lens="$lens $(($1 + 24 + $2 / 2))"
set -- $(first_rec 8); lens="$lens $(($1 + 24 + $2)) $(($3 - 1)) $3 $(($3 + 1)) $(($3 + 4096)) $(($3 + $4 * 2048))"
set -- $(rec 8 last); lens="$lens $(($3 + $4 * 4096 - 1)) $(($3 + $4 * 4096))"
set -- $(rec 9 first); lens="$lens $(($1 + 10)) $(($1 + 24 + $2 / 2))"
lens="$lens $tail_off $((tail_off + 8)) $((size - 1))"
for i in $(seq 1 12); do
	lens="$lens $((size * i / 13))"
done
n=0
for len in $(echo $lens | tr ' ' '\n' | awk -v s="$size" '$1 >= 0 && $1 < s' | sort -n -u); do
	head -c "$len" "$WORK/img.good" >"$WORK/img.bad"
	how="file"
	[ $((n % 3)) -eq 2 ] && how=stdin
	n=$((n + 1))
	try "truncated to $len bytes ($how)" "$WORK/img.bad" 0 "$how"
done
cp "$WORK/img.good" "$WORK/img.bad"
printf 'x' >>"$WORK/img.bad"
try "one byte after the tail" "$WORK/img.bad" 0
n=$((n + 1))
log "$n truncated or extended images tried"

# --- hostile: resealed ---------------------------------------------------------
n=0
for t in 1 2 3 5 6 7 4 8; do
	for w in first middle last; do
		r=$(rec "$t" $w) || continue
		set -- $r
		for frac in 0 3 7; do
			off=$(($1 + 24 + ($2 - 1) * frac / 7))
			mask=$(((n * 37 + 1) % 255 + 1))
			n=$((n + 1))
			"$IMGTOOL" xor "$WORK/img.good" "$WORK/img.bad" "$off" "$mask" reseal 2>/dev/null || continue
			try "resealed: record type $t ($w) byte $off ^ $mask" "$WORK/img.bad" 1
		done
	done
done
log "$n hostile images tried"

# The good image still restores.
rm -f "$WORK/failsafe.result" "$WORK/failsafe.result.C" "$WORK/failsafe.result.G"
cp "$WORK/img.good" "$WORK/img"
restore || fail "the undamaged image does not restore"
verify || fail "the tree restored from the undamaged image does not verify"

[ -z "$failed" ] || fail "damaged images not refused cleanly:$failed"
log "every damaged image was refused cleanly"
