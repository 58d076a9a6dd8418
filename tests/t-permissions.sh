# Who may checkpoint and restore what. As an unprivileged user (made here):
# a dump of root's tree is refused and the tree goes on unharmed; a restore
# of an image that asks for uid 0 is refused before any process exists,
# even with CAP_CHECKPOINT_RESTORE; images are created mode 0600.
command -v setpriv >/dev/null || skip "no setpriv (util-linux)"
user=ckpt-test
id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user" ||
	skip "cannot create user $user"
uid=$(id -u "$user")
gid=$(id -g "$user")
as_user() { setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"; }

start_workload proctree
mkdir -p "$WORK/u" && chmod 1777 "$WORK/u"
before=$(cat /proc/"$PID"/status | grep -E '^(State|TracerPid|SigBlk)')
if as_user "$CKPT" dump -t "$PID" -o "$WORK/u/user.img" >"$WORK/user-dump.log" 2>&1; then
	fail "an unprivileged user dumped root's tree"
fi
grep -q "may not ptrace" "$WORK/user-dump.log" || fail "refusal does not say why: $(tail -n 2 "$WORK/user-dump.log")"
[ "$(cat /proc/"$PID"/status | grep -E '^(State|TracerPid|SigBlk)')" = "$before" ] || fail "the tree was disturbed"

pids=$(tree_pids "$PID")
dump || fail "dump as root"
[ "$(stat -c %a "$WORK/img")" = 600 ] || fail "image mode $(stat -c %a "$WORK/img"), want 600"
wait_gone $pids || fail "tree still running after dump"
cp "$WORK/img" "$WORK/u/img" && chmod 644 "$WORK/u/img"
as_user --inh-caps=+checkpoint_restore --ambient-caps=+checkpoint_restore \
	"$CKPT" restore -i "$WORK/u/img" --detach >"$WORK/user-restore.log" 2>&1 &&
	fail "an unprivileged user restored an image that asks for uid 0"
grep -q "asks for uid 0" "$WORK/user-restore.log" || fail "refusal does not say why: $(tail -n 2 "$WORK/user-restore.log")"
for p in $pids; do [ -e /proc/"$p" ] && fail "pid $p exists after a refused restore"; done
as_user "$CKPT" restore -i "$WORK/u/img" --detach >"$WORK/user-restore2.log" 2>&1 &&
	fail "restore without CAP_CHECKPOINT_RESTORE succeeded"
grep -q "CAP_CHECKPOINT_RESTORE" "$WORK/user-restore2.log" || fail "refusal does not say why: $(tail -n 2 "$WORK/user-restore2.log")"
restore || fail "restore as root"
verify || fail "proctree after restore"
