#!/usr/bin/env bats
# The message path under kill -9 (RELIABILITY.md rows 1 and 7, for chatd,
# chat-route and chat-store): tests/drivers/msgtest.py chaos keeps a steady
# stream of 1:1 and group messages going from two senders to four devices,
# resending unacked cids after every reconnect and resuming each device from
# the newest id it holds, while the test kills a process and starts it
# again by PID.  Then the driver checks: every acked message reached every
# device it should (lost 0), nothing unsent arrived (phantom 0), no device
# got an id twice or out of order, and each cid is stored once.

load helpers
load checker/chaos

DRV="$BATS_TEST_DIRNAME/drivers/msgtest.py"

setup() {
	chat_setup
	export CHAT_RATE_LIMIT=100000 CHAT_RATE_BURST=100000
	start_store
	start_route
	start_chatd
}

teardown() {
	chat_teardown
}

stream_start() { chaos_start "$DRV" --url "$URL" -n 200; }
stream_finish() { chaos_finish; }

@test "kill -9 of chat-route mid-stream: no acked message lost, none twice" {
	stream_start
	more_acks 300
	kill -9 "$ROUTE_PID"
	start_route
	more_acks 300
	stream_finish
	grep -q "catching them up" "$CHAT_HOME/log/chatd.log"
}

@test "kill -9 of chatd mid-stream: no acked message lost, none twice" {
	stream_start
	more_acks 300
	kill -9 "$CHATD_PID"
	start_chatd "$CHATD_PORT"
	more_acks 300
	stream_finish
}

@test "kill -9 of chat-store mid-stream: no acked message lost, none twice" {
	stream_start
	more_acks 300
	kill -9 "$STORE_PID"
	# The old process must be gone before the new one takes the LOCK.
	wait_until 5 sh -c "! kill -0 $STORE_PID"
	start_store
	more_acks 300
	stream_finish
}

@test "chat-route and chatd killed in turn, three times: nothing lost" {
	stream_start
	for round in 1 2 3; do
		more_acks 200
		kill -9 "$ROUTE_PID"
		start_route
		more_acks 200
		kill -9 "$CHATD_PID"
		start_chatd "$CHATD_PORT"
	done
	more_acks 200
	stream_finish
}
