#!/usr/bin/env bats
# chat(1), the end-user client, against the real stack: chat-store,
# chat-route, chat-api and chatd on free ports in a private CHAT_HOME.  Each
# user has its own XDG_CONFIG_HOME in the test's directory.  Listeners run
# in the background by PID, their stdout in a file read with bounded waits.

load helpers

setup() {
	chat_setup
	API_PORT=$(free_port)
	WS_PORT=$(free_port)
	export CHAT_SERVER="http://127.0.0.1:$API_PORT"
	export CHAT_CHATD_URL="ws://127.0.0.1:$WS_PORT/v1/ws"
	T=$BATS_TEST_TMPDIR
	# never the real ~/.config/chat
	export XDG_CONFIG_HOME="$T/cfg"
}

teardown() {
	chat_teardown
}

start_stack() {
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	start_daemon chat-route
	ROUTE_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/route.sock"
	start_daemon chat-api --listen "127.0.0.1:$API_PORT"
	API_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/api.sock"
	wait_until 5 curl -sf -o /dev/null "$CHAT_SERVER/v1/health"
	start_chatd
}

start_chatd() {
	start_daemon chatd --listen "127.0.0.1:$WS_PORT"
	CHATD_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/chatd-$WS_PORT.sock"
}

# as USER ARGS...: chat with USER's own config directory.
as() {
	local u=$1; shift
	XDG_CONFIG_HOME="$T/cfg-$u" "$CHAT_BIN/chat" "$@"
}

# account USER...: signs each user up and logs it in.
account() {
	local u
	for u; do
		printf 'password-%s\n' "$u" |
		    as "$u" signup --password-stdin "$u" > /dev/null
		printf 'password-%s\n' "$u" |
		    as "$u" login --password-stdin "$u" > /dev/null
	done
}

# listen_bg USER [ARGS...]: `chat listen` in the background, stdout in
# $T/USER.out, stderr in $T/USER.err; waits until it is synced.
listen_bg() {
	local u=$1 before; shift
	# counted before the start: a listen that syncs at once must not be
	# counted in the baseline it is compared with
	before=$(synced_count "$u")
	XDG_CONFIG_HOME="$T/cfg-$u" "$CHAT_BIN/chat" listen "$@" \
	    >> "$T/$u.out" 2>> "$T/$u.err" 3>&- &
	LISTEN_PID=$!
	track_pid "$LISTEN_PID" "listen-$u"
	wait_until 10 synced_since "$u" "$before"
}
# synced_count USER: the syncs its listens have said so far (0 before any).
synced_count() {
	local n
	n=$(grep -c 'info: synced' "$T/$1.err" 2>/dev/null)
	echo "${n:-0}"
}
synced_since() { [ "$(synced_count "$1")" -gt "$2" ]; }

# gone PID: the process has exited.
gone() { ! kill -0 "$1" 2>/dev/null; }

# msgs USER: the msg frames USER's listener printed, one per line.
msgs() { jq -c 'select(.type == "msg")' "$T/$1.out" 2>/dev/null; }
# has_msgs USER N: at least N printed.
has_msgs() { [ "$(msgs "$1" | wc -l)" -ge "$2" ]; }

@test "chat: --help for every subcommand; usage errors exit 100" {
	run "$CHAT_BIN/chat" --help
	assert_success
	for c in signup login logout whoami send listen history friends group who; do
		run "$CHAT_BIN/chat" "$c" --help
		assert_success
		assert_output --partial "usage: chat $c"
	done
	run "$CHAT_BIN/chat" frobnicate
	[ "$status" -eq 100 ]
	assert_output --partial "unknown command 'frobnicate'"
	run "$CHAT_BIN/chat" send
	[ "$status" -eq 100 ]
	run "$CHAT_BIN/chat" group create
	[ "$status" -eq 100 ]
	run "$CHAT_BIN/chat" listen --format xml
	[ "$status" -eq 100 ]
	run "$CHAT_BIN/chat" send 'Not/A user' hi
	[ "$status" -eq 100 ]
	assert_output --partial "invalid user name"
	# no session yet
	run as nobody history bob
	[ "$status" -eq 100 ]
	assert_output --partial "not logged in"
}

@test "chat: signup, login (0600 session) and logout, which kills the token" {
	start_stack
	run as alice signup --password-stdin alice <<< "password-alice"
	assert_success
	[ "$(jqr "$output" .user)" = alice ]
	run as alice signup --password-stdin alice <<< "password-alice"
	[ "$status" -eq 1 ]
	assert_output --partial "chat: user_exists:"
	# no terminal and no --password-stdin: no prompt, a usage error
	run as alice signup carol < /dev/null
	[ "$status" -eq 100 ]
	assert_output --partial "not a terminal"
	run as alice login --password-stdin alice <<< "wrong-password"
	[ "$status" -eq 1 ]
	assert_output --partial "chat: unauthorized:"
	run as alice login --password-stdin Alice <<< "password-alice"
	assert_success
	[ "$(jqr "$output" .user)" = alice ]
	dev=$(jqr "$output" .device)
	[ -n "$dev" ]
	[ "$(stat -c %a "$T/cfg-alice/chat")" = 700 ]
	[ "$(stat -c %a "$T/cfg-alice/chat/session")" = 600 ]
	grep -q "^server=$CHAT_SERVER\$" "$T/cfg-alice/chat/session"
	grep -q "^device=$dev\$" "$T/cfg-alice/chat/session"
	run as alice whoami --format text
	assert_output alice
	# a second login may name its device
	run as alice login --password-stdin --device "$dev" alice <<< "password-alice"
	assert_success
	[ "$(jqr "$output" .device)" = "$dev" ]
	token=$(sed -n 's/^token=//p' "$T/cfg-alice/chat/session")
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$CHAT_SERVER/v1/friends"
	assert_output 200
	# the second device, the one send uses (chat(1) CAVEATS)
	send_token=$(sed -n 's/^send_token=//p' "$T/cfg-alice/chat/session")
	grep -q "^send_device=$dev-send\$" "$T/cfg-alice/chat/session"
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $send_token" "$CHAT_SERVER/v1/friends"
	assert_output 200
	run as alice logout
	assert_success
	[ ! -e "$T/cfg-alice/chat/session" ]
	run as alice whoami
	[ "$status" -eq 100 ]
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$CHAT_SERVER/v1/friends"
	assert_output 401
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $send_token" "$CHAT_SERVER/v1/friends"
	assert_output 401
}

@test "chat: send and listen between two users, both ways" {
	start_stack
	account alice bob
	listen_bg bob
	BOB=$LISTEN_PID
	run as alice send bob hello bob
	assert_success
	assert_output ""
	wait_until 10 has_msgs bob 1
	m=$(msgs bob)
	[ "$(jqr "$m" .from)" = alice ]
	[ "$(jqr "$m" .to)" = bob ]
	[ "$(jqr "$m" .body)" = "hello bob" ]
	id=$(jqr "$m" .id)
	[[ "$id" =~ ^[0-9a-f]{16}$ ]]
	# the cursor file follows what was printed
	wait_until 5 grep -qx "$id" "$T/cfg-bob/chat/cursor"

	listen_bg alice
	run as bob send alice "hi alice"
	assert_success
	wait_until 10 has_msgs alice 1
	[ "$(msgs alice | jq -r 'select(.from == "bob") | .body')" = "hi alice" ]
	# bob's listener is not disturbed by bob's own send (a second device
	# of the login), and shows what bob sent, as any other device would
	kill -0 "$BOB"
	wait_until 10 has_msgs bob 2
	[ "$(msgs bob | jq -r '.from + ":" + .body' | tr '\n' '|')" = "alice:hello bob|bob:hi alice|" ]
	! grep -q reconnecting "$T/bob.err"
}

@test "chat: listen --format text prints lines for people" {
	start_stack
	account alice bob
	listen_bg bob --format text
	run as alice send bob "two words"
	assert_success
	wait_until 10 grep -q 'alice -> bob: two words' "$T/bob.out"
}

@test "chat: stdin mode sends every line, each acked, in order, and exits 0" {
	start_stack
	account alice bob
	listen_bg bob
	seq 1 60 | sed 's/^/line /' > "$T/lines"
	printf '\n' >> "$T/lines"	# an empty line is skipped
	printf 'last without newline' >> "$T/lines"
	run as alice send bob < "$T/lines"
	assert_success
	run as alice history bob --limit 100
	assert_success
	[ "${#lines[@]}" -eq 61 ]
	[ "$(jqr "${lines[0]}" .body)" = "last without newline" ]
	[ "$(jqr "${lines[60]}" .body)" = "line 1" ]
	# one cid per message
	[ "$(printf '%s\n' "${lines[@]}" | jq -r .cid | sort -u | wc -l)" -eq 61 ]
	wait_until 10 has_msgs bob 61
	# in order, each once
	[ "$(msgs bob | jq -r .body | head -60)" = "$(seq 1 60 | sed 's/^/line /')" ]
	[ "$(msgs bob | jq -r .id | sort -u | wc -l)" -eq 61 ]
	[ "$(msgs bob | jq -r .id)" = "$(msgs bob | jq -r .id | sort)" ]
}

@test "chat: a refused send exits 1 with the server's code; the rest still go" {
	start_stack
	account alice bob
	run as alice send nosuchuser hello
	[ "$status" -eq 1 ]
	assert_output --partial "chat: no_such_user:"
	# --json lines: one good, one bad target, one malformed, one good
	printf '%s\n' '{"to":"bob","body":"first"}' '{"to":"ghost","body":"x"}' \
	    'not json' '{"to":"bob","body":"second","cid":"my-cid-1"}' > "$T/in"
	run as alice send --json < "$T/in"
	[ "$status" -eq 1 ]
	assert_output --partial "no_such_user"
	assert_output --partial "line 3"
	run as alice history bob
	[ "${#lines[@]}" -eq 2 ]
	[ "$(jqr "${lines[0]}" .cid)" = my-cid-1 ]
	# the same cid again makes no second message
	run as alice send --json <<< '{"to":"bob","body":"second","cid":"my-cid-1"}'
	assert_success
	run as alice history bob
	[ "${#lines[@]}" -eq 2 ]
	# a group alice is not in
	gid=$(as bob group create private | jq -r .group)
	run as alice send --group "$gid" intruding
	[ "$status" -eq 1 ]
	assert_output --partial "chat: not_member:"
}

@test "chat: groups: create, add, show, list, remove; a group send reaches every member" {
	start_stack
	account alice bob carol
	run as alice group create team bob
	assert_success
	gid=$(jqr "$output" .group)
	[[ "$gid" =~ ^g_[a-z0-9]+$ ]]
	[ "$(jqr "$output" .owner)" = alice ]
	run as bob group add "$gid" carol
	assert_success
	run as carol group show "$gid"
	assert_success
	[ "$(jqr "$output" '.members | sort | join(",")')" = alice,bob,carol ]
	run as carol group show "$gid" --format text
	assert_output --regexp "^$gid team \\(owner alice\\):"
	run as bob group list
	[ "$(jqr "$output" .group)" = "$gid" ]
	listen_bg bob
	listen_bg carol
	run as alice send --group "$gid" hello team
	assert_success
	wait_until 10 has_msgs bob 1
	wait_until 10 has_msgs carol 1
	[ "$(msgs carol | jq -r .group)" = "$gid" ]
	[ "$(msgs carol | jq -r .body)" = "hello team" ]
	run as carol history "$gid"
	[ "$(jqr "$output" .body)" = "hello team" ]
	run as alice group remove "$gid" carol
	assert_success
	run as carol group show "$gid"
	[ "$status" -eq 1 ]
	assert_output --partial "not_member"
	run as carol history "$gid"
	[ "$status" -eq 1 ]
}

@test "chat: history pages newest first with --limit and --before" {
	start_stack
	account alice bob
	seq 1 5 | as alice send bob
	run as bob history alice --limit 2
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	[ "$(jqr "${lines[0]}" .body)" = 5 ]
	[ "$(jqr "${lines[1]}" .body)" = 4 ]
	before=$(jqr "${lines[1]}" .id)
	run as bob history alice --before "$before"
	[ "$(printf '%s\n' "${lines[@]}" | jq -r .body | tr '\n' ' ')" = "3 2 1 " ]
	run as bob history alice --format text
	[ "${#lines[@]}" -eq 5 ]
	[[ "${lines[0]}" == *"alice -> bob: 1" ]]
	run as bob history alice --before nothex
	[ "$status" -eq 100 ]
}

@test "chat: friends add both ways, list, remove; who shows friends' presence" {
	start_stack
	account alice bob carol
	run as alice friends add bob
	assert_success
	[ "$(jqr "$output" .state)" = requested ]
	run as bob friends
	[ "$(jqr "$output" .user)" = alice ]
	[ "$(jqr "$output" .state)" = pending ]
	run as bob friends add alice
	[ "$(jqr "$output" .state)" = friends ]
	run as alice friends --format text
	assert_output --regexp "^bob friends"
	run as alice who bob carol
	assert_success
	# carol is no friend: left out
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jqr "$output" .user)" = bob ]
	[[ "$(jqr "$output" .status)" =~ ^(online|offline)$ ]]
	run as alice who bob --format text
	assert_output --regexp "^bob (online|offline)"
	gid=$(as alice group create g bob carol | jq -r .group)
	run as carol who --group "$gid"
	[ "${#lines[@]}" -eq 3 ]
	run as alice friends remove bob
	assert_success
	run as alice friends
	assert_output ""
}

@test "chat: an unreachable server exits 111" {
	start_stack
	account alice bob
	stop_pid "$CHATD_PID"
	run as alice send --timeout 2 bob hello
	[ "$status" -eq 111 ]
	assert_output --partial "unable to reach the chat server"
	stop_pid "$API_PID"
	run as alice history bob
	[ "$status" -eq 111 ]
	assert_output --partial "unable to reach '$CHAT_SERVER'"
}

@test "chat: listen resumes after chatd is killed and restarted: none lost, none twice" {
	start_stack
	account alice bob
	listen_bg bob
	BOB=$LISTEN_PID
	seq 1 5 | as alice send bob
	wait_until 10 has_msgs bob 5
	kill -9 "$CHATD_PID"
	# sends from a pipe while chatd is down: they wait, reconnect, resend
	mkfifo "$T/feed"
	XDG_CONFIG_HOME="$T/cfg-alice" "$CHAT_BIN/chat" send bob < "$T/feed" \
	    > "$T/send.out" 2> "$T/send.err" 3>&- &
	SEND=$!
	track_pid "$SEND" send
	exec 7> "$T/feed"
	seq 6 10 >&7
	sleep 0.5
	# (chatd must not inherit the pipe's write end, or stdin never ends)
	start_chatd 7>&-
	seq 11 15 >&7
	exec 7>&-
	wait_until 20 gone "$SEND"
	wait "$SEND"
	wait_until 15 has_msgs bob 15
	kill -0 "$BOB"
	grep -q reconnecting "$T/bob.err"
	[ "$(msgs bob | jq -r .body | tr '\n' ' ')" = "$(seq 1 15 | tr '\n' ' ')" ]
	[ "$(msgs bob | jq -r .id | sort -u | wc -l)" -eq 15 ]
	run as alice history bob --limit 50
	[ "${#lines[@]}" -eq 15 ]
}

@test "chat: a send cut off before its ack is sent again with the same cid: one message" {
	start_stack
	account alice bob
	# chat-route paused: the send reaches it but gets no ack
	kill -STOP "$ROUTE_PID"
	XDG_CONFIG_HOME="$T/cfg-alice" CHAT_LOG_LEVEL=2 "$CHAT_BIN/chat" send \
	    bob "only once" > "$T/send.out" 2> "$T/send.err" 3>&- &
	SEND=$!
	track_pid "$SEND" send
	wait_until 10 grep -q 'sending cid' "$T/send.err"
	sleep 0.3
	kill -9 "$CHATD_PID"
	kill -CONT "$ROUTE_PID"
	start_chatd
	wait_until 20 gone "$SEND"
	wait "$SEND"
	cid=$(sed -n 's/.*sending cid //p' "$T/send.err" | sort -u)
	[ "$(echo "$cid" | wc -l)" -eq 1 ]
	[ "$(grep -c "sending cid $cid" "$T/send.err")" -eq 2 ]
	run as bob history alice
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jqr "$output" .cid)" = "$cid" ]
	[ "$(jqr "$output" .body)" = "only once" ]
}

@test "chat: a restarted listen resumes from its cursor file" {
	start_stack
	account alice bob
	listen_bg bob
	seq 1 3 | as alice send bob
	wait_until 10 has_msgs bob 3
	stop_pid "$LISTEN_PID"
	last=$(msgs bob | tail -1 | jq -r .id)
	[ "$(cat "$T/cfg-bob/chat/cursor")" = "$last" ]
	seq 4 6 | as alice send bob
	listen_bg bob
	wait_until 10 has_msgs bob 6
	sleep 0.3
	[ "$(msgs bob | jq -r .body | tr '\n' ' ')" = "1 2 3 4 5 6 " ]
}

@test "chat: listen --count N exits after N messages; it syncs what it missed" {
	start_stack
	account alice bob
	printf 'one\ntwo\nthree\n' | as alice send bob
	run timeout 20 "$CHAT_BIN/chat" listen --count 2 < /dev/null
	[ "$status" -eq 100 ]	# no session in $XDG_CONFIG_HOME
	XDG_CONFIG_HOME="$T/cfg-bob" timeout 20 "$CHAT_BIN/chat" listen \
	    --count 2 > "$T/count.out" 2> /dev/null
	[ "$(jq -r .body "$T/count.out" | tr '\n' ' ')" = "one two " ]
	# the next run goes on from the cursor
	XDG_CONFIG_HOME="$T/cfg-bob" timeout 20 "$CHAT_BIN/chat" listen \
	    --count 1 > "$T/count.out" 2> /dev/null
	[ "$(jq -r .body "$T/count.out")" = three ]
}

# cursor_is USER DEVICE ID: chat-store's cursor of that device is ID.
cursor_is() {
	[ "$(jqr "$(ipc store "{\"op\":\"device.get\",\"user\":\"$1\",\"device\":\"$2\"}")" .cursor)" = "$3" ]
}

@test "chat: listen sends recv, so the server's cursor follows; SIGTERM ends it with 0" {
	start_stack
	account alice bob
	listen_bg bob
	seq 1 3 | as alice send bob
	wait_until 10 has_msgs bob 3
	last=$(msgs bob | tail -1 | jq -r .id)
	dev=$(sed -n 's/^device=//p' "$T/cfg-bob/chat/session")
	[ -n "$dev" ]
	wait_until 10 cursor_is bob "$dev" "$last"
	kill -TERM "$LISTEN_PID"
	rc=0
	wait "$LISTEN_PID" || rc=$?
	[ "$rc" -eq 0 ]
	# without the cursor file the server's cursor decides: only what is new
	rm "$T/cfg-bob/chat/cursor"
	as alice send bob four
	XDG_CONFIG_HOME="$T/cfg-bob" timeout 20 "$CHAT_BIN/chat" listen \
	    --count 1 > "$T/count.out" 2> /dev/null
	[ "$(jq -r .body "$T/count.out")" = four ]
}

@test "chat: listen --timeout exits 111 once the server has been unreachable that long" {
	start_stack
	account bob
	stop_pid "$CHATD_PID"
	run timeout 20 env XDG_CONFIG_HOME="$T/cfg-bob" "$CHAT_BIN/chat" listen --timeout 2
	[ "$status" -eq 111 ]
}
