#!/usr/bin/env bats
# chat-store's command-line modes: dump, export, import, get.  They work on
# the database directly and refuse, at once and without harm, while the
# daemon holds it.

load helpers
load store

setup() {
	chat_setup
}

teardown() {
	chat_teardown
}

# A small database: two users, friends, a group, messages both ways and in
# the group, a device with push, presence.  Leaves the daemon stopped.
populate() {
	start_store
	ok '{"op":"user.create","user":"alice","password":"password-a"}'
	ok '{"op":"user.create","user":"bob","password":"password-b"}'
	ok '{"op":"friend.add","user":"alice","other":"bob"}'
	ok '{"op":"friend.add","user":"bob","other":"alice"}'
	ok '{"op":"group.create","owner":"alice","name":"Tea \"time\" ☕","members":["bob"]}'
	GID=$(jqr "$reply" .group)
	ok '{"op":"msg.append","from":"alice","device":"d1","cid":"c1","to":"bob","body":"line one\nline two\ttab"}'
	MID=$(jqr "$reply" .mid)
	ok '{"op":"msg.append","from":"bob","device":"d2","cid":"c1","to":"alice","body":"ünïcödé"}'
	ok '{"op":"msg.append","from":"bob","device":"d2","cid":"c2","group":"'"$GID"'","body":"to the group"}'
	ok '{"op":"device.login","user":"bob","device":"d2"}'
	ok '{"op":"push.set","user":"bob","device":"d2","provider":"webhook","endpoint":"http://127.0.0.1:1/hook"}'
	ok '{"op":"presence.set","user":"bob","status":"offline","last_active_at":42}'
	stop_pid "$STORE_PID"
}

@test "store cli: --help for every mode; an unknown mode or argument is a usage error (100)" {
	for m in "" serve dump export import get; do
		run "$CHAT_BIN/chat-store" $m --help
		assert_success
		assert_output --partial "usage: chat-store"
	done
	run "$CHAT_BIN/chat-store" frobnicate
	assert_equal "$status" 100
	assert_output --partial "unknown mode 'frobnicate'"
	run "$CHAT_BIN/chat-store" get
	assert_equal "$status" 100
	run "$CHAT_BIN/chat-store" dump --bogus
	assert_equal "$status" 100
	run "$CHAT_BIN/chat-store" export extra
	assert_equal "$status" 100
}

@test "store cli: dump prints every key with ids in hex, --prefix narrows it, get prints one value" {
	populate
	run "$CHAT_BIN/chat-store" dump
	assert_success
	assert_line --partial "u/alice	{\"user\":\"alice\""
	assert_line --regexp '^i/bob/[0-9a-f]{16}	\{"conv":"d/alice/bob"\}$'
	assert_line --regexp "^m/d/alice/bob/$MID	"
	assert_line --regexp "^gm/$GID/bob	"
	assert_line --regexp '^x/alice/d1/c1	'
	assert_line --regexp '^p/bob	\{"status":"offline","last_active_at":42\}$'
	# one line per key: bodies with newlines stay on their line (JSON escapes)
	assert_equal "$(grep -c . <<<"$output")" "${#lines[@]}"
	run "$CHAT_BIN/chat-store" dump --prefix i/alice/
	assert_success
	assert_equal "${#lines[@]}" 3
	refute_output --partial "i/bob/"
	run "$CHAT_BIN/chat-store" get "m/d/alice/bob/$MID"
	assert_success
	assert_equal "$(jq -r .body <<<"$output")" "$(printf 'line one\nline two\ttab')"
	run "$CHAT_BIN/chat-store" get u/carol
	assert_equal "$status" 1
	assert_output "chat-store: no key 'u/carol'"
	run "$CHAT_BIN/chat-store" get 'bad\xzz'
	assert_equal "$status" 100
}

@test "store cli: export | import round-trips a database, byte for byte" {
	populate
	"$CHAT_BIN/chat-store" dump > "$BATS_TEST_TMPDIR/dump1"
	"$CHAT_BIN/chat-store" export > "$BATS_TEST_TMPDIR/export"
	# NDJSON: every line an object with key and value
	run jq -e -s 'all(has("key") and has("value"))' "$BATS_TEST_TMPDIR/export"
	assert_success
	[ "$(wc -l < "$BATS_TEST_TMPDIR/export")" = "$(wc -l < "$BATS_TEST_TMPDIR/dump1")" ]

	export CHAT_HOME="$BATS_TEST_TMPDIR/other"
	export CHAT_RUN="$CHAT_HOME/run"
	mkdir -p -m 0700 "$CHAT_HOME" "$CHAT_HOME/log" "$CHAT_RUN"
	"$CHAT_BIN/chat-store" import < "$BATS_TEST_TMPDIR/export"
	"$CHAT_BIN/chat-store" dump > "$BATS_TEST_TMPDIR/dump2"
	cmp "$BATS_TEST_TMPDIR/dump1" "$BATS_TEST_TMPDIR/dump2"
	"$CHAT_BIN/chat-store" export | cmp - "$BATS_TEST_TMPDIR/export"
	# importing again into the existing database changes nothing
	"$CHAT_BIN/chat-store" import < "$BATS_TEST_TMPDIR/export"
	"$CHAT_BIN/chat-store" dump | cmp - "$BATS_TEST_TMPDIR/dump1"
	# and the daemon serves the imported data
	start_store
	ok '{"op":"user.verify","user":"bob","password":"password-b"}'
	ok '{"op":"inbox.read","user":"bob"}'
	assert_equal "$(jqr "$reply" '.messages|length')" 3
}

@test "store cli: keys and values that are not of the layout survive export | import" {
	# a value that is not JSON, and one whose key has a byte that the
	# printable form escapes
	printf '%s\n' '{"key":"z/raw","value_b64":"AAEC/w=="}' \
	    '{"key":"z/sp\\x20ace","value":"plain"}' \
	    '{"key_b64":"bS8AAQ==","value":[1,2]}' | "$CHAT_BIN/chat-store" import
	"$CHAT_BIN/chat-store" export > "$BATS_TEST_TMPDIR/export"
	run cat "$BATS_TEST_TMPDIR/export"
	assert_line '{"key":"z/raw","value_b64":"AAEC/w=="}'
	assert_line '{"key":"z/sp\\x20ace","value":"plain"}'
	"$CHAT_BIN/chat-store" dump > "$BATS_TEST_TMPDIR/dump1"
	export CHAT_HOME="$BATS_TEST_TMPDIR/other"
	mkdir -p "$CHAT_HOME"
	"$CHAT_BIN/chat-store" import < "$BATS_TEST_TMPDIR/export"
	"$CHAT_BIN/chat-store" export | cmp - "$BATS_TEST_TMPDIR/export"
	"$CHAT_BIN/chat-store" dump | cmp - "$BATS_TEST_TMPDIR/dump1"
}

@test "store cli: import stops at a bad line and says where (100)" {
	run "$CHAT_BIN/chat-store" import <<'NDJSON'
{"key":"u/a","value":{"user":"a"}}
{"key":"u/b"}
NDJSON
	assert_equal "$status" 100
	assert_output --partial "stdin line 2: missing field 'value'"
	run "$CHAT_BIN/chat-store" import <<<'not json'
	assert_equal "$status" 100
	assert_output --partial "stdin line 1"
}

@test "store cli: every mode refuses while the daemon holds the database (111), then works" {
	populate
	"$CHAT_BIN/chat-store" dump > "$BATS_TEST_TMPDIR/before"
	start_store
	db=$CHAT_HOME/db
	for m in dump export "get u/alice"; do
		run timeout 10 "$CHAT_BIN/chat-store" $m
		assert_equal "$status" 111
		assert_output "chat-store: database '$db' is in use by a running chat-store"
	done
	run timeout 10 "$CHAT_BIN/chat-store" import <<<'{"key":"u/zed","value":{}}'
	assert_equal "$status" 111
	assert_output "chat-store: database '$db' is in use by a running chat-store"
	# the daemon never noticed
	ok '{"op":"user.get","user":"alice"}'
	ok '{"op":"get","key":"u/zed"}' || true
	assert_equal "$(jqr "$reply" .error.code)" not_found
	stop_pid "$STORE_PID"
	run "$CHAT_BIN/chat-store" dump
	assert_success
	assert_equal "$output" "$(cat "$BATS_TEST_TMPDIR/before")"
}

@test "store cli: dump, export and get on a missing database say so (100)" {
	rm -rf "$CHAT_HOME/db"
	for m in dump export "get u/x"; do
		run "$CHAT_BIN/chat-store" $m
		assert_equal "$status" 100
		assert_output --partial "no database at '$CHAT_HOME/db'"
	done
	[ ! -e "$CHAT_HOME/db/CURRENT" ]
}
