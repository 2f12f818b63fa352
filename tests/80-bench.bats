#!/usr/bin/env bats
# tests/run: alone (a load generator)
# chat-bench: a short run against the real stack (chat-store, chat-route,
# chatd, chat-api on free ports), checking the shape and the bookkeeping of
# its JSON report: nothing lost, every message acked, deliveries as owed.
# No timing assertions: the machine is shared.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	chat_setup
	# The stack's per-device limit is 20 msg/s; these runs stay under it.
	start_daemon chat-store
	STORE_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/store.sock"
	start_daemon chat-route
	ROUTE_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/route.sock"
	CHATD_PORT=$(free_port)
	export CHAT_CHATD_URL="ws://127.0.0.1:$CHATD_PORT/v1/ws"
	start_daemon chatd --listen "127.0.0.1:$CHATD_PORT"
	CHATD_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/chatd-$CHATD_PORT.sock"
	API_PORT=$(free_port)
	API="http://127.0.0.1:$API_PORT"
	start_daemon chat-api --listen "127.0.0.1:$API_PORT"
	API_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/api.sock"
	wait_until 5 curl -sf -o /dev/null "$API/v1/health"
	PIDS=(--pid "store=$STORE_PID" --pid "route=$ROUTE_PID"
	    --pid "chatd=$CHATD_PID" --pid "api=$API_PID")
}

teardown() {
	chat_teardown
}

# bench ARGS...: runs chat-bench; its report in $output, its log in $log.
bench() {
	run --separate-stderr "$CHAT_BIN/chat-bench" "$@"
	log=$stderr
	echo "$output"
	echo "$log" | tail -20
}

# jqv FILTER: the filter on the report.
jqv() { printf '%s' "$output" | jq -r "$1"; }

@test "20 devices through chat-api at 200 msg/s for 3 s: every message acked and delivered" {
	bench --api "$API" --devices 20 --rate 200 --duration 3 --warmup 1 \
	    --state "$BATS_TEST_TMPDIR/state" "${PIDS[@]}"
	assert_success
	[ "$(jqv .target)" = chat ]
	[ "$(jqv .ws)" = "$CHAT_CHATD_URL" ]
	[ "$(jqv .connected)" = 20 ]
	[ "$(jqv .lost)" = 0 ]
	[ "$(jqv .sent)" -ge 500 ]
	[ "$(jqv .acked)" = "$(jqv .sent)" ]
	[ "$(jqv .delivered)" = "$(jqv .expected)" ]
	[ "$(jqv .expected)" = "$(jqv .sent)" ]
	[ "$(jqv .unacked)" = 0 ]
	[ "$(jqv .failed)" = 0 ]
	[ "$(jqv '.errors | length')" = 0 ]
	[ "$(jqv .ack_ms.n)" = "$(jqv .acked)" ]
	[ "$(jqv .delivery_ms.n)" = "$(jqv .delivered)" ]
	# percentiles are ordered and positive
	[ "$(jqv '[.ack_ms, .delivery_ms] | all(.p50 > 0 and .p50 <= .p90 and
	    .p90 <= .p99 and .p99 <= .p99_9 and .p99_9 <= .max)')" = true ]
	# every named process was measured, and chat-bench itself
	[ "$(jqv '.cpu_s | keys | sort | join(",")')" = "api,chat-bench,chatd,route,servers,store" ]
	[ "$(jqv '.cpu_s.chatd >= 0 and .cpu_s.store >= 0')" = true ]
	[ "$(jqv '.rss_kb.chatd > 0 and .rss_kb.store > 0')" = true ]
	[ "$(jqv '.achieved_rate > 0 and .offered_rate == 200')" = true ]
	# the state keeps every device for the next run
	[ "$(grep -c '^d bench' "$BATS_TEST_TMPDIR/state")" = 20 ]
}

@test "a second run reuses the devices from --state: no new logins, nothing synced twice" {
	bench --api "$API" --devices 4 --rate 20 --duration 1 --warmup 0 \
	    --state "$BATS_TEST_TMPDIR/state"
	assert_success
	cp "$BATS_TEST_TMPDIR/state" "$BATS_TEST_TMPDIR/state.1"
	bench --api "$API" --devices 4 --rate 20 --duration 1 --warmup 0 \
	    --state "$BATS_TEST_TMPDIR/state"
	assert_success
	refute_line --partial "signing up"
	[ "$(jqv .lost)" = 0 ]
	[ "$(jqv .stale)" = 0 ]
	[ "$(jqv .duplicates)" = 0 ]
	# the same device ids, and newer last ids
	diff <(awk '{print $2, $3}' "$BATS_TEST_TMPDIR/state.1") \
	    <(awk '{print $2, $3}' "$BATS_TEST_TMPDIR/state")
}

@test "groups, devices minted through chat-store: each group message reaches every other member" {
	"$CHAT_BIN/chat-bench" --devices 20 --seed-users > "$BATS_TEST_TMPDIR/users"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/users")" = 20 ]
	stop_pid "$STORE_PID"
	"$CHAT_BIN/chat-store" import < "$BATS_TEST_TMPDIR/users"
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	bench --mint --devices 20 --group-size 10 --group-ratio 0.5 --rate 100 \
	    --duration 2 --warmup 0
	assert_success
	refute_line --partial "creating"	# the users were there
	[ "$(jqv .lost)" = 0 ]
	[ "$(jqv .acked)" = "$(jqv .sent)" ]
	[ "$(jqv .delivered)" = "$(jqv .expected)" ]
	# half the messages to 9 others, half to 1: expected is 5x sent
	[ "$(jqv '.expected >= 4 * .sent and .expected <= 6 * .sent')" = true ]
}

@test "--idle holds the connections and reports memory per connection" {
	bench --api "$API" --devices 10 --idle --duration 1 "${PIDS[@]}"
	assert_success
	[ "$(jqv .idle)" = true ]
	[ "$(jqv .connected)" = 10 ]
	[ "$(jqv .sent)" = 0 ]
	[ "$(jqv '.bytes_per_conn | has("chatd") and has("servers") and has("kernel_slab")')" = true ]
	[ "$(jqv '.rss_before_kb.chatd > 0')" = true ]
}

@test "nothing listening: the failures are counted and the exit status is 1" {
	port=$(free_port)
	bench --target relay --ws "ws://127.0.0.1:$port/" --devices 4 --rate 10 --duration 1
	assert_failure 1
	[ "$(jqv .connected)" = 0 ]
	[ "$(jqv .connect_failed)" = 4 ]
	[ "$(jqv '.errors.connect_error >= 4')" = true ]
}

@test "MQTT over WebSocket against mosquitto, if installed: the same report" {
	mq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
	[ -x "$mq" ] || skip "mosquitto is not installed (make bench-deps)"
	p1=$(free_port) p2=$(free_port)
	printf 'listener %s 127.0.0.1\nlistener %s 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\npersistence false\nallow_anonymous true\n' \
	    "$p1" "$p2" > "$BATS_TEST_TMPDIR/mq.conf"
	"$mq" -c "$BATS_TEST_TMPDIR/mq.conf" 2>"$BATS_TEST_TMPDIR/mq.log" &
	track_pid $! mosquitto
	wait_until 5 "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1)' "$p2"
	bench --target mosquitto --ws "ws://127.0.0.1:$p2/" --devices 20 \
	    --group-size 10 --group-ratio 0.3 --rate 200 --duration 2 --warmup 0
	assert_success
	[ "$(jqv .target)" = mosquitto ]
	[ "$(jqv .lost)" = 0 ]
	[ "$(jqv .acked)" = "$(jqv .sent)" ]
	[ "$(jqv .delivered)" = "$(jqv .expected)" ]
}

@test "usage: --help, bad numbers, unknown target, groups larger than the run" {
	run "$CHAT_BIN/chat-bench" --help
	assert_success
	assert_output --partial "usage: chat-bench"
	run "$CHAT_BIN/chat-bench" --rate fast
	assert_failure 100
	assert_output --partial "bad value 'fast' for --rate"
	run "$CHAT_BIN/chat-bench" --target xmpp
	assert_failure 100
	run "$CHAT_BIN/chat-bench" --devices 10 --group-size 20
	assert_failure 100
	assert_output --partial "more than --devices"
	run "$CHAT_BIN/chat-bench" --target relay
	assert_failure 100
	assert_output --partial "need --ws"
	run "$CHAT_BIN/chat-bench" stray
	assert_failure 100
}
