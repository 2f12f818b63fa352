#!/usr/bin/env bats
# RELIABILITY.md row 28 at full length: slowhttptest -c 1000 -H -i 10 -r 200
# -l 60 -p 3 -g on chatd and on chat-api at once, while the Jepsen driver
# keeps 8 devices chatting (tests/checker/netns.bash: slowloris).  The
# 20 s variant and the per-address cap are in tests/98-net.bats.

load ../helpers
load ../checker/stack
load ../checker/netns

setup() { chat_setup; }
teardown() {
	chat_teardown
	no_sanitizer_reports
}

@test "row 28: slowloris on chatd and chat-api for 60 s while sessions chat: available every second, slow heads closed at handshake_timeout" {
	slowloris 60
}
