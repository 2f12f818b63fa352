#!/usr/bin/env bats
# tests/run: alone (compares the calm users' latency with a baseline)
# RELIABILITY.md row 29: one device floods sends past the rate limit while
# others chat (tests/checker/abuse.py rate).  Apart from 94-abuse.bats
# because it compares latencies: beside other suites, their load is what
# it would measure.

load helpers
load checker/stack

ABUSE="$BATS_TEST_DIRNAME/checker/abuse.py"

setup() {
	chat_setup
	conf auth_timeout 2
}

teardown() {
	chat_teardown
	no_sanitizer_reports
}

@test "row 29: one device floods 2000 sends: rate_limited past 20/s + 100, no acks beyond, others unaffected, no body logged" {
	conf rate_limit 20
	conf rate_burst 100
	super_start
	API="http://127.0.0.1:$API_PORT"
	run "$PY" "$ABUSE" rate --url "$URL" --api "$API" -n 2000 --rate 20 --burst 100
	echo "$output"
	assert_success
	secret=$(sed -n 's/.*secret=\([^ ]*\).*/\1/p' <<<"$output")
	[ -n "$secret" ]
	# A counter, and a log line, without the bodies.
	run ipc "chatd-$CHATD_PORT" '{"op":"status"}'
	[ "$(jq .rate_limited <<<"$output")" -gt 0 ]
	grep -qi "rate" "$CHAT_HOME/log/chatd.log"
	! grep -rq "$secret" "$CHAT_HOME/log/"
	still_up
}
