#!/usr/bin/env bats
# tests/run: alone (lease TTL timing)
# A standby by lease for sharded route and presence shards (issue 10: "each
# shard owned by one member ... and taken over when it dies"; "kill a whole
# node: its clients resume on the other").  A three-server NATS cluster on
# loopback, two nodes as chat-super node stacks: route_shards =
# presence_shards = 2, bus_leases = route, presence; node A (the store,
# shards 0) stands by for route-1 and presence-1, node B (shards 1,
# node_services = route, presence, chatd, api) for route-0 and presence-0.
# Each node runs both shards' chat-route and presenced (--name
# route-K-own --leased) under a chat-bus serve --lease --tell; the lease's
# owner is the only one any chatd reaches (every node's route-K is a
# session on chat.route.K), and the only one that follows chat-store's
# feed (route) or stores and tells changes (presence).  tests/drivers/failover.py
# is rshard.py with devices that move to the other chatd when theirs dies.

load helpers
load helpers-nats
load checker/chaos

DRV="$BATS_TEST_DIRNAME/drivers/failover.py"
TTL=3
PTIMEOUT=3

setup() {
	nats_have || skip "nats-server is not installed (make deps)"
	chat_setup
	nats_cluster_start
	nodes_setup
}

teardown() {
	nodes_teardown
}

# lease_of RUN NAME: the lease object of that chat-route's status.
lease_of() {
	CHAT_RUN=$1 ipc "$2" '{"op":"status"}' | jq -c .lease
}
# owns RUN NAME: that process (route-K-own) holds its shard; stands_by:
# it answers and does not.
owns() { [ "$(lease_of "$1" "$2" | jq .owner)" = true ]; }
stands_by() { [ "$(lease_of "$1" "$2" | jq .owner)" = false ]; }

start_nodes() {
	A_PORT=$(free_port) B_PORT=$(free_port)
	API_A=$(free_port) API_B=$(free_port)
	export CHAT_RATE_LIMIT=100000 CHAT_RATE_BURST=100000
	local common="route_shards = 2\npresence_shards = 2\npresence_timeout = $PTIMEOUT\nbus_leases = route, presence\nbus_lease_ttl = $TTL\n"
	printf "bus = %s\n${common}route_shard = 0\npresence_shard = 0\nnode_standby = route-1, presence-1\nchatd_listen = 127.0.0.1:%s\napi_listen = 127.0.0.1:%s\n" \
	    "${NATS_URL[1]}" "$A_PORT" "$API_A" >> "$A_HOME/etc/chat.conf"
	printf "bus = %s\n${common}route_shard = 1\npresence_shard = 1\nnode_standby = route-0, presence-0\nnode_services = route, presence, chatd, api\nnode_id = 2\nchatd_listen = 127.0.0.1:%s\napi_listen = 127.0.0.1:%s\n" \
	    "${NATS_URL[2]}" "$B_PORT" "$API_B" >> "$B_HOME/etc/chat.conf"
	# one token secret for both (chat-api makes it unless it exists)
	head -c 32 /dev/urandom > "$A_HOME/etc/secret"
	chmod 600 "$A_HOME/etc/secret"
	cp -p "$A_HOME/etc/secret" "$B_HOME/etc/secret"
	# together: a standby asks for its shard only after 5 TTL, so each
	# node's own shard goes to it
	start_daemon chat-super
	A_SUPER=$LAST_PID
	on_b start_daemon chat-super
	B_SUPER=$LAST_PID
	wait_until 60 all_up "$A_RUN"
	wait_until 60 all_up "$B_RUN"
	URL_A="ws://127.0.0.1:$A_PORT/v1/ws" URL_B="ws://127.0.0.1:$B_PORT/v1/ws"
	wait_until 60 owns "$A_RUN" route-0-own
	wait_until 60 owns "$B_RUN" route-1-own
	wait_until 60 owns "$A_RUN" presence-0-own
	wait_until 60 owns "$B_RUN" presence-1-own
	wait_until 30 knows_both "$A_RUN" route-0
	wait_until 30 knows_both "$A_RUN" route-1
	wait_until 30 knows_both "$B_RUN" route-1
}

@test "lease: each node owns its route shard and stands by for the other; 1:1 and a group across, each once" {
	start_nodes
	run on_b "$CHAT_BIN/chat-super" --print-config
	assert_output --partial "CHAT_ROUTE_SHARD=1 chat-route --name route-1-own --leased"
	assert_output --partial "chat-bus --lease --tell --subject chat.route.1 serve route-1-own"
	assert_output --partial "chat-bus --lease --tell --standby --subject chat.route.0 serve route-0-own"
	assert_output --partial "chat-bus --session --subject chat.route.1 attach route-1"
	assert_output --partial "CHAT_PRESENCE_SHARD=0 presenced --name presence-0-own --leased"
	# the standbys hold nothing
	[ "$(lease_of "$A_RUN" route-1-own | jq .owner)" = false ]
	[ "$(lease_of "$B_RUN" route-0-own | jq .owner)" = false ]
	drive cross --url "$URL_A" --url2 "$URL_B" -n 20
	# B's route-1 (reached from A through the session) is the owner's
	r=$(CHAT_RUN=$A_RUN ipc route-1 '{"op":"status"}')
	[ "$(jqr "$r" .lease.owner)" = true ] && [ "$(jqr "$r" .fed)" -gt 0 ]
}

@test "lease: a standby follows no feed and pushes nothing while it does not own its shard" {
	start_nodes
	# an offline recipient on shard 1 with a push registration: only its
	# shard's owner (B) asks chat-push
	drive push --url "$URL_A" --url2 "$URL_B"
	for s in "$A_RUN route-1-own" "$B_RUN route-0-own"; do
		set -- $s
		r=$(CHAT_RUN=$1 ipc "$2" '{"op":"status"}')
		echo "standby $2 on $1: $r"
		[ "$(jqr "$r" .lease.owner)" = false ]
		[ "$(jqr "$r" .fed)" = 0 ]
		[ "$(jqr "$r" .feed_follows)" = 0 ]
		[ "$(jqr "$r" .push_lookups)" = 0 ]
		[ "$(jqr "$r" .push_enqueued)" = 0 ]
		[ "$(jqr "$r" .deliveries)" = 0 ]
	done
	r=$(CHAT_RUN=$B_RUN ipc route-1-own '{"op":"status"}')
	[ "$(jqr "$r" .fed)" -ge 1 ] && [ "$(jqr "$r" .push_enqueued)" = 1 ]
}

ACK_WAIT=90

# b_pids: node B's chat-super and its programs.
b_pids() {
	echo "$B_SUPER"
	ps -o pid= --ppid "$B_SUPER"
}

@test "lease: node B killed whole during a stream: A takes route-1, B's clients resume on A, nothing acked lost, none twice" {
	start_nodes
	pids=$(b_pids)
	for p in $pids; do track_pid "$p" node-b; done
	[ "$(echo "$pids" | wc -w)" -ge 5 ]
	chaos_start "$DRV" --url "$URL_A" --url2 "$URL_B" -n 50
	more_acks 50
	# A's standby asks from 5 TTL after its start on: measure from then
	wait_until 60 grep -q "standby's wait is over" "$A_HOME/log/bus-route-1.log"
	t0=${EPOCHREALTIME/[.,]/}
	kill -9 $pids
	wait_until 60 owns "$A_RUN" route-1-own
	t1=${EPOCHREALTIME/[.,]/}
	echo "# route-1 taken by node A $(( (t1 - t0) / 1000 )) ms after the kill (TTL $TTL s)" >&3
	more_acks 50
	chaos_finish
	r=$(CHAT_RUN=$A_RUN ipc route-1-own '{"op":"status"}')
	echo "$r"
	[ "$(jqr "$r" .lease.gained)" = 1 ] && [ "$(jqr "$r" .fed)" -gt 0 ]
}

stored_online() {
	[ "$(ipc store "{\"op\":\"presence.get\",\"users\":[\"$1\"]}" |
	    jq -r '.presence[0].status')" = online ]
}

@test "lease: a presence standby restarted neither sweeps its shard's users offline nor stores anything while it does not own" {
	start_nodes
	hold="$BATS_TEST_TMPDIR/hold"
	"$PY" "$DRV" hold-beat --url "$URL_A" --url2 "$URL_B" --progress "$hold" \
	    --stop "$hold.stop" > "$BATS_TEST_TMPDIR/hold.out" 2>&1 &
	track_pid $! driver
	wait_until 60 test -s "$hold"
	read -r x y < "$hold"
	# y (shard 1) has two devices on B: online at its owner and stored
	wait_until 30 stored_online "$y"
	# A's standby for presence-1 starts again: a presenced's sweep, after
	# presence_timeout + 1 s, sets offline the stored-online users that
	# no chatd announced to it, and none announces to a standby
	set -- $(super_prog "$A_RUN" presence-1-own)
	kill -KILL "$1"
	wait_until 60 restarted "$A_RUN" presence-1-own "$1"
	wait_until 30 stands_by "$A_RUN" presence-1-own
	nap $(( PTIMEOUT + 3 ))
	r=$(CHAT_RUN=$A_RUN ipc presence-1-own '{"op":"status"}')
	echo "$r"
	[ "$(jqr "$r" .swept)" = 0 ]
	[ "$(jqr "$r" .lease.owner)" = false ]
	stored_online "$y"
	owns "$B_RUN" presence-1-own
	touch "$hold.stop"
}
