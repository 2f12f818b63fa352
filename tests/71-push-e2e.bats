#!/usr/bin/env bats
# Push end to end: a message sent through chatd and chat-route to a recipient
# with no online device becomes one chat-push job per registered device, and
# one webhook request at a local stub (tests/drivers/push_stub.py).  Real
# chat-store, chat-route, chatd and chat-push; registrations are made with
# chat-store's push.set (what PUT /v1/devices/{device}/push does), WebSocket
# clients by tests/drivers/push_e2e.py (chatlib).

load helpers

STUB="$BATS_TEST_DIRNAME/drivers/push_stub.py"
DRV="$BATS_TEST_DIRNAME/drivers/push_e2e.py"

setup() {
	chat_setup
	export CHAT_PUSH_COLLAPSE_MS=100
	export CHAT_PUSH_BACKOFF_MS=200
	export CHAT_PUSH_BACKOFF_MAX_MS=800
	"$PY" "$BATS_TEST_DIRNAME/drivers/msgtest.py" seed \
	    --names alice,bob,carol,dave,erin | "$CHAT_BIN/chat-store" import 2>/dev/null
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	start_daemon chat-route
	ROUTE_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/route.sock"
	local port
	port=$(free_port)
	start_daemon chatd --listen "127.0.0.1:$port"
	URL="ws://127.0.0.1:$port/v1/ws"
	wait_for_sock "$CHAT_RUN/chatd-$port.sock"
	port=$(free_port)
	"$PY" "$STUB" "$port" "$BATS_TEST_TMPDIR/hook.log" \
	    2>>"$BATS_TEST_TMPDIR/hook.err" &
	track_pid $! stub
	HOOK="http://127.0.0.1:$port/hook"
	touch "$BATS_TEST_TMPDIR/hook.log"
	wait_until 10 test -e "$BATS_TEST_TMPDIR/hook.log.ready"
}

teardown() {
	chat_teardown
}

push_start() {
	start_daemon chat-push
	PUSH_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/push.sock"
}

# register USER: a new device of USER with a webhook registration at
# $HOOK/USER/DEVICE; the device id is printed
register() {
	local dev r
	dev=$(jqr "$(ipc store "{\"op\":\"device.login\",\"user\":\"$1\"}")" .device)
	r=$(ipc store "$(jq -cn --arg u "$1" --arg d "$dev" --arg e "$HOOK/$1/$dev" \
	    '{op:"push.set", user:$u, device:$d, provider:"webhook", endpoint:$e}')")
	[ "$(jqr "$r" .ok)" = true ] || { echo "push.set: $r" >&2; return 1; }
	echo "$dev"
}

# send ARGS...: push_e2e.py send; the ack in $ACK, its id in $MID
send() {
	run "$PY" "$DRV" send --url "$URL" "$@"
	echo "$output"
	assert_success
	ACK=$output
	MID=$(jqr "$ACK" .id)
}

reqs() { jq -c "select(${1:-true})" "$BATS_TEST_TMPDIR/hook.log"; }
nreqs_is() { [ "$(reqs "$2" | wc -l)" -eq "$1" ]; }
route_stat() { jqr "$(ipc route '{"op":"status"}')" ".$1"; }
push_stat() { jqr "$(ipc push '{"op":"push.status"}')" ".$1"; }
stat_is() { [ "$("$1" "$2")" = "$3" ]; }

@test "an offline user's registered device gets exactly one webhook request: sender and conversation, no text" {
	push_start
	bob_dev=$(register bob)
	register alice >/dev/null	# the sender's own offline device: none
	send --from alice --to bob --body "the secret text"
	wait_until 5 nreqs_is 1
	sleep 0.5	# past the collapse window and any retry
	nreqs_is 1
	r=$(reqs)
	[ "$(jqr "$r" .method)" = POST ]
	[ "$(jqr "$r" .path)" = "/hook/bob/$bob_dev" ]
	[ "$(jqr "$r" '.headers["idempotency-key"]')" = "$MID" ]
	b=$(jqr "$r" .body)
	[ "$(jqr "$b" .user)" = bob ]
	[ "$(jqr "$b" .device)" = "$bob_dev" ]
	[ "$(jqr "$b" .from)" = alice ]
	[ "$(jqr "$b" .conv)" = d/alice/bob ]
	[ "$(jqr "$b" .msg_id)" = "$MID" ]
	[ "$(jqr "$b" .ts)" = "$(jqr "$ACK" .ts)" ]
	[ "$(jqr "$b" .title)" = alice ]
	[ "$(jqr "$b" .text)" = "New message" ]
	[ "$(jqr "$b" 'has("body")')" = false ]
	! grep -q "secret text" "$BATS_TEST_TMPDIR/hook.log"
	[ "$(route_stat push_enqueued)" = 1 ]
	[ "$(route_stat push_lookups)" = 1 ]
}

@test "a registration made with chat-api's PUT /v1/devices/{device}/push is used, with its token" {
	push_start
	local port body dev tok
	port=$(free_port)
	start_daemon chat-api --listen "127.0.0.1:$port"
	wait_for_sock "$CHAT_RUN/api.sock"
	wait_until 5 curl -sf -o /dev/null "http://127.0.0.1:$port/v1/health"
	body=$(curl -sf -H 'Content-Type: application/json' -d \
	    '{"user":"bob","password":"password1"}' "http://127.0.0.1:$port/v1/login")
	dev=$(jqr "$body" .device)
	tok=$(jqr "$body" .token)
	curl -sf -X PUT -H "Authorization: Bearer $tok" \
	    -H 'Content-Type: application/json' -d "$(jq -cn --arg e "$HOOK/api" \
	    '{provider:"webhook", endpoint:$e, token:"tok-b"}')" \
	    "http://127.0.0.1:$port/v1/devices/$dev/push"
	send --from alice --to bob
	wait_until 5 nreqs_is 1
	r=$(reqs)
	[ "$(jqr "$r" .path)" = /hook/api ]
	[ "$(jqr "$r" .headers.authorization)" = "Bearer tok-b" ]
	[ "$(jqr "$(jqr "$r" .body)" .device)" = "$dev" ]
}

@test "an online recipient gets no notification, and costs no store lookup" {
	push_start
	register bob >/dev/null
	send --from alice --to bob --online bob
	# the sender is online too, and carol (a device, no registration) is not
	# a recipient: nothing to look up at all
	sleep 0.5
	nreqs_is 0
	[ "$(route_stat push_lookups)" = 0 ]
	[ "$(route_stat push_enqueued)" = 0 ]
	[ "$(push_stat enqueued)" = 0 ]
}

@test "a group message to 3 offline members makes one request per registered device" {
	push_start
	bob_dev=$(register bob)
	carol_dev=$(register carol)
	dave1=$(register dave)
	dave2=$(register dave)
	ipc store '{"op":"device.login","user":"dave"}' >/dev/null	# no registration
	register erin >/dev/null	# online when the message is sent: none
	r=$(ipc store '{"op":"group.create","owner":"alice","name":"Team","members":["bob","carol","dave","erin"]}')
	gid=$(jqr "$r" .group)
	send --from alice --group "$gid" --online erin
	wait_until 5 nreqs_is 4
	sleep 0.5
	nreqs_is 4
	[ "$(reqs | jq -r '.path' | sort | tr '\n' ' ')" = \
	    "$(printf '%s\n' "/hook/bob/$bob_dev" "/hook/carol/$carol_dev" \
	    "/hook/dave/$dave1" "/hook/dave/$dave2" | sort | tr '\n' ' ')" ]
	[ "$(reqs | jq -c --arg g "$gid" --arg m "$MID" '.body | fromjson |
	    select(.conv == $g and .group == "Team" and .title == "alice in Team"
	    and .msg_id == $m and .from == "alice" and .count == 1)' | wc -l)" = 4 ]
	# three offline members looked up, one group name
	[ "$(route_stat push_lookups)" = 4 ]
}

@test "chat-push down when the messages are sent, then up: each notification arrives once" {
	push_start
	wait_until 5 stat_is route_stat push_connected true
	stop_pid "$PUSH_PID"
	bob_dev=$(register bob)
	carol_dev=$(register carol)
	send --from alice --to bob
	send --from alice --to carol
	# acked and waiting in chat-route (with the cancels of alice's devices
	# coming online), logged once
	wait_until 5 stat_is route_stat 'push_pending >= 2' true
	[ "$(grep -c "chat-push is not connected" "$CHAT_HOME/log/chat-route.log")" = 1 ]
	nreqs_is 0
	push_start
	wait_until 10 nreqs_is 2
	wait_until 5 stat_is route_stat push_pending 0
	sleep 0.5
	nreqs_is 2
	nreqs_is 1 ".path == \"/hook/bob/$bob_dev\""
	nreqs_is 1 ".path == \"/hook/carol/$carol_dev\""
	[ "$(grep -c "connected to chat-push" "$CHAT_HOME/log/chat-route.log")" = 2 ]
}

@test "without chat-push, sends are acked and delivered as usual" {
	register bob >/dev/null
	send --from alice --to bob
	send --from alice --to carol --online carol
	[ "$(route_stat acks)" = 2 ]
	[ "$(route_stat push_connected)" = false ]
	kill -0 "$ROUTE_PID"
}

@test "a user who comes online has its waiting jobs cancelled" {
	# a collapse window long enough that the job is surely still waiting
	# when bob comes online, even on a loaded machine under ASan (3 s was
	# not: the job went out before the driver had connected)
	export CHAT_PUSH_COLLAPSE_MS=20000
	push_start
	register bob >/dev/null
	send --from alice --to bob
	wait_until 5 stat_is push_stat queued 1
	run "$PY" "$DRV" online --url "$URL" --user bob --secs 0.2
	assert_success
	wait_until 5 stat_is push_stat queued 0
	[ "$(push_stat cancelled)" = 1 ]
	[ "$(route_stat push_cancelled)" = 1 ]
	# The queue is empty, so nothing is left to go out when the window
	# ends; and nothing went out before.
	nreqs_is 0
}

@test "chat-route(1) is mandoc -Tlint clean" {
	run mandoc -Tlint -W warning "$BATS_TEST_DIRNAME/../man/man1/chat-route.1"
	assert_success
}
