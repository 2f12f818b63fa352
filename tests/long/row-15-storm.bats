#!/usr/bin/env bats
# RELIABILITY.md row 15: connection resets and a reconnect storm.  500
# devices (tests/checker/jepsen.py, 1:1 messages at 100 a second) stay
# connected to chatd while ss -K destroys half of their sockets every 5 s
# for 60 s, then all 500 at once.  Every device must be back within 15 s
# (the figure is recorded), lost=0, dup_surfaced=0, and chatd's descriptor
# count must return to its baseline ±5.  The quick variant (100 devices,
# two rounds) is in tests/98-net.bats.

load ../helpers
load ../checker/stack
load ../checker/netns

setup() { chat_setup; }
teardown() {
	chat_teardown
	no_sanitizer_reports
}

@test "row 15: ss -K on half of 500 client sockets every 5 s for 60 s, then all: back ≤15 s, lost=0, fds back" {
	storm 500 12
}
