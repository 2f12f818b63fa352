#!/usr/bin/env bats
# The message log on JetStream (issue 10, chat-scaling(7) "Durability"):
# with msg_log = jetstream chat-route acks a message only once the stream
# CHAT_LOG (3 replicas, on a real 3-server cluster on loopback) holds it,
# and chat-log applies the stream to the local chat-store, so a store
# rebuilt from empty catches up.  Devices stream through
# tests/drivers/nats_log.py, which also counts lost and duplicated ids.

load helpers
load helpers-nats

DRV="$BATS_TEST_DIRNAME/drivers/nats_log.py"

setup() {
	nats_have || skip "nats-server is not installed (make deps)"
	chat_setup
	nats_cluster_start
	export CHAT_BUS=$NATS_URLS CHAT_MSG_LOG=jetstream
}

teardown() {
	chat_teardown
}

# start_node [nolog]: chat-store, chat-route, chat-log (unless nolog) and
# a chatd.
start_node() {
	start_daemon chat-store
	STORE_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/store.sock"
	start_daemon chat-route
	wait_for_sock "$CHAT_RUN/route.sock"
	if [ "${1:-}" != nolog ]; then
		start_daemon chat-log
		LOG_PID=$LAST_PID
		wait_for_sock "$CHAT_RUN/log.sock"
	fi
	PORT=$(free_port)
	start_daemon chatd --listen "127.0.0.1:$PORT"
	URL="ws://127.0.0.1:$PORT/v1/ws"
	wait_for_sock "$CHAT_RUN/chatd-$PORT.sock"
	[ "${1:-}" = nolog ] || wait_until 30 log_pulling
}

log_pulling() {
	[ "$(ipc log '{"op":"status"}' | jq -r .phase)" = pull ]
}

# check WHERE: the driver's lost/dup counts against the stream or store.
check_held() {
	run "$PY" "$DRV" check --acked "$BATS_TEST_TMPDIR/acked.json" "$@"
	echo "$output"
	assert_success
	assert_equal "$(jqr "$output" '[.lost,.dup]|@tsv')" "0	0"
}

store_holds_all() {
	local out
	out=$("$PY" "$DRV" check --acked "$BATS_TEST_TMPDIR/acked.json" \
	    --store 2>/dev/null) || return 1
	[ "$(jqr "$out" .lost)" = 0 ]
}

# stream_while CMD...: streams, runs CMD once 40 acks are in, goes on for
# 100 more acks, stops; acks in $BATS_TEST_TMPDIR/acked.json.
stream_while() {
	local progress="$BATS_TEST_TMPDIR/progress" stop="$BATS_TEST_TMPDIR/stop"
	"$PY" "$DRV" stream --url "$URL" -n 30 --progress "$progress" \
	    --stop "$stop" --acked "$BATS_TEST_TMPDIR/acked.json" \
	    >"$BATS_TEST_TMPDIR/drv.out" 2>"$BATS_TEST_TMPDIR/drv.err" &
	local drv=$!
	track_pid "$drv" driver
	acked() { [ -f "$progress" ] && [ "$(cat "$progress")" -ge "$1" ]; }
	wait_until 60 acked 40
	"$@"
	local before
	before=$(cat "$progress")
	wait_until 90 acked $((before + 100))
	touch "$stop"
	wait "$drv" || { cat "$BATS_TEST_TMPDIR/drv.err"; false; }
	cat "$BATS_TEST_TMPDIR/drv.out"
	grep -q '"ok": true' "$BATS_TEST_TMPDIR/drv.out"
}

@test "log: every acked message is in the 3-replica stream and applied to the store" {
	start_node
	stream_while true
	info=$(nats_log_info)
	assert_equal "$(jqr "$info" .config.num_replicas)" 3
	assert_equal "$(jqr "$info" '.cluster.replicas | length')" 2
	nats_log_dump "$BATS_TEST_TMPDIR/stream.ndjson"
	check_held --stream "$BATS_TEST_TMPDIR/stream.ndjson"
	check_held --store
	r=$(ipc route '{"op":"status"}')
	[ "$(jqr "$r" .log_acked)" -ge 140 ]
	assert_equal "$(jqr "$r" .log_failed)" 0
	# chat-log found every entry there already (chat-route wrote it)
	wait_until 20 eval '[ "$(ipc log "{\"op\":\"status\"}" | jq .dups)" -ge 140 ]'
	assert_equal "$(ipc log '{"op":"status"}' | jq .errors)" 0
}

kill_leader() {
	leader=$(nats_log_leader)
	[ -n "$leader" ]
	nats_kill "${leader#n}"
	echo "# killed the stream leader $leader" >&3
}

@test "log: kill -9 of the stream leader's NATS server during a stream loses nothing acked" {
	start_node
	stream_while kill_leader
	nats_log_dump "$BATS_TEST_TMPDIR/stream.ndjson"
	check_held --stream "$BATS_TEST_TMPDIR/stream.ndjson"
	check_held --store
	# the stream has a new leader among the two left
	wait_until 30 eval '[ -n "$(nats_log_leader)" ] && [ "$(nats_log_leader)" != "$leader" ]'
}

@test "log: a store whose database is wiped catches up from the stream to exactly the acked messages" {
	start_node
	stream_while true
	stop_pid "$STORE_PID"
	rm -rf "$CHAT_HOME/db"
	[ ! -e "$CHAT_HOME/db" ]
	# chat-log runs on: it sees the store come back and checks it
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	wait_until 60 store_holds_all || {
		cat "$CHAT_HOME/log/chat-log.log"; ipc log '{"op":"status"}'; false; }
	check_held --store
	r=$(ipc log '{"op":"status"}')
	[ "$(jqr "$r" .replays)" -ge 1 ]
	grep -q "its database is new; replaying" "$CHAT_HOME/log/chat-log.log"
	# the driver's three users came back with them, from the log of
	# writes (tests/107-nats-meta.bats has the rest)
	r=$(ipc store '{"op":"scan","prefix":"u/","limit":10}')
	assert_equal "$(jqr "$r" '.items | length')" 3
}

@test "log: a store wiped while chat-log is stopped is empty, then caught up when chat-log starts" {
	start_node
	stream_while true
	stop_pid "$LOG_PID"
	stop_pid "$STORE_PID"
	rm -rf "$CHAT_HOME/db"
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	r=$(ipc store '{"op":"scan","prefix":"m/","limit":10}')
	assert_equal "$(jqr "$r" '.items | length')" 0
	start_daemon chat-log
	wait_for_sock "$CHAT_RUN/log.sock"
	wait_until 60 store_holds_all
	check_held --store
	[ "$(ipc log '{"op":"status"}' | jq .replays)" -ge 1 ]
}

@test "log: chat-log restarted with a whole store does not replay" {
	start_node
	stream_while true
	stop_pid "$LOG_PID"
	start_daemon chat-log
	wait_for_sock "$CHAT_RUN/log.sock"
	wait_until 30 log_pulling
	r=$(ipc log '{"op":"status"}')
	assert_equal "$(jqr "$r" .replays)" 0
	check_held --store
}

@test "log: no ack while the stream has no quorum (2 of 3 servers stopped); acks again once one is back" {
	# no chat-log: the driver makes its users without a quorum too, which
	# a store followed by chat-log refuses (its writes wait for the
	# stream: 107-nats-meta.bats); the route's acks are what is tested
	start_node nolog
	# one message goes through, so the stream exists and has a leader
	"$PY" "$DRV" stream --url "$URL" --count 1 --acked "$BATS_TEST_TMPDIR/acked.json"
	nats_kill 2
	nats_kill 3
	run "$PY" "$DRV" noquorum --url "$URL" --count 5 --wait 12
	echo "$output"
	assert_success
	assert_equal "$(jqr "$output" .acked)" 0
	r=$(ipc route '{"op":"status"}')
	[ "$(jqr "$r" .log_failed)" -ge 1 ] || [ "$(jqr "$r" .log_pending)" -ge 1 ]
	nats_start 2
	wait_until 30 nats_healthy 2
	run "$PY" "$DRV" stream --url "$URL" --count 5 --acked "$BATS_TEST_TMPDIR/acked2.json"
	echo "$output"
	assert_success
}

# super_names: this node's chat-super programs, sorted, on one line.
super_names() {
	ipc super '{"op":"status"}' | jq -r '.programs[].name' | sort | paste -sd' '
}
super_all_up() {
	local s
	s=$(ipc super '{"op":"status"}' | jq -r '.programs[].state') || return 1
	[ -n "$s" ] && ! echo "$s" | grep -qv '^up$'
}

@test "log: a node's chat-super with msg_log = jetstream runs chat-log on the node that runs the store" {
	PORT=$(free_port)
	printf 'node_services = store, route, chatd\nchatd_listen = 127.0.0.1:%s\n' \
	    "$PORT" >> "$CHAT_HOME/etc/chat.conf"
	URL="ws://127.0.0.1:$PORT/v1/ws"
	run "$CHAT_BIN/chat-super" --print-config
	assert_output --partial "chat-log"
	start_daemon chat-super
	wait_until 60 super_all_up
	assert_equal "$(super_names)" \
	    "bus-register bus-route bus-store chatd log presence push route store"
	wait_until 30 log_pulling
	"$PY" "$DRV" stream --url "$URL" --count 5 --acked "$BATS_TEST_TMPDIR/acked.json"
	check_held --store
	# the node's chat-log saw every acked entry (chat-route wrote it first)
	wait_until 30 eval '[ "$(ipc log "{\"op\":\"status\"}" | jq .dups)" -ge 15 ]'
	# a node without the store runs no chat-log
	CHAT_NODE_SERVICES=chatd run "$CHAT_BIN/chat-super" --print-config
	refute_output --partial "chat-log"
	# nor a node with the log off
	run env -u CHAT_MSG_LOG "$CHAT_BIN/chat-super" --print-config
	refute_output --partial "chat-log"
}
