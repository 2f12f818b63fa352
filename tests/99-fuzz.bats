#!/usr/bin/env bats
# tests/run: alone (the fuzzers use every CPU)
# RELIABILITY.md row 22, the quick run: the libFuzzer targets of tests/fuzz/
# (every parser: the client frame validator, jflat, the JSON helpers, the
# NDJSON framer, the config parser, tokens) are built with clang-14, every
# input of their corpora (seeds and past crash inputs) is replayed once,
# then each target fuzzes for 10 s.  Any crash, leak, UB report, timeout
# or OOM fails.  The long run (5 minutes each) is tests/long/row-22-fuzz.bats.

load fuzz/fuzz

@test "row 22: the fuzz targets build and replay every corpus input (seeds and past crashes)" {
	fuzz_build
	for t in $(fuzz_targets); do
		fuzz_replay "$t"
	done
}

@test "row 22: each fuzz target for 10 s: no crash, leak, UB, timeout or OOM" {
	fuzz_build
	for t in $(fuzz_targets); do
		fuzz_run "$t" 10
	done
}
