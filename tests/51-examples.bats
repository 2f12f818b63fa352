#!/usr/bin/env bats
# examples/*.sh, each run as a user would run it, against the real stack
# (chat-store, chat-route, chat-api, chatd on free ports), with the built
# programs first on PATH.

load helpers

EX="$BATS_TEST_DIRNAME/../examples"

setup() {
	chat_setup
	API_PORT=$(free_port)
	WS_PORT=$(free_port)
	export CHAT_SERVER="http://127.0.0.1:$API_PORT"
	export CHAT_CHATD_URL="ws://127.0.0.1:$WS_PORT/v1/ws"
	export PATH="$CHAT_BIN:$PATH"
	T=$BATS_TEST_TMPDIR
	export XDG_CONFIG_HOME="$T/cfg"
	BOT=
}

teardown() {
	# the bot is a pipeline in its own process group
	[ -z "$BOT" ] || kill -TERM -- "-$BOT" 2>/dev/null || true
	chat_teardown
}

start_stack() {
	start_daemon chat-store
	STORE_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/store.sock"
	start_daemon chat-route
	wait_for_sock "$CHAT_RUN/route.sock"
	start_daemon chat-api --listen "127.0.0.1:$API_PORT"
	wait_for_sock "$CHAT_RUN/api.sock"
	wait_until 5 curl -sf -o /dev/null "$CHAT_SERVER/v1/health"
	start_daemon chatd --listen "127.0.0.1:$WS_PORT"
	wait_for_sock "$CHAT_RUN/chatd-$WS_PORT.sock"
}

as() {
	local u=$1; shift
	XDG_CONFIG_HOME="$T/cfg-$u" "$@"
}

account() {
	local u
	for u; do
		printf 'password-%s\n' "$u" |
		    as "$u" chat signup --password-stdin "$u" > /dev/null
		printf 'password-%s\n' "$u" |
		    as "$u" chat login --password-stdin "$u" > /dev/null
	done
}

# bodies USER CONV: the bodies of USER's history with CONV, oldest first.
bodies() { as "$1" chat history "$2" | jq -r .body | tac; }
# has_body USER CONV TEXT
has_body() { bodies "$1" "$2" | grep -qxF "$3"; }

@test "examples/echo-bot.sh answers a direct message and a group message" {
	start_stack
	account bot alice
	XDG_CONFIG_HOME="$T/cfg-bot" setsid "$EX/echo-bot.sh" \
	    > "$T/bot.out" 2> "$T/bot.err" 3>&- &
	BOT=$!
	wait_until 10 grep -q 'info: synced' "$T/bot.err"
	run as alice chat send bot ping
	assert_success
	wait_until 10 has_body alice bot "echo: ping"
	gid=$(as alice chat group create room bot | jq -r .group)
	run as alice chat send --group "$gid" hello room
	assert_success
	wait_until 10 has_body alice "$gid" "echo: hello room"
	# it never answers itself: exactly one echo each
	sleep 0.5
	[ "$(bodies alice bot | tr '\n' '|')" = "ping|echo: ping|" ]
	[ "$(bodies alice "$gid" | tr '\n' '|')" = "hello room|echo: hello room|" ]
}

@test "examples/broadcast.sh sends each line to every user, or to a group" {
	start_stack
	account alice bob carol
	printf 'first line\n\nsecond line\n' > "$T/news"
	run as alice "$EX/broadcast.sh" "$T/news" bob carol
	assert_success
	[ "$(bodies bob alice | tr '\n' '|')" = "first line|second line|" ]
	[ "$(bodies carol alice | tr '\n' '|')" = "first line|second line|" ]
	gid=$(as alice chat group create news bob | jq -r .group)
	run as alice "$EX/broadcast.sh" "$T/news" --group "$gid"
	assert_success
	[ "$(bodies bob "$gid" | tr '\n' '|')" = "first line|second line|" ]
	# an unknown user: refused (exit 1), and the others still get theirs
	run as alice "$EX/broadcast.sh" "$T/news" ghost bob
	[ "$status" -eq 1 ]
	assert_output --partial no_such_user
	[ "$(bodies bob alice | wc -l)" -eq 4 ]
	run "$EX/broadcast.sh" "$T/news"
	[ "$status" -eq 100 ]
	run "$EX/broadcast.sh" "$T/missing" bob
	[ "$status" -eq 100 ]
}

@test "examples/backup.sh writes a dated export that restores into a new database" {
	start_stack
	account alice bob
	as alice chat send bob "kept in the backup"
	# export needs the database to itself
	run "$EX/backup.sh" "$T"
	[ "$status" -ne 0 ]
	[ -z "$(ls "$T" | grep chat-backup || true)" ]
	stop_all
	run "$EX/backup.sh" "$T"
	assert_success
	file="$T/chat-backup-$(date -u +%Y-%m-%d).ndjson"
	assert_line "$file"
	[ -s "$file" ]
	jq -e -s 'map(select(.key == "u/alice")) | length == 1' "$file"
	[ -z "$(ls "$T" | grep '\.tmp\.' || true)" ]
	# restore, as its notes say, and the stack serves the old data
	mv "$CHAT_HOME/db" "$CHAT_HOME/db.old"
	run chat-store import < "$file"
	assert_success
	start_stack
	run as bob chat history alice
	assert_success
	[ "$(jqr "$output" .body)" = "kept in the backup" ]
}
