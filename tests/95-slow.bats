#!/usr/bin/env bats
# tests/run: alone (compares latencies)
# RELIABILITY.md row 17 (short form): a device that stops reading while
# 400 messages of 8 KB pile up for it.  chatd closes it with 1008 once its
# queue passes send_queue_max, its RSS grows < 20 MB, others' latency stays
# within 2x, and the device, reconnecting from its cursor, gets everything.
# Then a big sync (3.2 MB, three times send_queue_max) to a device that
# stops reading: chatd stops paging with little held and never closes it,
# and once it reads again every message arrives, then `synced`.

load helpers
load checker/stack

setup() {
	chat_setup
	export CHAT_RATE_LIMIT=100000 CHAT_RATE_BURST=100000
	start_store
	start_route
	start_chatd
}

teardown() {
	chat_teardown
	no_sanitizer_reports
}

@test "row 17: a slow consumer is closed with 1008, costs < 20 MB, slows no one, and drains from the store after" {
	run "$PY" "$BATS_TEST_DIRNAME/checker/slow.py" --url "$URL" --pid "$CHATD_PID" -n 400 --body 8000
	echo "$output"
	assert_success
	assert_output --partial "close_code=1008"
	assert_output --partial "lost=0 synced=400"
	run ipc "chatd-$CHATD_PORT" '{"op":"status"}'
	[ "$(jq .slow_closed <<<"$output")" = 1 ]
}

@test "row 17: a big sync is paced by the reader: paging stops while it does not read (no close), and completes when it reads" {
	run "$PY" "$BATS_TEST_DIRNAME/checker/slow_sync.py" --url "$URL" --port "$CHATD_PORT" -n 400 --body 8000
	echo "$output"
	assert_success
	assert_output --partial "got=400 in_order=True synced=True close_code=None"
	run ipc "chatd-$CHATD_PORT" '{"op":"status"}'
	[ "$(jq .slow_closed <<<"$output")" = 0 ]
}
