# A NATS cluster for a test: three nats-server processes on free loopback
# ports, JetStream on in each (its own store under the test's tmp dir),
# routes between all three, a monitoring port each.  Started and stopped by
# PID through helpers.bash's pid file, so chat_teardown stops them too.
#
# In a suite:  load helpers; load helpers-nats
#              nats_cluster_start   # sets NATS_URL[1..3], NATS_PID[1..3],
#                                   # NATS_MON[1..3] and NATS_URLS (all)
#   NATS_LISTEN=0.0.0.0 before it: clients may come from a namespace
#
# Needs Debian's nats-server (make deps); a suite skips without it.

nats_have() { command -v nats-server >/dev/null; }

# nats_conf I CLIENT CLUSTER MON ROUTES...: writes server I's config.
nats_conf() {
	local i=$1 port=$2 cport=$3 mon=$4; shift 4
	local dir="$BATS_TEST_TMPDIR/nats$i" routes="" r
	mkdir -p "$dir/js"
	for r in "$@"; do routes="$routes
    nats-route://127.0.0.1:$r"; done
	cat > "$dir/nats.conf" <<EOF
server_name: n$i
listen: ${NATS_LISTEN:-127.0.0.1}:$port
http: 127.0.0.1:$mon
jetstream {
  store_dir: "$dir/js"
  max_memory_store: 64MB
  max_file_store: 256MB
}
cluster {
  name: chat
  listen: 127.0.0.1:$cport
  routes: [$routes
  ]
}
EOF
}

# nats_start I: starts server I from its config; its log is nats$i/log.
nats_start() {
	local i=$1 dir="$BATS_TEST_TMPDIR/nats$1"
	nats-server -c "$dir/nats.conf" </dev/null >>"$dir/log" 2>&1 &
	NATS_PID[$i]=$!
	track_pid "${NATS_PID[$i]}" "nats-server-$i"
}

# nats_kill I [SIGNAL]: stops server I by its PID (default SIGKILL).
nats_kill() {
	kill "-${2:-KILL}" "${NATS_PID[$1]}" 2>/dev/null || true
	wait "${NATS_PID[$1]}" 2>/dev/null || true
}

# True when server I answers its health check with JetStream ready.
nats_healthy() {
	curl -fsS "http://127.0.0.1:${NATS_MON[$1]}/healthz" 2>/dev/null |
	    grep -q '"ok"'
}

# True when every server sees a JetStream meta leader and 3 peers.
nats_js_ready() {
	local i j
	for i in 1 2 3; do
		j=$(curl -fsS "http://127.0.0.1:${NATS_MON[$i]}/jsz" 2>/dev/null) || return 1
		[ "$(jqr "$j" '.meta_cluster.leader // empty')" != "" ] || return 1
		[ "$(jqr "$j" '.meta_cluster.cluster_size // 0')" = 3 ] || return 1
	done
}

nats_cluster_start() {
	local i
	NATS_PORT=() NATS_CPORT=() NATS_MON=() NATS_URL=() NATS_PID=()
	for i in 1 2 3; do
		NATS_PORT[$i]=$(free_port)
		NATS_CPORT[$i]=$(free_port)
		NATS_MON[$i]=$(free_port)
		NATS_URL[$i]="nats://127.0.0.1:${NATS_PORT[$i]}"
	done
	nats_conf 1 "${NATS_PORT[1]}" "${NATS_CPORT[1]}" "${NATS_MON[1]}" \
	    "${NATS_CPORT[2]}" "${NATS_CPORT[3]}"
	nats_conf 2 "${NATS_PORT[2]}" "${NATS_CPORT[2]}" "${NATS_MON[2]}" \
	    "${NATS_CPORT[1]}" "${NATS_CPORT[3]}"
	nats_conf 3 "${NATS_PORT[3]}" "${NATS_CPORT[3]}" "${NATS_MON[3]}" \
	    "${NATS_CPORT[1]}" "${NATS_CPORT[2]}"
	for i in 1 2 3; do nats_start "$i"; done
	NATS_URLS="${NATS_URL[1]},${NATS_URL[2]},${NATS_URL[3]}"
	for i in 1 2 3; do wait_until 20 nats_healthy "$i"; done
	wait_until 30 nats_js_ready
}

# ---- the message log (tests/102-nats-log.bats) ----

# nats_log_info [I]: the stream CHAT_LOG's info, asked of server I (default
# the first one up).
nats_log_info() {
	local i=${1:-} url
	if [ -n "$i" ]; then url=${NATS_URL[$i]}; else url=$NATS_URLS; fi
	local out
	# (call's status is 1: a JetStream reply has no "ok")
	out=$("$CHAT_BIN/chat-bus" --bus "$url" --timeout 5000 call \
	    '$JS.API.STREAM.INFO.CHAT_LOG' '{}' 2>/dev/null) || true
	[ -n "$out" ] && printf '%s\n' "$out"
}

# nats_log_count: the number of entries in CHAT_LOG.
nats_log_count() { nats_log_info "$@" | jq -r '.state.messages // -1'; }

# nats_log_dump FILE: every entry of CHAT_LOG, one JSON line each (direct
# gets by sequence, from the first to the last).
nats_log_dump() {
	local info first last
	info=$(nats_log_info) || return 1
	first=$(jqr "$info" .state.first_seq)
	last=$(jqr "$info" .state.last_seq)
	[ "$last" -ge "$first" ] || { : > "$1"; return 0; }
	seq "$first" "$last" | sed 's/.*/{"seq":&}/' |
	    "$CHAT_BIN/chat-bus" --bus "$NATS_URLS" --timeout 10000 call \
	    '$JS.API.DIRECT.GET.CHAT_LOG' > "$1" 2>/dev/null || true
	[ "$(grep -c '"msg.append"\|"log.apply"' "$1")" -eq $((last - first + 1)) ] || {
		echo "# dump: $(grep -c '"msg.append"' "$1") of $first..$last" >&2
		head -c 600 "$1" >&2; false; }
}

# nats_log_leader: the server name (n1..n3) leading CHAT_LOG.
nats_log_leader() { nats_log_info | jq -r '.cluster.leader // empty'; }

# ---- two stack nodes (tests 101, 103-netns, 105, 106, 108) ----

# super_states RUN: the chat-super of the node whose sockets are in RUN,
# one "name state" a line.
super_states() {
	CHAT_RUN=$1 ipc super '{"op":"status"}' |
	    jq -r '.programs[] | "\(.name) \(.state)"'
}

# all_up RUN: every program of that node's chat-super is up.
all_up() {
	local s
	s=$(super_states "$1") || return 1
	[ -n "$s" ] && ! echo "$s" | grep -qv ' up$'
}

# knows_both RUN SOCK: that route shard lists both nodes' chatds.
knows_both() {
	local r
	r=$(CHAT_RUN=$1 ipc "$2" '{"op":"chatd.list"}') || return 1
	[ "$(jqr "$r" '.chatds | length')" = 2 ]
}

# nodes_setup: node A is the test's CHAT_HOME, node B a home beside it;
# their sockets in short directories near the top (A_RUN, B_RUN; CHAT_RUN
# is A's), since under tests/run a suite's temporary path is long and a
# socket path holds 107 bytes at most.
nodes_setup() {
	A_HOME=$CHAT_HOME A_RUN="$BATS_TEST_TMPDIR/ra"
	B_HOME="$BATS_TEST_TMPDIR/homeB" B_RUN="$BATS_TEST_TMPDIR/rb"
	export CHAT_RUN=$A_RUN
	mkdir -p "$B_HOME/etc" "$B_HOME/log"
	mkdir -p -m 0700 "$A_RUN" "$B_RUN"
}

# nodes_teardown: stops what the test started (node A's helpers track
# every PID, node B's included) and checks both logs for sanitizer reports.
nodes_teardown() {
	CHAT_HOME=$A_HOME CHAT_RUN=$A_RUN
	chat_teardown
	CHAT_HOME=$B_HOME chat_no_sanitizer_reports
}

# super_prog RUN NAME: "pid state restarts" of that program of a node's
# chat-super.
super_prog() {
	CHAT_RUN=$1 ipc super '{"op":"status"}' | jq -r --arg n "$2" \
	    '.programs[] | select(.name == $n) | "\(.pid) \(.state) \(.restarts)"'
}

# restarted RUN NAME OLDPID: chat-super restarted that program: it is up
# again under another PID, with a restart counted.
restarted() {
	local s
	s=$(super_prog "$1" "$2") || return 1
	set -- $s "$3"
	[ "$2" = up ] && [ "$1" != "$4" ] && [ "$3" -ge 1 ]
}

# on_b CMD...: CMD as on node B.
on_b() { CHAT_HOME=$B_HOME CHAT_RUN=$B_RUN "$@"; }
