#!/usr/bin/env bats
# chat-push: real local HTTP servers (tests/drivers/push_stub.py) stand in for
# each provider; jobs go in through the push socket; the stub's request log
# is the evidence.  chat-store runs for push.clear.

load helpers

STUB="$BATS_TEST_DIRNAME/drivers/push_stub.py"

setup() {
	chat_setup
	# fast timings for tests; each test may override before push_start
	export CHAT_PUSH_COLLAPSE_MS=100
	export CHAT_PUSH_BACKOFF_MS=200
	export CHAT_PUSH_BACKOFF_MAX_MS=800
	export CHAT_PUSH_TIMEOUT_MS=1000
	export CHAT_PUSH_CONNECT_TIMEOUT_MS=500
}

teardown() { chat_teardown; }

# stub_start NAME: a stub on a free port; NAME_PORT, its log and control
stub_start() {
	local name=$1 port
	port=$(free_port)
	"$PY" "$STUB" "$port" "$BATS_TEST_TMPDIR/$name.log" \
	    "$BATS_TEST_TMPDIR/$name.ctl" 2>>"$BATS_TEST_TMPDIR/$name.err" &
	track_pid $! "stub-$name"
	eval "${name}_PORT=$port"
	touch "$BATS_TEST_TMPDIR/$name.log"
	wait_until 10 test -e "$BATS_TEST_TMPDIR/$name.log.ready"
}

# stub_ctl NAME JSON: what the stub does from now on
stub_ctl() {
	printf '%s' "$2" > "$BATS_TEST_TMPDIR/$1.ctl.tmp"
	mv "$BATS_TEST_TMPDIR/$1.ctl.tmp" "$BATS_TEST_TMPDIR/$1.ctl"
}

# reqs NAME [JQ-SELECT]: the requests the stub logged (one JSON a line)
reqs() { jq -c "select(${2:-true})" "$BATS_TEST_TMPDIR/$1.log"; }
nreqs() { reqs "$@" | wc -l; }
nreqs_is() { [ "$(nreqs "$1" "$3")" -eq "$2" ]; }
nreqs_ge() { [ "$(nreqs "$1" "$3")" -ge "$2" ]; }

push_start() {
	start_daemon chat-push
	PUSH_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/push.sock"
}

store_start() {
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
}

# job USER DEVICE PROVIDER ENDPOINT MSG_ID [JQ-EXTRA]: a push.enqueue line
job() {
	jq -cn --arg u "$1" --arg d "$2" --arg p "$3" --arg e "$4" --arg m "$5" \
	    '{op:"push.enqueue", user:$u, device:$d, provider:$p, endpoint:$e,
	      from:"alice", conv:("d/alice/" + $u), msg_id:$m,
	      body:"the secret text", ts:1795000000000} '"${6:+| $6}"
}

# enqueue ARGS...: job ARGS and check the reply is ok
enqueue() {
	local r
	r=$(ipc push "$(job "$@")")
	[ "$(jqr "$r" .ok)" = true ] || { echo "enqueue refused: $r" >&2; return 1; }
}

queued_is() {
	[ "$(jqr "$(ipc push '{"op":"push.status"}')" .queued)" -eq "$1" ]
}

# jwt_check JWT PUBKEY: verifies the signature with openssl and prints the
# header and the claims, one JSON a line
jwt_check() {
	"$PY" - "$1" "$2" "$BATS_TEST_TMPDIR" <<'PY'
import base64, json, subprocess, sys
tok, pub, tmp = sys.argv[1:4]
h, c, s = tok.split(".")
d = lambda x: base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
hdr, sig = json.loads(d(h)), d(s)
if hdr["alg"] == "ES256":
    # JOSE r||s to the DER openssl verifies
    def der_int(b):
        b = b.lstrip(b"\0") or b"\0"
        if b[0] & 0x80: b = b"\0" + b
        return b"\x02" + bytes([len(b)]) + b
    assert len(sig) == 64, "ES256 signature is not 64 bytes"
    body = der_int(sig[:32]) + der_int(sig[32:])
    sig = b"\x30" + bytes([len(body)]) + body
open(tmp + "/jwt.in", "w").write(h + "." + c)
open(tmp + "/jwt.sig", "wb").write(sig)
subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature",
    tmp + "/jwt.sig", tmp + "/jwt.in"], check=True, stdout=subprocess.DEVNULL)
print(json.dumps(hdr)); print(d(c).decode())
PY
}

@test "chat-push: --help, bad options and the man page" {
	run "$CHAT_BIN/chat-push" --help
	assert_success
	# (not assert_output: bats-assert reads "--stdin" as its own option
	# and takes the expected text from standard input)
	[[ "$output" == *"--stdin sends"* ]]
	run "$CHAT_BIN/chat-push" --bogus
	[ "$status" -eq 100 ]
	run mandoc -Tlint -W warning "$BATS_TEST_DIRNAME/../man/man1/chat-push.1"
	assert_success
}

@test "chat-push: ping, status, and bad requests answered without harm" {
	push_start
	run ipc push '{"op":"ping"}'
	assert_output --partial '"ok":true'
	run ipc push '{"op":"nope"}'
	assert_output --partial '"unknown_op"'
	run ipc push '{"op":"push.enqueue","user":"bob"}'
	assert_output --partial '"bad_request"'
	assert_output --partial "device"
	run ipc push "$(job bob d1 carrier-pigeon http://x/ 0000000000000001)"
	assert_output --partial "unknown provider 'carrier-pigeon'"
	run ipc push "$(job bob d1 webhook ftp://x/ 0000000000000001)"
	assert_output --partial "endpoint"
	run ipc push "$(job bob d1 webhook http://x/ 12345)"
	assert_output --partial "msg_id"
	run ipc push "$(job bob d1 fcm x 0000000000000001)"
	assert_output --partial "needs a 'token'"
	run ipc push "$(job 'Bob!' d1 webhook http://x/ 0000000000000001)"
	assert_output --partial "bad user name"
	run "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(b"{not json\n"); print(s.makefile().readline())' "$CHAT_RUN/push.sock"
	assert_output --partial '"bad_request"'
	run ipc push '{"op":"status"}'
	assert_output --partial '"queued":0'
	assert_output --partial '"bad_requests":'
	kill -0 "$PUSH_PID"
}

@test "webhook: one POST of JSON per job, no text by default, bearer and idempotency key" {
	stub_start hook
	push_start
	enqueue bob d1 webhook "http://127.0.0.1:$hook_PORT/hook" 00000000000000a1 '.token="tok-1"'
	wait_until 5 nreqs_is hook 1
	sleep 0.3
	nreqs_is hook 1
	r=$(reqs hook)
	[ "$(jqr "$r" .method)" = POST ]
	[ "$(jqr "$r" .path)" = /hook ]
	[ "$(jqr "$r" '.headers["content-type"]')" = application/json ]
	[ "$(jqr "$r" '.headers["idempotency-key"]')" = 00000000000000a1 ]
	[ "$(jqr "$r" '.headers.authorization')" = "Bearer tok-1" ]
	b=$(jqr "$r" .body)
	[ "$(jqr "$b" .user)" = bob ]
	[ "$(jqr "$b" .device)" = d1 ]
	[ "$(jqr "$b" .from)" = alice ]
	[ "$(jqr "$b" .conv)" = d/alice/bob ]
	[ "$(jqr "$b" .msg_id)" = 00000000000000a1 ]
	[ "$(jqr "$b" .count)" = 1 ]
	[ "$(jqr "$b" .title)" = alice ]
	[ "$(jqr "$b" .text)" = "New message" ]
	# privacy: the message text is nowhere in the request
	! grep -q "secret text" "$BATS_TEST_TMPDIR/hook.log"
	wait_until 5 queued_is 0
	run ipc push '{"op":"status"}'
	assert_output --partial '"sent":1'
}

@test "preview: push_preview = true puts the text in the notification" {
	stub_start hook
	echo "push_preview = true" > "$CHAT_HOME/etc/chat.conf"
	push_start
	enqueue bob d1 webhook "http://127.0.0.1:$hook_PORT/hook" 00000000000000a2
	wait_until 5 nreqs_is hook 1
	b=$(jqr "$(reqs hook)" .body)
	[ "$(jqr "$b" .text)" = "the secret text" ]
	[ "$(jqr "$b" .body)" = "the secret text" ]
}

@test "unifiedpush: raw body POSTed to the endpoint with TTL, Urgency and Topic" {
	stub_start up
	export CHAT_PUSH_MAX_AGE=3600
	push_start
	enqueue bob d2 unifiedpush "http://127.0.0.1:$up_PORT/up/xyz" 00000000000000b1 \
	    '.conv="g_team1" | .group="Team One"'
	wait_until 5 nreqs_is up 1
	r=$(reqs up)
	[ "$(jqr "$r" .path)" = /up/xyz ]
	[ "$(jqr "$r" '.headers.ttl')" = 3600 ]
	[ "$(jqr "$r" '.headers.urgency')" = high ]
	[ "$(jqr "$r" '.headers.topic')" = 00000000000000b1 ]
	[ "$(jqr "$r" '.headers["content-type"]')" = application/octet-stream ]
	b=$(jqr "$r" .body)
	[ "$(jqr "$b" .title)" = "alice in Team One" ]
	[ "$(jqr "$b" .conv)" = g_team1 ]
	[ "$(jqr "$b" .count)" = 1 ]
	! grep -q "secret text" "$BATS_TEST_TMPDIR/up.log"
	wait_until 5 queued_is 0
}

@test "ntfy: topic URL or bare topic on push_ntfy_base, Title/Priority/Tags headers" {
	stub_start ntfy
	export CHAT_PUSH_NTFY_BASE="http://127.0.0.1:$ntfy_PORT"
	push_start
	enqueue bob d3 ntfy "http://127.0.0.1:$ntfy_PORT/bobs-topic" 00000000000000c1
	enqueue carol d1 ntfy "carols_topic" 00000000000000c2
	wait_until 5 nreqs_is ntfy 2
	r=$(reqs ntfy '.path=="/bobs-topic"')
	[ "$(jqr "$r" '.headers.title')" = alice ]
	[ "$(jqr "$r" '.headers.priority')" = high ]
	[ "$(jqr "$r" '.headers.tags')" = speech_balloon ]
	[ "$(jqr "$r" .body)" = "New message" ]
	nreqs_is ntfy 1 '.path=="/carols_topic"'
	! grep -q "secret text" "$BATS_TEST_TMPDIR/ntfy.log"
}

@test "fcm: RS256 JWT exchanged at the token URI once, bearer used, HTTP v1 message shape" {
	stub_start fcm
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	    -out "$BATS_TEST_TMPDIR/rsa.pem" 2>/dev/null
	openssl pkey -in "$BATS_TEST_TMPDIR/rsa.pem" -pubout -out "$BATS_TEST_TMPDIR/rsa.pub"
	jq -n --rawfile k "$BATS_TEST_TMPDIR/rsa.pem" \
	    --arg uri "https://oauth2.example.invalid/token" \
	    '{type:"service_account", project_id:"proj-1", private_key_id:"kid-77",
	      private_key:$k, client_email:"push@proj-1.iam.example",
	      token_uri:$uri}' > "$BATS_TEST_TMPDIR/sa.json"
	export CHAT_PUSH_FCM_CREDENTIALS="$BATS_TEST_TMPDIR/sa.json"
	export CHAT_PUSH_FCM_TOKEN_URI="http://127.0.0.1:$fcm_PORT/token"
	export CHAT_PUSH_FCM_BASE="http://127.0.0.1:$fcm_PORT"
	push_start
	enqueue bob d1 fcm fcm 00000000000000d1 '.token="fcm-reg-token-1"'
	enqueue dave d1 fcm fcm 00000000000000d2 '.token="fcm-reg-token-2"'
	wait_until 5 nreqs_is fcm 2 '.path|endswith(":send")'
	sleep 0.3
	# one token exchange for both messages
	nreqs_is fcm 1 '.path=="/token"'
	t=$(reqs fcm '.path=="/token"')
	[ "$(jqr "$t" '.headers["content-type"]')" = application/x-www-form-urlencoded ]
	form=$(jqr "$t" .body)
	[[ "$form" == grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer\&assertion=* ]]
	run jwt_check "${form#*assertion=}" "$BATS_TEST_TMPDIR/rsa.pub"
	assert_success
	[ "$(jqr "${lines[0]}" .alg)" = RS256 ]
	[ "$(jqr "${lines[0]}" .kid)" = kid-77 ]
	[ "$(jqr "${lines[1]}" .iss)" = push@proj-1.iam.example ]
	[ "$(jqr "${lines[1]}" .aud)" = "http://127.0.0.1:$fcm_PORT/token" ]
	[ "$(jqr "${lines[1]}" .scope)" = https://www.googleapis.com/auth/firebase.messaging ]
	[ "$(jqr "${lines[1]}" '.exp - .iat')" = 3600 ]
	r=$(reqs fcm '.path|endswith(":send")' | head -1)
	[ "$(jqr "$r" .path)" = /v1/projects/proj-1/messages:send ]
	[ "$(jqr "$r" .headers.authorization)" = "Bearer stub-token-1" ]
	# the exchange came before the first send
	tt=$(jqr "$t" .t); ts=$(jqr "$r" .t)
	"$PY" -c "import sys; sys.exit(not $tt < $ts)"
	m=$(reqs fcm '.path|endswith(":send")' | jq -r .body | jq -c 'select(.message.token=="fcm-reg-token-1") | .message')
	[ "$(jqr "$m" .notification.title)" = alice ]
	[ "$(jqr "$m" .notification.body)" = "New message" ]
	[ "$(jqr "$m" .data.msg_id)" = 00000000000000d1 ]
	[ "$(jqr "$m" .data.count)" = 1 ]
	[ "$(jqr "$m" .android.collapse_key)" = 00000000000000d1 ]
	! grep -q "secret text" "$BATS_TEST_TMPDIR/fcm.log"
}

@test "fcm: a failed token exchange is retried; a 401 drops the cached token" {
	stub_start fcm
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$BATS_TEST_TMPDIR/rsa.pem" 2>/dev/null
	jq -n --rawfile k "$BATS_TEST_TMPDIR/rsa.pem" '{project_id:"p1", private_key_id:"k",
	    private_key:$k, client_email:"e@x", token_uri:"http://unused/token"}' > "$BATS_TEST_TMPDIR/sa.json"
	export CHAT_PUSH_FCM_CREDENTIALS="$BATS_TEST_TMPDIR/sa.json"
	export CHAT_PUSH_FCM_TOKEN_URI="http://127.0.0.1:$fcm_PORT/token"
	export CHAT_PUSH_FCM_BASE="http://127.0.0.1:$fcm_PORT"
	stub_ctl fcm '{"mode":"status","status":500,"match":"/token","count":1}'
	push_start
	enqueue bob d1 fcm fcm 0000000000000e01 '.token="t1"'
	wait_until 10 nreqs_is fcm 1 '.path|endswith(":send")'
	nreqs_is fcm 2 '.path=="/token"'
	[ "$(jqr "$(reqs fcm '.path|endswith(":send")')" .headers.authorization)" = "Bearer stub-token-1" ]
	grep -q "token exchange at .* failed" "$CHAT_HOME/log/chat-push.log"
	# the provider refuses the access token once: a new one is fetched
	stub_ctl fcm '{"mode":"status","status":401,"match":":send","count":1}'
	enqueue bob d2 fcm fcm 0000000000000e02 '.token="t2"'
	wait_until 10 nreqs_is fcm 1 '(.path|endswith(":send")) and .answer==200 and .headers.authorization=="Bearer stub-token-2"'
	nreqs_is fcm 3 '.path=="/token"'
	wait_until 5 queued_is 0
}

@test "fcm and apns jobs with no credentials configured are dropped with a warning" {
	push_start
	enqueue bob d1 fcm fcm 0000000000000e11 '.token="t1"'
	enqueue bob d2 apns "" 0000000000000e12 '.token="abcd"'
	wait_until 5 queued_is 0
	grep -q "failed bob/d1 via fcm: fcm is not configured" "$CHAT_HOME/log/chat-push.log"
	grep -q "failed bob/d2 via apns: apns is not configured" "$CHAT_HOME/log/chat-push.log"
	run ipc push '{"op":"status"}'
	assert_output --partial '"failed":2'
}

@test "apns: ES256 provider JWT, apns-topic/push-type/collapse-id headers, /3/device path" {
	stub_start apns
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$BATS_TEST_TMPDIR/AuthKey.p8" 2>/dev/null
	openssl pkey -in "$BATS_TEST_TMPDIR/AuthKey.p8" -pubout -out "$BATS_TEST_TMPDIR/ec.pub"
	export CHAT_PUSH_APNS_KEY="$BATS_TEST_TMPDIR/AuthKey.p8"
	export CHAT_PUSH_APNS_KEY_ID=ABC123DEFG
	export CHAT_PUSH_APNS_TEAM_ID=TEAM456789
	export CHAT_PUSH_APNS_TOPIC=org.example.chat
	export CHAT_PUSH_APNS_BASE="http://127.0.0.1:$apns_PORT"
	push_start
	enqueue bob d1 apns "" 00000000000000e1 '.token="a1b2c3d4e5f6"'
	enqueue carol d9 apns "org.example.other" 00000000000000e2 '.token="ffee0011"'
	wait_until 5 nreqs_is apns 2
	r=$(reqs apns '.path=="/3/device/a1b2c3d4e5f6"')
	[ "$(jqr "$r" '.headers["apns-topic"]')" = org.example.chat ]
	[ "$(jqr "$r" '.headers["apns-push-type"]')" = alert ]
	[ "$(jqr "$r" '.headers["apns-collapse-id"]')" = 00000000000000e1 ]
	[ "$(jqr "$r" '.headers["apns-priority"]')" = 10 ]
	auth=$(jqr "$r" .headers.authorization)
	[[ "$auth" == "bearer "* ]]
	run jwt_check "${auth#bearer }" "$BATS_TEST_TMPDIR/ec.pub"
	assert_success
	[ "$(jqr "${lines[0]}" .alg)" = ES256 ]
	[ "$(jqr "${lines[0]}" .kid)" = ABC123DEFG ]
	[ "$(jqr "${lines[1]}" .iss)" = TEAM456789 ]
	[ "$(jqr "${lines[1]}" '.iat | type')" = number ]
	b=$(jqr "$r" .body)
	[ "$(jqr "$b" .aps.alert.title)" = alice ]
	[ "$(jqr "$b" .aps.alert.body)" = "New message" ]
	[ "$(jqr "$b" '.aps["thread-id"]')" = d/alice/bob ]
	# a registration naming its bundle id is sent to that topic
	nreqs_is apns 1 '.path=="/3/device/ffee0011" and .headers["apns-topic"]=="org.example.other"'
	! grep -q "secret text" "$BATS_TEST_TMPDIR/apns.log"
	# ExpiredProviderToken: a new JWT, then the retry succeeds
	stub_ctl apns '{"mode":"status","status":403,"body":"{\"reason\":\"ExpiredProviderToken\"}","count":1}'
	enqueue bob d1 apns "" 00000000000000e3 '.token="a1b2c3d4e5f6"'
	wait_until 10 nreqs_is apns 1 '.answer==200 and .headers["apns-collapse-id"]=="00000000000000e3"'
	old=$(reqs apns '.answer==403' | jq -r .headers.authorization)
	new=$(reqs apns '.answer==200 and .headers["apns-collapse-id"]=="00000000000000e3"' | jq -r .headers.authorization)
	[ "$old" = "$auth" ]
	[ "$new" != "$old" ]
	run jwt_check "${new#bearer }" "$BATS_TEST_TMPDIR/ec.pub"
	assert_success
}

@test "collapse: 5 jobs for one device within the window make 1 request (count 5, newest key)" {
	stub_start hook
	export CHAT_PUSH_COLLAPSE_MS=1500
	push_start
	# one connection, so the six arrive well within the window
	run ipc push "$(job bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000101)" \
	    "$(job bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000102)" \
	    "$(job bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000103)" \
	    "$(job bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000104)" \
	    "$(job bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000105)" \
	    "$(job bob d2 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000201)"
	[ "$(printf '%s\n' "$output" | grep -c '"ok":true')" -eq 6 ]
	wait_until 5 nreqs_is hook 2
	sleep 0.5
	nreqs_is hook 2
	r=$(reqs hook '(.body|fromjson|.device)=="d1"')
	[ "$(jqr "$r" '.body|fromjson|.count')" = 5 ]
	[ "$(jqr "$r" '.body|fromjson|.text')" = "5 new messages" ]
	[ "$(jqr "$r" '.headers["idempotency-key"]')" = 0000000000000105 ]
	wait_until 5 queued_is 0
}

@test "push.enqueue takes the registration as chat-store's device record has it" {
	stub_start hook
	push_start
	run ipc push "$(jq -cn --arg e "http://127.0.0.1:$hook_PORT/rec" '{op:"push.enqueue",
	    user:"bob", device:"d7", push:{provider:"webhook", endpoint:$e, token:"t7"},
	    from:"alice", conv:"d/alice/bob", msg_id:"0000000000000f01", ts:1}')"
	assert_output --partial '"ok":true'
	wait_until 5 nreqs_is hook 1
	r=$(reqs hook)
	[ "$(jqr "$r" .path)" = /rec ]
	[ "$(jqr "$r" .headers.authorization)" = "Bearer t7" ]
}

@test "dedupe: the same job enqueued twice (a resend) is sent once" {
	stub_start hook
	push_start
	enqueue bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000301
	run ipc push "$(job bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000301)"
	assert_output --partial '"dup":true'
	wait_until 5 nreqs_is hook 1
	wait_until 5 queued_is 0
	# a resend after delivery is still recognised
	run ipc push "$(job bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000301)"
	assert_output --partial '"dup":true'
	sleep 0.5
	nreqs_is hook 1
}

@test "gateway down (503, then refusing, kill -9 meanwhile) then up: every job arrives exactly once" {
	stub_start hook
	stub_ctl hook '{"mode":"status","status":503}'
	push_start
	for d in 1 2 3 4 5; do
		enqueue "u$d" d1 webhook "http://127.0.0.1:$hook_PORT/h" 000000000000040$d
	done
	wait_until 5 nreqs_ge hook 10
	stub_ctl hook '{"mode":"refuse"}'
	sleep 1
	# the queue survives a kill -9 during the outage
	kill -9 "$PUSH_PID"
	wait "$PUSH_PID" 2>/dev/null || true
	push_start
	sleep 1
	# more jobs while it is down: they collapse with the waiting ones
	enqueue u1 d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000411
	run ipc push '{"op":"push.status"}'
	assert_output --partial '"queued":6'
	up=$("$PY" -c 'import time; print(time.time())')
	stub_ctl hook '{}'
	wait_until 10 nreqs_is hook 5 '.answer==200'
	wait_until 5 queued_is 0
	sleep 1
	nreqs_is hook 5 '.answer==200'
	for d in 1 2 3 4 5; do
		nreqs_is hook 1 ".answer==200 and (.body|fromjson|.user)==\"u$d\""
	done
	r=$(reqs hook '.answer==200 and (.body|fromjson|.user)=="u1"')
	[ "$(jqr "$r" '.body|fromjson|.count')" = 2 ]
	grep -q "retry u1/d1" "$CHAT_HOME/log/chat-push.log"
	# each device got its push within 2 backoff periods (cap 0.8 s) of the
	# recovery
	last=$(reqs hook '.answer==200' | jq -s 'map(.t) | max')
	"$PY" -c "import sys; d = $last - $up; print(d); sys.exit(not d <= 1.6 + 0.3)"
}

@test "429 with Retry-After: no request before the time it names" {
	stub_start hook
	stub_ctl hook '{"mode":"status","status":429,"retry_after":"2","count":1}'
	push_start
	enqueue bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000501
	wait_until 10 nreqs_is hook 1 '.answer==200'
	nreqs_is hook 2
	t0=$(reqs hook '.answer==429' | jq .t)
	t1=$(reqs hook '.answer==200' | jq .t)
	# backoff alone would have retried after 100..200 ms
	"$PY" -c "import sys; d = $t1 - $t0; print(d); sys.exit(not 1.95 <= d < 4)"
	grep -q "Retry-After" "$CHAT_HOME/log/chat-push.log"
}

@test "Retry-After holds the whole origin: another device's job waits too" {
	stub_start hook
	stub_ctl hook '{"mode":"status","status":429,"retry_after":"2","count":1}'
	push_start
	enqueue bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000521
	wait_until 5 nreqs_is hook 1 '.answer==429'
	enqueue carol d1 webhook "http://127.0.0.1:$hook_PORT/other" 0000000000000522
	wait_until 10 nreqs_is hook 2 '.answer==200'
	t0=$(reqs hook '.answer==429' | jq .t)
	t1=$(reqs hook '(.body|fromjson|.user)=="carol"' | jq .t)
	"$PY" -c "import sys; d = $t1 - $t0; print(d); sys.exit(not 1.95 <= d < 4)"
	nreqs_is hook 1 '(.body|fromjson|.user)=="carol"'
}

@test "503 with Retry-After is honoured too" {
	stub_start hook
	stub_ctl hook '{"mode":"status","status":503,"retry_after":"1","count":1}'
	push_start
	enqueue bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000511
	wait_until 10 nreqs_is hook 1 '.answer==200'
	t0=$(reqs hook '.answer==503' | jq .t)
	t1=$(reqs hook '.answer==200' | jq .t)
	"$PY" -c "import sys; sys.exit(not 0.95 <= $t1 - $t0 < 3)"
}

# a user with a device that registered push with the store
store_device() {
	local user=$1 dev=$2 prov=$3 ep=$4 tok=${5:-}
	run ipc store "{\"op\":\"user.create\",\"user\":\"$user\",\"password\":\"password1\"}"
	assert_output --partial '"ok":true'
	run ipc store "{\"op\":\"device.login\",\"user\":\"$user\",\"device\":\"$dev\"}"
	assert_output --partial '"ok":true'
	run ipc store "$(jq -cn --arg u "$user" --arg d "$dev" --arg p "$prov" --arg e "$ep" --arg t "$tok" \
	    '{op:"push.set",user:$u,device:$d,provider:$p,endpoint:$e} + (if $t != "" then {token:$t} else {} end)')"
	assert_output --partial '"ok":true'
	run ipc store "{\"op\":\"device.get\",\"user\":\"$user\",\"device\":\"$dev\"}"
	assert_output --partial '"push":'
}

@test "410 removes the device's registration in chat-store and drops the job" {
	stub_start hook
	store_start
	store_device bob d1 webhook "http://127.0.0.1:$hook_PORT/h"
	stub_ctl hook '{"mode":"status","status":410}'
	push_start
	enqueue bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000601
	wait_until 5 queued_is 0
	run ipc store '{"op":"device.get","user":"bob","device":"d1"}'
	assert_output --partial '"ok":true'
	refute_output --partial '"push"'
	sleep 0.5
	nreqs_is hook 1
	grep -q "gone bob/d1" "$CHAT_HOME/log/chat-push.log"
}

@test "fcm 404 UNREGISTERED, apns 400 BadDeviceToken and apns 410 Unregistered clear the registration too" {
	stub_start gw
	store_start
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$BATS_TEST_TMPDIR/rsa.pem" 2>/dev/null
	jq -n --rawfile k "$BATS_TEST_TMPDIR/rsa.pem" '{project_id:"p", private_key_id:"k",
	    private_key:$k, client_email:"e@x", token_uri:"http://unused/token"}' > "$BATS_TEST_TMPDIR/sa.json"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$BATS_TEST_TMPDIR/k.p8" 2>/dev/null
	export CHAT_PUSH_FCM_CREDENTIALS="$BATS_TEST_TMPDIR/sa.json"
	export CHAT_PUSH_FCM_TOKEN_URI="http://127.0.0.1:$gw_PORT/token"
	export CHAT_PUSH_FCM_BASE="http://127.0.0.1:$gw_PORT"
	export CHAT_PUSH_APNS_KEY="$BATS_TEST_TMPDIR/k.p8" CHAT_PUSH_APNS_KEY_ID=K CHAT_PUSH_APNS_TEAM_ID=T
	export CHAT_PUSH_APNS_TOPIC=org.example CHAT_PUSH_APNS_BASE="http://127.0.0.1:$gw_PORT"
	store_device bob d1 fcm fcm tok-f
	store_device carol d1 apns org.example abcd
	push_start
	# the token exchange succeeds, the sends are refused as dead
	stub_ctl gw '{"mode":"status","status":404,"match":":send","body":"{\"error\":{\"code\":404,\"status\":\"NOT_FOUND\",\"details\":[{\"@type\":\"type.googleapis.com/google.firebase.fcm.v1.FcmError\",\"errorCode\":\"UNREGISTERED\"}]}}"}'
	enqueue bob d1 fcm fcm 0000000000000611 '.token="tok-f"'
	wait_until 5 queued_is 0
	run ipc store '{"op":"device.get","user":"bob","device":"d1"}'
	assert_output --partial '"ok":true'
	refute_output --partial '"push"'
	nreqs_is gw 1 '.path=="/token"'
	stub_ctl gw '{"mode":"status","status":400,"match":"/3/device/","body":"{\"reason\":\"BadDeviceToken\"}"}'
	enqueue carol d1 apns org.example 0000000000000612 '.token="abcd"'
	wait_until 5 queued_is 0
	run ipc store '{"op":"device.get","user":"carol","device":"d1"}'
	assert_output --partial '"ok":true'
	refute_output --partial '"push"'
	# and APNs' own word for a dead token: 410 Unregistered
	store_device dave d1 apns org.example beef
	stub_ctl gw '{"mode":"status","status":410,"match":"/3/device/","body":"{\"reason\":\"Unregistered\",\"timestamp\":1795000000000}"}'
	enqueue dave d1 apns org.example 0000000000000613 '.token="beef"'
	wait_until 5 queued_is 0
	run ipc store '{"op":"device.get","user":"dave","device":"d1"}'
	assert_output --partial '"ok":true'
	refute_output --partial '"push"'
	nreqs_is gw 1 '.path=="/3/device/beef"'
	run ipc push '{"op":"status"}'
	assert_output --partial '"gone":3'
}

@test "kill -9 with jobs queued, restart: every job arrives exactly once" {
	stub_start hook
	stub_ctl hook '{"mode":"refuse"}'
	push_start
	for d in 1 2 3 4 5 6; do
		enqueue "k$d" d1 webhook "http://127.0.0.1:$hook_PORT/h" 000000000000070$d
	done
	sleep 0.5
	kill -9 "$PUSH_PID"
	wait "$PUSH_PID" 2>/dev/null || true
	push_start
	run ipc push '{"op":"push.status"}'
	assert_output --partial '"queued":6'
	grep -q "6 queued job(s) for 6 device(s)" "$CHAT_HOME/log/chat-push.log"
	stub_ctl hook '{}'
	wait_until 10 nreqs_is hook 6
	wait_until 5 queued_is 0
	# and once more: a restart after delivery sends nothing again
	kill -9 "$PUSH_PID"
	wait "$PUSH_PID" 2>/dev/null || true
	push_start
	sleep 1
	nreqs_is hook 6
	for d in 1 2 3 4 5 6; do
		nreqs_is hook 1 "(.body|fromjson|.user)==\"k$d\""
	done
}

@test "hanging provider: timeout enforced, concurrency bounded, retry keeps the same key" {
	stub_start hook
	export CHAT_PUSH_CONCURRENCY=2
	stub_ctl hook '{"mode":"hang","secs":3}'
	push_start
	for d in 1 2 3 4; do
		enqueue "h$d" d1 webhook "http://127.0.0.1:$hook_PORT/h" 000000000000080$d
	done
	wait_until 5 nreqs_ge hook 4
	# never more than 2 requests at once: each hangs until chat-push gives
	# up after 1 s, so no 0.9 s window holds more than 2 arrivals
	jq -s '[.[].t] | sort | . as $t | [range(length) | . as $i |
	    [$t[] | select(. >= $t[$i] and . < $t[$i] + 0.9)] | length] | max' \
	    "$BATS_TEST_TMPDIR/hook.log" > "$BATS_TEST_TMPDIR/maxconc"
	[ "$(cat "$BATS_TEST_TMPDIR/maxconc")" -le 2 ]
	# hanging requests were cut after push_timeout_ms (1 s +- 10%)
	wait_until 5 grep -q "retry h.*timed out.*after [0-9]* ms, sealed" "$CHAT_HOME/log/chat-push.log"
	for ms in $(grep -o "after [0-9]* ms, sealed" "$CHAT_HOME/log/chat-push.log" | awk '{print $2}'); do
		[ "$ms" -ge 900 ] && [ "$ms" -le 1100 ]
	done
	# a job arriving meanwhile does not join the sealed retry
	enqueue h1 d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000811
	stub_ctl hook '{}'
	wait_until 10 queued_is 0
	# every request for one device carried the same idempotency key
	for d in 2 3 4; do
		n=$(reqs hook "(.body|fromjson|.user)==\"h$d\"" | jq -r '.headers["idempotency-key"]' | sort -u | wc -l)
		[ "$n" -eq 1 ]
	done
	# h1: the sealed notification, then the new message on its own
	reqs hook '(.body|fromjson|.user)=="h1" and .answer==200' | jq -r '.headers["idempotency-key"]' > "$BATS_TEST_TMPDIR/h1"
	[ "$(cat "$BATS_TEST_TMPDIR/h1")" = "$(printf '0000000000000801\n0000000000000811')" ]
}

@test "trickling provider: the whole-request timeout cuts it, the retry is sealed" {
	stub_start hook
	stub_ctl hook '{"mode":"trickle","secs":30,"count":1}'
	push_start
	enqueue bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000851
	wait_until 10 nreqs_is hook 1 '.answer==200'
	grep "retry bob/d1" "$CHAT_HOME/log/chat-push.log" | grep -q "sealed"
	ms=$(grep -o "after [0-9]* ms, sealed" "$CHAT_HOME/log/chat-push.log" | awk '{print $2}')
	[ "$ms" -ge 900 ] && [ "$ms" -le 1100 ]
	[ "$(reqs hook | jq -r '.headers["idempotency-key"]' | sort -u)" = 0000000000000851 ]
}

@test "connections are reused: sequential jobs to one provider share one connection" {
	stub_start hook
	push_start
	for d in 1 2 3 4 5; do
		enqueue "r$d" d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000c0$d
		wait_until 5 nreqs_is hook "$d"
	done
	[ "$(reqs hook | jq -r .peer | sort -u | wc -l)" -eq 1 ]
}

@test "https: HTTP/2 offered by ALPN, and an unverifiable certificate is refused" {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$BATS_TEST_TMPDIR/k.pem" \
	    -out "$BATS_TEST_TMPDIR/c.pem" -days 1 -subj /CN=127.0.0.1 2>/dev/null
	port=$(free_port)
	openssl s_server -accept "$port" -cert "$BATS_TEST_TMPDIR/c.pem" \
	    -key "$BATS_TEST_TMPDIR/k.pem" -alpn h2 -www -trace \
	    > "$BATS_TEST_TMPDIR/tls.out" 2>&1 </dev/null &
	track_pid $! s_server
	wait_until 5 grep -q ACCEPT "$BATS_TEST_TMPDIR/tls.out"
	push_start
	enqueue bob d1 webhook "https://127.0.0.1:$port/h" 0000000000000d01
	wait_until 5 grep -q "retry bob/d1.*SSL certificate" "$CHAT_HOME/log/chat-push.log"
	grep -A3 "application_layer_protocol_negotiation" "$BATS_TEST_TMPDIR/tls.out" | grep -qx " *h2"
	queued_is 1
}

@test "a job older than push_max_age is given up and logged" {
	stub_start hook
	stub_ctl hook '{"mode":"status","status":503}'
	export CHAT_PUSH_MAX_AGE=1
	push_start
	enqueue bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000901
	wait_until 5 queued_is 0
	grep -q "gave up bob/d1 msg 0000000000000901" "$CHAT_HOME/log/chat-push.log"
	run ipc push '{"op":"status"}'
	assert_output --partial '"expired":1'
}

@test "push.cancel drops the queued jobs of a user who came online" {
	stub_start hook
	export CHAT_PUSH_COLLAPSE_MS=4000
	push_start
	enqueue bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000a01
	enqueue bob d2 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000a02
	enqueue carol d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000a03
	run ipc push '{"op":"push.cancel","user":"bob"}'
	assert_output --partial '"cancelled":2'
	run ipc push '{"op":"push.status","user":"bob"}'
	assert_output --partial '"jobs":[]'
	wait_until 5 nreqs_is hook 1
	sleep 0.5
	nreqs_is hook 1
	[ "$(jqr "$(reqs hook)" '.body|fromjson|.user')" = carol ]
	wait_until 5 queued_is 0
}

@test "--stdin: sends NDJSON jobs, one result line each, exit 0; bad line 100; 410 111" {
	stub_start hook
	{ job bob d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000b01
	  job carol d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000b02; } > "$BATS_TEST_TMPDIR/jobs"
	run "$CHAT_BIN/chat-push" --stdin < "$BATS_TEST_TMPDIR/jobs"
	assert_success
	[ "$(printf '%s\n' "$output" | grep -c '"ok":true')" -eq 2 ]
	nreqs_is hook 2
	[ ! -e "$CHAT_HOME/push" ]
	run "$CHAT_BIN/chat-push" --stdin <<<'{"user":"bob"}'
	[ "$status" -eq 100 ]
	stub_ctl hook '{"mode":"status","status":410}'
	run "$CHAT_BIN/chat-push" --stdin < <(job dan d1 webhook "http://127.0.0.1:$hook_PORT/h" 0000000000000b03)
	[ "$status" -eq 111 ]
	assert_output --partial '"result":"gone"'
}
