#!/usr/bin/env bats
# chat-store's fast paths keep what they store byte for byte, and a
# database written under other LevelDB options still opens: a cursor.set
# rewrites the cursor's digits in the record's own text, and a database
# whose tables are snappy-compressed (tests/fixtures/store-db-snappy: made
# by chat-store before its write buffer grew to 32 MiB, with `chat-store
# import`, then opened once so LevelDB wrote its log out as a table) reads
# back with store_compress off, and what that wrote plain reads back with
# it on.

load helpers
load store

setup() {
	chat_setup
}

teardown() {
	stop_all
	chat_teardown
}

@test "store: cursor.set rewrites only the cursor's digits of the device record; a cursor it cannot read goes through jq" {
	# the stored text is not jq's compact form, so a dump of a parsed
	# record would show: only the digits may change
	{
		printf '%s\n' '{"key":"u/alice","value":{"user":"alice","created_at":1}}'
		printf '{"key":"c/alice/phone","value_b64":"%s"}\n' "$(printf '%s' \
		    '{"device":"phone", "gen":2, "cursor":"0000000000000010", "push":{"provider":"ntfy"}}' | base64 -w0)"
		printf '%s\n' '{"key":"c/alice/tab","value":{"device":"tab","gen":1,"cursor":"12","x":[1,{"y":2}]}}'
	} | "$CHAT_BIN/chat-store" import
	start_store
	ok '{"op":"cursor.set","user":"alice","device":"phone","cursor":"00000000000000a0"}'
	assert_equal "$(jqr "$reply" .cursor)" 00000000000000a0
	ok '{"op":"cursor.set","user":"alice","device":"phone","cursor":"0000000000000001"}'
	assert_equal "$(jqr "$reply" .cursor)" 00000000000000a0
	ok '{"op":"cursor.set","user":"alice","device":"tab","cursor":"00000000000000b0"}'
	assert_equal "$(jqr "$reply" .cursor)" 00000000000000b0
	ok '{"op":"device.get","user":"alice","device":"phone"}'
	assert_equal "$(printf '%s' "$reply" | jq -c '[.gen,.cursor,.push]')" '[2,"00000000000000a0",{"provider":"ntfy"}]'
	err not_found '{"op":"cursor.set","user":"alice","device":"watch","cursor":"0000000000000001"}'
	stop_all
	run "$CHAT_BIN/chat-store" get c/alice/phone
	assert_success
	assert_output '{"device":"phone", "gen":2, "cursor":"00000000000000a0", "push":{"provider":"ntfy"}}'
	run "$CHAT_BIN/chat-store" get c/alice/tab
	assert_output '{"device":"tab","gen":1,"cursor":"00000000000000b0","x":[1,{"y":2}]}'
}

@test "store: a database with snappy-compressed tables opens, reads and takes writes with store_compress off, and the plain tables read with it on" {
	export CHAT_STORE_COMPRESS=false
	mkdir -p "$CHAT_HOME/db"
	cp "$BATS_TEST_DIRNAME"/fixtures/store-db-snappy/* "$CHAT_HOME/db/"
	phrase='a chat message body that repeats a chat message body'
	# the fixture's table really is compressed: the text is not in it
	run grep -c "$phrase" "$CHAT_HOME"/db/*.ldb
	assert_output 0
	run "$CHAT_BIN/chat-store" get z/old/0007
	assert_success
	assert_output --partial '{"n":7,"body":"'"$phrase"
	start_store
	ok '{"op":"get","key":"z/old/0199"}'
	assert_equal "$(jqr "$reply" .value.n)" 199
	ok '{"op":"scan","prefix":"z/old/","limit":1000}'
	assert_equal "$(jqr "$reply" '.items|length')" 200
	ok '{"op":"user.create","user":"bob","password":"password-b"}'
	ok '{"op":"msg.append","from":"bob","device":"d","cid":"1","to":"olduser","body":"'"$phrase $phrase $phrase"'"}'
	stop_all
	# a table written now (the log, at the next open) beside the old one
	"$CHAT_BIN/chat-store" dump > "$BATS_TEST_TMPDIR/dump"
	"$CHAT_BIN/chat-store" dump > "$BATS_TEST_TMPDIR/dump2"
	cmp "$BATS_TEST_TMPDIR/dump" "$BATS_TEST_TMPDIR/dump2"
	assert_equal "$(grep -c '^z/old/' "$BATS_TEST_TMPDIR/dump")" 200
	grep -q '^u/bob' "$BATS_TEST_TMPDIR/dump"
	grep -q '^u/olduser' "$BATS_TEST_TMPDIR/dump"
	# the table the reopen wrote is plain: the message's text is in it
	assert_equal "$(grep -c '^m/' "$BATS_TEST_TMPDIR/dump")" 1
	grep -q "$phrase $phrase" "$CHAT_HOME"/db/*.ldb
	export CHAT_STORE_COMPRESS=true
	"$CHAT_BIN/chat-store" dump | cmp - "$BATS_TEST_TMPDIR/dump"
}
