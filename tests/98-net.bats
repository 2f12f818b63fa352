#!/usr/bin/env bats
# tests/run: alone (network namespaces and timed blips)
# RELIABILITY.md, the network rows that run in seconds (the long ones are
# tests/long/row-1[4-6]-*.bats): heartbeat loss (row 13: a short
# presence_timeout, and the default 30 s with chatd and presenced under
# faketime x10), a network blip
# shorter than the hangup in a network namespace (row 14a), connection
# resets with ss -K and a reconnect storm (row 15, quick variant), and
# slowloris plus a connection flood (row 28).

load helpers
load checker/stack
load checker/netns

NET="$BATS_TEST_DIRNAME/checker/net.py"
STUB="$BATS_TEST_DIRNAME/drivers/push_stub.py"

setup() { chat_setup; }
teardown() {
	netns_down
	chat_teardown
	no_sanitizer_reports
}

# hook_start: the webhook push stub; HOOK is its base URL, HOOKLOG its log.
hook_start() {
	local port
	port=$(free_port)
	HOOKLOG="$BATS_TEST_TMPDIR/hook.log"
	"$PY" "$STUB" "$port" "$HOOKLOG" 2>>"$BATS_TEST_TMPDIR/hook.err" &
	track_pid $! stub
	HOOK="http://127.0.0.1:$port/hook"
	wait_until 10 test -e "$HOOKLOG.ready"
}

@test "row 13: heartbeat loss: hangup at presence_timeout ±10%, offline, the unread message pushed ≤1 s after" {
	local hangup=4
	conf presence_timeout "$hangup"
	conf push_collapse_ms 100
	hook_start
	super_start
	run "$PY" "$NET" heartbeat --url "$URL" --hook "$HOOK" --hangup "$hangup"
	echo "$output"
	assert_success
	local r=$output
	# chatd PINGed the silent peer and hung up at the configured time.
	[ "$(jqr "$r" .pings)" -ge 1 ]
	awk -v h="$(jqr "$r" .hangup_s)" -v want="$hangup" \
	    'BEGIN { exit !(h >= 0.9 * want && h <= 1.1 * want) }'
	# Presence: offline at once (a drop), well before presenced's own
	# timeout would say so.
	awk -v s="$(jqr "$r" .offline_s)" 'BEGIN { exit !(s <= 1) }'
	# M1 went to the dead socket and is still past the device's cursor:
	# it is queued in the store for the device's next connection.
	local dev m1 cur
	dev=$(jqr "$r" .device)
	m1=$(jqr "$r" .m1)
	cur=$(jqr "$(ipc store "{\"op\":\"device.get\",\"user\":\"alice\",\"device\":\"$dev\"}")" .cursor)
	[[ "$cur" < "$m1" ]]
	# ... and the device is told by a push within 1 s of the hangup.
	wait_until 5 grep -q "/alice/$dev" "$HOOKLOG"
	local t
	t=$(grep "/alice/$dev" "$HOOKLOG" | head -1 | jq .t)
	echo "# hangup ${hangup}s measured $(jqr "$r" .hangup_s)s; push $(awk -v a="$t" -v b="$(jqr "$r" .closed_at)" 'BEGIN { printf "%.3f", a - b }')s after it"
	awk -v a="$t" -v b="$(jqr "$r" .closed_at)" 'BEGIN { exit !(a - b <= 1.0) }'
}

@test "row 13 under faketime x10: the default presence_timeout of 30 s hangs up a silent peer at 3 s real ±10%, offline, the unread message pushed" {
	# chatd and presenced on a clock 10 times as fast (libfaketime,
	# preloaded for those two only; the drivers and the rest keep the
	# real clock), so the default 30 s is what is exercised.
	conf push_collapse_ms 100
	hook_start
	LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
	    FAKETIME="+0 x10" FAKETIME_ONLY_CMDS=chatd,presenced \
	    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	    super_start
	run "$PY" "$NET" heartbeat --url "$URL" --hook "$HOOK" --hangup 3
	echo "$output"
	assert_success
	local r=$output
	local dev t
	[ "$(jqr "$r" .pings)" -ge 1 ]
	echo "# presence_timeout 30 s under x10: hangup after $(jqr "$r" .hangup_s) s real"
	awk -v h="$(jqr "$r" .hangup_s)" 'BEGIN { exit !(h >= 2.7 && h <= 3.3) }'
	awk -v s="$(jqr "$r" .offline_s)" 'BEGIN { exit !(s <= 1) }'
	dev=$(jqr "$r" .device)
	wait_until 5 grep -q "/alice/$dev" "$HOOKLOG"
	t=$(grep "/alice/$dev" "$HOOKLOG" | head -1 | jq .t)
	awk -v a="$t" -v b="$(jqr "$r" .closed_at)" 'BEGIN { exit !(a - b <= 1.0) }'
}

@test "row 14a: a 3 s network blip under a 20 s hangup: the same connections carry on, lost=0" {
	netns_up
	conf presence_timeout 20
	netns_stack
	netns_jepsen_start --rate 100 --duration 300
	more_acked 100
	local before
	before=$(ipc "chatd-$CHATD_PORT" '{"op":"status"}' | jq .auth_ok)
	nft_drop
	sleep 0.5
	local a0=$(acked)
	sleep 2.5	# the rest of the blip
	local a1=$(acked)
	nft_clear
	# The blip was real: nothing was acknowledged through it.
	echo "# acked during the blip: $(( a1 - a0 ))"
	[ "$a1" = "$a0" ]
	more_acked 200 30
	jepsen_finish
	# No device reconnected and chatd authenticated nobody anew.
	[ "$(figure reconnects)" = 0 ]
	[ "$(ipc "chatd-$CHATD_PORT" '{"op":"status"}' | jq .auth_ok)" -le "$(( before + 8 ))" ]
}

@test "row 15 (quick): ss -K on half of 100 client sockets twice, then all: back ≤15 s, lost=0, fds back" {
	storm 100 2
}

@test "row 28 (quick): slowloris on chatd and chat-api for 20 s while sessions chat: available every second, slow heads closed at handshake_timeout" {
	slowloris 20
}

@test "row 28: max_conns_per_ip refuses the excess at once; other addresses are served" {
	conf max_conns_per_ip 50
	super_start
	local r
	r=$("$PY" "$NET" flood --port "$CHATD_PORT" --n 100 --path /v1/ws)
	echo "# chatd: $r"
	[ "$(jqr "$r" .refused)" = 50 ] && [ "$(jqr "$r" .open)" = 50 ]
	[[ "$(jqr "$r" .other_status)" == *" 101 "* ]]
	[ "$(ipc "chatd-$CHATD_PORT" '{"op":"status"}' | jq .refused_per_ip)" -ge 50 ]
	r=$("$PY" "$NET" flood --port "$API_PORT" --n 100)
	echo "# chat-api: $r"
	[ "$(jqr "$r" .refused)" = 50 ] && [ "$(jqr "$r" .open)" = 50 ]
	[[ "$(jqr "$r" .other_status)" == *" 200 "* ]]
	grep -q "127.0.0.3 holds 50 connections" "$CHAT_HOME/log/api.log"
	[ "$(ipc api '{"op":"status"}' | jq .refused_per_ip)" -ge 50 ]
	# The count follows closes: the same address gets in again.
	r=$("$PY" "$NET" flood --port "$CHATD_PORT" --n 10 --path /v1/ws)
	[ "$(jqr "$r" .refused)" = 0 ]
}
