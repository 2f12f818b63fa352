#!/usr/bin/env bats
# chat-api: every endpoint's success case, against a real chat-store and a
# real chat-api on a free port, driven with curl.  Error cases are in
# 21-api-errors.bats.

load helpers
load api

setup() {
	chat_setup
	export CHAT_CHATD_URL="ws://127.0.0.1:1/v1/ws"
	start_store
	start_api
}

teardown() {
	chat_teardown
}

# expect CODE: the last request answered CODE with a JSON body.
expect() {
	[ "$code" = "$1" ] || { echo "want $1, got $code: $body" >&2; return 1; }
	printf '%s' "$body" | jq -e . > /dev/null
}

# signup USER; login USER [DEVICE]: sets $TOKEN and $DEVICE.
signup() {
	req POST /v1/signup "{\"user\":\"$1\",\"password\":\"password-$1\"}"
	expect 201
}
login() {
	local dev=""
	[ -n "${2-}" ] && dev=",\"device\":\"$2\""
	req POST /v1/login "{\"user\":\"$1\",\"password\":\"password-$1\"$dev}"
	expect 200
	TOKEN=$(jqr "$body" .token)
	DEVICE=$(jqr "$body" .device)
}

@test "health answers 200 {ok:true} as application/json with its length" {
	req GET /v1/health
	expect 200
	[ "$(jqr "$body" .ok)" = true ]
	echo "$hdrs" | grep -q '^content-type: application/json'
	echo "$hdrs" | grep -q "^content-length: ${#body}\$"
}

@test "signup lower-cases the name and answers 201 {user}" {
	req POST /v1/signup '{"user":"Alice","password":"password-alice"}'
	expect 201
	[ "$(jqr "$body" .user)" = alice ]
	# only the hash is stored
	run ipc store '{"op":"get","key":"u/alice"}'
	refute_output --partial 'password-alice'
}

@test "login returns token, user, device and chat_url; a named device is reused" {
	signup alice
	login alice
	[ "$(jqr "$body" .user)" = alice ]
	[ -n "$TOKEN" ] && [ -n "$DEVICE" ]
	[ "$(jqr "$body" .chat_url)" = "$CHAT_CHATD_URL" ]
	first=$DEVICE
	login alice "$first"
	[ "$DEVICE" = "$first" ]
	login alice phone-1
	[ "$DEVICE" = phone-1 ]
	# the secret was made at first start, mode 0600
	[ "$(stat -c %a "$CHAT_HOME/etc/secret")" = 600 ]
}

@test "discover falls back to chatd_url and prefers chat-route's least-loaded chatd" {
	signup alice
	login alice
	req GET /v1/discover "" "$TOKEN"
	expect 200
	[ "$(jqr "$body" .chat_url)" = "$CHAT_CHATD_URL" ]
	# a stand-in chat-route that knows two chatds
	"${PY:-python3}" - "$CHAT_RUN/route.sock" <<'PY' &
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
while True:
    c, _ = s.accept()
    f = c.makefile("rb")
    for line in f:
        r = json.loads(line)
        rep = {"id": r.get("id"), "ok": True, "chatds": [
            {"name": "chatd-1", "url": "ws://127.0.0.1:9001/v1/ws", "conns": 7},
            {"name": "chatd-2", "url": "ws://127.0.0.1:9002/v1/ws", "conns": 3}]}
        c.sendall((json.dumps(rep) + "\n").encode())
PY
	track_pid $! fake-route
	picked() {
		req GET /v1/discover "" "$TOKEN"
		[ "$(jqr "$body" .chat_url)" = "ws://127.0.0.1:9002/v1/ws" ]
	}
	wait_until 10 picked
	login alice
	[ "$(jqr "$body" .chat_url)" = "ws://127.0.0.1:9002/v1/ws" ]
}

@test "profiles: GET /v1/users/{user}, GET and PATCH /v1/me" {
	signup alice
	signup bob
	login alice
	req PATCH /v1/me '{"display_name":"Alice A."}' "$TOKEN"
	expect 200
	[ "$(jqr "$body" .display_name)" = "Alice A." ]
	req GET /v1/me "" "$TOKEN"
	expect 200
	[ "$(jqr "$body" .user)" = alice ]
	login bob
	req GET /v1/users/alice "" "$TOKEN"
	expect 200
	[ "$(jqr "$body" .user)" = alice ]
	[ "$(jqr "$body" .display_name)" = "Alice A." ]
	[ "$(jqr "$body" '.created_at | type')" = number ]
}

@test "first session: two users sign up and become friends (README)" {
	signup alice
	signup bob
	login alice; A=$TOKEN
	login bob; B=$TOKEN
	req PUT /v1/friends/bob "" "$A"
	expect 200
	[ "$(jqr "$body" .user)" = bob ]
	[ "$(jqr "$body" .state)" = requested ]
	# bob sees a pending request, without presence
	req GET /v1/friends "" "$B"
	expect 200
	[ "$(jqr "$body" '.friends[0].user')" = alice ]
	[ "$(jqr "$body" '.friends[0].state')" = pending ]
	[ "$(jqr "$body" '.friends[0] | has("status")')" = false ]
	req PUT /v1/friends/alice "" "$B"
	expect 200
	[ "$(jqr "$body" .state)" = friends ]
	req GET /v1/friends "" "$A"
	expect 200
	[ "$(jqr "$body" '.friends | length')" = 1 ]
	[ "$(jqr "$body" '.friends[0].user')" = bob ]
	[ "$(jqr "$body" '.friends[0].state')" = friends ]
	[ "$(jqr "$body" '.friends[0].status')" = offline ]
	[ "$(jqr "$body" '.friends[0].last_active_at')" = 0 ]
}

@test "friends list shows status and last_active_at from the store" {
	signup alice
	signup bob
	login alice; A=$TOKEN
	login bob; B=$TOKEN
	req PUT /v1/friends/bob "" "$A"
	req PUT /v1/friends/alice "" "$B"
	run ipc store '{"op":"presence.set","user":"bob","status":"online","last_active_at":1700000000123}'
	assert_output --partial '"ok":true'
	req GET /v1/friends "" "$A"
	expect 200
	[ "$(jqr "$body" '.friends[0].status')" = online ]
	[ "$(jqr "$body" '.friends[0].last_active_at')" = 1700000000123 ]
}

@test "DELETE /v1/friends/{user} ends a friendship" {
	signup alice
	signup bob
	login alice
	req PUT /v1/friends/bob "" "$TOKEN"
	req DELETE /v1/friends/bob "" "$TOKEN"
	expect 200
	req GET /v1/friends "" "$TOKEN"
	expect 200
	[ "$(jqr "$body" '.friends | length')" = 0 ]
}

@test "groups: create, list, read, add and remove members" {
	for u in alice bob carol dave; do signup $u; done
	login alice; A=$TOKEN
	login bob; B=$TOKEN
	login carol; C=$TOKEN
	req POST /v1/groups '{"name":"team","members":["bob"]}' "$A"
	expect 201
	gid=$(jqr "$body" .group)
	[[ $gid =~ ^g_[a-z0-9]{1,32}$ ]]
	[ "$(jqr "$body" .name)" = team ]
	[ "$(jqr "$body" .owner)" = alice ]
	[ "$(jqr "$body" '.members | sort | join(",")')" = alice,bob ]
	req GET /v1/groups "" "$B"
	expect 200
	[ "$(jqr "$body" '.groups[0].group')" = "$gid" ]
	[ "$(jqr "$body" '.groups[0].name')" = team ]
	req GET "/v1/groups/$gid" "" "$B"
	expect 200
	[ "$(jqr "$body" .owner)" = alice ]
	# any member adds
	req PUT "/v1/groups/$gid/members/carol" "" "$B"
	expect 200
	req PUT "/v1/groups/$gid/members/dave" "" "$C"
	expect 200
	req GET "/v1/groups/$gid" "" "$A"
	[ "$(jqr "$body" '.members | sort | join(",")')" = alice,bob,carol,dave ]
	# the owner removes anyone, a member removes itself
	req DELETE "/v1/groups/$gid/members/dave" "" "$A"
	expect 200
	req DELETE "/v1/groups/$gid/members/carol" "" "$C"
	expect 200
	req GET "/v1/groups/$gid" "" "$A"
	[ "$(jqr "$body" '.members | sort | join(",")')" = alice,bob ]
}

@test "presence: friends by users=, fellow members by group=, strangers left out" {
	for u in alice bob carol; do signup $u; done
	login alice; A=$TOKEN
	login bob; B=$TOKEN
	req PUT /v1/friends/bob "" "$A"
	req PUT /v1/friends/alice "" "$B"
	ipc store '{"op":"presence.set","user":"bob","status":"online","last_active_at":1700000000000}'
	req GET "/v1/presence?users=bob,carol" "" "$A"
	expect 200
	[ "$(jqr "$body" '.presence | length')" = 1 ]
	[ "$(jqr "$body" '.presence[0].user')" = bob ]
	[ "$(jqr "$body" '.presence[0].status')" = online ]
	[ "$(jqr "$body" '.presence[0].last_active_at')" = 1700000000000 ]
	req POST /v1/groups '{"name":"g","members":["carol"]}' "$A"
	gid=$(jqr "$body" .group)
	req GET "/v1/presence?group=$gid" "" "$A"
	expect 200
	[ "$(jqr "$body" '[.presence[].user] | sort | join(",")')" = alice,carol ]
	[ "$(jqr "$body" '.presence[] | select(.user == "carol") | .status')" = offline ]
}

@test "history: 1:1 and group, newest first, limit and before" {
	signup alice
	signup bob
	login alice; A=$TOKEN
	for i in 1 2 3; do
		run ipc store "{\"op\":\"msg.append\",\"from\":\"alice\",\"device\":\"d1\",\"cid\":\"c$i\",\"to\":\"bob\",\"body\":\"hello $i\"}"
		assert_output --partial '"ok":true'
	done
	req GET /v1/conversations/bob/messages "" "$A"
	expect 200
	[ "$(jqr "$body" '.messages | length')" = 3 ]
	[ "$(jqr "$body" '[.messages[].body] | join(",")')" = "hello 3,hello 2,hello 1" ]
	[ "$(jqr "$body" '.messages[0] | has("device")')" = false ]
	[ "$(jqr "$body" '.messages[0].from')" = alice ]
	[ "$(jqr "$body" '.messages[0].to')" = bob ]
	[ "$(jqr "$body" '.messages[0].cid')" = c3 ]
	newest=$(jqr "$body" '.messages[0].id')
	[[ $newest =~ ^[0-9a-f]{16}$ ]]
	req GET "/v1/conversations/bob/messages?limit=1" "" "$A"
	expect 200
	[ "$(jqr "$body" '[.messages[].body] | join(",")')" = "hello 3" ]
	req GET "/v1/conversations/bob/messages?before=$newest&limit=200" "" "$A"
	expect 200
	[ "$(jqr "$body" '[.messages[].body] | join(",")')" = "hello 2,hello 1" ]
	# bob sees the same conversation from his side
	login bob
	req GET /v1/conversations/alice/messages "" "$TOKEN"
	expect 200
	[ "$(jqr "$body" '.messages | length')" = 3 ]
	# a group conversation
	req POST /v1/groups '{"name":"g","members":["alice"]}' "$TOKEN"
	gid=$(jqr "$body" .group)
	ipc store "{\"op\":\"msg.append\",\"from\":\"bob\",\"device\":\"d2\",\"cid\":\"g1\",\"group\":\"$gid\",\"body\":\"to all\"}"
	req GET "/v1/conversations/$gid/messages" "" "$A"
	expect 200
	[ "$(jqr "$body" '.messages[0].body')" = "to all" ]
	[ "$(jqr "$body" '.messages[0].group')" = "$gid" ]
}

@test "history: a large answer (3 MiB) is written whole, in chunks" {
	signup alice
	signup bob
	login alice
	# 200 messages of the largest body, bob to alice, on one connection
	"${PY:-python3}" - "$CHAT_RUN/store.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
for i in range(1, 201):
    s.sendall((json.dumps({"op": "msg.append", "id": i, "from": "bob",
        "device": "d", "cid": "c%d" % i, "to": "alice",
        "body": "x" * 16384}) + "\n").encode())
    assert json.loads(f.readline())["ok"]
PY
	code=$(curl -s -o "$BATS_TEST_TMPDIR/h.json" -w '%{http_code}' \
	    -H "Authorization: Bearer $TOKEN" "$API/v1/conversations/bob/messages?limit=200")
	[ "$code" = 200 ]
	[ "$(jq '.messages | length' "$BATS_TEST_TMPDIR/h.json")" = 200 ]
	[ "$(jq '[.messages[].body | length] | add' "$BATS_TEST_TMPDIR/h.json")" = $((200 * 16384)) ]
	[ "$(jq -r '.messages[0].cid' "$BATS_TEST_TMPDIR/h.json")" = c200 ]
}

@test "push: PUT and DELETE /v1/devices/{device}/push on the caller's device" {
	signup alice
	login alice
	req PUT "/v1/devices/$DEVICE/push" '{"provider":"ntfy","endpoint":"https://ntfy.example/t1"}' "$TOKEN"
	expect 200
	run ipc store "{\"op\":\"device.get\",\"user\":\"alice\",\"device\":\"$DEVICE\"}"
	[ "$(jqr "$output" .push.provider)" = ntfy ]
	[ "$(jqr "$output" .push.endpoint)" = https://ntfy.example/t1 ]
	req PUT "/v1/devices/$DEVICE/push" '{"provider":"fcm","endpoint":"proj-1","token":"tok"}' "$TOKEN"
	expect 200
	req DELETE "/v1/devices/$DEVICE/push" "" "$TOKEN"
	expect 200
	run ipc store "{\"op\":\"device.get\",\"user\":\"alice\",\"device\":\"$DEVICE\"}"
	[ "$(jqr "$output" 'has("push")')" = false ]
}

@test "logout answers 200 and the token stops working at once" {
	signup alice
	login alice
	req GET /v1/friends "" "$TOKEN"
	expect 200
	req POST /v1/logout "" "$TOKEN"
	expect 200
	req GET /v1/friends "" "$TOKEN"
	expect 401
	[ "$(jqr "$body" .error.code)" = unauthorized ]
	# a new login on the same device works again, the old token does not
	old=$TOKEN
	login alice "$DEVICE"
	req GET /v1/friends "" "$TOKEN"
	expect 200
	req GET /v1/friends "" "$old"
	expect 401
}

@test "tokens expire after token_ttl" {
	stop_pid "$API_PID"
	# Expiry has one-second granularity, so a TTL of 1 may end a token
	# within milliseconds of its making; and on a loaded machine the login
	# and the first request may lie two seconds apart: 5.
	export CHAT_TOKEN_TTL=5
	start_api
	signup alice
	login alice
	req GET /v1/friends "" "$TOKEN"
	expect 200
	expired() { req GET /v1/friends "" "$TOKEN"; [ "$code" = 401 ]; }
	wait_until 12 expired
	[ "$(jqr "$body" .error.code)" = unauthorized ]
	[[ "$(jqr "$body" .error.message)" == *expired* ]]
}

@test "keep-alive: several requests on one connection" {
	run curl -sv -H 'Expect:' "$API/v1/health" "$API/v1/nope" "$API/v1/health"
	assert_output --partial 'Re-using existing connection'
	[ "$(printf '%s' "$output" | grep -c '"ok":true')" = 2 ]
	# and after a request with a body
	signup alice
	run curl -sv -H 'Expect:' -d '{"user":"alice","password":"password-alice"}' \
	    "$API/v1/login" "$API/v1/login"
	assert_output --partial 'Re-using existing connection'
	[ "$(printf '%s' "$output" | grep -o '"token"' | wc -l)" = 2 ]
	# HEAD gets headers only, so the connection stays usable
	run curl -sv -I "$API/v1/health" "$API/v1/health"
	assert_output --partial 'Re-using existing connection'
}

@test "Expect: 100-continue is answered, so the body is not held back" {
	# a body that fails validation at once, so only the wait could be slow
	run curl -sv -m 5 -w '\n%{time_total}\n' -H 'Expect: 100-continue' \
	    -d '{"user":"alice","pass":"x"}' "$API/v1/login"
	assert_output --partial '< HTTP/1.1 100 Continue'
	assert_output --partial "'password'"
	# curl waits 1 s for a 100 that never comes; this one came
	[ "$(printf '%s' "$output" | tail -1 | cut -d. -f1)" = 0 ]
}

@test "store killed: 503 unavailable; store back: 200 without restarting chat-api" {
	signup alice
	login alice
	kill -KILL "$STORE_PID"
	wait "$STORE_PID" 2>/dev/null || true
	req GET /v1/friends "" "$TOKEN"
	expect 503
	[ "$(jqr "$body" .error.code)" = unavailable ]
	req POST /v1/signup '{"user":"bob","password":"password-bob"}'
	expect 503
	start_store
	back() { req GET /v1/friends "" "$TOKEN"; [ "$code" = 200 ]; }
	wait_until 10 back
	signup bob
	kill -0 "$API_PID"
}

@test "api.sock answers ping and status" {
	run ipc api '{"op":"ping"}'
	assert_output --partial '"ok":true'
	req GET /v1/health
	run ipc api '{"op":"status"}'
	assert_output --partial '"ok":true'
	[ "$(jqr "$output" '.requests >= 1')" = true ]
	[ "$(jqr "$output" .store_connected)" = true ]
	run ipc api '{"op":"nope"}'
	assert_output --partial unknown_op
}

@test "--help prints usage and exits 0; a bad option exits 100" {
	run "$CHAT_BIN/chat-api" --help
	[ "$status" = 0 ]
	assert_output --partial usage
	run "$CHAT_BIN/chat-api" --bogus
	[ "$status" = 100 ]
	run "$CHAT_BIN/chat-api" --listen nonsense
	[ "$status" = 100 ]
}

@test "a password is stored only as a yescrypt hash: not in the database, not in a log" {
	pw='Plain-Text-Sesame-42'
	req POST /v1/signup "{\"user\":\"alice\",\"password\":\"$pw\"}"
	expect 201
	req POST /v1/login "{\"user\":\"alice\",\"password\":\"$pw\"}"
	expect 200
	run ipc store '{"op":"get","key":"u/alice"}'
	[[ "$(jqr "$output" .value.hash)" == '$y$'* ]]
	stop_pid "$API_PID"
	stop_pid "$STORE_PID"
	run "$CHAT_BIN/chat-store" export
	assert_success
	refute_output --partial "$pw"
	! grep -rqa -- "$pw" "$CHAT_HOME/db" "$CHAT_HOME/log"
}

@test "the secret made at first start is kept: a token outlives a chat-api restart" {
	signup alice
	login alice
	secret=$(od -An -tx1 "$CHAT_HOME/etc/secret")
	stop_pid "$API_PID"
	start_api
	[ "$(od -An -tx1 "$CHAT_HOME/etc/secret")" = "$secret" ]
	[ "$(stat -c %a "$CHAT_HOME/etc/secret")" = 600 ]
	req GET /v1/friends "" "$TOKEN"
	expect 200
}
