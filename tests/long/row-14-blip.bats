#!/usr/bin/env bats
# RELIABILITY.md row 14 (b): a network outage longer than the hangup.  The
# Jepsen driver runs in a network namespace (tests/checker/netns.bash) and
# keeps the client heartbeat a real client has (a PING every 5 s); nftables
# drops every packet between it and chatd for 30 s, with chatd's hangup at
# 20 s.  chatd must hang up on every silent connection by itself, the
# clients must reconnect once the network is back and resume from the
# newest id they hold: lost=0, dup_surfaced=0, order=0.  Row 14 (a), the
# short blip, is in tests/98-net.bats.

load ../helpers
load ../checker/stack
load ../checker/netns

setup() { chat_setup; }
teardown() {
	netns_down
	chat_teardown
	no_sanitizer_reports
}

chatd_conns() { ipc "chatd-$CHATD_PORT" '{"op":"status"}' | jq .conns; }
conns_are() { [ "$(chatd_conns)" = "$1" ]; }

@test "row 14b: a 30 s outage with a 20 s hangup: chatd hangs up, clients reconnect and resume: lost=0" {
	local hangup=20
	netns_up
	conf presence_timeout "$hangup"
	netns_stack
	netns_jepsen_start --rate 100 --duration 120 --ping 5 --drain 60
	more_acked 200
	local t0 a0 ms
	t0=$(date +%s%N)
	nft_drop
	a0=$(acked)
	# chatd hangs up on all 8 by itself: 10 to 20 s after the last PONG.
	wait_until $(( hangup + 5 )) conns_are 0
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "# chatd hung up on every connection ${ms} ms into the outage"
	[ "$ms" -le $(( hangup * 1100 )) ]
	# The outage is real: nothing more is acknowledged through it.
	[ "$(acked)" -le $(( a0 + 100 )) ]
	local rest=$(( 30000 - ($(date +%s%N) - t0) / 1000000 ))
	# the rest of the 30 s outage (the fault, not a wait for a condition)
	[ "$rest" -le 0 ] || sleep "$(awk -v r="$rest" 'BEGIN { printf "%.3f", r / 1000 }')"
	nft_clear
	t0=$(date +%s%N)
	wait_until 30 up_at_least 8
	echo "# all 8 devices back $(( ($(date +%s%N) - t0) / 1000000 )) ms after the network"
	more_acked 300 30
	jepsen_finish
	# Every device reconnected (resumed with since) at least once.
	[ "$(figure reconnects)" -ge 8 ]
	# ... and the drain: 16 connects at least name the id held.
	grep -c '"since":"[0-9a-f]\{16\}".*"ev":"connect"' "$HIST" |
	    awk '{ exit !($1 >= 16) }'
}
