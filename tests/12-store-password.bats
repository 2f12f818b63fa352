#!/usr/bin/env bats
# Password hashing: yescrypt at the configured cost (password_cost), with the
# production default of 5 when nothing lowers it; a bad cost is refused.

load helpers

setup() { chat_setup; }
teardown() { chat_teardown; }

@test "store: the default password_cost hashes with yescrypt cost 5" {
	unset CHAT_PASSWORD_COST
	start_store
	run ipc store '{"op":"user.create","user":"alice","password":"correct horse"}'
	assert_success
	assert_output --partial '"ok":true'
	run ipc store '{"op":"get","key":"u/alice"}'
	assert_output --partial '$y$j9T$'
	run ipc store '{"op":"user.verify","user":"alice","password":"correct horse"}'
	assert_output --partial '"ok":true'
	run ipc store '{"op":"user.verify","user":"alice","password":"wrong horse"}'
	assert_output --partial 'unauthorized'
}

@test "store: password_cost 1 hashes at cost 1 and still verifies" {
	CHAT_PASSWORD_COST=1 start_store
	run ipc store '{"op":"user.create","user":"bob","password":"correct horse"}'
	assert_output --partial '"ok":true'
	run ipc store '{"op":"get","key":"u/bob"}'
	assert_output --partial '$y$j75$'
	run ipc store '{"op":"user.verify","user":"bob","password":"correct horse"}'
	assert_output --partial '"ok":true'
}

@test "store: a password_cost outside 1..11 is a config error (exit 100)" {
	CHAT_PASSWORD_COST=12 run "$CHAT_BIN/chat-store"
	assert_equal "$status" 100
	assert_output --partial "password_cost '12' is not 1..11"
}
