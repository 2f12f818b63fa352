#!/usr/bin/env bats
# The message log in store shards (issue 10, chat-scaling(7) "Sharding" and
# "Durability"): with log_shards = 2, chat-route puts each message on
# chat.log.<shard of its conversation> (lib/shard.c: the mixed FNV-1a of d/a/b or
# g/gid), and each store shard's chat-log applies only its own subject, a
# filtered durable consumer.  Three CHAT_HOMEs on the three-server cluster:
# node R (chat-store, chat-route, chatd: the sender's route shard and its
# store) and store shards S0 and S1 (chat-store and chat-log each).  The
# driver (tests/drivers/nats_log.py) hashes conversations on its own.

load helpers
load helpers-nats

DRV="$BATS_TEST_DIRNAME/drivers/nats_log.py"

setup() {
	nats_have || skip "nats-server is not installed (make deps)"
	chat_setup
	nats_cluster_start
	export CHAT_BUS=$NATS_URLS CHAT_MSG_LOG=jetstream CHAT_LOG_SHARDS=2
	R_HOME=$CHAT_HOME
	local k
	for k in 0 1; do
		mkdir -p "$BATS_TEST_TMPDIR/s$k/etc" "$BATS_TEST_TMPDIR/s$k/log" \
		    "$BATS_TEST_TMPDIR/s$k/db"
		mkdir -p -m 0700 "$BATS_TEST_TMPDIR/s$k/run"
	done
}

teardown() {
	CHAT_HOME=$R_HOME CHAT_RUN=$R_HOME/run
	chat_teardown
	local k
	for k in 0 1; do
		CHAT_HOME=$BATS_TEST_TMPDIR/s$k chat_no_sanitizer_reports
	done
}

# on_s K CMD...: runs CMD with store shard K's CHAT_HOME.
on_s() {
	local k=$1; shift
	CHAT_HOME=$BATS_TEST_TMPDIR/s$k CHAT_RUN=$BATS_TEST_TMPDIR/s$k/run \
	    CHAT_NODE_ID=$((10 + k)) CHAT_LOG_SHARD=$k "$@"
}

log_pulling() {
	[ "$(ipc log '{"op":"status"}' | jq -r .phase)" = pull ]
}

start_shard() {
	on_s "$1" start_daemon chat-store
	S_STORE[$1]=$LAST_PID
	on_s "$1" wait_for_sock "$BATS_TEST_TMPDIR/s$1/run/store.sock"
	on_s "$1" start_daemon chat-log
	S_LOG[$1]=$LAST_PID
	on_s "$1" wait_for_sock "$BATS_TEST_TMPDIR/s$1/run/log.sock"
	on_s "$1" wait_until 30 log_pulling
}

start_route_node() {
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	start_daemon chat-route
	wait_for_sock "$CHAT_RUN/route.sock"
	PORT=$(free_port)
	start_daemon chatd --listen "127.0.0.1:$PORT"
	URL="ws://127.0.0.1:$PORT/v1/ws"
	wait_for_sock "$CHAT_RUN/chatd-$PORT.sock"
}

# shard_exact K: store shard K holds exactly its conversations' entries of
# the stream dump; the result in $SHARD_OUT.
shard_exact() {
	SHARD_OUT=$(on_s "$1" "$PY" "$DRV" shard --stream \
	    "$BATS_TEST_TMPDIR/stream.ndjson" --shards 2 --shard "$1" \
	    2>/dev/null) || return 1
	[ "$(jqr "$SHARD_OUT" '[.missing,.foreign,.dup]|@tsv')" = "0	0	0" ]
}

# consumer_seq CONSUMER FIELD: its FIELD (ack_floor, delivered) stream seq.
consumer_seq() {
	"$CHAT_BIN/chat-bus" --bus "$NATS_URLS" --timeout 5000 call \
	    '$JS.API.CONSUMER.LIST.CHAT_LOG' '{}' 2>/dev/null |
	    jq --arg c "$1" --arg f "$2" '.consumers[] | select(.name == $c) |
	    .[$f].stream_seq'
}
# floor_at_last / delivered_last CONSUMER: that seq is the stream's last.
floor_at_last() {
	local c s
	c=$(consumer_seq "$1" ack_floor)
	s=$(nats_log_info | jq .state.last_seq)
	[ -n "$c" ] && [ "$c" = "$s" ]
}
delivered_last() {
	local c s
	c=$(consumer_seq "$1" delivered)
	s=$(nats_log_info | jq .state.last_seq)
	[ -n "$c" ] && [ "$c" = "$s" ]
}

# The stream's entries per subject.
log_subjects() {
	"$CHAT_BIN/chat-bus" --bus "$NATS_URLS" --timeout 5000 call \
	    '$JS.API.STREAM.INFO.CHAT_LOG' '{"subjects_filter":"chat.log.>"}' \
	    2>/dev/null | jq -c '.state.subjects'
}

# send_convs N [K]: N messages over many conversations (then one more on
# shard K's); the stream dumped to stream.ndjson, checked against the acks.
send_convs() {
	run "$PY" "$DRV" convs --url "$URL" --count "$1" \
	    --acked "$BATS_TEST_TMPDIR/acked.json" --shards 2 \
	    ${2:+--end-on "$2"}
	echo "$output"
	assert_success
	nats_log_dump "$BATS_TEST_TMPDIR/stream.ndjson"
	run "$PY" "$DRV" check --acked "$BATS_TEST_TMPDIR/acked.json" \
	    --stream "$BATS_TEST_TMPDIR/stream.ndjson"
	echo "$output"
	assert_equal "$(jqr "$output" '[.lost,.dup]|@tsv')" "0	0"
}

@test "shards: each message on its conversation's subject; each store shard holds exactly its conversations" {
	declare -gA S_STORE S_LOG
	start_shard 0
	start_shard 1
	start_route_node
	assert_equal "$(ipc route '{"op":"status"}' | jq .log_shards)" 2
	assert_equal "$(on_s 1 ipc log '{"op":"status"}' | jq -r .subject)" \
	    chat.log.1
	send_convs 80
	# both subjects hold entries, as many as the driver's own hash says
	subj=$(log_subjects)
	echo "# subjects: $subj" >&3
	n0=$(jqr "$subj" '.["chat.log.0"] // 0')
	n1=$(jqr "$subj" '.["chat.log.1"] // 0')
	[ "$n0" -gt 0 ] && [ "$n1" -gt 0 ]
	assert_equal $((n0 + n1)) 80
	for k in 0 1; do
		on_s "$k" wait_until 60 shard_exact "$k" || {
			echo "$SHARD_OUT"; false; }
		echo "# shard $k: $SHARD_OUT" >&3
		assert_equal "$(jqr "$SHARD_OUT" ".per_shard[$k]")" \
		    "$(jqr "$SHARD_OUT" .held)"
	done
	assert_equal "$(jqr "$SHARD_OUT" '.per_shard|@tsv')" "$n0	$n1"
	# the route node's store is the sender's: it holds every message
	r=$(ipc store '{"op":"scan","prefix":"m/","limit":500}')
	assert_equal "$(jqr "$r" '.items | length')" 80
}

@test "shards: a store shard rebuilt from an empty database catches up from the stream with its own messages only" {
	declare -gA S_STORE S_LOG
	start_shard 0
	start_shard 1
	start_route_node
	send_convs 80 1
	on_s 1 wait_until 60 shard_exact 1
	# Shard 1's ack floor on shard 0's entry, the stream's last: its store
	# paused while one of its entries and then one of shard 0's come in,
	# so its consumer has delivered past both when the ack is made.
	kill -STOP "${S_STORE[1]}"
	send_convs 0 1
	wait_until 30 delivered_last store11
	send_convs 0 0
	wait_until 30 delivered_last store11
	kill -CONT "${S_STORE[1]}"
	wait_until 30 floor_at_last store11 || {
		"$CHAT_BIN/chat-bus" --bus "$NATS_URLS" call \
		    '$JS.API.CONSUMER.LIST.CHAT_LOG' '{}'; false; }
	on_s 1 shard_exact 1 || { echo "$SHARD_OUT"; false; }
	held=$(jqr "$SHARD_OUT" .held)
	# chat-log restarted on a whole store: its newest entry is there, no
	# replay, nothing of shard 0 applied
	stop_pid "${S_LOG[1]}"
	on_s 1 start_daemon chat-log
	S_LOG[1]=$LAST_PID
	on_s 1 wait_for_sock "$BATS_TEST_TMPDIR/s1/run/log.sock"
	on_s 1 wait_until 30 log_pulling
	assert_equal "$(on_s 1 ipc log '{"op":"status"}' | jq .replays)" 0
	on_s 1 shard_exact 1 || { echo "$SHARD_OUT"; false; }
	stop_pid "${S_STORE[1]}"
	rm -rf "$BATS_TEST_TMPDIR/s1/db"
	on_s 1 start_daemon chat-store
	on_s 1 wait_for_sock "$BATS_TEST_TMPDIR/s1/run/store.sock"
	# chat-log saw the store come back new and replayed its subject only
	on_s 1 wait_until 60 shard_exact 1 || {
		echo "$SHARD_OUT"; cat "$BATS_TEST_TMPDIR/s1/log/chat-log.log"
		false; }
	assert_equal "$(jqr "$SHARD_OUT" .held)" "$held"
	r=$(on_s 1 ipc log '{"op":"status"}')
	[ "$(jqr "$r" .replays)" -ge 1 ]
	grep -q "its database is new; replaying" \
	    "$BATS_TEST_TMPDIR/s1/log/chat-log.log"
	# shard 0 went on untouched, and more messages reach both
	assert_equal "$(on_s 0 ipc log '{"op":"status"}' | jq .replays)" 0
	send_convs 40 1
	for k in 0 1; do
		on_s "$k" wait_until 60 shard_exact "$k" || {
			echo "$SHARD_OUT"; false; }
	done
}

@test "shards: chat-log refuses a shard not below log_shards, and log_shards out of range" {
	run on_s 0 "$CHAT_BIN/chat-log" --shard 2
	assert_failure 100
	assert_output --partial "not below log_shards"
	run on_s 0 "$CHAT_BIN/chat-log" --shard x
	assert_failure 100
	CHAT_LOG_SHARDS=0 run on_s 0 "$CHAT_BIN/chat-log"
	assert_failure 100
	assert_output --partial "log_shards"
	CHAT_LOG_SHARDS=0 run "$CHAT_BIN/chat-route"
	assert_failure 100
	assert_output --partial "log_shards"
}
