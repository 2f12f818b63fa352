#!/usr/bin/env bats
# presenced sharded by user (presence_shards = 2): one chat-store, one
# chat-route, two presenced (shards 0 and 1, sockets presence-0 and
# presence-1) and a chatd with one presence link per shard, real WebSocket
# clients (tests/drivers/presence_shards.py, which picks user names on
# each shard with the same hash as lib/shard.c).

load helpers

DRV="$BATS_TEST_DIRNAME/drivers/presence_shards.py"

setup() {
	chat_setup
	export CHAT_PRESENCE_TIMEOUT=3 CHAT_PRESENCE_SHARDS=2
	start_store
	start_shard 0
	start_shard 1
	start_route
	start_chatd
}

teardown() {
	chat_teardown
}

# start_shard K: presenced owning shard K; sets SHARD_PID.
start_shard() {
	CHAT_PRESENCE_SHARD=$1 start_daemon presenced
	SHARD_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/presence-$1.sock"
}

drive() {
	run "$PY" "$DRV" "$@" --url "$URL" --timeout "$CHAT_PRESENCE_TIMEOUT"
	echo "$output"
	assert_success
	assert_output --partial '"ok": true'
}

@test "presence shards: each listens on presence-K; a bad shard number is a usage error" {
	[ -S "$CHAT_RUN/presence-0.sock" ] && [ -S "$CHAT_RUN/presence-1.sock" ]
	[ ! -e "$CHAT_RUN/presence.sock" ]
	run env CHAT_PRESENCE_SHARD=2 "$CHAT_BIN/presenced"
	[ "$status" -eq 100 ]
	assert_output --partial "presence_shard must be 0 to 1"
	run env CHAT_PRESENCE_SHARDS=0 "$CHAT_BIN/presenced"
	[ "$status" -eq 100 ]
	run ipc presence-1 '{"op":"status"}'
	assert_output --partial '"shard":1'
	assert_output --partial '"shards":2'
}

@test "presence shards: friends on two shards see each other go online and offline exactly once each way" {
	drive cross
}

@test "presence shards: heartbeats keep a device online on its shard; last_active_at follows them; silence is told across shards" {
	drive beats
}

@test "presence shards: queries for users of both shards answer right (auth, users, group, presenced's own)" {
	drive query
}

@test "presence shards: shard 1 killed -9 and restarted: its users online again after the resync, a user gone meanwhile swept offline, shard 0 unaffected" {
	drive restart --kill "$SHARD_PID" --pidfile "$PIDFILE"
}

@test "presence shards: a device of another shard's user is counted as foreign and not held" {
	run ipc presence-0 '{"op":"presence.batch","id":1,"chatd":"manual","events":[{"user":"b0","device":"d1","kind":"connect"},{"user":"a1","device":"d1","kind":"connect"}]}'
	assert_success
	run ipc presence-0 '{"op":"status"}'
	echo "$output"
	# lib/shard.c's hash: a1 is shard 0 of 2, b0 shard 1
	[ "$(jqr "$output" .foreign)" = 1 ]
	[ "$(jqr "$output" .devices)" = 1 ]
	grep -q "not ours" "$CHAT_HOME/log/presenced.log"
}

stored_offline_since() {
	local out
	out=$(ipc store "{\"op\":\"presence.get\",\"users\":[\"$1\"]}") || return 1
	[ "$(jqr "$out" '.presence[0].status')" = offline ] &&
	    [ "$(jqr "$out" '.presence[0].last_active_at')" -ge "$2" ]
}

@test "presence shards: a user that comes and goes before its stored status loads keeps its last_active_at" {
	run ipc store '{"op":"user.create","user":"a1","password":"password1"}'
	assert_success
	# connect and bye in one line: both applied before the load answers
	run ipc presence-0 '{"op":"presence.batch","id":1,"chatd":"manual","events":[{"user":"a1","device":"d1","kind":"connect","ts":1795000000000},{"user":"a1","device":"d1","kind":"bye","ts":1795000000500}]}'
	assert_success
	assert_output --partial '"applied":2'
	wait_until 10 stored_offline_since a1 1795000000500
}
