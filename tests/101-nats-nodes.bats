#!/usr/bin/env bats
# Two stack nodes on one NATS cluster (issue 10, chat-scaling(7)): three
# real nats-server processes on loopback; node A (its own CHAT_HOME) runs
# chat-store, chat-route, presenced, a chatd and chat-bus serving store,
# route and presence; node B (another CHAT_HOME) runs only a chatd, whose
# links to A's daemons are chat-bus attach sockets: requests for the
# store, whole connections (sessions) for chat-route and presenced.
# Devices on both nodes talk through tests/drivers/nats_nodes.py.

load helpers
load helpers-nats

DRV="$BATS_TEST_DIRNAME/drivers/nats_nodes.py"

setup() {
	nats_have || skip "nats-server is not installed (make deps)"
	chat_setup
	nats_cluster_start
	A_HOME=$CHAT_HOME
	B_HOME="$BATS_TEST_TMPDIR/homeB"
	mkdir -p "$B_HOME/etc" "$B_HOME/log"
	mkdir -p -m 0700 "$B_HOME/run"
}

teardown() {
	CHAT_HOME=$A_HOME CHAT_RUN=$A_HOME/run
	chat_teardown
	CHAT_HOME=$B_HOME chat_no_sanitizer_reports
}

# on_b CMD...: runs CMD with node B's CHAT_HOME (start_daemon logs there).
on_b() { CHAT_HOME=$B_HOME CHAT_RUN=$B_HOME/run "$@"; }

# bus_ok SOCK_DIR NAME: chat-bus on that socket answers bus.status connected.
bus_up() {
	local r
	r=$(CHAT_RUN=$1 ipc "$2" '{"op":"bus.status"}') || return 1
	[ "$(jqr "$r" .connected)" = true ]
}

start_node_a() {
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	start_daemon chat-route
	wait_for_sock "$CHAT_RUN/route.sock"
	start_daemon presenced
	wait_for_sock "$CHAT_RUN/presence.sock"
	local n
	declare -gA A_SERVE
	for n in store route presence; do
		start_daemon chat-bus --bus "${NATS_URL[1]}" serve "$n"
		A_SERVE[$n]=$LAST_PID
	done
	A_PORT=$(free_port)
	start_daemon chatd --listen "127.0.0.1:$A_PORT"
	A_CHATD=$LAST_PID
	URL_A="ws://127.0.0.1:$A_PORT/v1/ws"
	wait_for_sock "$CHAT_RUN/chatd-$A_PORT.sock"
}

start_node_b() {
	cp "$A_HOME/etc/secret" "$B_HOME/etc/secret"
	B_PIDS=()
	on_b start_daemon chat-bus --bus "${NATS_URL[2]}" attach store
	B_PIDS+=("$LAST_PID")
	on_b start_daemon chat-bus --bus "${NATS_URL[2]}" --session --discover \
	    --ttl 4 attach route
	B_PIDS+=("$LAST_PID")
	on_b start_daemon chat-bus --bus "${NATS_URL[2]}" --session attach presence
	B_PIDS+=("$LAST_PID")
	local n
	for n in store route presence; do
		wait_for_sock "$B_HOME/run/$n.sock"
		wait_until 20 bus_up "$B_HOME/run" "$n"
	done
	B_PORT=$(free_port)
	on_b start_daemon chatd --listen "127.0.0.1:$B_PORT"
	B_CHATD=$LAST_PID
	B_PIDS+=("$LAST_PID")
	URL_B="ws://127.0.0.1:$B_PORT/v1/ws"
	wait_for_sock "$B_HOME/run/chatd-$B_PORT.sock"
	# chatd B's hello went through the session: chat-route lists it.
	wait_until 20 route_knows "chatd-$B_PORT"
}

route_knows() {
	ipc route '{"op":"chatd.list"}' | jq -e --arg n "$1" \
	    '.chatds | map(.name) | index($n)' >/dev/null
}

@test "nodes: a device on each node exchanges 1:1, group and presence through NATS" {
	start_node_a
	start_node_b
	drive exchange --url-a "$URL_A" --url-b "$URL_B"
	echo "# $output" >&3
	# The route link really crossed the bus as a session.
	r=$(CHAT_RUN=$B_HOME/run ipc route '{"op":"bus.status"}')
	[ "$(jqr "$r" .sessions)" -ge 1 ]
	[ "$(jqr "$r" .session_msgs_in)" -ge 3 ]
	# No chatd in the bucket (no register runs): node B's chatd.list is
	# chat-route's own, through the session.
	r=$(CHAT_RUN=$B_HOME/run ipc route '{"op":"chatd.list"}')
	assert_equal "$(jqr "$r" '[.chatds[].name] | sort | join(" ")')" \
	    "$(printf '%s\n' "chatd-$A_PORT" "chatd-$B_PORT" | LC_ALL=C sort | paste -sd' ')"
	# chatd B's status: its route link is up, nothing pending.
	r=$(CHAT_RUN=$B_HOME/run ipc "chatd-$B_PORT" '{"op":"status"}')
	assert_equal "$(jqr "$r" '[.route_connected,.route_pending]|@tsv')" "true	0"
}

@test "sessions: chat-route restarted, chatd B's session ends and its devices come back" {
	start_node_a
	start_node_b
	pid=$(awk '$2=="chat-route"{print $1}' "$PIDFILE")
	stop_pid "$pid"
	# chat-route gone: the serving chat-bus ends the session, node B's
	# attach closes chatd's connection, chatd reconnects (refused until
	# chat-route is back, the lines waiting in the attach).
	wait_until 20 grep -q "ended" "$B_HOME/log/chat-bus.log"
	start_daemon chat-route
	wait_for_sock "$CHAT_RUN/route.sock"
	wait_until 20 route_knows "chatd-$B_PORT"
	drive exchange --url-a "$URL_A" --url-b "$URL_B"
}

@test "sessions: a serving chat-bus paused (SIGSTOP) is given up after 6 s of silence; the link comes back" {
	start_node_a
	start_node_b
	closes() { grep -c "ended: " "$A_HOME/log/chat-bus.log"; }
	more_closes() { [ "$(closes)" -gt "$1" ]; }
	n=$(closes)
	kill -STOP "${A_SERVE[route]}"
	wait_until 20 grep -q "ended: nothing heard for 6 s" \
	    "$B_HOME/log/chat-bus.log"
	kill -CONT "${A_SERVE[route]}"
	# The paused side ends its end when it wakes (its own silence
	# check or the other side's close, whichever it reads first).
	wait_until 20 more_closes "$n"
	wait_until 20 route_knows "chatd-$B_PORT"
	drive exchange --url-a "$URL_A" --url-b "$URL_B"
}

# stream_kill I: a stream of sends on both nodes, NATS server I killed
# with SIGKILL after 60 acks, 150 more acks, then the driver's checks.
stream_kill() {
	start_node_a
	start_node_b
	progress="$BATS_TEST_TMPDIR/progress" stop="$BATS_TEST_TMPDIR/stop"
	"$PY" "$DRV" stream --url-a "$URL_A" --url-b "$URL_B" -n 40 \
	    --progress "$progress" --stop "$stop" > "$BATS_TEST_TMPDIR/drv.out" \
	    2> "$BATS_TEST_TMPDIR/drv.err" &
	DRV_PID=$!
	track_pid "$DRV_PID" driver
	acked() { [ -f "$progress" ] && [ "$(cat "$progress")" -ge "$1" ]; }
	wait_until 60 acked 60
	nats_kill "$1"
	before=$(cat "$progress")
	# The chat-bus processes of that server move to another; acks go on.
	wait_until 60 acked $((before + 150))
	touch "$stop"
	wait "$DRV_PID" || { cat "$BATS_TEST_TMPDIR/drv.err"; false; }
	cat "$BATS_TEST_TMPDIR/drv.err" "$BATS_TEST_TMPDIR/drv.out"
	grep -q '"ok": true' "$BATS_TEST_TMPDIR/drv.out"
}

@test "nodes: kill -9 of node B's NATS server during a stream loses nothing acknowledged" {
	stream_kill 2
	# The sessions did break and come back (else the kill tested nothing).
	r=$(CHAT_RUN=$B_HOME/run ipc route '{"op":"bus.status"}')
	[ "$(jqr "$r" .reconnects)" -ge 1 ]
	[ "$(jqr "$r" .sessions_ended)" -ge 1 ]
	[ "$(jqr "$r" .sessions)" -ge 1 ]
}

@test "nodes: kill -9 of node A's NATS server (the serving side's) during a stream loses nothing acknowledged" {
	stream_kill 1
	# Node A's chat-bus ended its sessions; node B's ended theirs too:
	# told by A after it moved, or, when A is slower to move than B's
	# silence limit (an ASan build under load), on its own.
	grep -q "ended: the connection to the cluster dropped" \
	    "$A_HOME/log/chat-bus.log"
	grep -qE "ended: (closed by the other side|nothing heard for 6 s|the other side is gone)" \
	    "$B_HOME/log/chat-bus.log"
	r=$(CHAT_RUN=$B_HOME/run ipc route '{"op":"bus.status"}')
	[ "$(jqr "$r" .sessions)" -ge 1 ]
}

# discover_is PORT URL: chat-api on PORT names URL.
discover_is() {
	local r
	r=$(curl -fsS -H "Authorization: Bearer $TOKEN" \
	    "http://127.0.0.1:$1/v1/discover") || return 1
	[ "$(jqr "$r" .chat_url)" = "$2" ]
}

# kv_keys: the keys of the discovery bucket, one a line, sorted.
kv_keys() {
	"$CHAT_BIN/chat-bus" --bus "${NATS_URL[3]}" call \
	    '$JS.API.STREAM.INFO.KV_chat_chatd' \
	    '{"subjects_filter":"$KV.chat_chatd.>"}' 2>/dev/null |
	    jq -r '.state.subjects // {} | keys[] | sub("^\\$KV.chat_chatd."; "")' |
	    sort | tr '\n' ' '
}

kv_keys_are() { [ "$(kv_keys)" = "$1" ]; }
# b_chatd_list_is "NAME:CONNS ...": node B's chatd.list, sorted, is that.
b_chatd_list_is() {
	local r
	r=$(CHAT_RUN=$B_HOME/run ipc route '{"op":"chatd.list"}')
	[ "$(jqr "$r" '[.chatds[] | [.name, .conns|tostring] | join(":")] | sort | join(" ")')" = "$1" ]
}
# kv_keys_match NAME...: a key ends with each NAME (any node name).
kv_keys_match() {
	local k n
	k=$(kv_keys)
	for n in "$@"; do [[ " $k" == *".$n "* ]] || return 1; done
}

@test "discovery: chatds registered in the chat_chatd bucket with a TTL; /v1/discover on either node names the least-loaded live one" {
	start_node_a
	start_daemon chat-bus --bus "${NATS_URL[1]}" --every 1 --ttl 4 \
	    --node a register
	REG_A=$LAST_PID
	API_A=$(free_port)
	start_daemon chat-api --listen "127.0.0.1:$API_A"
	start_node_b
	on_b start_daemon chat-bus --bus "${NATS_URL[2]}" --every 1 --ttl 4 \
	    --node b register
	API_B=$(free_port)
	on_b start_daemon chat-api --listen "127.0.0.1:$API_B"
	wait_until 20 kv_keys_are "a.chatd-$A_PORT b.chatd-$B_PORT "
	# Three devices on chatd B: chatd A is the least loaded.
	"$PY" "$DRV" hold --url-a "$URL_A" --url-b "$URL_B" -n 3 \
	    > "$BATS_TEST_TMPDIR/hold" 2>&1 &
	track_pid $! hold
	wait_until 30 grep -q token "$BATS_TEST_TMPDIR/hold"
	TOKEN=$(jq -r .token "$BATS_TEST_TMPDIR/hold")
	wait_until 20 discover_is "$API_B" "$URL_A"	# from the bucket
	wait_until 20 discover_is "$API_A" "$URL_A"	# from chat-route
	# Node B's chat-route socket answers chatd.list from the bucket,
	# with both nodes' chatds and their loads (as of the registrars' last
	# puts, once a second: discovery may pick A before B's third device
	# is in the bucket).
	wait_until 10 b_chatd_list_is \
	    "$(printf '%s\n' "chatd-$A_PORT:0" "chatd-$B_PORT:3" | LC_ALL=C sort | paste -sd' ')"
	# Node A's chatd dies with its registrar (SIGKILL): both nodes name
	# chatd B once the TTL (4 s) has passed, and the bucket drops it.
	kill -KILL "$A_CHATD" "$REG_A"
	t0=$(date +%s%N)
	wait_until 20 discover_is "$API_B" "$URL_B"
	t1=$(date +%s%N)
	echo "# node B's discovery dropped chatd A after $(( (t1 - t0) / 1000000 )) ms (TTL 4 s)" >&3
	[ $(( (t1 - t0) / 1000000 )) -ge 2500 ]	# not before the TTL
	wait_until 20 discover_is "$API_A" "$URL_B"
	wait_until 20 kv_keys_are "b.chatd-$B_PORT "
}

@test "discovery: a mirror started after the puts reads the bucket; register's usage errors" {
	run "$CHAT_BIN/chat-bus" --bus "${NATS_URL[1]}" --every 0 register
	assert_equal "$status" 100
	start_node_a
	start_daemon chat-bus --bus "${NATS_URL[1]}" --every 1 --ttl 60 \
	    --node a register "chatd-$A_PORT"
	REG=$LAST_PID
	wait_until 20 kv_keys_are "a.chatd-$A_PORT "
	kill -KILL "$REG"		# no more puts: only the bucket knows
	start_daemon chat-bus --bus "${NATS_URL[3]}" --discover --ttl 60 \
	    --sock "$BATS_TEST_TMPDIR/m.sock" attach route
	wait_for_sock "$BATS_TEST_TMPDIR/m.sock"
	listed() {
		CHAT_RUN=$BATS_TEST_TMPDIR ipc m '{"op":"chatd.list"}' |
		    jq -e --arg u "$URL_A" '.chatds | map(.url) == [$u]'
	}
	wait_until 20 listed
	grep -q "bucket 'chat_chatd' ready" "$CHAT_HOME/log/chat-bus.log"
}

# A device that moves to another chatd during traffic once could miss one
# message (lost=1 in about 20 runs): chatd read the inbox before chat-route
# had its "online", so a message committed after the read went to the dead
# chatd.  chatd now reads the first page only after chat-route answers a
# ping sent behind the "online" (src/chatd/sync.c, sync_start_registered).
@test "failover: node B killed whole during a stream; its devices rediscover, move to node A and lose nothing acknowledged" {
	start_node_a
	start_daemon chat-bus --bus "${NATS_URL[1]}" --every 1 --ttl 4 \
	    --node a register
	API_A=$(free_port)
	start_daemon chat-api --listen "127.0.0.1:$API_A"
	wait_for_sock "$CHAT_RUN/api.sock"
	start_node_b
	on_b start_daemon chat-bus --bus "${NATS_URL[2]}" --every 1 --ttl 4 \
	    --node b register
	B_PIDS+=("$LAST_PID")
	API_B=$(free_port)
	on_b start_daemon chat-api --listen "127.0.0.1:$API_B"
	B_PIDS+=("$LAST_PID")
	wait_for_sock "$B_HOME/run/api.sock"
	progress="$BATS_TEST_TMPDIR/progress" stop="$BATS_TEST_TMPDIR/stop"
	"$PY" "$DRV" failover --url-a "$URL_A" --url-b "$URL_B" -n 40 \
	    --api "http://127.0.0.1:$API_B,http://127.0.0.1:$API_A" \
	    --progress "$progress" --stop "$stop" > "$BATS_TEST_TMPDIR/drv.out" \
	    2> "$BATS_TEST_TMPDIR/drv.err" &
	DRV_PID=$!
	track_pid "$DRV_PID" driver
	acked() { [ -f "$progress" ] && [ "$(cat "$progress")" -ge "$1" ]; }
	wait_until 60 acked 60
	kill -KILL "${B_PIDS[@]}"	# node B: every process of it at once
	before=$(cat "$progress")
	wait_until 60 acked $((before + 150))
	touch "$stop"
	wait "$DRV_PID" || { cat "$BATS_TEST_TMPDIR/drv.err"; false; }
	cat "$BATS_TEST_TMPDIR/drv.err" "$BATS_TEST_TMPDIR/drv.out"
	echo "# $(cat "$BATS_TEST_TMPDIR/drv.out")" >&3
	grep -q '"ok": true' "$BATS_TEST_TMPDIR/drv.out"
}

@test "nodes: each node is one command (chat-super with bus and node_services); devices on both exchange 1:1, group and presence" {
	A_PORT=$(free_port) B_PORT=$(free_port)
	API_A=$(free_port) API_B=$(free_port)
	printf 'bus = %s\nchatd_listen = 127.0.0.1:%s\napi_listen = 127.0.0.1:%s\n' \
	    "${NATS_URL[1]}" "$A_PORT" "$API_A" >> "$A_HOME/etc/chat.conf"
	printf 'bus = %s\nnode_services = chatd, api\nnode_id = 2\nchatd_listen = 127.0.0.1:%s\napi_listen = 127.0.0.1:%s\n' \
	    "${NATS_URL[2]}" "$B_PORT" "$API_B" >> "$B_HOME/etc/chat.conf"
	start_daemon chat-super
	wait_until 60 all_up "$A_HOME/run"
	cp "$A_HOME/etc/secret" "$B_HOME/etc/secret"
	on_b start_daemon chat-super
	wait_until 60 all_up "$B_HOME/run"
	# Node B runs chatd and chat-api; store, route and presence are the
	# bus's (chat-bus attach), push too.
	run on_b "$CHAT_BIN/chat-super" --print-config
	assert_output --partial "route      -              chat-bus --session --discover attach route"
	assert_output --partial "store      -              chat-bus attach store"
	refute_output --partial "chat-route"
	assert_equal "$(super_states "$B_HOME/run" | awk '{print $1}' | sort | paste -sd' ')" \
	    "api bus-register chatd presence push route store"
	assert_equal "$(super_states "$A_HOME/run" | awk '{print $1}' | sort | paste -sd' ')" \
	    "api bus-presence bus-push bus-register bus-route bus-store chatd presence push route store"
	URL_A="ws://127.0.0.1:$A_PORT/v1/ws" URL_B="ws://127.0.0.1:$B_PORT/v1/ws"
	wait_until 30 route_knows "chatd-$B_PORT"
	drive exchange --url-a "$URL_A" --url-b "$URL_B"
	# Both chatds are in the discovery bucket, put by each node's
	# bus-register.
	wait_until 30 kv_keys_match "chatd-$A_PORT" "chatd-$B_PORT"
}
