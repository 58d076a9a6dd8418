# Regular files held in the ways a program may hold them, across a cycle:
# files in /dev/shm and in another tmpfs, O_PATH descriptors (of a file, a
# directory, a symlink itself), a file opened through a symlink (restored as
# its target), O_DIRECT, fds above 1024 with gaps in the table, and files
# under /proc and /sys: the process's own status (read again, it shows the
# restored process as it is now), a child's stat, cmdline, meminfo, a sysfs
# attribute.
mkdir -p "$WORK/tmpfs"
mount -t tmpfs -o size=1m ckpt-test "$WORK/tmpfs" || skip "cannot mount a tmpfs"
start_workload files "$WORK" "$WORK/tmpfs"
cycle || fail "checkpoint/restore cycle"
verify || fail "files after restore"
