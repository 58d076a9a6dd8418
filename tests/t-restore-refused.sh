# Conditions that make a restore impossible must be found before any process
# of the image is created: ckpt exits 1 with a message naming the cause, no
# pid or tid of the image exists afterwards, and (when strace is installed)
# ckpt itself made no clone/clone3/fork/vfork of a process.  Where the
# condition can be undone, the same image then restores and verifies.
#
#   a pid in use: the root's pid; a tid in use: a thread of the root (the
#     pid of a grandchild is t-pid-busy)
#   a mapped file that changed: the data file failsafe maps (changed in
#     place with the same size, replaced by another file of the same size,
#     grown, deleted) and the executable (changed in place, same size;
#     replaced by another program); the message must name the file
#   an image of a newer format version (the u32 at offset 8 set to 999)
#   an image of another architecture (Header.arch "x86_64" -> "mips64"),
#     with other page sizes (Header.page_size 8192), and one that needs CPU
#     state features this CPU lacks (Header.xfeatures with one more bit);
#     made with tests/imgtool, which makes every checksum fit again
#   info on the same images must not crash; for the format version it must
#     refuse too.

build_imgtool
have_strace=0
command -v strace >/dev/null 2>&1 && have_strace=1
[ $have_strace -eq 1 ] || log "strace is not installed: whether ckpt forked before refusing is not checked"

# The workload runs from a copy of its binary and maps a data file of its own.
mkdir -p "$WORK/bin"
cp "$BIN/failsafe" "$WORK/bin/failsafe"
DATA=$WORK/data.bin
rm -f "$DATA" "$WORK"/failsafe.*
BIN=$WORK/bin start_workload failsafe 8 "$DATA"
[ -s "$DATA" ] || fail "failsafe did not make $DATA"
ROOTPID=$PID
pids=$(tree_pids "$PID")
ids=$(for t in $(tree_tids "$PID"); do echo "${t#*/}"; done | sort -n -u | tr '\n' ' ')
# A thread of the root that is not its main thread.
tid=$(ls /proc/"$PID"/task | grep -v -x "$PID" | sort -n | tail -n 1)
dump || fail "dump"
wait_gone $pids || fail "tree still running after dump"
cp "$WORK/img" "$WORK/img.good"

failed=
# refused LABEL PATTERN [OPTS...]: ckpt restore -i $WORK/img --detach OPTS
# must fail with status 1 and a `ckpt: ` message matching PATTERN, create no
# process and leave none of the image.
refused() {
	local label=$1 pat=$2 rc why
	shift 2
	NRESTORE=$((NRESTORE + 1))
	log "restore #$NRESTORE ($label) $*"
	if [ $have_strace -eq 1 ]; then
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 timeout -k 5 "$CKPT_TIMEOUT" \
			strace -qq -o "$WORK/strace.log" -e trace=clone,clone3,fork,vfork \
			"$CKPT" restore -i "$WORK/img" --detach "$@" >"$WORK/restore.log" 2>&1
	else
		timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" restore -i "$WORK/img" --detach "$@" >"$WORK/restore.log" 2>&1
	fi
	rc=$?
	cp "$WORK/restore.log" "$WORK/restore.$NRESTORE.log"
	if why=$(crashed $rc "$WORK/restore.log"); then
		fail "$label: restore $why: $(tail -n 3 "$WORK/restore.log" | tr '\n' '|')"
	fi
	[ $rc -ne 0 ] || fail "$label: the restore succeeded"
	[ $rc -eq 1 ] || fail "$label: restore exited with $rc, not 1: $(tail -n 3 "$WORK/restore.log" | tr '\n' '|')"
	grep -Eq -- "^ckpt: .*($pat)" "$WORK/restore.log" ||
		fail "$label: no message matching /$pat/: $(grep -E '^ckpt: ' "$WORK/restore.log" | tail -n 2 | tr '\n' '|')"
	log "refused: $(grep -E '^ckpt: ' "$WORK/restore.log" | tail -n 1)"
	why=$(gone_soon 2 $ids) || fail "$label: processes of the image left behind: $why"
	if [ $have_strace -eq 1 ]; then
		grep -E '^(clone|clone3|fork|vfork)\(' "$WORK/strace.log" | grep -v CLONE_THREAD >"$WORK/forks.log"
		[ ! -s "$WORK/forks.log" ] ||
			fail "$label: ckpt created processes before refusing: $(head -n 2 "$WORK/forks.log" | cut -c1-160 | tr '\n' '|')"
	fi
}

# restores_again: the good image restores and verifies; the tree ends.
restores_again() {
	rm -f "$WORK/failsafe.result" "$WORK/failsafe.result.C" "$WORK/failsafe.result.G"
	restore || fail "the image does not restore once the cause is gone: $(tail -n 2 "$WORK/restore.log" | tr '\n' '|')"
	verify || fail "the tree restored after a refusal does not verify"
	wait_gone $ids >/dev/null || fail "the restored tree is still there after verify"
}

# info_ok_or_refuses LABEL PATTERN: ckpt info on $WORK/img does not crash;
# with PATTERN, it must fail with 1 and a message matching it.
info_check() {
	local label=$1 pat=${2:-} rc why
	timeout -k 5 "$CKPT_TIMEOUT" "$CKPT" info -i "$WORK/img" >"$WORK/info.log" 2>&1
	rc=$?
	if why=$(crashed $rc "$WORK/info.log"); then
		fail "$label: info $why: $(tail -n 3 "$WORK/info.log" | tr '\n' '|')"
	fi
	[ $rc -le 1 ] || fail "$label: info exited with $rc"
	if [ -n "$pat" ]; then
		[ $rc -eq 1 ] || fail "$label: info accepted the image"
		grep -Eq -- "^ckpt: .*($pat)" "$WORK/info.log" ||
			fail "$label: info says no message matching /$pat/: $(tail -n 2 "$WORK/info.log" | tr '\n' '|')"
	fi
}

# put_back: the data file and the executable as they were at the dump (same
# inode, contents and modification time), whatever a case did to them.
put_back() {
	local f o
	for f in "${DATA:-}" "${EXE:-}"; do
		[ -n "$f" ] || continue
		o=$WORK/data.orig
		[ "$f" = "${EXE:-}" ] && o=$WORK/exe.orig
		[ -e "$o" ] || continue
		[ -e "$f.keep" ] && mv -f "$f.keep" "$f"
		cmp -s "$f" "$o" || cat "$o" >"$f"
		touch -r "$o" "$f"
	done
}

run_case() { # LABEL CMD...
	local label=$1
	shift
	if ("$@") >"$WORK/case.log" 2>&1; then
		log "ok   $label: $(grep -E '^\[.*\] refused: ' "$WORK/case.log" | tail -n 1 | sed 's/^.*refused: //')"
	else
		log "FAIL $label"
		sed 's/^/    /' "$WORK/case.log" | tail -n 15
		failed="$failed $label;"
		kill -9 $ids 2>/dev/null
		wait_gone $ids >/dev/null
		cp "$WORK/img.good" "$WORK/img"
	fi
	put_back
}

# take_pid P: a sleep with pid P (through ns_last_pid); sets SLEEPER.
take_pid() {
	local try
	SLEEPER=
	for try in 1 2 3 4 5; do
		echo $(($1 - 1)) >/proc/sys/kernel/ns_last_pid || fail "cannot write ns_last_pid"
		sleep 1000 </dev/null >/dev/null 2>&1 &
		if [ $! = "$1" ]; then
			SLEEPER=$!
			return 0
		fi
		kill $! 2>/dev/null
	done
	fail "could not get pid $1 for a sleeper"
}

busy() { # LABEL ID
	take_pid "$2"
	ids=${ids/ $2 / }
	ids=${ids/#$2 /}
	refused "$1" "\\b$2\\b.*(in use|busy|taken)|(in use|busy|taken).*\\b$2\\b" --pid-wait-ms 300
	kill "$SLEEPER"
	wait "$SLEEPER" 2>/dev/null
	wait_gone "$2" >/dev/null || fail "the sleeper did not go"
	restores_again
}
run_case "root pid $ROOTPID in use" busy "root pid" "$ROOTPID"
run_case "tid $tid in use" busy "tid" "$tid"

# --- mapped files that changed ----------------------------------------------
EXE=$WORK/bin/failsafe
cp -p "$DATA" "$WORK/data.orig"
cp -p "$EXE" "$WORK/exe.orig"
re() { printf '%s' "$1" | sed 's/[][\.*^$(){}?+|]/\\&/g'; }

# flip FILE OFFSET: change one byte of FILE in place.
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $(((b ^ 0xff) & 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

changed_in_place() { # FILE ORIG OFFSET
	flip "$1" "$3"
	cmp -s "$1" "$2" && fail "the byte did not change"
	refused "$1 changed in place" "$(re "$1")"
	cat "$2" >"$1" && touch -r "$2" "$1"
	restores_again
}
replaced() { # FILE OTHER_CONTENT_FILE
	mv "$1" "$1.keep"
	cp "$2" "$1"
	refused "$1 replaced" "$(re "$1")"
	mv -f "$1.keep" "$1"
	restores_again
}
grown() { # FILE
	mv "$1" "$1.keep"
	cp -p "$1.keep" "$1"
	printf x >>"$1"
	refused "$1 grown" "$(re "$1")"
	mv -f "$1.keep" "$1"
	restores_again
}
deleted() { # FILE
	ln "$1" "$1.keep"
	rm "$1"
	refused "$1 deleted" "$(re "$1")"
	mv "$1.keep" "$1"
	restores_again
}
# Same size, other bytes.
head -c "$(stat -c %s "$DATA")" /dev/urandom >"$WORK/data.other"
run_case "data file changed in place (same size)" changed_in_place "$DATA" "$WORK/data.orig" 4096
run_case "data file replaced (same size)" replaced "$DATA" "$WORK/data.other"
run_case "data file grown" grown "$DATA"
run_case "data file deleted" deleted "$DATA"
# The last byte of the executable (past its loaded segments or not: the
# file is not the one that was dumped).
run_case "executable changed in place (same size)" changed_in_place "$EXE" "$WORK/exe.orig" $(($(stat -c %s "$EXE") - 1))
run_case "executable replaced by another program" replaced "$EXE" "$BIN/proctree"

# --- images this ckpt must not restore ---------------------------------------
version() {
	cp "$WORK/img.good" "$WORK/img"
	printf '\347\003\000\000' | dd of="$WORK/img" bs=1 seek=8 conv=notrunc status=none # 999
	refused "format version 999" "version 999.*newer|newer.*version 999"
	info_check "format version 999" "version 999.*newer|newer.*version 999"
	cp "$WORK/img.good" "$WORK/img"
}
run_case "image format version 999" version

# header_field LABEL FIELD VALUE PATTERN: the image with Header field FIELD
# set to VALUE must be refused with PATTERN; info must not crash on it.
header_field() {
	"$IMGTOOL" set "$WORK/img.good" "$WORK/img" 0 "$2" "$3" || fail "imgtool set field $2 to $3"
	"$IMGTOOL" list "$WORK/img" >/dev/null || fail "imgtool made an image it cannot read"
	refused "$1" "$4"
	info_check "$1"
	cp "$WORK/img.good" "$WORK/img"
}
run_case "another architecture (mips64)" header_field arch 3 s:mips64 "mips64"
run_case "8192-byte pages" header_field "page size" 8 8192 "8192"
# One XSAVE feature bit this CPU does not have, that keeps the varint length.
xcr0=$("$CKPT" info -i "$WORK/img.good" --json | sed -n 's/^ *"xfeatures": *\([0-9]*\).*/\1/p' | head -n 1)
xbit=
for b in 3 4 8 9 10 11 12 13; do
	v=$((xcr0 | (1 << b)))
	if [ $((xcr0 >> b & 1)) -eq 0 ] && { [ "$xcr0" -ge 128 ] || [ $v -lt 128 ]; } && [ $v -lt 16384 ]; then
		xbit=$b
		break
	fi
done
if [ -n "$xcr0" ] && [ -n "$xbit" ]; then
	run_case "CPU lacks XSAVE feature bit $xbit" header_field "xfeatures" 6 $((xcr0 | (1 << xbit))) \
		"CPU.*(feature|lack)|(feature|lack).*CPU"
else
	log "no XSAVE feature bit to add to 0x$(printf '%x' "${xcr0:-0}") without changing the record size: not tested"
fi

# The good image still restores after all that.
cp "$WORK/img.good" "$WORK/img"
run_case "the good image" restores_again

[ -z "$failed" ] || fail "restores not refused properly:$failed"
log "every impossible restore was refused before any process was created"
