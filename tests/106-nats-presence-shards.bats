#!/usr/bin/env bats
# presenced sharded by user across two nodes on one NATS cluster
# (presence_shards = 2): node A runs chat-store, chat-route, presence shard
# 0 and a chatd; node B runs presence shard 1 and a chatd, and reaches the
# store and chat-route through chat-bus attach.  Each shard is served on
# chat.presence.<k>; each node attaches the shard it does not run as a
# session (presence-<k>.sock), which both its chatd and its presenced (for
# presence.notify) use.  tests/drivers/presence_shards.py "nodes".  The
# second case builds the same two nodes as one chat-super each (node mode,
# src/chat-super/node.c: presence_shard 0 and 1).

load helpers
load helpers-nats

DRV="$BATS_TEST_DIRNAME/drivers/presence_shards.py"

setup() {
	nats_have || skip "nats-server is not installed (make deps)"
	chat_setup
	export CHAT_PRESENCE_SHARDS=2 CHAT_PRESENCE_TIMEOUT=3
	nats_cluster_start
	nodes_setup
}

teardown() {
	nodes_teardown
}

bus_up() {
	local r
	r=$(CHAT_RUN=$1 ipc "$2" '{"op":"bus.status"}') || return 1
	[ "$(jqr "$r" .connected)" = true ]
}

# shard_devices RUN K N: shard K, through the socket in RUN, holds N devices.
shard_devices() {
	local r
	r=$(CHAT_RUN=$1 ipc "presence-$2" '{"op":"status"}') || return 1
	[ "$(jqr "$r" .devices)" = "$3" ]
}

start_nodes() {
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	start_daemon chat-route
	wait_for_sock "$CHAT_RUN/route.sock"
	CHAT_PRESENCE_SHARD=0 start_daemon presenced
	wait_for_sock "$CHAT_RUN/presence-0.sock"
	start_daemon chat-bus --bus "${NATS_URL[1]}" serve store
	start_daemon chat-bus --bus "${NATS_URL[1]}" serve route
	start_daemon chat-bus --bus "${NATS_URL[1]}" --subject chat.presence.0 \
	    serve presence-0
	start_daemon chat-bus --bus "${NATS_URL[1]}" --session \
	    --subject chat.presence.1 attach presence-1
	wait_for_sock "$CHAT_RUN/presence-1.sock"
	A_PORT=$(free_port)
	start_daemon chatd --listen "127.0.0.1:$A_PORT"
	wait_for_sock "$CHAT_RUN/chatd-$A_PORT.sock"

	cp "$A_HOME/etc/secret" "$B_HOME/etc/secret"
	on_b start_daemon chat-bus --bus "${NATS_URL[2]}" attach store
	on_b start_daemon chat-bus --bus "${NATS_URL[2]}" --session --discover \
	    --ttl 4 attach route
	on_b start_daemon chat-bus --bus "${NATS_URL[2]}" --session \
	    --subject chat.presence.0 attach presence-0
	local n
	for n in store route; do
		wait_for_sock "$B_RUN/$n.sock"
		wait_until 20 bus_up "$B_RUN" "$n"
	done
	start_shard_b
	on_b start_daemon chat-bus --bus "${NATS_URL[2]}" \
	    --subject chat.presence.1 serve presence-1
	# a session's status answers once the serving end is there
	wait_for_sock "$B_RUN/presence-0.sock"
	wait_until 20 bus_up "$B_RUN" presence-0
	wait_until 20 bus_up "$A_RUN" presence-1

	B_PORT=$(free_port)
	on_b start_daemon chatd --listen "127.0.0.1:$B_PORT"
	wait_for_sock "$B_RUN/chatd-$B_PORT.sock"
}

# Shard 1 on node B; sets SHARD1_PID.
start_shard_b() {
	CHAT_PRESENCE_SHARD=1 on_b start_daemon presenced
	SHARD1_PID=$LAST_PID
	wait_for_sock "$B_RUN/presence-1.sock"
}

@test "nodes: presence shards on two nodes: friends across nodes and shards see each other once each way; shard 1 killed -9 and restarted flips nobody" {
	start_nodes
	flag="$BATS_TEST_TMPDIR/restart"
	"$PY" "$DRV" nodes --url "ws://127.0.0.1:$A_PORT/v1/ws" \
	    --url-b "ws://127.0.0.1:$B_PORT/v1/ws" --restart-flag "$flag" \
	    > "$BATS_TEST_TMPDIR/drv.out" 2>&1 &
	drv=$!
	track_pid "$drv" driver
	wait_until 60 test -e "$flag"
	# both chatds' shard-1 devices are on shard 1 (b1 at B, c1 at A)
	wait_until 20 shard_devices "$B_RUN" 1 2
	kill -KILL "$SHARD1_PID"
	start_shard_b
	# the serving chat-bus reconnects to the new socket; both chatds'
	# links resync through it
	wait_until 30 shard_devices "$B_RUN" 1 2
	rm -f "$flag"
	rc=0
	wait "$drv" || rc=$?
	cat "$BATS_TEST_TMPDIR/drv.out"
	[ "$rc" -eq 0 ]
	grep -q '"ok": true' "$BATS_TEST_TMPDIR/drv.out"
	# the change crossed the bus: shard 0 sent presence.notify to shard 1
	r=$(ipc presence-0 '{"op":"status"}')
	[ "$(jqr "$r" .notify_sent)" -ge 2 ]
	[ "$(jqr "$r" .foreign)" = 0 ]
}


@test "nodes as one command: presence_shards = 2 with shard 0's node and shard 1's node; chat-super restarts a presenced killed -9 and nobody flips" {
	A_PORT=$(free_port) B_PORT=$(free_port)
	printf 'bus = %s\nchatd_listen = 127.0.0.1:%s\nnode_services = store, route, presence, push, chatd\npresence_shard = 0\n' \
	    "${NATS_URL[1]}" "$A_PORT" >> "$A_HOME/etc/chat.conf"
	printf 'bus = %s\nnode_services = presence, chatd\nnode_id = 2\nchatd_listen = 127.0.0.1:%s\npresence_shard = 1\n' \
	    "${NATS_URL[2]}" "$B_PORT" >> "$B_HOME/etc/chat.conf"
	start_daemon chat-super
	wait_until 60 all_up "$A_RUN"
	cp "$A_HOME/etc/secret" "$B_HOME/etc/secret"
	on_b start_daemon chat-super
	wait_until 60 all_up "$B_RUN"
	run on_b "$CHAT_BIN/chat-super" --print-config
	assert_output --partial "CHAT_PRESENCE_SHARD=1 presenced"
	assert_output --partial "attach presence-0"
	run "$CHAT_BIN/chat-super" --print-config
	assert_output --partial "CHAT_PRESENCE_SHARD=0 presenced"
	assert_output --partial "attach presence-1"
	flag="$BATS_TEST_TMPDIR/restart"
	"$PY" "$DRV" nodes --url "ws://127.0.0.1:$A_PORT/v1/ws" \
	    --url-b "ws://127.0.0.1:$B_PORT/v1/ws" --restart-flag "$flag" \
	    > "$BATS_TEST_TMPDIR/drv.out" 2>&1 &
	drv=$!
	track_pid "$drv" driver
	wait_until 60 test -e "$flag"
	wait_until 20 shard_devices "$B_RUN" 1 2
	set -- $(super_prog "$B_RUN" presence-1)
	kill -KILL "$1"
	wait_until 30 restarted "$B_RUN" presence-1 "$1"
	wait_until 30 shard_devices "$B_RUN" 1 2
	rm -f "$flag"
	rc=0
	wait "$drv" || rc=$?
	cat "$BATS_TEST_TMPDIR/drv.out"
	[ "$rc" -eq 0 ]
	grep -q '"ok": true' "$BATS_TEST_TMPDIR/drv.out"
}
