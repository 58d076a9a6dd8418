# The image reader under a fuzzer (issue 4): fuzz/run builds
# build-fuzz/image_reader (clang, libFuzzer, ASan+UBSan), fuzzes it for
# FUZZ_SECONDS (default 30) from the seed corpus fuzz/corpus, and replays the
# inputs of fuzz/regressions. Any crash, sanitizer report, leak, timeout or
# huge allocation fails the test; the report and the input are in
# build-fuzz/ (fuzz/run says where). For a longer run: fuzz/run 1200.
probe=$WORK/probe
if ! command -v clang >/dev/null; then
	skip "clang is not installed (apt-get install clang libclang-rt-14-dev)"
fi
if ! printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return d && n; }\n' |
	clang -fsanitize=fuzzer,address,undefined -x c -o "$probe" - >"$WORK/probe.log" 2>&1; then
	skip "clang cannot build a libFuzzer target (apt-get install libclang-rt-14-dev): $(head -n 1 "$WORK/probe.log")"
fi
"$ROOT/fuzz/run" "${FUZZ_SECONDS:-30}" || fail "fuzz/run found a problem (see above; logs in build-fuzz/)"
