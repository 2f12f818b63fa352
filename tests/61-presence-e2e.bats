#!/usr/bin/env bats
# Presence end to end: real chat-store, presenced, chat-route and chatd,
# real WebSocket clients (tests/drivers/presence_e2e.py), a short timeout.
# The fake-chatd cases of presenced itself are in 60-presence.bats.

load helpers

DRV="$BATS_TEST_DIRNAME/drivers/presence_e2e.py"

setup() {
	chat_setup
	export CHAT_PRESENCE_TIMEOUT=3
	CHATD_PORT=$(free_port)
	URL="ws://127.0.0.1:$CHATD_PORT/v1/ws"
	start_stack
}

teardown() {
	chat_teardown
}

start_stack() {
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	start_daemon presenced
	wait_for_sock "$CHAT_RUN/presence.sock"
	start_daemon chat-route
	wait_for_sock "$CHAT_RUN/route.sock"
	start_daemon chatd --listen "127.0.0.1:$CHATD_PORT"
	wait_for_sock "$CHAT_RUN/chatd-$CHATD_PORT.sock"
}

drive() {
	run "$PY" "$DRV" "$@" --url "$URL" --timeout "$CHAT_PRESENCE_TIMEOUT"
	echo "$output"
	assert_success
	assert_output --partial '"ok": true'
}

@test "presence: a client killed with SIGKILL is offline after the timeout, not before" {
	drive silent-drop
}

@test "presence: a connected client that says nothing goes offline after the timeout, online on its next frame" {
	drive silent-conn
}

@test "presence: last_active_at survives a full stack restart" {
	drive before-restart
	stop_all
	start_stack
	drive after-restart
}

@test "presence: a blip shorter than the timeout (client killed, device back) shows no offline" {
	drive blip
}

@test "presence: with two devices the user stays online until both are gone" {
	drive two-devices
}

@test "presence: group members and strangers get no pushed presence; a stranger cannot be queried" {
	drive no-group-push
}

@test "presence: a group query right after the members connected answers them online, before presenced has written their status" {
	# presenced stopped: the connects reach it only later, so the store's
	# records still say offline; chat-route, which chatd told of both
	# devices on the same link ahead of the query, answers them online.
	local ppid
	ppid=$(awk '$2 == "presenced" { print $1 }' "$PIDFILE" | tail -n 1)
	[ -n "$ppid" ]
	kill -STOP "$ppid"
	run "$PY" "$DRV" query-new --url "$URL" --timeout "$CHAT_PRESENCE_TIMEOUT"
	kill -CONT "$ppid"
	echo "$output"
	assert_success
	assert_output --partial '"ok": true'
}
