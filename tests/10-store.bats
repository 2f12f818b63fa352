#!/usr/bin/env bats
# chat-store over its socket: every op and its errors, bad input, restart,
# kill -9 during a burst of appends, concurrent group adds at the cap, and
# group commit.  The command-line modes are in 11-store-cli.bats.

load helpers
load store

LOAD="$BATS_TEST_DIRNAME/../src/chat-store/appendload.py"

setup() {
	chat_setup
}

teardown() {
	stop_all	# the store holds the mount busy
	if [ -n "${MOUNTED:-}" ]; then umount "$MOUNTED"; fi
	chat_teardown
}

# acks_at_least FILE N: FILE has at least N lines.
acks_at_least() {
	[ "$(wc -l < "$1")" -ge "$2" ]
}

# users NAME...: creates each user with password "password-NAME".
users() {
	local u
	for u in "$@"; do
		ok '{"op":"user.create","user":"'"$u"'","password":"password-'"$u"'"}'
	done
}

@test "store: --help, ping and status" {
	run "$CHAT_BIN/chat-store" --help
	assert_success
	assert_output --partial "usage: chat-store"
	run "$CHAT_BIN/chat-store" serve --help
	assert_success
	start_store
	ok '{"op":"ping","id":7}'
	assert_equal "$reply" '{"id":7,"ok":true}'
	ok '{"op":"status"}'
	for f in ops errors appends dups batches syncs conns; do
		[ "$(jqr "$reply" ".$f | type")" = number ]
	done
	[ "$(jqr "$reply" .conns)" -ge 1 ]
}

@test "store: users: create, get, verify, update, list and their errors" {
	start_store
	ok '{"op":"user.create","user":"alice","password":"correct horse","display_name":"Alice"}'
	assert_equal "$(jqr "$reply" '[.user,.display_name,(.created_at|type)]|join(" ")')" "alice Alice number"
	[ "$(jqr "$reply" 'has("hash")')" = false ]
	users bob
	err user_exists '{"op":"user.create","user":"alice","password":"whatever1"}'
	err bad_request '{"op":"user.create","user":"Alice!","password":"whatever1"}'
	assert_equal "$(jqr "$reply" .error.message)" "field 'user' must be a user name (a-z, 0-9, '_', '.', '-'; at most 32)"
	err bad_request '{"op":"user.create","user":"carol","password":"short"}'
	[[ $(jqr "$reply" .error.message) == *"'password'"* ]]
	err bad_request '{"op":"user.create","user":"carol"}'
	assert_equal "$(jqr "$reply" .error.message)" "missing field 'password'"
	err bad_request '{"op":"user.create","user":"carol","password":12345678}'
	assert_equal "$(jqr "$reply" .error.message)" "field 'password' must be a string"

	ok '{"op":"user.get","user":"alice"}'
	assert_equal "$(jqr "$reply" .display_name)" Alice
	err no_such_user '{"op":"user.get","user":"nobody"}'
	err bad_request '{"op":"user.get"}'
	assert_equal "$(jqr "$reply" .error.message)" "missing field 'user'"

	ok '{"op":"user.verify","user":"alice","password":"correct horse"}'
	assert_equal "$(jqr "$reply" .user)" alice
	err unauthorized '{"op":"user.verify","user":"alice","password":"wrong horse"}'
	err unauthorized '{"op":"user.verify","user":"nobody","password":"correct horse"}'

	ok '{"op":"user.update","user":"bob","display_name":"Bobby"}'
	assert_equal "$(jqr "$reply" .display_name)" Bobby
	err no_such_user '{"op":"user.update","user":"nobody","display_name":"x"}'
	err bad_request '{"op":"user.update","user":"bob","display_name":7}'

	ok '{"op":"user.list"}'
	assert_equal "$(jqr "$reply" '[.users[].user]|join(",")')" "alice,bob"
	ok '{"op":"user.list","after":"alice","limit":5}'
	assert_equal "$(jqr "$reply" '[.users[].user]|join(",")')" "bob"
	ok '{"op":"user.list","limit":1}'
	assert_equal "$(jqr "$reply" '.users|length')" 1
}

@test "store: a connection's replies keep request order, even around hashing" {
	start_store
	run ipc_raw store <<'REQS'
{"op":"user.create","id":1,"user":"dora","password":"password-dora"}
{"op":"user.get","id":2,"user":"dora"}
{"op":"user.verify","id":3,"user":"dora","password":"password-dora"}
{"op":"ping","id":4}
{"op":"user.verify","id":5,"user":"dora","password":"nope-nope"}
{"op":"user.update","id":6,"user":"dora","display_name":"D"}
REQS
	assert_success
	assert_equal "$(printf '%s\n' "$output" | jq -r '"\(.id):\(.ok)"' | tr '\n' ' ')" "1:true 2:true 3:true 4:true 5:false 6:true "
}

@test "store: friends: request, accept by mutual request, list, check, remove" {
	start_store
	users alice bob carol
	ok '{"op":"friend.add","user":"alice","other":"bob"}'
	assert_equal "$(jqr "$reply" '"\(.user) \(.state)"')" "bob requested"
	ok '{"op":"friend.add","user":"alice","other":"bob"}'
	assert_equal "$(jqr "$reply" .state)" requested
	ok '{"op":"friend.list","user":"bob"}'
	assert_equal "$(printf '%s' "$reply" | jq -c .friends)" '[{"user":"alice","state":"pending"}]'
	ok '{"op":"friend.check","user":"alice","other":"carol"}'
	assert_equal "$(jqr "$reply" .state)" null
	ok '{"op":"friend.add","user":"bob","other":"alice"}'
	assert_equal "$(jqr "$reply" .state)" friends
	ok '{"op":"friend.check","user":"alice","other":"bob"}'
	assert_equal "$(jqr "$reply" .state)" friends
	ok '{"op":"friend.add","user":"alice","other":"carol"}'
	ok '{"op":"friend.list","user":"alice"}'
	assert_equal "$(jqr "$reply" '[.friends[]|"\(.user)=\(.state)"]|join(",")')" "bob=friends,carol=requested"
	ok '{"op":"friend.remove","user":"bob","other":"alice"}'
	ok '{"op":"friend.check","user":"alice","other":"bob"}'
	assert_equal "$(jqr "$reply" .state)" null
	ok '{"op":"friend.list","user":"bob"}'
	assert_equal "$(jqr "$reply" '.friends|length')" 0

	err no_such_user '{"op":"friend.add","user":"alice","other":"nobody"}'
	err no_such_user '{"op":"friend.list","user":"nobody"}'
	err bad_request '{"op":"friend.add","user":"alice","other":"alice"}'
	err bad_request '{"op":"friend.add","user":"alice"}'
	assert_equal "$(jqr "$reply" .error.message)" "missing field 'other'"
}

@test "store: groups: create, get, list, add, remove and their errors" {
	export CHAT_GROUP_MAX_MEMBERS=4
	start_store
	users ann ben cat dan eve
	ok '{"op":"group.create","owner":"ann","name":"Team","members":["ben","ben","ann"]}'
	g=$(jqr "$reply" .group)
	[[ $g =~ ^g_[a-z0-9]{12}$ ]]
	assert_equal "$(jqr "$reply" '"\(.name) \(.owner) \(.members|join(","))"')" "Team ann ann,ben"
	ok '{"op":"group.get","group":"'"$g"'"}'
	assert_equal "$(jqr "$reply" '.members|join(",")')" "ann,ben"
	ok '{"op":"group.list","user":"ben"}'
	assert_equal "$(printf '%s' "$reply" | jq -c .groups)" '[{"group":"'"$g"'","name":"Team"}]'

	ok '{"op":"group.add","group":"'"$g"'","user":"cat","by":"ben"}'
	assert_equal "$(jqr "$reply" '"\(.added) \(.count)"')" "true 3"
	ok '{"op":"group.add","group":"'"$g"'","user":"cat","by":"ben"}'
	assert_equal "$(jqr "$reply" .added)" false
	err not_member '{"op":"group.add","group":"'"$g"'","user":"eve","by":"dan"}'
	err no_such_user '{"op":"group.add","group":"'"$g"'","user":"nobody","by":"ann"}'
	err no_such_group '{"op":"group.add","group":"g_nosuchgroup","user":"eve","by":"ann"}'
	err bad_request '{"op":"group.get","group":"team"}'
	ok '{"op":"group.add","group":"'"$g"'","user":"dan","by":"ann"}'
	err group_full '{"op":"group.add","group":"'"$g"'","user":"eve","by":"ann"}'
	err group_full '{"op":"group.create","owner":"ann","name":"Big","members":["ben","cat","dan","eve"]}'
	err no_such_user '{"op":"group.create","owner":"ann","name":"X","members":["nobody"]}'
	err bad_request '{"op":"group.create","owner":"ann","name":"X","members":"ben"}'
	err bad_request '{"op":"group.create","owner":"ann","members":[]}'
	assert_equal "$(jqr "$reply" .error.message)" "missing field 'name'"

	err not_owner '{"op":"group.remove","group":"'"$g"'","user":"cat","by":"ben"}'
	ok '{"op":"group.remove","group":"'"$g"'","user":"cat","by":"cat"}'
	ok '{"op":"group.remove","group":"'"$g"'","user":"dan","by":"ann"}'
	err not_member '{"op":"group.remove","group":"'"$g"'","user":"dan","by":"ann"}'
	err bad_request '{"op":"group.remove","group":"'"$g"'","user":"ann","by":"ann"}'
	ok '{"op":"group.get","group":"'"$g"'"}'
	assert_equal "$(jqr "$reply" '.members|join(",")')" "ann,ben"
	ok '{"op":"group.list","user":"cat"}'
	assert_equal "$(jqr "$reply" '.groups|length')" 0
}

@test "store: msg.append 1:1: one message, inbox entries for both, dedupe by (from, device, cid)" {
	export CHAT_MAX_MESSAGE=16
	start_store
	users alice bob
	ok '{"op":"msg.append","from":"alice","device":"d1","cid":"c-1","to":"bob","body":"hello"}'
	mid=$(jqr "$reply" .mid)
	[[ $mid =~ ^[0-9a-f]{16}$ ]]
	assert_equal "$(jqr "$reply" '"\(.dup) \(.recipients|sort|join(",")) \(.ts|type)"')" "false alice,bob number"
	ok '{"op":"msg.append","from":"alice","device":"d1","cid":"c-1","to":"bob","body":"hello again"}'
	assert_equal "$(jqr "$reply" '"\(.mid) \(.dup)"')" "$mid true"
	# the same cid from another device is another message
	ok '{"op":"msg.append","from":"alice","device":"d2","cid":"c-1","to":"bob","body":"second"}'
	mid2=$(jqr "$reply" .mid)
	[ "$mid2" \> "$mid" ]
	ok '{"op":"inbox.read","user":"bob"}'
	assert_equal "$(jqr "$reply" '[.messages[]|"\(.id) \(.from) \(.to) \(.body) \(.cid) \(.device)"]|join(";")')" \
	    "$mid alice bob hello c-1 d1;$mid2 alice bob second c-1 d2"
	ok '{"op":"inbox.read","user":"alice"}'
	assert_equal "$(jqr "$reply" '.messages|length')" 2
	ok '{"op":"msg.history","user":"bob","with":"alice"}'
	assert_equal "$(jqr "$reply" '[.messages[].id]|join(",")')" "$mid2,$mid"
	# a given id and ts are kept
	ok '{"op":"msg.append","from":"bob","device":"p","cid":"x","to":"alice","body":"set","mid":"7fffffffffff0001","ts":1234}'
	assert_equal "$(jqr "$reply" '"\(.mid) \(.ts)"')" "7fffffffffff0001 1234"
	err bad_request '{"op":"msg.append","from":"bob","device":"p","cid":"y","to":"alice","body":"again","mid":"7fffffffffff0001"}'

	err no_such_user '{"op":"msg.append","from":"nobody","device":"d1","cid":"c","to":"bob","body":"x"}'
	err no_such_user '{"op":"msg.append","from":"alice","device":"d1","cid":"c","to":"nobody","body":"x"}'
	err too_large '{"op":"msg.append","from":"alice","device":"d1","cid":"c","to":"bob","body":"01234567890123456"}'
	err bad_request '{"op":"msg.append","from":"alice","device":"d1","cid":"c","to":"bob","group":"g_abc","body":"x"}'
	err bad_request '{"op":"msg.append","from":"alice","device":"d1","cid":"c","to":"bob"}'
	assert_equal "$(jqr "$reply" .error.message)" "missing field 'body'"
	err bad_request '{"op":"msg.append","from":"alice","device":"d1","cid":"c","to":"bob","body":["x"]}'
	assert_equal "$(jqr "$reply" .error.message)" "field 'body' must be a string"
	err bad_request '{"op":"msg.append","from":"alice","device":"d 1","cid":"c","to":"bob","body":"x"}'
	err bad_request '{"op":"msg.append","from":"alice","device":"d1","cid":"\u0001","to":"bob","body":"x"}'
	err bad_request '{"op":"msg.append","from":"alice","device":"d1","to":"bob","body":"x"}'
	assert_equal "$(jqr "$reply" .error.message)" "missing field 'cid'"
	# nothing of the refused sends was stored
	ok '{"op":"inbox.read","user":"bob"}'
	assert_equal "$(jqr "$reply" '.messages|length')" 3
}

@test "store: msg.append to a group: members only, an inbox entry per member" {
	start_store
	users ann ben cat out
	ok '{"op":"group.create","owner":"ann","name":"G","members":["ben","cat"]}'
	g=$(jqr "$reply" .group)
	ok '{"op":"msg.append","from":"ben","device":"d","cid":"1","group":"'"$g"'","body":"hi all"}'
	mid=$(jqr "$reply" .mid)
	assert_equal "$(jqr "$reply" '.recipients|sort|join(",")')" "ann,ben,cat"
	for u in ann ben cat; do
		ok '{"op":"inbox.read","user":"'"$u"'"}'
		assert_equal "$(jqr "$reply" '[.messages[]|"\(.id) \(.group) \(.from)"]|join(";")')" "$mid $g ben"
	done
	err not_member '{"op":"msg.append","from":"out","device":"d","cid":"1","group":"'"$g"'","body":"let me in"}'
	err no_such_group '{"op":"msg.append","from":"ann","device":"d","cid":"2","group":"g_nonesuch","body":"x"}'
	ok '{"op":"msg.history","user":"cat","group":"'"$g"'"}'
	assert_equal "$(jqr "$reply" '[.messages[].id]|join(",")')" "$mid"
	err not_member '{"op":"msg.history","user":"out","group":"'"$g"'"}'
	err no_such_group '{"op":"msg.history","user":"ann","group":"g_nonesuch"}'
	# a removed member gets nothing sent after its removal
	ok '{"op":"group.remove","group":"'"$g"'","user":"cat","by":"ann"}'
	ok '{"op":"msg.append","from":"ann","device":"d","cid":"3","group":"'"$g"'","body":"cat left"}'
	assert_equal "$(jqr "$reply" '.recipients|sort|join(",")')" "ann,ben"
	ok '{"op":"inbox.read","user":"cat"}'
	assert_equal "$(jqr "$reply" '.messages|length')" 1
	err not_member '{"op":"msg.append","from":"cat","device":"d","cid":"4","group":"'"$g"'","body":"x"}'
	ok '{"op":"inbox.read","user":"out"}'
	assert_equal "$(jqr "$reply" '.messages|length')" 0
}

@test "store: history pages newest first with before and limit; the inbox pages oldest first with after and more" {
	start_store
	users a b
	ids=()
	for i in 1 2 3 4 5; do
		ok '{"op":"msg.append","from":"a","device":"d","cid":"'"$i"'","to":"b","body":"m'"$i"'"}'
		ids+=("$(jqr "$reply" .mid)")
	done
	ok '{"op":"msg.history","user":"a","with":"b","limit":2}'
	assert_equal "$(jqr "$reply" '[.messages[].body]|join(",")')" "m5,m4"
	ok '{"op":"msg.history","user":"a","with":"b","before":"'"${ids[3]}"'","limit":2}'
	assert_equal "$(jqr "$reply" '[.messages[].body]|join(",")')" "m3,m2"
	ok '{"op":"msg.history","user":"b","with":"a","before":"'"${ids[0]}"'"}'
	assert_equal "$(jqr "$reply" '.messages|length')" 0
	ok '{"op":"inbox.read","user":"b","limit":2}'
	assert_equal "$(jqr "$reply" '"\([.messages[].body]|join(",")) \(.more)"')" "m1,m2 true"
	ok '{"op":"inbox.read","user":"b","after":"'"${ids[1]}"'","limit":3}'
	assert_equal "$(jqr "$reply" '"\([.messages[].body]|join(",")) \(.more)"')" "m3,m4,m5 false"
	err bad_request '{"op":"inbox.read","user":"b","after":"xyz"}'
	assert_equal "$(jqr "$reply" .error.message)" "field 'after' must be a message id (16 lower-case hex digits)"
	err bad_request '{"op":"msg.history","user":"a","body":"b"}'
	err no_such_user '{"op":"msg.history","user":"a","with":"zed"}'
	err bad_request '{"op":"inbox.read","user":"b","limit":"ten"}'
}

@test "store: devices: login, get, list, cursor forward only, push, logout bumps gen" {
	start_store
	users alice
	ok '{"op":"device.login","user":"alice"}'
	d1=$(jqr "$reply" .device)
	[[ $d1 =~ ^[A-Za-z0-9_-]{1,64}$ ]]
	assert_equal "$(jqr "$reply" .gen)" 1
	ok '{"op":"device.login","user":"alice","device":"phone"}'
	assert_equal "$(jqr "$reply" '"\(.device) \(.gen) \(.cursor)"')" "phone 1 0000000000000000"
	ok '{"op":"cursor.set","user":"alice","device":"phone","cursor":"00000000000000a0"}'
	assert_equal "$(jqr "$reply" .cursor)" 00000000000000a0
	ok '{"op":"cursor.set","user":"alice","device":"phone","cursor":"0000000000000010"}'
	assert_equal "$(jqr "$reply" .cursor)" 00000000000000a0
	ok '{"op":"cursor.set","user":"alice","device":"phone","id":"00000000000000b0"}'
	assert_equal "$(jqr "$reply" .cursor)" 00000000000000b0
	ok '{"op":"push.set","user":"alice","device":"phone","provider":"ntfy","endpoint":"https://ntfy.example/t","token":"tok"}'
	ok '{"op":"device.get","user":"alice","device":"phone"}'
	assert_equal "$(printf '%s' "$reply" | jq -c '[.device,.gen,.cursor,.push]')" '["phone",1,"00000000000000b0",{"provider":"ntfy","endpoint":"https://ntfy.example/t","token":"tok"}]'
	ok '{"op":"device.list","user":"alice"}'
	assert_equal "$(jqr "$reply" '[.devices[].device]|sort|join(",")')" "$(printf '%s\n' phone "$d1" | LC_ALL=C sort | paste -sd,)"
	ok '{"op":"push.clear","user":"alice","device":"phone"}'
	ok '{"op":"device.get","user":"alice","device":"phone"}'
	assert_equal "$(jqr "$reply" 'has("push")')" false
	ok '{"op":"device.logout","user":"alice","device":"phone"}'
	assert_equal "$(jqr "$reply" .gen)" 2
	ok '{"op":"device.login","user":"alice","device":"phone"}'
	assert_equal "$(jqr "$reply" .gen)" 2

	err not_found '{"op":"device.get","user":"alice","device":"tablet"}'
	err not_found '{"op":"device.logout","user":"alice","device":"tablet"}'
	err not_found '{"op":"cursor.set","user":"alice","device":"tablet","cursor":"0000000000000001"}'
	err bad_request '{"op":"cursor.set","user":"alice","device":"phone"}'
	err bad_request '{"op":"push.set","user":"alice","device":"phone","provider":"pigeon","endpoint":"x"}'
	err no_such_user '{"op":"device.login","user":"nobody"}'
	err bad_request '{"op":"device.login","user":"alice","device":"bad/device"}'
}

@test "store: presence: set and get, offline and 0 for the never seen" {
	start_store
	users alice bob
	ok '{"op":"presence.set","user":"alice","status":"online","last_active_at":1700000000000}'
	ok '{"op":"presence.get","users":["alice","bob"]}'
	assert_equal "$(printf '%s' "$reply" | jq -c .presence)" '[{"user":"alice","status":"online","last_active_at":1700000000000},{"user":"bob","status":"offline","last_active_at":0}]'
	err bad_request '{"op":"presence.set","user":"alice","status":"busy","last_active_at":1}'
	err bad_request '{"op":"presence.set","user":"alice","status":"online"}'
	assert_equal "$(jqr "$reply" .error.message)" "missing field 'last_active_at'"
	err no_such_user '{"op":"presence.set","user":"nobody","status":"online","last_active_at":1}'
	err bad_request '{"op":"presence.get","users":"alice"}'
}

@test "store: get and scan show raw keys with ids in hex" {
	start_store
	users alice bob
	ok '{"op":"msg.append","from":"alice","device":"d","cid":"1","to":"bob","body":"x"}'
	mid=$(jqr "$reply" .mid)
	ok '{"op":"get","key":"i/bob/'"$mid"'"}'
	assert_equal "$(printf '%s' "$reply" | jq -c .value)" '{"conv":"d/alice/bob"}'
	ok '{"op":"get","key":"m/d/alice/bob/'"$mid"'"}'
	assert_equal "$(jqr "$reply" .value.body)" x
	err not_found '{"op":"get","key":"u/carol"}'
	ok '{"op":"scan","prefix":"u/"}'
	assert_equal "$(jqr "$reply" '[.items[].key]|join(",")')" "u/alice,u/bob"
	ok '{"op":"scan","prefix":"u/","after":"u/alice"}'
	assert_equal "$(jqr "$reply" '[.items[].key]|join(",")')" "u/bob"
	ok '{"op":"scan","prefix":"i/","limit":1}'
	assert_equal "$(jqr "$reply" '"\(.items|length) \(.more)"')" "1 true"
	err bad_request '{"op":"get"}'
}

@test "store: bad input gets an error reply and the connection and others keep working" {
	export CHAT_IPC_MAX_LINE=4096
	start_store
	# a second client holds its connection through all of it
	coproc OTHER { "$PY" -u -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
for line in sys.stdin:
    s.sendall(line.encode()); sys.stdout.write(f.readline().decode())' "$CHAT_RUN/store.sock"; }
	echo '{"op":"ping","id":"first"}' >&"${OTHER[1]}"
	read -r -t 5 line <&"${OTHER[0]}"
	assert_equal "$line" '{"id":"first","ok":true}'

	long=$(head -c 5000 /dev/zero | tr '\0' a)
	run ipc_raw store <<REQS
this is not json
[1,2,3]
{"op":"nope","id":2}
{"id":3}
{"op":7,"id":4}
{"op":"user.get","id":5,"user":42}
{"op":"ping","id":6,"pad":"$long"}
{"op":"ping","id":7}
REQS
	assert_success
	# ipc answers an over-long line itself, at once; the rest come in order
	assert_equal "$(grep -c '"line_too_long"' <<<"$output")" 1
	mapfile -t got < <(grep -v '"line_too_long"' <<<"$output")
	assert_equal "${#got[@]}" 7
	assert_equal "$(jqr "${got[0]}" '"\(.id) \(.error.code)"')" "null bad_request"
	assert_equal "$(jqr "${got[1]}" '"\(.id) \(.error.code)"')" "null bad_request"
	assert_equal "$(jqr "${got[2]}" '"\(.id) \(.error.code) \(.error.message)"')" "2 unknown_op unknown op 'nope'"
	assert_equal "$(jqr "${got[3]}" '"\(.id) \(.error.code) \(.error.message)"')" "3 bad_request missing field 'op'"
	assert_equal "$(jqr "${got[4]}" '"\(.id) \(.error.code) \(.error.message)"')" "4 bad_request field 'op' must be a string"
	assert_equal "$(jqr "${got[5]}" '"\(.id) \(.error.code) \(.error.message)"')" "5 bad_request field 'user' must be a string"
	assert_equal "${got[6]}" '{"id":7,"ok":true}'

	echo '{"op":"ping","id":"after"}' >&"${OTHER[1]}"
	read -r -t 5 line <&"${OTHER[0]}"
	assert_equal "$line" '{"id":"after","ok":true}'
	kill -0 "$STORE_PID"
	ok '{"op":"ping"}'
	exec {OTHER[1]}>&-
	wait "$OTHER_PID" || true
}

@test "store: a restart keeps everything" {
	start_store
	users alice bob
	ok '{"op":"friend.add","user":"alice","other":"bob"}'
	ok '{"op":"group.create","owner":"alice","name":"G","members":["bob"]}'
	g=$(jqr "$reply" .group)
	ok '{"op":"msg.append","from":"alice","device":"d","cid":"1","to":"bob","body":"before"}'
	mid=$(jqr "$reply" .mid)
	ok '{"op":"device.login","user":"bob","device":"p"}'
	ok '{"op":"cursor.set","user":"bob","device":"p","cursor":"'"$mid"'"}'
	ok '{"op":"presence.set","user":"bob","status":"online","last_active_at":5}'
	stop_pid "$STORE_PID"
	run "$CHAT_BIN/chat-store" dump
	assert_success
	before=$output
	start_store
	ok '{"op":"user.verify","user":"bob","password":"password-bob"}'
	ok '{"op":"friend.check","user":"bob","other":"alice"}'
	assert_equal "$(jqr "$reply" .state)" pending
	ok '{"op":"group.get","group":"'"$g"'"}'
	assert_equal "$(jqr "$reply" '.members|join(",")')" "alice,bob"
	ok '{"op":"inbox.read","user":"bob"}'
	assert_equal "$(jqr "$reply" '[.messages[].body]|join(",")')" before
	ok '{"op":"device.get","user":"bob","device":"p"}'
	assert_equal "$(jqr "$reply" .cursor)" "$mid"
	ok '{"op":"msg.append","from":"alice","device":"d","cid":"1","to":"bob","body":"retry"}'
	assert_equal "$(jqr "$reply" '"\(.mid) \(.dup)"')" "$mid true"
	ok '{"op":"presence.get","users":["bob"]}'
	assert_equal "$(jqr "$reply" '.presence[0].status')" online
	stop_pid "$STORE_PID"
	run "$CHAT_BIN/chat-store" dump
	assert_equal "$output" "$before"
}

@test "store: kill -9 during a burst of appends loses no acknowledged append" {
	start_store
	acks=$BATS_TEST_TMPDIR/acks
	: > "$acks"
	"$PY" "$LOAD" --setup --conns 8 --count 200000 --window 64 --acks "$acks" \
	    "$CHAT_RUN/store.sock" > "$BATS_TEST_TMPDIR/load.out" &
	load=$!
	track_pid "$load" appendload
	wait_until 20 acks_at_least "$acks" 3000
	kill -KILL "$STORE_PID"
	wait "$load" || true
	nacked=$(sort -u "$acks" | wc -l)
	[ "$nacked" -ge 3000 ]
	# read the database back directly: every acked id has its message and
	# both inbox entries
	"$CHAT_BIN/chat-store" dump --prefix i/loadb/ | cut -f1 | sed 's|^i/loadb/||' | sort > "$BATS_TEST_TMPDIR/inbox"
	"$CHAT_BIN/chat-store" dump --prefix i/loada/ | cut -f1 | sed 's|^i/loada/||' | sort > "$BATS_TEST_TMPDIR/sent"
	"$CHAT_BIN/chat-store" dump --prefix m/d/loada/loadb/ | cut -f1 | sed 's|^.*/||' | sort > "$BATS_TEST_TMPDIR/msgs"
	sort -u "$acks" > "$BATS_TEST_TMPDIR/acked"
	missing=$(comm -23 "$BATS_TEST_TMPDIR/acked" "$BATS_TEST_TMPDIR/inbox" | wc -l)
	echo "# acked $nacked, present $(wc -l < "$BATS_TEST_TMPDIR/inbox"), missing $missing" >&3
	assert_equal "$missing" 0
	assert_equal "$(comm -23 "$BATS_TEST_TMPDIR/acked" "$BATS_TEST_TMPDIR/sent" | wc -l)" 0
	assert_equal "$(comm -23 "$BATS_TEST_TMPDIR/acked" "$BATS_TEST_TMPDIR/msgs" | wc -l)" 0
	# the message, its inbox entries and its dedupe record are one batch
	cmp "$BATS_TEST_TMPDIR/inbox" "$BATS_TEST_TMPDIR/msgs"
	cmp "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/msgs"
	assert_equal "$("$CHAT_BIN/chat-store" dump --prefix x/loada/ | wc -l)" "$(wc -l < "$BATS_TEST_TMPDIR/msgs")"
	# and the store starts again on it
	start_store
	ok '{"op":"inbox.read","user":"loadb","limit":1}'
	assert_equal "$(jqr "$reply" '.messages[0].id')" "$(head -1 "$BATS_TEST_TMPDIR/msgs")"
}

@test "store: 50 concurrent group.add to a group of 90 leave exactly 100 members" {
	# 140 users, imported rather than hashed one by one (the store's own
	# import; the hash is never checked here)
	for i in $(seq -w 1 140); do
		printf '{"key":"u/u%s","value":{"user":"u%s","display_name":"u%s","created_at":1,"hash":"x"}}\n' "$i" "$i" "$i"
	done | "$CHAT_BIN/chat-store" import
	start_store
	members=$(seq -w 2 90 | sed 's/^/"u0/; s/$/"/' | paste -sd,)
	ok '{"op":"group.create","owner":"u001","name":"Ninety","members":['"$members"']}'
	g=$(jqr "$reply" .group)
	assert_equal "$(jqr "$reply" '.members|length')" 90
	run "$PY" - "$CHAT_RUN/store.sock" "$g" <<'PY'
import json, socket, sys, threading
path, g = sys.argv[1], sys.argv[2]
socks = []
for i in range(50):
    s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(path); socks.append(s)
go = threading.Barrier(50)
out = [None] * 50
def add(i):
    req = {"op": "group.add", "id": i, "group": g, "user": "u%03d" % (91 + i), "by": "u001"}
    go.wait()
    socks[i].sendall(json.dumps(req).encode() + b"\n")
    out[i] = json.loads(socks[i].makefile("rb").readline())
ts = [threading.Thread(target=add, args=(i,)) for i in range(50)]
for t in ts: t.start()
for t in ts: t.join()
ok = sum(1 for r in out if r["ok"])
full = sum(1 for r in out if not r["ok"] and r["error"]["code"] == "group_full")
print(ok, full)
PY
	assert_success
	assert_equal "$output" "10 40"
	ok '{"op":"group.get","group":"'"$g"'"}'
	assert_equal "$(jqr "$reply" '.members|length')" 100
	ok '{"op":"scan","prefix":"gm/'"$g"'/","limit":1000}'
	assert_equal "$(jqr "$reply" '.items|length')" 100
}

@test "store: acks wait for a synced write, and group commit shares one sync among many appends" {
	start_store
	"$PY" "$LOAD" --setup --conns 8 --count 4000 "$CHAT_RUN/store.sock" > "$BATS_TEST_TMPDIR/group"
	assert_equal "$(jqr "$(cat "$BATS_TEST_TMPDIR/group")" .acked)" 4000
	ok '{"op":"status"}'
	batches=$(jqr "$reply" .batches)
	[ "$(jqr "$reply" .syncs)" = "$batches" ]
	[ "$batches" -lt 2000 ]
	stop_pid "$STORE_PID"
	export CHAT_STORE_GROUP_COMMIT=false
	start_store
	unset CHAT_STORE_GROUP_COMMIT
	"$PY" "$LOAD" --conns 8 --count 1000 "$CHAT_RUN/store.sock" > "$BATS_TEST_TMPDIR/single"
	ok '{"op":"status"}'
	assert_equal "$(jqr "$reply" .syncs)" 1000
	echo "# appends/s with sync: group commit $(jqr "$(cat "$BATS_TEST_TMPDIR/group")" .per_second)," \
	    "one sync each $(jqr "$(cat "$BATS_TEST_TMPDIR/single")" .per_second)" >&3
}

@test "store: a second chat-store on the same database refuses at once (exit 111)" {
	start_store
	run "$CHAT_BIN/chat-store"
	assert_equal "$status" 111
	assert_output --partial "is in use by a running chat-store"
	kill -0 "$STORE_PID"
	ok '{"op":"ping"}'
}

@test "store: a corrupt database is refused (exit 102) and SIGTERM stops cleanly (exit 0)" {
	start_store
	"$PY" "$LOAD" --setup --conns 2 --count 2000 "$CHAT_RUN/store.sock" >/dev/null
	kill -TERM "$STORE_PID"
	rc=0
	wait "$STORE_PID" || rc=$?
	assert_equal "$rc" 0
	log=$(ls "$CHAT_HOME"/db/*.log | head -1)
	size=$(stat -c %s "$log")
	[ "$size" -gt 100000 ]
	printf '\xde\xad\xbe\xef' | dd of="$log" bs=1 seek=$((size / 2)) conv=notrunc status=none
	run "$CHAT_BIN/chat-store"
	assert_equal "$status" 102
	assert_output --partial "is corrupt"
}

@test "store: a full disk gets store_unavailable, never an ack, and writes resume when space returns" {
	mount -t tmpfs -o size=3m tmpfs "$CHAT_HOME/db" 2>/dev/null ||
	    skip "cannot mount a small tmpfs here (needs root)"
	MOUNTED=$CHAT_HOME/db
	start_store
	acks=$BATS_TEST_TMPDIR/acks
	"$PY" "$LOAD" --setup --conns 4 --count 20000 --body 1000 --acks "$acks" \
	    "$CHAT_RUN/store.sock" > "$BATS_TEST_TMPDIR/load.out"
	out=$(cat "$BATS_TEST_TMPDIR/load.out")
	echo "# full disk: $out" >&3
	[ "$(jqr "$out" .errors)" -gt 0 ]
	assert_equal "$(jqr "$out" '.codes|keys|join(",")')" store_unavailable
	kill -0 "$STORE_PID"
	err store_unavailable '{"op":"msg.append","from":"loada","device":"z","cid":"z1","to":"loadb","body":"x"}'
	ok '{"op":"ping"}'
	mount -o remount,size=64m "$CHAT_HOME/db"
	wait_until 5 ok '{"op":"msg.append","from":"loada","device":"z","cid":"z2","to":"loadb","body":"x"}'
	stop_pid "$STORE_PID"
	"$CHAT_BIN/chat-store" dump --prefix i/loadb/ | cut -f1 | sed 's|^i/loadb/||' | sort > "$BATS_TEST_TMPDIR/inbox"
	assert_equal "$(sort -u "$acks" | comm -23 - "$BATS_TEST_TMPDIR/inbox" | wc -l)" 0
}

@test "store: a torn log tail after kill -9 still opens" {
	start_store
	acks=$BATS_TEST_TMPDIR/acks
	: > "$acks"
	"$PY" "$LOAD" --setup --conns 4 --count 200000 --window 64 --acks "$acks" \
	    "$CHAT_RUN/store.sock" > /dev/null &
	load=$!
	track_pid "$load" appendload
	wait_until 20 acks_at_least "$acks" 1000
	kill -KILL "$STORE_PID"
	wait "$load" || true
	log=$(ls -t "$CHAT_HOME"/db/*.log | head -1)
	truncate -s -37 "$log"
	start_store
	ok '{"op":"status"}'
	stop_pid "$STORE_PID"
	"$CHAT_BIN/chat-store" dump --prefix i/loadb/ | cut -f1 | sed 's|^i/loadb/||' | sort > "$BATS_TEST_TMPDIR/inbox"
	# what this asserts is that the store opens; cutting 37 synced bytes
	# may drop the last batch whole, acked or not, so the count is reported
	# (row 12's real case, an unsynced tail, is the kill -9 test above)
	missing=$(sort -u "$acks" | comm -23 - "$BATS_TEST_TMPDIR/inbox" | wc -l)
	echo "# torn tail: acked $(sort -u "$acks" | wc -l), missing $missing" >&3
}

@test "store: status has every counter chat-store(1) lists; SIGINT stops it cleanly (exit 0)" {
	start_store
	users alice
	ok '{"op":"status"}'
	for f in ops errors appends dups batches syncs writes max_batch conns overlong torn hashes commit_us max_commit_us; do
		[ "$(jqr "$reply" ".$f | type")" = number ] || { echo "status has no number '$f': $reply" >&2; false; }
	done
	assert_equal "$(jqr "$reply" .degraded)" false
	[ "$(jqr "$reply" .hashes)" -ge 1 ]
	ok '{"op":"device.login","user":"alice"}'
	[[ $(jqr "$reply" .device) =~ ^[A-Za-z0-9_-]{16}$ ]]
	kill -INT "$STORE_PID"
	rc=0
	wait "$STORE_PID" || rc=$?
	assert_equal "$rc" 0
	[ ! -e "$CHAT_RUN/store.sock" ]
}
