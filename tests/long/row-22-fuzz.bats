#!/usr/bin/env bats
# RELIABILITY.md row 22, the long run: each libFuzzer target of tests/fuzz/
# for 5 minutes (FUZZ_SECS to change it) after its corpus replays, with
# -rss_limit_mb=2048 -timeout=25.  Any crash, leak, UB report, timeout or
# OOM fails and names the reproducer (build/fuzz/crash-<target>-*); once
# the parser is fixed, the input goes into tests/fuzz/corpus/<target>/.

load ../fuzz/fuzz

@test "row 22 long: each fuzz target for ${FUZZ_SECS:-300} s after its corpus replays" {
	fuzz_build
	for t in $(fuzz_targets); do
		fuzz_replay "$t"
		fuzz_run "$t" "${FUZZ_SECS:-300}"
	done
}
