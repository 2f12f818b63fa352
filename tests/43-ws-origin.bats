#!/usr/bin/env bats
# chatd's Origin allowlist (conf ws_origins): a browser page from an
# origin not listed gets no 101 Switching Protocols; a client without an
# Origin header (not a browser) does; the comparison is exact, so case and
# trailing-dot variants of a good origin are refused.  The handshake is
# written by hand so that any header, however wrong, goes out as given.

load helpers

setup() {
	chat_setup
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
}

teardown() {
	chat_teardown
}

# handshake [ORIGIN]: prints the status code of the upgrade's answer (000
# if the connection closed without one); no ORIGIN: no Origin header.
handshake() {
	"$PY" - "$CHATD_PORT" "$@" <<'PY'
import socket, sys
port = int(sys.argv[1])
req = ("GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" % port)
if len(sys.argv) > 2:
    req += "Origin: %s\r\n" % sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall((req + "\r\n").encode())
data = b""
try:
    while b"\r\n" not in data:
        d = s.recv(4096)
        if not d:
            break
        data += d
except (socket.timeout, ConnectionResetError):
    pass
line = data.split(b"\r\n")[0].split()
print(line[1].decode() if len(line) > 1 else "000")
PY
}

@test "no Origin (not a browser) and the default origins get 101" {
	start_chatd
	[ "$(handshake)" = 101 ]
	[ "$(handshake http://127.0.0.1:8080)" = 101 ]
	[ "$(handshake http://localhost:8080)" = 101 ]
}

@test "other origins get no 101, and chatd keeps serving" {
	start_chatd
	for o in https://evil.example http://evil.example:8080 \
	    http://127.0.0.1:8080.evil.example http://127.0.0.1:80800 \
	    http://127.0.0.1 https://127.0.0.1:8080 http://127.0.0.1:8081 \
	    null 'http://127.0.0.1:8080/' 'http://127.0.0.1:8080 x' \
	    HTTP://127.0.0.1:8080 http://LOCALHOST:8080 http://Localhost:8080 \
	    http://localhost.:8080 http://127.0.0.1.:8080 ws://127.0.0.1:8080 \
	    "http://x.example/$(printf 'a%.0s' $(seq 300))"; do
		code=$(handshake "$o")
		echo "$o -> $code"
		[ "$code" != 101 ]
	done
	grep -q "Origin 'https://evil.example' is not in ws_origins: refused" \
	    "$CHAT_HOME/log/chatd.log"
	[ "$(handshake http://127.0.0.1:8080)" = 101 ]
	[ "$(handshake)" = 101 ]
}

@test "ws_origins replaces the defaults; api_listen's origin is always allowed" {
	export CHAT_WS_ORIGINS=' https://chat.example.com , http://[::1]:9000'
	export CHAT_API_LISTEN=127.0.0.1:9911
	start_chatd
	[ "$(handshake https://chat.example.com)" = 101 ]
	[ "$(handshake 'http://[::1]:9000')" = 101 ]
	[ "$(handshake http://127.0.0.1:9911)" = 101 ]
	[ "$(handshake http://localhost:9911)" = 101 ]
	[ "$(handshake http://127.0.0.1:8080)" != 101 ]
	[ "$(handshake https://chat.example.com.)" != 101 ]
	[ "$(handshake https://CHAT.example.com)" != 101 ]
}

@test "an entry no browser could send is a config error: exit 100" {
	for bad in 'http://Chat.example.com' 'https://chat.example.com/' \
	    'ftp://chat.example.com' '*' 'http://' 'http://x.example:' \
	    'http://x.example.' 'http://x.example:123456'; do
		run env CHAT_WS_ORIGINS="$bad" "$CHAT_BIN/chatd" --listen "127.0.0.1:$(free_port)"
		echo "$bad -> $status: $output"
		[ "$status" = 100 ]
		[[ "$output" == *"ws_origins"* ]]
	done
}
