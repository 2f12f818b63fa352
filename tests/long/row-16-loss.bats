#!/usr/bin/env bats
# RELIABILITY.md row 16: 20% packet loss each way for 60 s (nftables
# numgen in a network namespace, tests/checker/netns.bash) under a steady
# load of 200 messages a second from 8 devices.  TCP carries the messages
# through: lost=0, dup_surfaced=0, order=0, and no heartbeat hangup (the
# hangup is 20 s; no outage that long happens).  The throughput during the
# loss against the 10 s before it is reported (informational).

load ../helpers
load ../checker/stack
load ../checker/netns

setup() { chat_setup; }
teardown() {
	netns_down
	chat_teardown
	no_sanitizer_reports
}

# acked_rate SECONDS: acknowledged sends per second over the next SECONDS.
acked_rate() {
	local a0 t0 a1 t1
	a0=$(acked); t0=$(date +%s%N)
	sleep "$1"	# the measurement window
	a1=$(acked); t1=$(date +%s%N)
	awk -v a="$(( a1 - a0 ))" -v t="$(( t1 - t0 ))" 'BEGIN { printf "%.1f", a / (t / 1e9) }'
}

@test "row 16: 20% packet loss each way for 60 s under load: lost=0, no hangup" {
	netns_up
	conf presence_timeout 20
	netns_stack
	netns_jepsen_start --rate 200 --duration 300 --drain 60
	more_acked 200
	local base lossy drop t
	base=$(acked_rate 10)
	nft_loss 20
	# The first 10 s and the remaining 50 s of the loss.
	lossy=$(acked_rate 10)
	lossy=$(awk -v a="$lossy" -v b="$(acked_rate 50)" 'BEGIN { printf "%.1f", (a + 5 * b) / 6 }')
	# Loss was in force: the rules' counters.
	t=$(nft_dropped)
	echo "# packets dropped by the 20% rules: $t"
	[ "$t" -gt 1000 ]
	nft_clear
	more_acked 200 60
	jepsen_finish
	drop=$(awk -v b="$base" -v l="$lossy" 'BEGIN { printf "%.1f", (b > 0 ? 100 * (b - l) / b : 0) }')
	echo "# acked/s: $base before, $lossy under 20% loss: a drop of $drop%"
	echo "$BATS_TEST_DESCRIPTION: acked/s $base before, $lossy under loss (drop $drop%)" >> "${FAULT_FIGURES:-/dev/null}"
	# No heartbeat hangup: every device kept its one connection.
	[ "$(figure reconnects)" = 0 ]
}
