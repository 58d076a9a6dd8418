# mm fields across a cycle: start/end of code, data, brk, stack, arguments
# and environment (/proc/self/stat), brk, cmdline, environ, auxv (bytes and
# getauxval, AT_RANDOM bytes, AT_EXECFN string) and /proc/self/exe.
# Unusual arguments and an extra environment variable make them non-trivial.
WL_MMFIELDS_MARK="x=y z" start_workload mmfields alpha "beta gamma" "" "$(printf 'tab\there')"
cycle || fail "checkpoint/restore cycle"
verify || fail "mmfields after restore"
