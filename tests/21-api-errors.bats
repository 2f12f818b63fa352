#!/usr/bin/env bats
# chat-api: each error case of the HTTP API (status, code, a message naming
# the field), and that no client input crashes it or gives a 500.  Real
# chat-store, real chat-api on a free port, curl.

load helpers
load api

setup() {
	chat_setup
	export CHAT_GROUP_MAX_MEMBERS=3
	start_store
	start_api
}

teardown() {
	chat_teardown
}

# fails CODE ERROR [TEXT]: the last request answered CODE with
# {"error":{"code":ERROR,"message":...}} whose message contains TEXT.
fails() {
	[ "$code" = "$1" ] || { echo "want $1, got $code: $body" >&2; return 1; }
	[ "$(jqr "$body" .error.code)" = "$2" ] || { echo "body: $body" >&2; return 1; }
	[ -z "${3-}" ] || [[ "$(jqr "$body" .error.message)" == *"$3"* ]] ||
	    { echo "message: $body" >&2; return 1; }
}

signup() {
	req POST /v1/signup "{\"user\":\"$1\",\"password\":\"password-$1\"}"
	[ "$code" = 201 ]
}
login() {
	req POST /v1/login "{\"user\":\"$1\",\"password\":\"password-$1\"}"
	[ "$code" = 200 ]
	TOKEN=$(jqr "$body" .token)
	DEVICE=$(jqr "$body" .device)
}

@test "unknown path: 404 not_found" {
	req GET /v1/nope
	fails 404 not_found /v1/nope
	req GET /v1/health/
	fails 404 not_found
	req GET /
	fails 404 not_found
	req GET /v1/users/alice/extra
	fails 404 not_found
}

@test "wrong method: 405 method_not_allowed with an Allow header" {
	req DELETE /v1/health
	fails 405 method_not_allowed
	echo "$hdrs" | grep -q '^allow: get$'
	req GET /v1/signup
	fails 405 method_not_allowed
	echo "$hdrs" | grep -q '^allow: post$'
	req POST /v1/friends/bob '{}'
	fails 405 method_not_allowed
	echo "$hdrs" | grep -q '^allow: put, delete$'
	req PATCH /v1/groups
	echo "$hdrs" | grep -q '^allow: get, post$'
}

@test "401 unauthorized: missing, malformed, bad scheme, tampered token" {
	signup alice
	login alice
	req GET /v1/friends
	fails 401 unauthorized missing
	req GET /v1/friends "" garbage
	fails 401 unauthorized
	run curl -s -H 'Authorization: Basic YWxpY2U6eA==' "$API/v1/friends"
	[ "$(jqr "$output" .error.code)" = unauthorized ]
	# one character of the MAC changed
	last=${TOKEN: -1}; [ "$last" = A ] && repl=B || repl=A
	req GET /v1/friends "" "${TOKEN%?}$repl"
	fails 401 unauthorized
	# the same claims under another secret
	stop_pid "$API_PID"
	rm "$CHAT_HOME/etc/secret"
	start_api
	req GET /v1/friends "" "$TOKEN"
	fails 401 unauthorized
	# every endpoint but health, signup and login needs a token
	for ep in "POST /v1/logout" "GET /v1/discover" "GET /v1/users/alice" \
	    "GET /v1/me" "GET /v1/friends" "PUT /v1/friends/bob" \
	    "DELETE /v1/friends/bob" "GET /v1/groups" "GET /v1/groups/g_x" \
	    "PUT /v1/groups/g_x/members/bob" "DELETE /v1/groups/g_x/members/bob" \
	    "GET /v1/presence?users=bob" "GET /v1/conversations/bob/messages" \
	    "DELETE /v1/devices/d/push"; do
		req ${ep% *} "${ep#* }"
		fails 401 unauthorized
	done
	req PATCH /v1/me '{"display_name":"x"}'
	fails 401 unauthorized
	req POST /v1/groups '{"name":"x","members":[]}'
	fails 401 unauthorized
	req PUT /v1/devices/d/push '{"provider":"fcm","endpoint":"x"}'
	fails 401 unauthorized
}

@test "login: wrong password or unknown user is 401" {
	signup alice
	req POST /v1/login '{"user":"alice","password":"wrong-password"}'
	fails 401 unauthorized
	req POST /v1/login '{"user":"nobody","password":"password-x"}'
	fails 401 unauthorized
	req POST /v1/login '{"user":"alice","password":"password-alice","device":"bad device!"}'
	fails 400 bad_request "'device'"
}

@test "413 too_large for a 65537-byte body, and the server goes on" {
	head -c 65537 /dev/zero | tr '\0' ' ' > "$BATS_TEST_TMPDIR/big"
	code=$(curl -s -o "$BATS_TEST_TMPDIR/out" -w '%{http_code}' \
	    --data-binary @"$BATS_TEST_TMPDIR/big" "$API/v1/signup")
	[ "$code" = 413 ]
	[ "$(jq -r .error.code "$BATS_TEST_TMPDIR/out")" = too_large ]
	# 65536 bytes is within the limit: whitespace around a JSON object
	{ printf '{"user":"alice","password":"password-alice"}'; head -c $((65536 - 44)) /dev/zero | tr '\0' ' '; } > "$BATS_TEST_TMPDIR/max"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/max")" = 65536 ]
	code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Expect:' \
	    --data-binary @"$BATS_TEST_TMPDIR/max" "$API/v1/signup")
	[ "$code" = 201 ]
	# with Expect: 100-continue too, and a lying huge Content-Length
	code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' \
	    --data-binary @"$BATS_TEST_TMPDIR/big" "$API/v1/login")
	[ "$code" = 413 ]
	run curl -s -m 5 -H 'Content-Length: 99999999999' -d x "$API/v1/login"
	[ "$(jqr "$output" .error.code)" = too_large ]
	req GET /v1/health
	[ "$code" = 200 ]
}

@test "malformed JSON, a non-object, a missing body: 400 bad_request" {
	req POST /v1/signup '{"user":"alice",'
	fails 400 bad_request "invalid JSON"
	req POST /v1/signup '["alice"]'
	fails 400 bad_request object
	req POST /v1/signup '{"user":"alice","password":"password-alice"} x'
	fails 400 bad_request
	run curl -s -X POST "$API/v1/signup"
	[ "$(jqr "$output" .error.code)" = bad_request ]
	req POST /v1/signup '{}'
	fails 400 bad_request "'user'"
}

@test "signup: each field is validated and named; user_exists is 409" {
	req POST /v1/signup '{"user":5,"password":"password-x"}'
	fails 400 bad_request "'user'"
	req POST /v1/signup '{"user":"-bad","password":"password-x"}'
	fails 400 bad_request "'user'"
	req POST /v1/signup '{"user":"has space","password":"password-x"}'
	fails 400 bad_request "'user'"
	req POST /v1/signup "{\"user\":\"$(printf 'a%.0s' $(seq 33))\",\"password\":\"password-x\"}"
	fails 400 bad_request "'user'"
	req POST /v1/signup '{"user":"alice"}'
	fails 400 bad_request "'password'"
	req POST /v1/signup '{"user":"alice","password":"short"}'
	fails 400 bad_request "'password'"
	req POST /v1/signup "{\"user\":\"alice\",\"password\":\"$(printf 'p%.0s' $(seq 257))\"}"
	fails 400 bad_request "'password'"
	req POST /v1/signup '{"user":"alice","password":["x"]}'
	fails 400 bad_request "'password'"
	req POST /v1/signup "{\"user\":\"alice\",\"password\":\"password-x\",\"display_name\":\"$(printf 'd%.0s' $(seq 65))\"}"
	fails 400 bad_request "'display_name'"
	signup alice
	req POST /v1/signup '{"user":"ALICE","password":"password-alice"}'
	fails 409 user_exists
}

@test "profiles: no_such_user 404, bad names and display names 400" {
	signup alice
	login alice
	req GET /v1/users/nobody "" "$TOKEN"
	fails 404 no_such_user
	req GET "/v1/users/bad%20name" "" "$TOKEN"
	fails 400 bad_request "'user'"
	req PATCH /v1/me '{}' "$TOKEN"
	fails 400 bad_request "'display_name'"
	req PATCH /v1/me '{"display_name":"a\nb"}' "$TOKEN"
	fails 400 bad_request "'display_name'"
	req PATCH /v1/me '{"display_name":7}' "$TOKEN"
	fails 400 bad_request "'display_name'"
}

@test "friends: yourself 400, an unknown user 404" {
	signup alice
	login alice
	req PUT /v1/friends/alice "" "$TOKEN"
	fails 400 bad_request
	req PUT /v1/friends/nobody "" "$TOKEN"
	fails 404 no_such_user
	req PUT /v1/friends/Bad! "" "$TOKEN"
	fails 400 bad_request "'user'"
}

@test "groups: not_member 403, no_such_group 404, group_full 409, bad fields 400" {
	for u in alice bob carol dave eve; do signup $u; done
	login eve; E=$TOKEN
	login alice; A=$TOKEN
	req POST /v1/groups '{"name":"g","members":["bob"]}' "$A"
	[ "$code" = 201 ]
	gid=$(jqr "$body" .group)
	req GET "/v1/groups/$gid" "" "$E"
	fails 403 not_member
	req PUT "/v1/groups/$gid/members/eve" "" "$E"
	fails 403 not_member
	req GET /v1/groups/g_nosuchgroup "" "$A"
	fails 404 no_such_group
	req GET /v1/groups/notagroup "" "$A"
	fails 400 bad_request "'gid'"
	# the cap is 3 here (CHAT_GROUP_MAX_MEMBERS)
	req PUT "/v1/groups/$gid/members/carol" "" "$A"
	[ "$code" = 200 ]
	req PUT "/v1/groups/$gid/members/dave" "" "$A"
	fails 409 group_full
	req POST /v1/groups '{"name":"big","members":["bob","carol","dave"]}' "$A"
	fails 409 group_full
	# a member other than the owner cannot remove someone else
	login bob
	req DELETE "/v1/groups/$gid/members/carol" "" "$TOKEN"
	fails 403 not_owner
	req POST /v1/groups '{"members":[]}' "$A"
	fails 400 bad_request "'name'"
	req POST /v1/groups '{"name":"x","members":"bob"}' "$A"
	fails 400 bad_request "'members'"
	req POST /v1/groups '{"name":"x","members":["bob",3]}' "$A"
	fails 400 bad_request "'members'"
	req POST /v1/groups '{"name":"x","members":["nobody"]}' "$A"
	fails 404 no_such_user
}

@test "presence: a query is required, group members only" {
	signup alice
	signup bob
	login bob
	req POST /v1/groups '{"name":"g","members":[]}' "$TOKEN"
	gid=$(jqr "$body" .group)
	login alice
	req GET /v1/presence "" "$TOKEN"
	fails 400 bad_request "'users'"
	req GET "/v1/presence?users=bob&group=$gid" "" "$TOKEN"
	fails 400 bad_request
	req GET "/v1/presence?users=bob,,x" "" "$TOKEN"
	fails 400 bad_request "'users'"
	req GET "/v1/presence?group=$gid" "" "$TOKEN"
	fails 403 not_member
	req GET "/v1/presence?group=nope" "" "$TOKEN"
	fails 400 bad_request "'group'"
	# a stranger is left out, not an error
	req GET "/v1/presence?users=bob" "" "$TOKEN"
	[ "$code" = 200 ]
	[ "$(jqr "$body" '.presence | length')" = 0 ]
}

@test "history: before and limit are validated; another group's history is 403" {
	signup alice
	signup bob
	login bob
	req POST /v1/groups '{"name":"g","members":[]}' "$TOKEN"
	gid=$(jqr "$body" .group)
	login alice
	for q in limit=0 limit=201 limit=abc limit= limit=-1 before=xyz before=00000000000000zz; do
		req GET "/v1/conversations/bob/messages?$q" "" "$TOKEN"
		fails 400 bad_request "'${q%%=*}'"
	done
	req GET "/v1/conversations/$gid/messages" "" "$TOKEN"
	fails 403 not_member
	req GET "/v1/conversations/Bad!/messages" "" "$TOKEN"
	fails 400 bad_request "'conv'"
}

@test "push: another device is 403, bad provider and endpoint 400" {
	signup alice
	login alice
	req PUT /v1/devices/someone-else/push '{"provider":"fcm","endpoint":"x"}' "$TOKEN"
	fails 403 forbidden
	req DELETE /v1/devices/someone-else/push "" "$TOKEN"
	fails 403 forbidden
	req PUT "/v1/devices/$DEVICE/push" '{"provider":"carrier-pigeon","endpoint":"x"}' "$TOKEN"
	fails 400 bad_request "'provider'"
	req PUT "/v1/devices/$DEVICE/push" '{"provider":"webhook","endpoint":"ftp://x"}' "$TOKEN"
	fails 400 bad_request "'endpoint'"
	req PUT "/v1/devices/$DEVICE/push" '{"provider":"webhook"}' "$TOKEN"
	fails 400 bad_request "'endpoint'"
}

@test "store down: 503 unavailable within the call timeout, never a 500" {
	signup alice
	login alice
	stop_pid "$STORE_PID"
	start=$(date +%s%N)
	req GET /v1/me "" "$TOKEN"
	fails 503 unavailable
	req POST /v1/login '{"user":"alice","password":"password-alice"}'
	fails 503 unavailable
	[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 8000 ]
	req GET /v1/health
	[ "$code" = 200 ]
}

@test "hostile input never crashes it and never gives a 500" {
	signup alice
	login alice
	bodies=('' 'null' '1' '"x"' '{"user":null}' '{"user":{},"password":[]}'
	    '{"user":"alice","password":"password-alice","device":""}'
	    $'{"user":"\xff\xfe","password":"password-x"}' '{"a":'"$(printf '[%.0s' $(seq 3000))"'}'
	    '{"display_name":"\u0000"}' '{"name":"","members":null}' '{"name":"x","members":[null]}')
	paths=(/v1/signup /v1/login /v1/me /v1/groups /v1/friends/alice
	    "/v1/presence?users=%ff" "/v1/conversations/%00/messages"
	    "/v1/devices/$DEVICE/push" /v1/users/%2e%2e "/v1/groups/g_a/members/%41")
	for p in "${paths[@]}"; do
		for m in GET POST PUT PATCH DELETE; do
			for b in "${bodies[@]}"; do
				code=$(curl -s -o /dev/null -w '%{http_code}' -X "$m" \
				    -H "Authorization: Bearer $TOKEN" -H 'Expect:' \
				    --data-binary "$b" "$API$p")
				case $code in
				5*) [ "$code" != 500 ] || { echo "500 for $m $p $b"; false; } ;;
				000) echo "no answer for $m $p"; false ;;
				esac
			done
		done
	done
	# raw garbage on the socket
	printf 'GARBAGE\r\n\r\n' | timeout 5 "${PY:-python3}" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read()); s.settimeout(1)
try: s.recv(100)
except Exception: pass' "$API_PORT" || true
	kill -0 "$API_PID"
	req GET /v1/health
	[ "$code" = 200 ]
	run ipc api '{"op":"status"}'
	[ "$(jqr "$output" .r5xx)" = 0 ]
}

@test "HEAD and OPTIONS on /v1/ are 405; a chunked body is 411 length_required" {
	# curl -I: a HEAD answer has no body to wait for
	code=$(curl -s -I -o /dev/null -w '%{http_code}' "$API/v1/health")
	[ "$code" = 405 ]
	req OPTIONS /v1/health
	fails 405 method_not_allowed
	code=$(curl -s -o "$BATS_TEST_TMPDIR/out" -w '%{http_code}' -H 'Expect:' \
	    -H 'Transfer-Encoding: chunked' -d '{"user":"alice","password":"password-x"}' "$API/v1/signup")
	[ "$code" = 411 ]
	[ "$(jq -r .error.code "$BATS_TEST_TMPDIR/out")" = length_required ]
	req GET /v1/health
	[ "$code" = 200 ]
}

@test "the order of checks: 404, then 405, then 413, then 401, then 400" {
	head -c 65537 /dev/zero | tr '\0' ' ' > "$BATS_TEST_TMPDIR/big"
	big() { code=$(curl -s -o "$BATS_TEST_TMPDIR/out" -w '%{http_code}' -H 'Expect:' \
	    -X "$1" --data-binary @"$BATS_TEST_TMPDIR/big" "$API$2"); }
	big POST /v1/nope
	[ "$code" = 404 ]
	big POST /v1/friends
	[ "$code" = 405 ]
	big POST /v1/groups		# needs a token, but the size comes first
	[ "$code" = 413 ]
	req POST /v1/groups '{"name":7}'
	fails 401 unauthorized
}

@test "names in paths are lower-cased; a group's members may be left out; more than 500 presence names is 400" {
	signup alice
	login alice
	req GET /v1/users/ALICE "" "$TOKEN"
	[ "$code" = 200 ]
	[ "$(jqr "$body" .user)" = alice ]
	req POST /v1/groups '{"name":"solo"}' "$TOKEN"
	[ "$code" = 201 ]
	[ "$(jqr "$body" '.members | join(",")')" = alice ]
	names=$(seq -f 'u%g' 1 501 | paste -sd,)
	req GET "/v1/presence?users=$names" "" "$TOKEN"
	fails 400 bad_request "'users'"
	names=$(seq -f 'u%g' 1 500 | paste -sd,)
	req GET "/v1/presence?users=$names" "" "$TOKEN"
	[ "$code" = 200 ]
}

@test "login gives the token's expiry; chat-api exits 0 on SIGTERM and SIGINT, 111 when its port is taken" {
	signup alice
	req POST /v1/login '{"user":"alice","password":"password-alice"}'
	[ "$code" = 200 ]
	now=$(date +%s)
	exp=$(jqr "$body" .expires)
	# token_ttl is 30 days by default
	[ "$exp" -ge $((now + 2592000 - 60)) ] && [ "$exp" -le $((now + 2592000 + 60)) ]
	run timeout 10 "$CHAT_BIN/chat-api" --listen "127.0.0.1:$API_PORT"
	assert_equal "$status" 111
	kill -0 "$API_PID"
	for sig in TERM INT; do
		kill -"$sig" "$API_PID"
		wait "$API_PID" && rc=0 || rc=$?
		assert_equal "$rc" 0
		start_api
	done
}
