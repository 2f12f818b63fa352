#!/usr/bin/env bats
# chat-route sharded by user (route_shards = 2): one chat-store, two
# chat-route processes (shards 0 and 1, sockets route-0 and route-1), two
# chatds with a link to each.  tests/drivers/rshard.py picks users by the
# shard the same hash gives (lib/shard.h) and checks what each device
# got: 1:1 both ways across shards, a group with members on both, the
# sender's other device, typing, push work done by the recipient's shard,
# a shard killed with SIGKILL mid-stream and started again, and chat-store
# killed the same way: nothing acked lost, none twice, and every device's
# messages in increasing id order (each shard delivers from chat-store's
# feed, in commit order: chat-route(1), "Shards").

load helpers
load checker/chaos

DRV="$BATS_TEST_DIRNAME/drivers/rshard.py"

setup() {
	chat_setup
	export CHAT_ROUTE_SHARDS=2
	export CHAT_RATE_LIMIT=100000 CHAT_RATE_BURST=100000
	start_store
	start_shard 0
	start_shard 1
	start_chatd
	URL1=$URL CHATD1_PID=$CHATD_PID PORT1=$CHATD_PORT
	start_chatd
	URL2=$URL CHATD2_PID=$CHATD_PID
}

teardown() {
	chat_teardown
}

# start_shard K: chat-route serving shard K, its log in route-K.log.
start_shard() {
	CHAT_ROUTE_SHARD=$1 "$CHAT_BIN/chat-route" </dev/null \
	    >>"$CHAT_HOME/log/route-$1.out" 2>>"$CHAT_HOME/log/route-$1.log" &
	SHARD_PID[$1]=$!
	track_pid "$!" "route-$1"
	wait_for_sock "$CHAT_RUN/route-$1.sock"
}

status_of() { ipc "$1" '{"op":"status"}'; }
field() { jqr "$(status_of "$1")" "$2"; }
shard_has_devices() { [ "$(field "route-$1" .devices_online)" = "$2" ]; }
both_chatds_on() {
	[ "$(field "route-$1" .chatds)" = 2 ]
}

@test "each shard listens on route-K, shard 0 on route too; a bad shard key is refused" {
	[ -S "$CHAT_RUN/route-0.sock" ] && [ -S "$CHAT_RUN/route-1.sock" ]
	[ -S "$CHAT_RUN/route.sock" ]
	[ "$(field route-1 .shard)" = 1 ] && [ "$(field route-1 .shards)" = 2 ]
	[ "$(field route .shard)" = 0 ]
	wait_until 10 both_chatds_on 0
	wait_until 10 both_chatds_on 1
	run env CHAT_ROUTE_SHARD=2 "$CHAT_BIN/chat-route"
	[ "$status" = 100 ]
	assert_output --partial route_shard
}

@test "1:1 both ways across shards, a group on both, the sender's other device, typing" {
	drive cross --url "$URL1" --url2 "$URL2" -n 40
	# each shard delivered messages from its feed, and typing across
	# went by route.fanout
	[ "$(field route-0 .fed)" -gt 0 ]
	[ "$(field route-1 .fed)" -gt 0 ]
	[ "$(field route-0 .fanouts_in)" -gt 0 ]
	[ "$(field route-1 .fanouts_in)" -gt 0 ]
}

@test "a shard's status shows only its own users' devices; every shard knows every chatd" {
	HOLD="$BATS_TEST_TMPDIR/held" STOP="$BATS_TEST_TMPDIR/stop"
	"$PY" "$DRV" hold --url "$URL1" --url2 "$URL2" --progress "$HOLD" \
	    --stop "$STOP" 2>"$BATS_TEST_TMPDIR/hold.err" &
	track_pid "$!" driver
	wait_until 30 test -s "$HOLD"
	# one device of a shard-0 user, two of a shard-1 user
	wait_until 10 shard_has_devices 0 1
	wait_until 10 shard_has_devices 1 2
	[ "$(field route-0 .users_online)" = 1 ]
	[ "$(field route-1 .users_online)" = 1 ]
	for k in 0 1; do
		run ipc "route-$k" '{"op":"chatd.list"}'
		[ "$(jqr "$output" '.chatds | length')" = 2 ]
	done
	touch "$STOP"
}

@test "an offline recipient on the other shard: its shard hands the job to chat-push" {
	start_daemon chat-push
	wait_for_sock "$CHAT_RUN/push.sock"
	drive push --url "$URL1" --url2 "$URL2"
}

ACK_WAIT=60
stream_start() { chaos_start "$DRV" --url "$URL1" --url2 "$URL2" -n 100; }
gone() { ! kill -0 "$1" 2>/dev/null; }
link_down() { [ "$(field "chatd-$1" .route_connected)" = false ]; }

stream_finish() { chaos_finish; }

@test "kill -9 of each shard in turn mid-stream: nothing acked lost, none twice" {
	stream_start
	more_acks 100
	for k in 1 0 1; do
		echo "# kill shard $k at $(date +%s.%N)"
		kill -9 "${SHARD_PID[$k]}"
		wait_until 5 gone "${SHARD_PID[$k]}"
		# the chatds see the link go; then the shard starts again
		wait_until 10 link_down "$PORT1"
		start_shard "$k"
		more_acks 100
	done
	stream_finish
	# the restarted shards were given every device back by the chatds
	grep -q "catching them up" "$CHAT_HOME/log/chatd.log"
}

@test "chat-store's feed for a route shard: its messages in id order, its users only, a dup again" {
	drive feed
}

store_is_back() { [ "$(field "route-$1" .feed_follows)" -ge 2 ]; }

@test "kill -9 of chat-store mid-stream: each shard follows its feed again and its devices catch up, in id order" {
	stream_start
	more_acks 100
	kill -9 "$STORE_PID"
	wait_until 5 gone "$STORE_PID"
	start_store
	wait_until 20 store_is_back 0
	wait_until 20 store_is_back 1
	more_acks 100
	stream_finish
	grep -q "following chat-store's feed for shard 1: 2 chatds" \
	    "$CHAT_HOME/log/route-1.log"
}
