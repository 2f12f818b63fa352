#!/usr/bin/env bats
# chatctl against real sockets: chat-super for status, a stand-in daemon
# (tests/fixtures/fake-daemon, canned answers) for call, users, groups and
# history, and the real chat-store when it is built.  --filter is checked
# against /usr/bin/jq on the very JSON chatctl prints without a filter.

load helpers

setup() {
	chat_setup
	FIX="$BATS_TEST_DIRNAME/fixtures"
	CTL="$CHAT_BIN/chatctl"
}

teardown() {
	chat_teardown
}

# Runs the stand-in daemon as socket NAME.
fake() {
	"$FIX/fake-daemon" "$1" 2>>"$CHAT_HOME/log/fake-$1.log" &
	track_pid $! "fake-$1"
	wait_for_sock "$CHAT_RUN/$1.sock"
}

DOC='{"users":[{"name":"ann","age":31,"team":"red"},{"name":"bo","age":45,"team":"blue"},{"name":"cy","age":28,"team":"red"}],"tags":["a","b","c"],"nums":[3,1.5,-2,1e3],"nested":{"a":{"b":null}},"text":"hello, world","unicode":"żółw → 🐢","empty":{}}'

@test "chatctl --help lists the commands; an unknown command is a usage error" {
	run "$CTL" --help
	assert_success
	for c in status call users groups history logs; do
		assert_output --partial "  $c "
	done
	run "$CTL" dance
	assert_equal "$status" 100
	assert_output --partial "unknown command 'dance'"
	run "$CTL"
	assert_equal "$status" 100
}

@test "chatctl status: a table, --json, and --filter on chat-super's status" {
	cat > "$CHAT_HOME/etc/stack.conf" <<-EOF
	store - $FIX/fake-daemon store
	a store $FIX/svc a ok
	EOF
	start_daemon chat-super
	wait_for_sock "$CHAT_RUN/super.sock"
	wait_until 10 sh -c "'$CTL' status | grep -q '^a  *up '"
	run "$CTL" status
	assert_success
	assert_line --index 0 --regexp '^NAME +STATE +PID +UPTIME +RESTARTS +LAST EXIT$'
	assert_line --regexp '^store +up +[0-9]+ +[0-9.]+(ms|s) +0 +-$'
	run "$CTL" status --json
	assert_success
	assert_equal "$(echo "$output" | jq '.programs | length')" 2
	assert_equal "$(echo "$output" | jq -r '.programs[1].needs[0]')" store
	run "$CTL" --raw --filter '.programs[] | select(.name == "a") | .state' status
	assert_success
	assert_output up
}

@test "chatctl call prints the reply; ok:false exits 1; bad requests exit 100; no socket exits 111" {
	fake store
	run "$CTL" call store '{"op":"echo","data":{"x":[1,"two"]}}'
	assert_success
	assert_output '{"id":1,"ok":true,"data":{"x":[1,"two"]}}'
	run "$CTL" call store '{"op":"fail"}'
	assert_equal "$status" 1
	assert_output --partial '"ok":false'
	run "$CTL" call store '{"op":'
	assert_equal "$status" 100
	assert_output --partial "is not a JSON object"
	run "$CTL" call store '{"nop":1}'
	assert_equal "$status" 100
	assert_output --partial "has no string field 'op'"
	run "$CTL" call store
	assert_equal "$status" 100
	run "$CTL" call nosuch '{"op":"ping"}'
	assert_equal "$status" 111
	assert_output --partial "unable to connect to '$CHAT_RUN/nosuch.sock'"
	# A socket path works as well as a name.
	run "$CTL" call "$CHAT_RUN/store.sock" '{"op":"ping"}'
	assert_success
}

@test "chatctl --filter gives what jq -c gives on the same JSON, for 20 expressions" {
	fake store
	req="{\"op\":\"echo\",\"data\":$DOC}"
	line=$("$CTL" call store "$req")
	exprs=(
		'.'
		'.data.users[].name'
		'[.data.users[] | select(.age > 30) | .name]'
		'.data.users | map(.age) | add'
		'.data.users | length'
		'.data | keys'
		'.data.users | sort_by(.age) | reverse | .[0]'
		'.data.tags | join(",")'
		'.data | to_entries | map(.key)'
		'.data.users[] | {n: .name, old: (.age >= 40)}'
		'.data.nested.a.b // "none"'
		'.data.missing // "default"'
		'[.data.users[].name | ascii_upcase] | @csv'
		'.data.nums | (min, max, (add / length))'
		'.data.text | test("h.llo")'
		'.data.users | group_by(.team) | map({team: .[0].team, n: length})'
		'.data.unicode'
		'.data.nums | map(. * 1.5)'
		'.data | has("tags"), has("nope")'
		'[paths] | length'
	)
	for e in "${exprs[@]}"; do
		want=$(printf '%s\n' "$line" | jq -c "$e")
		got=$("$CTL" call store "$req" --filter "$e")
		[ "$got" = "$want" ] || { echo "expr: $e"; echo "want: $want"; echo "got:  $got"; false; }
	done
}

@test "chatctl --raw prints strings bare, as jq -rc does" {
	fake store
	req="{\"op\":\"echo\",\"data\":$DOC}"
	line=$("$CTL" call store "$req")
	for e in '.data.users[].name' '.data.unicode' '.data.text' '.data.nums' '.data.tags | @tsv'; do
		want=$(printf '%s\n' "$line" | jq -rc "$e")
		got=$("$CTL" --raw call store "$req" --filter "$e")
		[ "$got" = "$want" ] || { echo "expr: $e"; echo "want: $want"; echo "got:  $got"; false; }
	done
}

@test "a bad jq expression is named in a clear error, exit 100, before any request" {
	for e in '.[' 'foo(' '.a |' 'nosuchfn(1)'; do
		# The program does not even exist: the filter is checked first.
		run "$CTL" --filter "$e" call nosuch '{"op":"ping"}'
		assert_equal "$status" 100
		assert_output --partial "chatctl: bad jq expression '$e'"
		assert_equal "${#lines[@]}" 1
	done
}

@test "a filter that fails on an object says so and exits 1" {
	fake store
	run "$CTL" call store '{"op":"echo","data":"abc"}' --filter '.data | tonumber'
	assert_equal "$status" 1
	assert_output --partial "chatctl: filter error:"
}

@test "chatctl users, groups and history from the store's socket" {
	fake store
	run "$CTL" users
	assert_success
	assert_line --index 0 --regexp '^USER +DISPLAY NAME +CREATED$'
	assert_line --regexp '^bob +Bob +2023-11-14T22:13:20Z$'
	run "$CTL" users --filter .user --raw
	assert_output "$(printf 'alice\nbob\ncarol')"
	run "$CTL" groups
	assert_line --regexp '^g_team +Team +alice +3$'
	run "$CTL" groups --json
	assert_output '{"group":"g_team","name":"Team","owner":"alice","members":["alice","bob","carol"]}'
	# Both spellings of a 1:1 conversation, oldest first.
	run "$CTL" history alice bob
	assert_success
	assert_line --index 0 --partial "0000000000000100 alice -> bob: hi bob"
	assert_line --index 2 --partial "alice -> bob: how are you?"
	run "$CTL" history d/alice/bob --raw --filter .body
	assert_output "$(printf 'hi bob\nhi alice\nhow are you?')"
	run "$CTL" history g_team --json
	assert_output --partial '"body":"hello team"'
	run "$CTL" history g/g_nope
	assert_equal "$status" 1
	assert_output --partial "no_such_group"
	run "$CTL" history a b c
	assert_equal "$status" 100
}

@test "chatctl users and history with the real chat-store" {
	[ -x "$CHAT_BIN/chat-store" ] || skip "chat-store is not built"
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock" 15
	ipc store '{"op":"user.create","user":"ann","password":"secret-pw1"}'
	ipc store '{"op":"user.create","user":"bo","password":"secret-pw2"}'
	run "$CTL" users --raw --filter .user
	assert_success
	assert_output "$(printf 'ann\nbo')"
	ipc store '{"op":"msg.append","from":"ann","device":"d1","cid":"c1","to":"bo","body":"hey"}'
	run "$CTL" history ann bo --raw --filter .body
	assert_success
	assert_output hey
	gid=$(ipc store '{"op":"group.create","owner":"ann","name":"Pair","members":["bo"]}' | jq -r .group)
	ipc store "{\"op\":\"msg.append\",\"from\":\"bo\",\"device\":\"d2\",\"cid\":\"c2\",\"group\":\"$gid\",\"body\":\"to all\"}"
	run "$CTL" groups
	assert_success
	assert_line --regexp "^$gid +Pair +ann +2\$"
	run "$CTL" groups bo --raw --filter .name
	assert_output Pair
	run "$CTL" history "$gid" --raw --filter '"\(.from): \(.body)"'
	assert_output "bo: to all"
}

@test "chatctl logs prints a program's log, -n the last lines, -f follows it" {
	printf 'one\ntwo\nthree\n' > "$CHAT_HOME/log/x.log"
	run "$CTL" logs x
	assert_output "$(printf 'one\ntwo\nthree')"
	run "$CTL" logs x -n 2
	assert_output "$(printf 'two\nthree')"
	run "$CTL" logs nosuch
	assert_equal "$status" 1
	assert_output --partial "unable to open"
	"$CTL" logs x -f -n 1 > "$BATS_TEST_TMPDIR/follow" &
	track_pid $! chatctl
	wait_until 5 grep -q three "$BATS_TEST_TMPDIR/follow"
	echo four >> "$CHAT_HOME/log/x.log"
	wait_until 5 grep -q four "$BATS_TEST_TMPDIR/follow"
	! grep -q two "$BATS_TEST_TMPDIR/follow"
}

@test "chatctl users pages through more than one page (1,001 users); groups likewise (1,001 groups)" {
	[ -x "$CHAT_BIN/chat-store" ] || skip "chat-store is not built"
	for i in $(seq -w 1 1001); do
		printf '{"key":"u/u%s","value":{"user":"u%s","display_name":"U%s","created_at":1,"hash":"x"}}\n' "$i" "$i" "$i"
		printf '{"key":"g/g_%s","value":{"name":"G%s","owner":"u%s","created_at":1}}\n' "$i" "$i" "$i"
		printf '{"key":"gm/g_%s/u%s","value":{}}\n' "$i" "$i"
	done | "$CHAT_BIN/chat-store" import
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock" 15
	run "$CTL" users --raw --filter .user
	assert_success
	assert_equal "${#lines[@]}" 1001
	assert_equal "${lines[1000]}" u1001
	run "$CTL" groups --raw --filter .group
	assert_success
	assert_equal "${#lines[@]}" 1001
}

@test "chatctl history --limit and --before with the real chat-store" {
	[ -x "$CHAT_BIN/chat-store" ] || skip "chat-store is not built"
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock" 15
	ipc store '{"op":"user.create","user":"ann","password":"secret-pw1"}'
	ipc store '{"op":"user.create","user":"bo","password":"secret-pw2"}'
	for i in 1 2 3 4; do
		ids[$i]=$(ipc store '{"op":"msg.append","from":"ann","device":"d1","cid":"c'$i'","to":"bo","body":"m'$i'"}' | jq -r .mid)
	done
	run "$CTL" history ann bo --limit 2 --raw --filter .body
	assert_success
	assert_output "$(printf 'm3\nm4')"
	run "$CTL" history ann bo --before "${ids[3]}" --raw --filter .body
	assert_output "$(printf 'm1\nm2')"
	run "$CTL" history bo ann --before "${ids[3]}" --limit 1 --raw --filter .body
	assert_output m2
}

@test "a filter failing on one object goes on with the next, and the exit status is 1" {
	fake store
	run "$CTL" users --raw --filter 'if .user == "bob" then error("no bob") else .user end'
	assert_equal "$status" 1
	assert_line --index 0 alice
	assert_line --partial "chatctl: filter error:"
	assert_line carol
}

@test "chatctl --timeout: a program that never answers exits 111 after that long" {
	"$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
c, _ = s.accept(); time.sleep(60)' "$CHAT_RUN/mute.sock" &
	track_pid $! mute
	wait_for_sock "$CHAT_RUN/mute.sock"
	run timeout 20 "$CTL" --timeout 300 call mute '{"op":"ping"}'
	assert_equal "$status" 111
}

@test "chatctl logs -f reads a truncated log again from its start" {
	printf 'one\ntwo\n' > "$CHAT_HOME/log/x.log"
	"$CTL" logs x -f > "$BATS_TEST_TMPDIR/follow" &
	track_pid $! chatctl
	wait_until 5 grep -q two "$BATS_TEST_TMPDIR/follow"
	: > "$CHAT_HOME/log/x.log"
	echo after >> "$CHAT_HOME/log/x.log"
	wait_until 5 grep -q after "$BATS_TEST_TMPDIR/follow"
	# and a file replaced by another (rotation by rename)
	echo renamed > "$BATS_TEST_TMPDIR/new.log"
	mv "$BATS_TEST_TMPDIR/new.log" "$CHAT_HOME/log/x.log"
	wait_until 5 grep -q renamed "$BATS_TEST_TMPDIR/follow"
}
