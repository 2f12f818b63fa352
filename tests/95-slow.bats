#!/usr/bin/env bats
# RELIABILITY.md row 17 (short form): a device that stops reading while
# 400 messages of 8 KB pile up for it.  chatd closes it with 1008 once its
# queue passes send_queue_max, its RSS grows < 20 MB, others' latency stays
# within 2x, and the device, reconnecting from its cursor, gets everything.

load helpers
load checker/stack

setup() {
	chat_setup
	export CHAT_RATE_LIMIT=100000 CHAT_RATE_BURST=100000
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	start_daemon chat-route
	wait_for_sock "$CHAT_RUN/route.sock"
	CHATD_PORT=$(free_port)
	URL="ws://127.0.0.1:$CHATD_PORT/v1/ws"
	start_daemon chatd --listen "127.0.0.1:$CHATD_PORT"
	CHATD_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/chatd-$CHATD_PORT.sock"
}

teardown() {
	chat_teardown
	no_sanitizer_reports
}

@test "row 17: a slow consumer is closed with 1008, costs < 20 MB, slows no one, and drains from the store after" {
	skip "known bug, issue 7: the final synced frame is counted against send_queue_max, so a big sync ends in 1008"
	run "$PY" "$BATS_TEST_DIRNAME/checker/slow.py" --url "$URL" --pid "$CHATD_PID" -n 400 --body 8000
	echo "$output"
	assert_success
	assert_output --partial "close_code=1008"
	assert_output --partial "lost=0 synced=400"
	run ipc "chatd-$CHATD_PORT" '{"op":"status"}'
	[ "$(jq .slow_closed <<<"$output")" = 1 ]
}
