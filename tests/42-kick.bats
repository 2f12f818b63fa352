#!/usr/bin/env bats
# Logout closes the logged-out device's open WebSockets (RELIABILITY.md row
# 23): chat-api revokes the token in chat-store, then chat-route's
# device.kick has every chatd close that device's sockets (or, for
# POST /v1/logout {"all":true}, every device of the user) with an error
# frame and close 4003.  Two chatds, so a device on the other one is
# reached too; tests/checker/kick.py drives it through chat-api.

load helpers

KICK="$BATS_TEST_DIRNAME/checker/kick.py"

setup() {
	chat_setup
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	start_daemon chat-route
	ROUTE_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/route.sock"
	P1=$(free_port)
	P2=$(free_port)
	for p in "$P1" "$P2"; do
		start_daemon chatd --listen "127.0.0.1:$p"
		wait_for_sock "$CHAT_RUN/chatd-$p.sock"
	done
	URLS="ws://127.0.0.1:$P1/v1/ws,ws://127.0.0.1:$P2/v1/ws"
	API_PORT=$(free_port)
	API="http://127.0.0.1:$API_PORT"
	start_daemon chat-api --listen "127.0.0.1:$API_PORT"
	wait_for_sock "$CHAT_RUN/api.sock"
	wait_until 5 curl -sf -o /dev/null "$API/v1/health"
	# Both chatds said hello to chat-route.
	wait_until 10 chatds_known 2
}

teardown() {
	chat_teardown
	! grep -s "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" \
	    "$CHAT_HOME"/log/*.log
}

chatds_known() {
	[ "$(ipc route '{"op":"status"}' | jq .chatds)" = "$1" ]
}

@test "logout of one device closes that socket only (4003, after an error frame); the user's other device and others keep talking" {
	run "$PY" "$KICK" --api "$API" --urls "$URLS" one
	echo "$output"
	assert_success
	assert_output --partial "closed=4003"
	run ipc route '{"op":"status"}'
	[ "$(jq .logouts <<<"$output")" = 1 ]
	grep -q "logout of 'kick_a/phone': 2 chatds told" "$CHAT_HOME/log/chat-route.log"
	grep -q "'kick_a/phone' on .* logged out: closing" "$CHAT_HOME/log/chatd.log"
}

@test "logout with {\"all\":true} closes every device of the user on every chatd, and no one else's" {
	run "$PY" "$KICK" --api "$API" --urls "$URLS" all
	echo "$output"
	assert_success
	assert_output --partial "closed=[4003, 4003, 4003]"
	grep -q "logout of 'kick_a': 2 chatds told" "$CHAT_HOME/log/chat-route.log"
}

@test "chat-route down: logout still answers 200, the token is refused, the kick is logged as not delivered" {
	stop_pid "$ROUTE_PID"
	run "$PY" "$KICK" --api "$API" --urls "$URLS" route-down
	echo "$output"
	assert_success
	assert_output --partial "logout=200"
	wait_until 10 grep -q "logout of 'kick_a/phone': kick not delivered" \
	    "$CHAT_HOME/log/chat-api.log"
}

@test "device.kick: a bad request is refused; a kick for a user with no socket tells every chatd and closes nothing" {
	run ipc route '{"op":"device.kick"}'
	[ "$(jq -r .error.code <<<"$output")" = bad_request ]
	run ipc route '{"op":"device.kick","user":"Bad User"}'
	[ "$(jq -r .error.code <<<"$output")" = bad_request ]
	run ipc route '{"op":"device.kick","user":"nobody","device":"a/b"}'
	[ "$(jq -r .error.code <<<"$output")" = bad_request ]
	run ipc route '{"op":"device.kick","user":"nobody","device":"x"}'
	[ "$(jq -r .ok <<<"$output")" = true ]
	[ "$(jq .chatds <<<"$output")" = 2 ]
	wait_until 5 grep -q "logout of 'nobody/x': 0 connections closed here" \
	    "$CHAT_HOME/log/chatd.log"
}
