#!/usr/bin/env bats
# tests/run: alone (hangup windows)
# chatd's liveness check (src/chatd/alive.c, chatd(1)): any frame or PONG
# counts as heard; a connection silent for half of presence_timeout is sent
# a PING, and one silent for all of it is hung up on, without a close
# frame.  presence_timeout is 2 s here; tests/drivers/alive.py is the raw
# client.  tests/98-net.bats row 13 covers the hangup's presence and push.

load helpers
load checker/stack

HANGUP=2

setup() {
	chat_setup
	export CHAT_PRESENCE_TIMEOUT=$HANGUP
	start_store
	start_route
	start_chatd
}

teardown() {
	chat_teardown
	no_sanitizer_reports
}

# in_window VALUE LOW HIGH: LOW <= VALUE <= HIGH (decimals).
in_window() {
	awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'
}

@test "a client that sends frames but never answers a PING is kept, unpinged; silent, it is pinged and hung up on" {
	run "$PY" "$BATS_TEST_DIRNAME/drivers/alive.py" talker --url "$URL" --hangup "$HANGUP"
	echo "$output"
	assert_success
	local r=$output
	# Heartbeats every 0.5 s: kept three timeouts long, never pinged
	# (lws's own keepalive hung up on it: only a PONG counted).
	in_window "$(jqr "$r" .open_s)" "$(( 3 * HANGUP ))" "$(( 4 * HANGUP ))"
	[ "$(jqr "$r" .pings_early)" = 0 ]
	# Then silent: one PING at about 1 s, the hangup at 2 s, no close frame.
	[ "$(jqr "$r" .pings)" -ge 1 ]
	in_window "$(jqr "$r" .hangup_s)" 1.8 "$(( 2 * HANGUP ))"
	[ "$(jqr "$r" .close_frame)" = false ]
	local st
	st=$(ipc "chatd-$CHATD_PORT" '{"op":"status"}')
	[ "$(jqr "$st" .hangups)" = 1 ]
	[ "$(jqr "$st" .pings)" -ge 1 ]
	grep -q "silent for 2 s, hanging up" "$CHAT_HOME/log/chatd.log"
}

@test "a client that only answers PINGs is kept; when it stops answering it is hung up on" {
	run "$PY" "$BATS_TEST_DIRNAME/drivers/alive.py" ponger --url "$URL" --hangup "$HANGUP"
	echo "$output"
	assert_success
	local r=$output
	in_window "$(jqr "$r" .open_s)" "$(( 3 * HANGUP ))" "$(( 4 * HANGUP ))"
	# A PING each half timeout while it answers: about 6 in 6 s.
	[ "$(jqr "$r" .pings_early)" -ge 3 ]
	in_window "$(jqr "$r" .hangup_s)" 1.8 "$(( 2 * HANGUP ))"
	[ "$(jqr "$r" .close_frame)" = false ]
	[ "$(jqr "$(ipc "chatd-$CHATD_PORT" '{"op":"status"}')" .hangups)" = 1 ]
}
