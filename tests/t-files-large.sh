# The content of memfds and unlinked files is streamed: with a 160 MiB memfd
# and a 160 MiB unlinked file (each with a hole of 40 MiB), ckpt's peak RSS
# stays under 64 MiB in dump and restore, and every byte comes back (holes
# as holes).
MIB=160
LIMIT_KB=65536
real=$CKPT
cat >"$WORK/ckpt-rss" <<EOS
#!/bin/sh
exec /usr/bin/time -o "$WORK/rss.\$1" -f %M "$real" "\$@"
EOS
chmod +x "$WORK/ckpt-rss"
[ -x /usr/bin/time ] || skip "no /usr/bin/time to measure the peak RSS"
start_workload bigfiles "$WORK" "$MIB"
CKPT=$WORK/ckpt-rss
cycle || fail "checkpoint/restore cycle"
CKPT=$real
verify || fail "large files after restore"
for cmd in dump restore; do
	kb=$(tail -n 1 "$WORK/rss.$cmd")
	log "ckpt $cmd: peak RSS $kb KiB"
	[ "$kb" -le "$LIMIT_KB" ] || fail "ckpt $cmd reached $kb KiB of RSS, more than $LIMIT_KB KiB"
done
size=$(stat -c %s "$WORK/img")
[ "$size" -ge $((2 * MIB * 3 / 4 * 1048576)) ] || fail "the image ($size bytes) cannot hold the content"
[ "$size" -lt $((2 * MIB * 1048576)) ] || fail "the image ($size bytes) holds the holes"
