#!/usr/bin/env bats
# Real-time messaging: chatd and chat-route against a real chat-store,
# driven by tests/drivers/msgtest.py (python3-websockets), which mints its
# own tokens from the stack's secret and checks what every device got.
# Faults (kill -9 mid-stream) are in 41-faults.bats.

load helpers

DRV="$BATS_TEST_DIRNAME/drivers/msgtest.py"

setup() {
	chat_setup
	# Users made by import, not user.create: yescrypt costs 0.2 s each.
	"$PY" "$DRV" seed --names alice,bob,carol,dave,tri -n 101 |
	    "$CHAT_BIN/chat-store" import 2>/dev/null
	start_store
	start_route
}

teardown() {
	chat_teardown
}

# drive SCENARIO [ARGS...]: runs the driver; its JSON line is in $output.

@test "1:1 messages both ways: ack, then the frame on the other side" {
	start_chatd
	drive pair --url "$URL"
}

@test "a group of 100 gets a message on every member's device; a 101st member is refused" {
	start_chatd
	drive group --url "$URL" -n 100
}

@test "three devices of one user see what it sends and what it receives" {
	start_chatd
	drive devices --url "$URL"
}

@test "an offline device gets exactly the 10,000 messages it missed, in order" {
	export CHAT_RATE_LIMIT=1000000 CHAT_RATE_BURST=1000000
	start_chatd
	drive offline --url "$URL" -n 10000
}

@test "a retried cid makes one message with one id" {
	start_chatd
	drive dedupe --url "$URL"
}

@test "a non-member can neither send to a group nor read its history" {
	start_chatd
	drive nonmember --url "$URL"
}

@test "malformed frames get error frames and the connection stays up" {
	start_chatd
	drive malformed --url "$URL"
}

@test "no auth within auth_timeout closes 4001; a bad or revoked token 4003" {
	export CHAT_AUTH_TIMEOUT=1
	start_chatd
	drive auth --url "$URL"
}

@test "past rate_burst sends get rate_limited and the connection stays up" {
	export CHAT_RATE_LIMIT=5 CHAT_RATE_BURST=10
	start_chatd
	drive ratelimit --url "$URL"
	run ipc "chatd-$CHATD_PORT" '{"op":"status"}'
	[ "$(jqr "$output" '.rate_limited > 0')" = true ]
	grep -q "rate limited" "$CHAT_HOME/log/chatd.log"
}

@test "a message over max_frame closes 1009, invalid UTF-8 1007; a body over 16384 bytes is an error" {
	start_chatd
	drive oversize --url "$URL"
}

@test "a reader that stops reading is closed once send_queue_max is queued" {
	export CHAT_SEND_QUEUE_MAX=262144 CHAT_RATE_LIMIT=100000 CHAT_RATE_BURST=100000
	start_chatd
	drive slow --url "$URL" --ctl "chatd-$CHATD_PORT"
	grep -q "send queue over" "$CHAT_HOME/log/chatd.log"
}

@test "typing is relayed and never stored; presence answers for friends only" {
	start_chatd
	drive typing-presence --url "$URL"
}

@test "two chatd instances exchange messages; chatd.list shows both" {
	start_chatd
	local url1=$URL port1=$CHATD_PORT
	start_chatd
	drive two-chatd --url "$url1" --url2 "$URL"
	run ipc route '{"op":"chatd.list"}'
	assert_success
	[ "$(jqr "$output" '.chatds | length')" = 2 ]
	[ "$(jqr "$output" "[.chatds[].url] | sort == ([\"ws://127.0.0.1:$port1/v1/ws\", \"$URL\"] | sort)")" = true ]
}

@test "chatd and chat-route answer ping and status on their sockets" {
	start_chatd
	run ipc "chatd-$CHATD_PORT" '{"op":"ping"}' '{"op":"status"}' '{"op":"nope"}'
	assert_success
	assert_line --index 0 --partial '"ok":true'
	[ "$(jqr "${lines[1]}" '.name')" = "chatd-$CHATD_PORT" ]
	[ "$(jqr "${lines[2]}" '.error.code')" = unknown_op ]
	run ipc route '{"op":"ping"}' '{"op":"status"}' '{"op":"nope"}' 'not json'
	assert_success
	assert_line --index 0 --partial '"ok":true'
	[ "$(jqr "${lines[1]}" '.chatds')" = 1 ]
	[ "$(jqr "${lines[2]}" '.error.code')" = unknown_op ]
	[ "$(jqr "${lines[3]}" '.error.code')" = bad_request ]
}

@test "--help, bad usage and a taken port give the documented exit codes" {
	run "$CHAT_BIN/chatd" --help
	assert_success
	assert_output --partial "usage: chatd"
	run "$CHAT_BIN/chat-route" --help
	assert_success
	run "$CHAT_BIN/chatd" --bogus
	[ "$status" = 100 ]
	run "$CHAT_BIN/chatd" --listen nonsense
	[ "$status" = 100 ]
	run "$CHAT_BIN/chat-route" extra
	[ "$status" = 100 ]
	# chat-route is running: a second one refuses its socket (temporary).
	run "$CHAT_BIN/chat-route"
	[ "$status" = 111 ]
	start_chatd
	run "$CHAT_BIN/chatd" --listen "127.0.0.1:$CHATD_PORT"
	[ "$status" = 111 ]
}

@test "with presenced, friends' presence is sent on auth and pushed on each change" {
	start_chatd
	start_daemon presenced
	wait_for_sock "$CHAT_RUN/presence.sock"
	drive presence-push --url "$URL"
	run ipc presence '{"op":"status"}'
	[ "$(jqr "$output" '.connects >= 3 and .byes >= 1')" = true ]
}

# conns_are URL1 N1 URL2 N2: chat-route's chatd.list gives these loads.
conns_are() {
	local r
	r=$(ipc route '{"op":"chatd.list"}')
	[ "$(jqr "$r" "[.chatds[] | select(.url == \"$1\") | .conns] == [$2] and [.chatds[] | select(.url == \"$3\") | .conns] == [$4]")" = true ]
}

@test "each chatd reports its open connections to chat-route for discovery" {
	start_chatd
	local url1=$URL port1=$CHATD_PORT
	start_chatd
	"$PY" "$DRV" hold --url "$url1" -n 3 > "$BATS_TEST_TMPDIR/hold" 2>&1 &
	HOLD=$!
	track_pid "$HOLD" hold
	wait_until 20 grep -qx ready "$BATS_TEST_TMPDIR/hold"
	[ "$(jqr "$(ipc "chatd-$port1" '{"op":"status"}')" '.conns')" = 3 ]
	wait_until 5 conns_are "$url1" 3 "$URL" 0
	kill "$HOLD"
	wait_until 5 conns_are "$url1" 0 "$URL" 0
}
