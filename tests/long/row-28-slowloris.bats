#!/usr/bin/env bats
# RELIABILITY.md row 28 at full length: slowhttptest -c 1000 -H -i 10 -r 200
# -l 60 -p 3 -g on chatd and on chat-api at once, while the Jepsen driver
# keeps 8 devices chatting (tests/checker/netns.bash: slowloris), and one
# user opens 2,000 idle WebSockets, each its own device (max_conns_per_user:
# tests/checker/abuse.py conns).  The 20 s variant and the per-address cap
# are in tests/98-net.bats, the per-user cap's quick case in 94-abuse.

load ../helpers
load ../checker/stack
load ../checker/netns

setup() { chat_setup; }
teardown() {
	chat_teardown
	no_sanitizer_reports
}

@test "row 28: slowloris on chatd and chat-api for 60 s while sessions chat, and one user's 2,000 idle WebSockets: available every second, slow heads closed at handshake_timeout, 64 held per user" {
	slowloris 60
}

# The hog's 2,000 WebSockets come from 127.0.0.2: slowhttptest holds
# 127.0.0.1 up to max_conns_per_ip, and this is the per-user cap's test.
slowloris_during() {
	run "$PY" "$BATS_TEST_DIRNAME/../checker/abuse.py" conns --url "$URL" \
	    -n 2000 --cap 64 --src 127.0.0.2
	echo "# one user's 2,000 idle WebSockets: $output"
	assert_success
	[ "$(ipc "chatd-$CHATD_PORT" '{"op":"status"}' | jq .refused_per_user)" -ge 1936 ]
}
