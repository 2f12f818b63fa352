# Shared by every bats suite: a private CHAT_HOME per test, daemons started
# and stopped by PID, bounded waits, and a neutral NDJSON client (python3) so
# a suite never depends on the program it is testing to talk to it.
#
# In a suite:   load helpers;  setup() { chat_setup; };  teardown() { chat_teardown; }

bats_load_library bats-support
bats_load_library bats-assert

# Debian's python3 (with python3-websockets), not whatever is first on PATH.
PY=/usr/bin/python3

: "${CHAT_BIN:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)/bin}"
export CHAT_BIN

# yescrypt at its production cost (5) takes 50 ms a hash here, and far more
# on a loaded machine; the suites sign up hundreds of users, so they hash at
# cost 1.  tests/12-store-password.bats checks the production default.
export CHAT_PASSWORD_COST=${CHAT_PASSWORD_COST:-1}

chat_setup() {
	export CHAT_HOME="$BATS_TEST_TMPDIR/home"
	export CHAT_RUN="$CHAT_HOME/run"
	mkdir -p "$CHAT_HOME/etc" "$CHAT_HOME/log" "$CHAT_HOME/db"
	mkdir -p -m 0700 "$CHAT_RUN"
	PIDFILE="$BATS_TEST_TMPDIR/pids"
	: > "$PIDFILE"
}

# Every suite's teardown: stop what the test started, then fail the test on
# any AddressSanitizer/UBSan report a program left in its log (under
# make test-asan; a release build never writes one).
chat_teardown() {
	stop_all
	chat_no_sanitizer_reports
}

chat_no_sanitizer_reports() {
	[ -n "${CHAT_HOME:-}" ] && [ -d "$CHAT_HOME" ] || return 0
	# Only the programs' logs: the database's WAL files end in .log too.
	! grep -rs "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" \
	    --include='*.log' --include='*.out' "$CHAT_HOME/log"
}

# A free TCP port on 127.0.0.1.  It is taken below the kernel's ephemeral
# range, so no outgoing connection (of this suite or another one running at
# the same time) can be given it before the daemon binds it, and it is
# reserved by a file in $CHAT_PORT_DIR (tests/run shares one among the
# suites it runs in parallel) so no other suite of the run is handed it.
free_port() {
	"$PY" - "${CHAT_PORT_DIR:-$BATS_RUN_TMPDIR/ports}" <<'PY'
import os, random, socket, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
try:
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    lo = 32768
def bindable(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(500 if lo > 11000 else 0):
    p = random.randrange(10000, lo)
    try:
        os.close(os.open(os.path.join(d, str(p)), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        continue
    if bindable(p):
        print(p)
        sys.exit(0)
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])
PY
}

# start_daemon NAME [ARGS...]: runs $CHAT_BIN/NAME in the background with its
# stderr in $CHAT_HOME/log/NAME.log, records its PID; echoes nothing.
# The PID is left in $LAST_PID.
start_daemon() {
	local name=$1; shift
	"$CHAT_BIN/$name" "$@" </dev/null >>"$CHAT_HOME/log/$name.out" 2>>"$CHAT_HOME/log/$name.log" &
	LAST_PID=$!
	echo "$LAST_PID $name" >> "$PIDFILE"
}

# Records a PID started some other way so teardown stops it.
track_pid() { echo "$1 ${2:-proc}" >> "$PIDFILE"; }

# stop_pid PID: SIGTERM, wait up to 5 s, then SIGKILL.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		nap 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# Stops everything this test started, newest first.
stop_all() {
	[ -f "${PIDFILE:-/nonexistent}" ] || return 0
	local pid name
	tac "$PIDFILE" | while read -r pid name; do stop_pid "$pid"; done
	: > "$PIDFILE"
}

# drive ARGS...: runs the suite's driver, "$PY" "$DRV" ARGS..., shows what
# it printed, and passes if it exited 0 and said "ok": true.
drive() {
	run "$PY" "$DRV" "$@"
	echo "$output"
	assert_success
	assert_output --partial '"ok": true'
}

# wait_until SECONDS CMD...: runs CMD every 0.05 s until it succeeds; fails
# after SECONDS.
wait_until() {
	local limit=$1; shift
	local deadline=$(( ${EPOCHREALTIME/[.,]/} + limit * 1000000 ))
	until "$@" 2>/dev/null; do
		[ "${EPOCHREALTIME/[.,]/}" -lt "$deadline" ] || { echo "timed out after ${limit}s: $*" >&2; return 1; }
		nap 0.05
	done
}

# nap SECONDS: sleep(1) without starting a process (polls run hundreds of
# times a test, and a fork costs seconds on a loaded machine): a read that
# times out on a FIFO nobody writes to, opened read-write so the open never
# blocks.  Falls back to sleep(1) if the read does not time out.
nap() {
	if [ -z "${NAP_FD:-}" ]; then
		local f="${BATS_TEST_TMPDIR:-${TMPDIR:-/tmp}}/.nap.$$"
		{ [ -p "$f" ] || mkfifo "$f"; } 2>/dev/null &&
		    exec {NAP_FD}<>"$f" 2>/dev/null || NAP_FD=
	fi
	if [ -n "$NAP_FD" ]; then
		local rc=0
		read -r -t "$1" -u "$NAP_FD" _ 2>/dev/null || rc=$?
		[ "$rc" -le 128 ] || return 0
	fi
	sleep "$1"
}

# wait_for_sock PATH [SECONDS]: until something accepts connections there.
# (socat when it is there: a python3 per poll costs 50 ms of CPU.)
wait_for_sock() {
	if command -v socat >/dev/null; then
		wait_until "${2:-10}" socat -u /dev/null "UNIX-CONNECT:$1"
		return
	fi
	wait_until "${2:-10}" "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])' "$1"
}

# ipc SOCKNAME JSON...: sends each JSON object (one per argument) on one
# connection to $CHAT_RUN/SOCKNAME.sock and prints each reply line, in order.
# Requests without an "id" get one.  Times out after 10 s.
ipc() {
	local sock=$1; shift
	"$PY" - "$CHAT_RUN/$sock.sock" "$@" <<'PY'
import json, socket, sys
path, reqs = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(path)
f = s.makefile("rb")
for n, r in enumerate(reqs, 1):
    try:
        o = json.loads(r)
        if isinstance(o, dict) and "id" not in o: o["id"] = n
        r = json.dumps(o)
    except ValueError:
        pass
    s.sendall(r.encode() + b"\n")
    while True:
        line = f.readline()
        if not line: sys.exit("eof")
        try:
            rep = json.loads(line)
        except ValueError:
            sys.exit("bad reply: %r" % line)
        if "ev" in rep: continue
        print(line.decode().rstrip("\n")); break
PY
}

# ipc_raw SOCKNAME: writes stdin as is to the socket and prints what comes
# back until the peer is quiet for 1 s.
ipc_raw() {
	"$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read()); s.settimeout(1)
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d: break
        out += d
except socket.timeout:
    pass
sys.stdout.write(out.decode(errors="replace"))' "$CHAT_RUN/$1.sock"
}

# sock_up SOCK NAME: waits for the socket of the daemon just started
# (LAST_PID); on failure says whether it is still running and shows the end
# of its log, so a daemon that exited is told from one that is slow.
sock_up() {
	wait_for_sock "$1" && return 0
	echo "# $2 (pid $LAST_PID) $(kill -0 "$LAST_PID" 2>/dev/null && echo 'still running' || echo exited), no $1; its log ends:"
	tail -n 15 "$CHAT_HOME/log/$2.log" 2>/dev/null | sed 's/^/#   /'
	return 1
}

# start_store [ARGS...]: chat-store on $CHAT_HOME, its socket ready; sets
# STORE_PID.
start_store() {
	start_daemon chat-store "$@"
	STORE_PID=$LAST_PID
	sock_up "$CHAT_RUN/store.sock" chat-store
}

# start_route: chat-route, its socket ready; sets ROUTE_PID.
start_route() {
	start_daemon chat-route
	ROUTE_PID=$LAST_PID
	sock_up "$CHAT_RUN/route.sock" chat-route
}

# start_chatd [PORT]: chatd on 127.0.0.1:PORT (a free port if none), its
# control socket ready; sets CHATD_PORT, URL and CHATD_PID.
start_chatd() {
	CHATD_PORT=${1:-$(free_port)}
	URL="ws://127.0.0.1:$CHATD_PORT/v1/ws"
	start_daemon chatd --listen "127.0.0.1:$CHATD_PORT"
	CHATD_PID=$LAST_PID
	sock_up "$CHAT_RUN/chatd-$CHATD_PORT.sock" chatd
}

# start_api [ARGS...]: chat-api on a free port, answering /v1/health; sets
# API_PORT, API (its base URL) and API_PID.
start_api() {
	API_PORT=$(free_port)
	API="http://127.0.0.1:$API_PORT"
	start_daemon chat-api --listen "127.0.0.1:$API_PORT" "$@"
	API_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/api.sock"
	wait_until 5 curl -sf -o /dev/null "$API/v1/health"
}

# jqr JSON FILTER: jq -r on a string.
jqr() { printf '%s' "$1" | jq -r "$2"; }
