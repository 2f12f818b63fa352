#!/usr/bin/env bats
# chat-route sharded by user across two nodes (issue 10, chat-scaling(7)
# "Sharding"): a three-server NATS cluster on loopback; node A's
# chat-super runs the store, route shard 0 and a chatd; node B's runs
# route shard 1 (node_services = route, chatd, api) and a chatd.  Each
# shard is served on chat.route.K by chat-bus serve route-K and reached
# from the other node through a chat-bus session attached as route-K.
# tests/drivers/rshard.py picks users by shard and checks what each
# device got.

load helpers
load helpers-nats
load checker/chaos

DRV="$BATS_TEST_DIRNAME/drivers/rshard.py"

setup() {
	nats_have || skip "nats-server is not installed (make deps)"
	chat_setup
	nats_cluster_start
	nodes_setup
}

teardown() {
	nodes_teardown
}

start_nodes() {
	A_PORT=$(free_port) B_PORT=$(free_port)
	API_A=$(free_port) API_B=$(free_port)
	export CHAT_RATE_LIMIT=100000 CHAT_RATE_BURST=100000
	printf 'bus = %s\nroute_shards = 2\nroute_shard = 0\nchatd_listen = 127.0.0.1:%s\napi_listen = 127.0.0.1:%s\n' \
	    "${NATS_URL[1]}" "$A_PORT" "$API_A" >> "$A_HOME/etc/chat.conf"
	printf 'bus = %s\nroute_shards = 2\nroute_shard = 1\nnode_services = route, chatd, api\nnode_id = 2\nchatd_listen = 127.0.0.1:%s\napi_listen = 127.0.0.1:%s\n' \
	    "${NATS_URL[2]}" "$B_PORT" "$API_B" >> "$B_HOME/etc/chat.conf"
	start_daemon chat-super
	wait_until 60 all_up "$A_RUN"
	cp "$A_HOME/etc/secret" "$B_HOME/etc/secret"
	on_b start_daemon chat-super
	wait_until 60 all_up "$B_RUN"
	URL_A="ws://127.0.0.1:$A_PORT/v1/ws" URL_B="ws://127.0.0.1:$B_PORT/v1/ws"
	wait_until 30 knows_both "$A_RUN" route-0
	wait_until 30 knows_both "$A_RUN" route-1
	wait_until 30 knows_both "$B_RUN" route-1
}

@test "nodes: route shard 0 on node A, shard 1 on node B; 1:1 and a group across, each once" {
	start_nodes
	run on_b "$CHAT_BIN/chat-super" --print-config
	assert_output --partial "CHAT_ROUTE_SHARD=1 chat-route"
	assert_output --partial "chat-bus --subject chat.route.1 serve route-1"
	assert_output --partial "chat-bus --session --subject chat.route.0 attach route-0"
	assert_output --partial "route-0,route-1 chatd"
	[ "$(CHAT_RUN=$B_RUN ipc route-1 '{"op":"status"}' | jq .shard)" = 1 ]
	drive cross --url "$URL_A" --url2 "$URL_B" -n 20
	# shard 1's own process (on B) forwarded to shard 0 and got forwards
	r=$(CHAT_RUN=$B_RUN ipc route-1 '{"op":"status"}')
	[ "$(jqr "$r" .fanouts_out)" -gt 0 ] && [ "$(jqr "$r" .fanouts_in)" -gt 0 ]
}

ACK_WAIT=60
route1_pid() {
	CHAT_RUN=$B_RUN ipc super '{"op":"status"}' |
	    jq -r '.programs[] | select(.name == "route-1") | .pid'
}
route1_restarted() {
	local p
	p=$(route1_pid) || return 1
	[ -n "$p" ] && [ "$p" != null ] && [ "$p" != "$1" ] &&
	    knows_both "$B_RUN" route-1
}

@test "nodes: kill -9 of node B's route shard during a stream: nothing acked lost, none twice" {
	start_nodes
	chaos_start "$DRV" --url "$URL_A" --url2 "$URL_B" -n 50
	more_acks 50
	pid=$(route1_pid)
	[ -n "$pid" ] && [ "$pid" != null ]
	kill -9 "$pid"
	# chat-super starts it again; the chatds' sessions come back to it
	wait_until 60 route1_restarted "$pid"
	more_acks 50
	chaos_finish
}
