#!/usr/bin/env bats
# RELIABILITY.md rows 23-26 and 28: hostile clients against the whole stack
# under chat-super (tests/checker/abuse.py, one subcommand a row): bad
# credentials, a forged sender, another user's data, group membership abuse
# and one user's connection flood.  Each must be refused with nothing
# stored, leaked or moved, and every daemon keeps serving.  Row 29 (a flood
# past the rate limit) compares latencies, so it runs alone: 94-rate.bats.

load helpers
load checker/stack

ABUSE="$BATS_TEST_DIRNAME/checker/abuse.py"

setup() {
	chat_setup
	conf auth_timeout 2
	super_start
	API="http://127.0.0.1:$API_PORT"
}

teardown() {
	chat_teardown
	no_sanitizer_reports
}

@test "row 23: auth bypass: no token, garbage, expired, forged, alg none, unknown user, after logout, cookie only: all refused, nothing stored" {
	run "$PY" "$ABUSE" auth --url "$URL" --api "$API"
	echo "$output"
	assert_success
	assert_output --partial "stored=0"
	still_up
}

@test "row 24: sender impersonation: from, device, message id and another's cid in the frame change nothing" {
	run "$PY" "$ABUSE" impersonate --url "$URL" --api "$API"
	echo "$output"
	assert_success
	assert_output --partial "attributed_to_b=0 from_a=4"
	still_up
}

@test "row 25: IDOR: foreign conversations, enumerated groups, foreign ids in recv: errors, 0 leaked, b's cursor unmoved" {
	run "$PY" "$ABUSE" idor --url "$URL" --api "$API"
	echo "$output"
	assert_success
	assert_output --partial "leaked=0 b_cursor_moved=False"
	still_up
}

@test "row 26: group abuse: refusals change nothing, a removed member gets nothing, 50 concurrent adds to 90 leave exactly 100" {
	run "$PY" "$ABUSE" group --url "$URL" --api "$API"
	echo "$output"
	assert_success
	assert_output --partial "concurrent_ok=10 group_full=40 members=100"
	still_up
}

@test "row 28: one user opens 300 idle WebSockets, each its own device: 10 held (max_conns_per_user), 290 refused with 4004, others served, a device reconnecting replaces its old one" {
	stop_all
	: > "$CHAT_HOME/etc/chat.conf"; rm -f "$CHAT_HOME/etc/.conf-done"
	conf auth_timeout 2
	conf max_conns_per_user 10
	super_start
	run "$PY" "$ABUSE" conns --url "$URL" --api "$API" -n 300 --cap 10
	echo "$output"
	assert_success
	run ipc "chatd-$CHATD_PORT" '{"op":"status"}'
	[ "$(jq .refused_per_user <<<"$output")" -ge 290 ]
	# One line for the flood, not one a refusal.
	[ "$(grep -c "max_conns_per_user" "$CHAT_HOME/log/chatd.log")" -le 2 ]
	still_up
}
