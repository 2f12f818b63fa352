#!/usr/bin/env bats
# The stack's lines on a NATS cluster (issue 10, chat-scaling(7)): three
# real nats-server processes with JetStream on loopback ports, chat-bus
# serving a real chat-store on chat.store.0, and requests from other
# processes, from a second CHAT_HOME through its own store.sock, across a
# NATS server killed with SIGKILL and a chat-store restarted.

load helpers
load helpers-nats

setup() {
	nats_have || skip "nats-server is not installed (make deps)"
	chat_setup
	nats_cluster_start
}

teardown() {
	chat_teardown
}

# bus ARGS...: chat-bus with its log lines in a file, out of $output.
bus() { "$CHAT_BIN/chat-bus" "$@" 2>>"$BATS_TEST_TMPDIR/chat-bus.log"; }

# busc URL JSON...: chat-bus call on chat.store.0 through server URL.
busc() {
	local url=$1; shift
	bus --bus "$url" --timeout 20000 call chat.store.0 "$@"
}

# serve_store URL: chat-bus serve store on this CHAT_HOME through URL, and
# waits until a request through server 3 is answered.
serve_store() {
	start_daemon chat-bus --bus "$1" serve store
	SERVE_PID=$LAST_PID
	wait_until 20 busc "${NATS_URL[3]}" '{"op":"ping"}'
}

@test "chat-bus: --help, and no bus configured is a usage error" {
	run "$CHAT_BIN/chat-bus" --help
	assert_success
	assert_output --partial "serve"
	run "$CHAT_BIN/chat-bus" serve store
	assert_equal "$status" 100
	assert_output --partial "no NATS servers"
	run "$CHAT_BIN/chat-bus" --bus "${NATS_URL[1]}" call chat.store.0 'not json'
	assert_equal "$status" 100
	run "$CHAT_BIN/chat-bus" --bus "${NATS_URL[1]}" frobnicate
	assert_equal "$status" 100
}

@test "cluster: JetStream keeps a 3-replica stream and acks a message with one server killed" {
	# The engine the durable log will stand on (chat-scaling(7),
	# Durability), driven through the JetStream API with chat-bus call.
	run bus --bus "$NATS_URLS" call '$JS.API.STREAM.CREATE.CHAT_LOG' \
	    '{"name":"CHAT_LOG","subjects":["chat.log.>"],"num_replicas":3,"storage":"file"}'
	assert_equal "$(jqr "$output" '.config.num_replicas')" 3
	assert_equal "$(jqr "$output" '.cluster.replicas | length')" 2
	nats_kill 1
	run bus --bus "${NATS_URL[2]}" call chat.log.0 \
	    '{"op":"msg","body":"kept"}'
	assert_equal "$(jqr "$output" '.stream')" CHAT_LOG
	assert_equal "$(jqr "$output" '.seq')" 1
	run bus --bus "${NATS_URL[3]}" call '$JS.API.STREAM.INFO.CHAT_LOG' '{}'
	assert_equal "$(jqr "$output" '.state.messages')" 1
}

@test "serve: chat-store's ops answered over the bus, with the requester's ids" {
	start_store
	serve_store "${NATS_URL[1]}"
	run busc "${NATS_URL[2]}" \
	    '{"op":"user.create","id":"a","user":"alice","password":"pw12345678"}' \
	    '{"op":"user.get","id":7,"user":"alice"}' \
	    '{"op":"user.get","user":"nobody"}' \
	    '{"op":"no.such"}'
	assert_equal "$status" 1		# some replies are errors
	assert_equal "${#lines[@]}" 4
	assert_equal "$(jqr "${lines[0]}" '[.id,.ok,.user]|@tsv')" "a	true	alice"
	assert_equal "$(jqr "${lines[1]}" '[.id,.ok,.user]|@tsv')" "7	true	alice"
	assert_equal "$(jqr "${lines[2]}" '[has("id"),.error.code]|@tsv')" "false	no_such_user"
	assert_equal "$(jqr "${lines[3]}" '.error.code')" unknown_op
	# The same user, read over the store's own socket: one database.
	reply=$(ipc store '{"op":"user.get","user":"alice"}')
	assert_equal "$(jqr "$reply" .ok)" true
	# Many requests at once from stdin, each answered once, in order.
	for i in $(seq 200); do echo "{\"op\":\"ping\",\"id\":$i}"; done > "$BATS_TEST_TMPDIR/reqs"
	run busc "${NATS_URL[3]}" < "$BATS_TEST_TMPDIR/reqs"
	assert_success
	assert_equal "${#lines[@]}" 200
	assert_equal "$(printf '%s\n' "${lines[@]}" | jq -s '[.[].id] == [range(1;201)]')" true
	run busc "${NATS_URL[2]}" '{"op":"bus.status"}'
	assert_success
	[ "$(jqr "$output" .forwarded)" -ge 204 ]
}

@test "attach: a second CHAT_HOME's store.sock reaches the first one's chat-store" {
	start_store
	serve_store "${NATS_URL[1]}"
	reply=$(ipc store '{"op":"user.create","user":"bob","password":"pw12345678"}')
	assert_equal "$(jqr "$reply" .ok)" true
	# Node B: its own CHAT_HOME, no chat-store; chat-bus attach listens on
	# its store.sock and sends the requests to chat.store.0.
	A_HOME=$CHAT_HOME
	export CHAT_HOME="$BATS_TEST_TMPDIR/homeB" CHAT_RUN="$BATS_TEST_TMPDIR/homeB/run"
	mkdir -p "$CHAT_HOME/log"
	start_daemon chat-bus --bus "${NATS_URL[2]}" attach store
	wait_for_sock "$CHAT_RUN/store.sock"
	run ipc store '{"op":"user.get","user":"bob"}' '{"op":"friend.list","user":"bob"}' \
	    '{"op":"user.get","user":"zed"}' 'not json'
	assert_success
	assert_equal "$(jqr "${lines[0]}" '[.id,.user]|@tsv')" "1	bob"
	assert_equal "$(jqr "${lines[1]}" '[.id,.ok]|@tsv')" "2	true"
	assert_equal "$(jqr "${lines[2]}" '[.id,.error.code]|@tsv')" "3	no_such_user"
	assert_equal "$(jqr "${lines[3]}" '.error.code')" bad_request
	# The write made through node B is in node A's database.
	run ipc store '{"op":"user.create","user":"carol","password":"pw12345678"}'
	assert_equal "$(jqr "$output" .ok)" true
	[ ! -e "$CHAT_HOME/db" ]		# node B holds no database
	CHAT_HOME=$A_HOME CHAT_RUN=$A_HOME/run
	reply=$(ipc store '{"op":"user.get","user":"carol"}')
	assert_equal "$(jqr "$reply" .user)" carol
}

@test "resend: requests survive a NATS server killed with SIGKILL and a chat-store restart" {
	start_store
	# The bridge knows only server 1; it learns the others from the
	# cluster and must move to one of them when server 1 dies.
	serve_store "${NATS_URL[1]}"
	nats_kill 1
	run busc "${NATS_URL[2]}" '{"op":"user.create","user":"dave","password":"pw12345678"}'
	assert_success
	assert_equal "$(jqr "$output" .user)" dave
	run busc "${NATS_URL[3]}" '{"op":"bus.status"}'
	[ "$(jqr "$output" .reconnects)" -ge 1 ]
	# chat-store away: the request waits in the bridge, which resends it
	# to the new chat-store; the requester sees one reply.
	stop_pid "$STORE_PID"
	busc "${NATS_URL[2]}" '{"op":"user.get","id":"late","user":"dave"}' \
	    > "$BATS_TEST_TMPDIR/late" &
	CALL=$!
	sleep 0.5
	kill -0 "$CALL"			# still waiting: no store
	start_store
	wait "$CALL"
	assert_equal "$(jqr "$(cat "$BATS_TEST_TMPDIR/late")" '[.id,.user]|@tsv')" "late	dave"
}

@test "call: an unanswered request ends with unavailable (exit 111) after --timeout" {
	run bus --bus "${NATS_URL[1]}" --timeout 700 call chat.nobody.0 '{"op":"ping"}'
	assert_equal "$status" 111
	assert_equal "$(jqr "$output" .error.code)" unavailable
}
