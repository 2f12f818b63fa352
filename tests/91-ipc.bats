#!/usr/bin/env bats
# RELIABILITY.md rows 7, 9 and 30 on a stack of chat-store, chat-route and
# chatd started by PID: a sender's retry after a lost ack is one message;
# a writer killed halfway through a 60 KB internal line leaves nothing
# half-read behind; the internal sockets refuse another uid, overlong lines
# and garbage, and the daemons live on; chatd bounds what it queues for a
# chat-route that does not answer.

load helpers
load checker/stack

setup() {
	chat_setup
	export CHAT_RATE_LIMIT=100000 CHAT_RATE_BURST=100000
	start_store
	start_route
	start_chatd
}

teardown() {
	chat_teardown
	no_sanitizer_reports
}

alive() { kill -0 "$STORE_PID" && kill -0 "$ROUTE_PID" && kill -0 "$CHATD_PID"; }

@test "row 7: a send whose ack was lost, resent with its cid on a new connection: one message, the same id" {
	run "$PY" "$BATS_TEST_DIRNAME/checker/retry.py" --url "$URL" -n 100
	echo "$output"
	assert_success
	assert_output --partial "n=100 acked=100 stored=100 stored_twice=0 ack_id_mismatch=0 bob_got=100 bob_twice=0"
}

# torn SOCK: a writer sends 30 KB of a 60 KB request line that would be
# valid JSON if cut there, then dies by SIGKILL.
torn() {
	"$PY" - "$CHAT_RUN/$1.sock" <<'PY' &
import os, signal, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
line = b'{"op":"user.create","id":1,"user":"torn","password":"password1"}'
s.sendall(line + b" " * (30000 - len(line)))
os.kill(os.getpid(), signal.SIGKILL)
PY
	local p=$!
	wait "$p" || true
}

@test "row 9: a writer killed mid-line: the partial line is discarded and counted, the reader serves on" {
	local before after
	before=$(ipc store '{"op":"status"}' | jq .torn)
	[ "$before" = 0 ]
	torn store
	# A new client gets answers at once; the torn request did nothing.
	run ipc store '{"op":"user.get","user":"torn"}'
	assert_output --partial '"no_such_user"'
	after=$(ipc store '{"op":"status"}' | jq .torn)
	echo "# torn lines counted: $before -> $after"
	[ "$after" = 1 ]
	# The same against chat-route and chatd's sockets: alive, serving.
	torn route
	torn "chatd-$CHATD_PORT"
	run ipc route '{"op":"ping"}'
	assert_output --partial '"ok":true'
	run ipc "chatd-$CHATD_PORT" '{"op":"ping"}'
	assert_output --partial '"ok":true'
	alive
}

@test "row 9: chat-store killed -9 amid 16 KB lines: chatd and chat-route drop the torn line, reconnect, lose nothing acked" {
	# Bodies of 16000 bytes: each line to and from the store is that big,
	# and a sync page of them much bigger, so the kill lands mid-line.
	jepsen_start --rate 150 --duration 300 --users 3 --devices 1 --body-size 16000
	more_acked 100
	kill -9 "$STORE_PID"
	wait_until 5 sh -c "! kill -0 $STORE_PID"
	start_daemon chat-store
	STORE_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/store.sock"
	more_acked 200
	jepsen_finish
	alive
}

@test "row 30: internal sockets are 0600 in a 0700 directory; another uid cannot connect" {
	local s
	[ "$(stat -c %a "$CHAT_RUN")" = 700 ]
	for s in "$CHAT_RUN"/*.sock; do
		echo "# $s $(stat -c %a "$s")"
		[ "$(stat -c %a "$s")" = 600 ]
	done
	# Even with the directory opened up, the socket's mode stops nobody.
	chmod 0755 "$CHAT_RUN"
	chmod 0755 "$CHAT_HOME" "$BATS_TEST_TMPDIR"
	for s in store route "chatd-$CHATD_PORT"; do
		run runuser -u nobody -- "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])' "$CHAT_RUN/$s.sock"
		echo "$output"
		assert_failure
		assert_output --partial "PermissionError"
	done
	chmod 0700 "$CHAT_RUN"
}

@test "row 30: a 2 MiB line without a newline, invalid JSON and an unknown op: refused, nothing accepted, alive" {
	local s
	for s in store route "chatd-$CHATD_PORT"; do
		# 2 MiB, no newline: line_too_long and the connection is dropped.
		run "$PY" - "$CHAT_RUN/$s.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(b'{"op":"user.create","user":"big","password":"password1","x":"' + b"a" * (2 << 20))
except (BrokenPipeError, ConnectionResetError):
    pass
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
except (ConnectionResetError, socket.timeout):
    pass
print(out.decode(errors="replace"))
PY
		echo "$s: $output"
		assert_output --partial "line_too_long"
		run ipc_raw "$s" <<<'{"op":"user.create","user":"garbage"'
		assert_output --partial '"bad_request"'
		run ipc "$s" '{"op":"no.such.op"}'
		assert_output --partial '"unknown_op"'
	done
	run ipc store '{"op":"user.get","user":"big"}'
	assert_output --partial no_such_user
	run ipc store '{"op":"user.get","user":"garbage"}'
	assert_output --partial no_such_user
	alive
}

@test "chat-route stopped: chatd queues 100,000 sends for it, answers the rest unavailable at once, and loses none of the queued" {
	# a chatd that may queue all 100,000 acks for its one client
	stop_pid "$CHATD_PID"
	CHAT_SEND_QUEUE_MAX=67108864 start_daemon chatd --listen "127.0.0.1:$CHATD_PORT"
	CHATD_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/chatd-$CHATD_PORT.sock"
	run "$PY" "$BATS_TEST_DIRNAME/checker/backlog.py" --url "$URL" \
	    --route-pid "$ROUTE_PID" --extra 50
	echo "$output"
	assert_success
	assert_output --partial "sent=100050 acked=100000 refused=50 other_errors=0 acked_while_stopped=0"
	alive
}
