# Shared by tests/99-fuzz.bats and tests/long/row-22-fuzz.bats: build the
# libFuzzer targets of tests/fuzz/ (make fuzz-build, into build/fuzz), replay
# their corpora, fuzz each for a while.  RELIABILITY.md row 22.

FUZZ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FUZZ_DIR="$FUZZ_ROOT/build/fuzz"

# fuzz_build: the targets, or a skip naming what is missing.
fuzz_build() {
	command -v clang-14 >/dev/null ||
		skip "clang-14 is not installed (make deps installs it)"
	[ -n "$(ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a 2>/dev/null)" ] ||
		skip "libclang-rt-14-dev is not installed (make deps installs it)"
	if ! make -C "$FUZZ_ROOT" fuzz-build >"$BATS_TEST_TMPDIR/build.log" 2>&1; then
		tail -40 "$BATS_TEST_TMPDIR/build.log"
		echo "# make fuzz-build failed"
		return 1
	fi
}

fuzz_targets() {
	local f
	for f in "$FUZZ_ROOT"/tests/fuzz/fuzz_*.c; do
		f=${f##*/fuzz_}
		echo "${f%.c}"
	done
}

# fuzz_env: sanitizers that stop and say where, whatever the caller set.
fuzz_env() {
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
}

# fuzz_replay target: every input of its corpus once (files given one by
# one run once each, no fuzzing); a failure names the input.
fuzz_replay() {
	local t=$1 log="$BATS_TEST_TMPDIR/replay-$1.log" files
	fuzz_env
	files=("$FUZZ_ROOT/tests/fuzz/corpus/$t"/*)
	[ -f "${files[0]}" ] || { echo "# no corpus for $t"; return 1; }
	if ! "$FUZZ_DIR/fuzz_$t" -rss_limit_mb=2048 -timeout=25 "${files[@]}" >"$log" 2>&1; then
		tail -30 "$log"
		echo "# fuzz_$t fails on the corpus input" \
		    "$(grep '^Running: ' "$log" | tail -1 | sed 's/^Running: //')"
		return 1
	fi
	echo "# $t: ${#files[@]} inputs replayed" >&3
}

# fuzz_run target seconds: libFuzzer for that long from the seeds (new
# inputs go to a scratch dir, the seeds stay as they are); any crash, leak,
# UB report, timeout (>25 s) or OOM fails, naming the reproducer.
fuzz_run() {
	local t=$1 secs=$2 log="$BATS_TEST_TMPDIR/fuzz-$1.log" rc=0
	local scratch="$BATS_TEST_TMPDIR/corpus-$t"
	mkdir -p "$scratch"
	fuzz_env
	"$FUZZ_DIR/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=2048 \
	    -timeout=25 -print_final_stats=1 \
	    -artifact_prefix="$FUZZ_DIR/crash-$t-" \
	    "$scratch" "$FUZZ_ROOT/tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		grep -v '^#[0-9]' "$log" | tail -40
		echo "# fuzz_$t failed (exit $rc); reproducer:" \
		    "$(grep -o 'Test unit written to .*' "$log" | sed 's/^Test unit written to //')"
		echo "# rerun: $FUZZ_DIR/fuzz_$t <reproducer>; keep it in tests/fuzz/corpus/$t/ once fixed"
		return 1
	fi
	echo "# $t: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$') runs in $secs s, no findings" >&3
}
