#!/usr/bin/env bats
# The log of writes (issue 10, chat-scaling(7) "Durability", chat-store(1)
# "THE LOG OF WRITES"): with msg_log = jetstream, users, friends, groups,
# devices and push registrations go on the JetStream stream CHAT_LOG as
# the keys each op wrote, before its answer, carried there by chat-log;
# a store rebuilt from empty gets them back from the stream.  A real
# 3-server NATS cluster on loopback, real chat-store and chat-log.

load helpers
load helpers-nats

setup() {
	nats_have || skip "nats-server is not installed (make deps)"
	chat_setup
	nats_cluster_start
	export CHAT_BUS=$NATS_URLS CHAT_MSG_LOG=jetstream
}

teardown() {
	chat_teardown
}

log_pulling() {
	[ "$(ipc log '{"op":"status"}' | jq -r .phase)" = pull ]
}
store_followed() {
	[ "$(ipc store '{"op":"status"}' | jq -r .log_following)" = 1 ]
}

start_log() {
	start_daemon chat-log "$@"
	LOG_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/log.sock"
	wait_until 30 log_pulling
	wait_until 30 store_followed
}

start_node() {
	start_store
	start_log
}

# store_ok JSON: the store's answer, which must be ok.
store_ok() {
	local r
	r=$(ipc store "$1")
	[ "$(jqr "$r" .ok)" = true ] || { echo "store: $1 -> $r" >&2; return 1; }
	printf '%s\n' "$r"
}

# make_world: users, a profile changed, friends made and unmade, a group
# made and changed (carol added, then removed), devices logged in and out,
# push set and cleared.  Sets GID.
make_world() {
	local u
	for u in al bo ca da; do
		store_ok "{\"op\":\"user.create\",\"user\":\"$u\",\"password\":\"pw-of-$u-123\"}" >/dev/null
	done
	store_ok '{"op":"user.update","user":"al","display_name":"Alice A."}' >/dev/null
	store_ok '{"op":"friend.add","user":"al","other":"bo"}' >/dev/null
	store_ok '{"op":"friend.add","user":"bo","other":"al"}' >/dev/null
	store_ok '{"op":"friend.add","user":"al","other":"ca"}' >/dev/null
	store_ok '{"op":"friend.add","user":"da","other":"al"}' >/dev/null
	store_ok '{"op":"friend.add","user":"da","other":"bo"}' >/dev/null
	store_ok '{"op":"friend.remove","user":"da","other":"bo"}' >/dev/null
	GID=$(store_ok '{"op":"group.create","owner":"al","name":"team","members":["bo"]}' | jq -r .group)
	store_ok "{\"op\":\"group.add\",\"group\":\"$GID\",\"user\":\"ca\",\"by\":\"al\"}" >/dev/null
	store_ok "{\"op\":\"group.add\",\"group\":\"$GID\",\"user\":\"da\",\"by\":\"bo\"}" >/dev/null
	store_ok "{\"op\":\"group.remove\",\"group\":\"$GID\",\"user\":\"ca\",\"by\":\"al\"}" >/dev/null
	store_ok '{"op":"device.login","user":"al","device":"phone"}' >/dev/null
	store_ok '{"op":"device.login","user":"al","device":"laptop"}' >/dev/null
	store_ok '{"op":"device.logout","user":"al","device":"laptop"}' >/dev/null
	store_ok '{"op":"device.login","user":"bo","device":"tab"}' >/dev/null
	store_ok '{"op":"push.set","user":"bo","device":"tab","provider":"webhook","endpoint":"http://127.0.0.1:9/bo"}' >/dev/null
	store_ok '{"op":"push.set","user":"al","device":"phone","provider":"ntfy","endpoint":"http://127.0.0.1:9/al"}' >/dev/null
	store_ok '{"op":"push.clear","user":"al","device":"phone"}' >/dev/null
}

# snapshot: what the store answers about the world, one line a question.
snapshot() {
	local u reqs=()
	for u in al bo ca da; do
		reqs+=("{\"op\":\"user.get\",\"user\":\"$u\"}"
		    "{\"op\":\"friend.list\",\"user\":\"$u\"}"
		    "{\"op\":\"group.list\",\"user\":\"$u\"}"
		    "{\"op\":\"device.list\",\"user\":\"$u\"}")
	done
	reqs+=("{\"op\":\"group.get\",\"group\":\"$GID\"}")
	ipc store "${reqs[@]}" | jq -cS 'del(.id)'
}

restored() {
	snapshot > "$BATS_TEST_TMPDIR/after"
	cmp -s "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
}

log_acked_all() {
	local r
	r=$(ipc store '{"op":"status"}')
	[ "$(jqr "$r" .log_pending)" = 0 ] && [ "$(jqr "$r" .log_acked)" -ge "$1" ]
}

# stream_entries: the stream's log.apply entries, one JSON line each.
stream_entries() {
	local info first last
	info=$(nats_log_info) || return 1
	first=$(jqr "$info" .state.first_seq)
	last=$(jqr "$info" .state.last_seq)
	[ "$last" -ge "$first" ] || return 0
	seq "$first" "$last" | sed 's/.*/{"seq":&}/' |
	    "$CHAT_BIN/chat-bus" --bus "$NATS_URLS" --timeout 10000 call \
	    '$JS.API.DIRECT.GET.CHAT_LOG' 2>/dev/null | grep '"log.apply"'
}

@test "meta: a store wiped gets its users, friends, groups, devices and push back from the stream" {
	start_node
	make_world
	snapshot > "$BATS_TEST_TMPDIR/before"
	# every answer came after its entries were in the stream
	wait_until 10 log_acked_all 20
	r=$(ipc store '{"op":"status"}')
	assert_equal "$(jqr "$r" .log_expired)" 0
	stream_entries > "$BATS_TEST_TMPDIR/entries"
	n=$(wc -l < "$BATS_TEST_TMPDIR/entries")
	[ "$n" -ge 20 ]
	# keys, not ops: the hash is there, never the password
	grep -q '"u/al"' "$BATS_TEST_TMPDIR/entries"
	grep -q 'y\$' "$BATS_TEST_TMPDIR/entries"
	! grep -q 'pw-of-' "$BATS_TEST_TMPDIR/entries"
	# carol's membership: put, then deleted
	grep -q "\"gm/$GID/ca\"" "$BATS_TEST_TMPDIR/entries"
	# the store that made an entry holds it: chat-log's apply writes nothing
	wait_until 20 eval '[ "$(ipc log "{\"op\":\"status\"}" | jq .dups)" -ge "$n" ]'
	assert_equal "$(ipc log '{"op":"status"}' | jq .errors)" 0
	assert_equal "$(snapshot)" "$(cat "$BATS_TEST_TMPDIR/before")"

	stop_pid "$STORE_PID"
	rm -rf "$CHAT_HOME/db"
	start_store
	# chat-log sees the store come back new and replays the stream
	wait_until 60 restored || {
		diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
		cat "$CHAT_HOME/log/chat-log.log"; false; }
	[ "$(ipc log '{"op":"status"}' | jq .replays)" -ge 1 ]
	grep -q "its database is new; replaying" "$CHAT_HOME/log/chat-log.log"
	# the passwords still work, and only they
	for u in al bo ca da; do
		store_ok "{\"op\":\"user.verify\",\"user\":\"$u\",\"password\":\"pw-of-$u-123\"}" >/dev/null
	done
	r=$(ipc store '{"op":"user.verify","user":"al","password":"pw-of-bo-123"}')
	assert_equal "$(jqr "$r" .error.code)" unauthorized
	# carol, removed before the wipe, is still out of the group
	r=$(ipc store "{\"op\":\"group.get\",\"group\":\"$GID\"}")
	assert_equal "$(jqr "$r" '.members | sort | join(",")')" "al,bo,da"
	r=$(ipc store '{"op":"friend.list","user":"al"}')
	assert_equal "$(jqr "$r" '[.friends[] | "\(.user):\(.state)"] | sort | join(",")')" \
	    "bo:friends,ca:requested,da:pending"
	# the rebuilt store is a new origin, and its writes go on the log too
	store_ok '{"op":"user.update","user":"bo","display_name":"Bob B."}' >/dev/null
	r=$(ipc store '{"op":"status"}')
	assert_equal "$(jqr "$r" .log_pending)" 0
}

@test "meta: with chat-log stopped a write answers store_unavailable after the bound, and reaches the stream when chat-log is back" {
	start_node
	store_ok '{"op":"user.create","user":"al","password":"pw-of-al-123"}' >/dev/null
	wait_until 10 log_acked_all 1
	stop_pid "$LOG_PID"
	r=$(ipc store '{"op":"user.update","user":"al","display_name":"Held"}') || {
		cat "$CHAT_HOME/log/chat-store.log"; false; }
	assert_equal "$(jqr "$r" .error.code)" store_unavailable
	r=$(ipc store '{"op":"status"}')
	assert_equal "$(jqr "$r" .log_expired)" 1
	assert_equal "$(jqr "$r" .log_pending)" 1
	# stored here all the same
	assert_equal "$(ipc store '{"op":"user.get","user":"al"}' | jq -r .display_name)" Held
	# a read does not wait
	r=$(ipc store '{"op":"user.get","user":"al"}')
	assert_equal "$(jqr "$r" .ok)" true
	start_log
	wait_until 20 log_acked_all 2
	stream_entries > "$BATS_TEST_TMPDIR/entries"
	grep -q 'Held' "$BATS_TEST_TMPDIR/entries"
}

@test "meta: msg_log off: no log of writes, nothing waits" {
	unset CHAT_MSG_LOG
	start_store
	store_ok '{"op":"user.create","user":"al","password":"pw-of-al-123"}' >/dev/null
	store_ok '{"op":"user.update","user":"al","display_name":"A"}' >/dev/null
	r=$(ipc store '{"op":"status"}')
	assert_equal "$(jqr "$r" 'has("log_pending")')" false
	r=$(ipc store '{"op":"log.follow"}')
	assert_equal "$(jqr "$r" .error.code)" bad_request
	# no stream was made: nothing wrote to NATS
	[ -z "$(nats_log_info)" ] || [ "$(nats_log_info | jq -r '.error.code // 0')" = 404 ]
	# the database holds no origin file
	[ ! -e "$CHAT_HOME/db/chat-origin" ]
}

@test "meta: a store no chat-log follows answers at once and keeps its entries for the first follower" {
	start_store
	store_ok '{"op":"user.create","user":"al","password":"pw-of-al-123"}' >/dev/null
	r=$(ipc store '{"op":"status"}')
	assert_equal "$(jqr "$r" .log_pending)" 1
	assert_equal "$(jqr "$r" .log_following)" 0
	start_log
	wait_until 20 log_acked_all 1
	stream_entries | grep -q '"u/al"'
}

kept_entries() { ipc store '{"op":"scan","prefix":"L/","limit":100}' | jq '.items | length'; }
none_kept() { [ "$(kept_entries)" = 0 ]; }

@test "meta: the entries wait in the database: a store killed with SIGKILL before chat-log had them sends them when it is back" {
	start_store
	store_ok '{"op":"user.create","user":"al","password":"pw-of-al-123"}' >/dev/null
	r=$(ipc store '{"op":"status"}')
	assert_equal "$(jqr "$r" .log_pending)" 1
	# in the op's own batch
	assert_equal "$(kept_entries)" 1
	kill -KILL "$STORE_PID"
	wait "$STORE_PID" 2>/dev/null || true
	start_store
	r=$(ipc store '{"op":"status"}')
	assert_equal "$(jqr "$r" .log_pending)" 1
	start_log
	wait_until 20 log_acked_all 1
	stream_entries | grep -q '"u/al"'
	# acked: its key goes
	wait_until 20 none_kept
	# the next run numbers after it: a new entry is not taken for a resend
	store_ok '{"op":"user.create","user":"bo","password":"pw-of-bo-123"}' >/dev/null
	stop_pid "$STORE_PID"
	start_store
	wait_until 30 store_followed
	store_ok '{"op":"user.create","user":"ca","password":"pw-of-ca-123"}' >/dev/null
	n=$(stream_entries | grep -c '"u/')
	assert_equal "$n" 3
	wait_until 20 none_kept
}

@test "meta: a user's keys on the user's shard, a group's on its conversation's, friend.add on both users' shards" {
	export CHAT_LOG_SHARDS=2
	start_node
	store_ok '{"op":"user.create","user":"al","password":"pw-of-al-123"}' >/dev/null
	store_ok '{"op":"user.create","user":"bo","password":"pw-of-bo-123"}' >/dev/null
	store_ok '{"op":"user.create","user":"ca","password":"pw-of-ca-123"}' >/dev/null
	store_ok '{"op":"friend.add","user":"al","other":"bo"}' >/dev/null
	# eight groups: a group's gm/ keys once went to the shard of "gm" +
	# gid, not of g/gid, and each group had even odds to hide that
	local i
	for i in 1 2 3 4 5 6 7 8; do
		store_ok '{"op":"group.create","owner":"al","name":"t","members":["bo","ca"]}' >/dev/null
	done
	wait_until 10 log_acked_all 12
	# the shards by the test's own copy of the hash (chatlib.shard_of)
	shard() { "$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); from chatlib import shard_of; print(shard_of(sys.argv[2], 2))' \
	    "$BATS_TEST_DIRNAME/drivers" "$1"; }
	local info subj s m sub e k g r want
	subj=$("$CHAT_BIN/chat-bus" --bus "$NATS_URLS" --timeout 5000 call \
	    '$JS.API.STREAM.INFO.CHAT_LOG' '{"subjects_filter":"chat.log.>"}' \
	    2>/dev/null | jq -c .state.subjects) || true
	echo "# subjects: $subj" >&3
	# every entry: its subject is the shard of each key it holds
	info=$(nats_log_info)
	for s in $(seq "$(jqr "$info" .state.first_seq)" "$(jqr "$info" .state.last_seq)"); do
		m=$("$CHAT_BIN/chat-bus" --bus "$NATS_URLS" --timeout 5000 call \
		    '$JS.API.STREAM.MSG.GET.CHAT_LOG' "{\"seq\":$s}" 2>/dev/null) || true
		sub=$(jqr "$m" .message.subject)
		e=$(jqr "$m" .message.data | base64 -d)
		for k in $(jqr "$e" '(.puts[].key), (.dels[])'); do
			case $k in
			g/*) want=$(shard "$k") ;;
			gm/*) g=${k#gm/}; want=$(shard "g/${g%%/*}") ;;
			*/*) r=${k#*/}; want=$(shard "${r%%/*}") ;;
			esac
			assert_equal "$sub $k" "chat.log.$want $k"
		done
	done
}

@test "meta: chat-log stops (100) on a durable consumer made for another shard" {
	export CHAT_LOG_SHARDS=2
	start_store
	start_log --durable movedshard --shard 0
	stop_pid "$LOG_PID"
	run timeout 60 "$CHAT_BIN/chat-log" --durable movedshard --shard 1
	echo "$output"
	assert_failure 100
	assert_output --partial "consumer 'movedshard'"
	assert_output --partial "filters 'chat.log.0'"
	assert_output --partial "wants 'chat.log.1'"
}

@test "meta: the stream's max_age is log_max_age, set when chat-log makes or finds the stream" {
	start_node
	info=$(nats_log_info)
	assert_equal "$(jqr "$info" .config.max_age)" 604800000000000
	stop_pid "$LOG_PID"
	CHAT_LOG_MAX_AGE=3600 start_log
	max_age_is() { [ "$(nats_log_info | jq .config.max_age)" = "$1" ]; }
	wait_until 20 max_age_is 3600000000000
	# 0: kept forever
	stop_pid "$LOG_PID"
	CHAT_LOG_MAX_AGE=0 start_log
	wait_until 20 max_age_is 0
	CHAT_LOG_MAX_AGE=-1 run "$CHAT_BIN/chat-log"
	assert_failure 100
	assert_output --partial "log_max_age"
}
