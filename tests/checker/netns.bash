# Helpers of the network rows (tests/98-net.bats, tests/long/row-1[4-6]-*):
# a network namespace joined to ours by a veth pair on a private 10.x/30,
# chatd listening on our end, the Jepsen driver inside the namespace, and
# nftables rules in the namespace only, so nothing but the test's own
# traffic is dropped.  Load after helpers and checker/stack; call netns_up
# before super_start and netns_down in teardown (always: it also runs when
# netns_up failed half way).  Needs root, iproute2 and nftables.

# netns_up: NS (the namespace), HOST_IP (our end), NS_IP (its end).
netns_up() {
	local tag=$(( $$ % 10000 ))$(( RANDOM % 100 ))
	NS="chatnet$tag"
	VETH="cn${tag}a"
	local net="10.$(( 100 + RANDOM % 100 )).$(( RANDOM % 256 ))"
	HOST_IP="$net.1"
	NS_IP="$net.2"
	echo "$NS $VETH" > "$BATS_TEST_TMPDIR/netns"
	ip netns add "$NS"
	ip link add "$VETH" type veth peer name "${VETH%a}b"
	ip link set "${VETH%a}b" netns "$NS"
	ip addr add "$HOST_IP/30" dev "$VETH"
	ip link set "$VETH" up
	ip -n "$NS" addr add "$NS_IP/30" dev "${VETH%a}b"
	ip -n "$NS" link set "${VETH%a}b" up
	ip -n "$NS" link set lo up
	# One table of ours in the namespace: a chain per direction.
	ip netns exec "$NS" nft -f - <<-EOF
	table inet chatnet {
		chain in { type filter hook input priority 0; policy accept; }
		chain out { type filter hook output priority 0; policy accept; }
	}
	EOF
}

# netns_down: deletes the namespace (its veth end and rules go with it)
# and our veth end if it is still there.
netns_down() {
	[ -f "$BATS_TEST_TMPDIR/netns" ] || return 0
	local ns veth
	read -r ns veth < "$BATS_TEST_TMPDIR/netns"
	ip netns del "$ns" 2>/dev/null || true
	ip link del "$veth" 2>/dev/null || true
	rm -f "$BATS_TEST_TMPDIR/netns"
}

# netns_stack: chat.conf for a stack whose chatd listens on HOST_IP, then
# super_start.  Sets CHATD_PORT, URL (as the namespace reaches chatd).
netns_stack() {
	CHATD_PORT=$(free_port)
	API_PORT=$(free_port)
	conf chatd_listen "$HOST_IP:$CHATD_PORT"
	conf chatd_url "ws://$HOST_IP:$CHATD_PORT/v1/ws"
	conf api_listen "127.0.0.1:$API_PORT"
	grep -q '^rate_limit' "$CHAT_HOME/etc/chat.conf" 2>/dev/null ||
	    { conf rate_limit 100000; conf rate_burst 100000; }
	touch "$CHAT_HOME/etc/.conf-done"
	super_start
	URL="ws://$HOST_IP:$CHATD_PORT/v1/ws"
}

# netns_jepsen_start [ARGS...]: jepsen_start, but the driver runs inside NS
# (its Unix sockets to chat-store are files: reachable from there).
netns_jepsen_start() {
	HIST="$BATS_TEST_TMPDIR/history.ndjson"
	PROG="$BATS_TEST_TMPDIR/progress"
	STOP="$BATS_TEST_TMPDIR/stop"
	rm -f "$STOP"
	ip netns exec "$NS" "$PY" "$JEPSEN" run --url "$URL" --history "$HIST" \
	    --progress "$PROG" --stop "$STOP" "$@" \
	    >"$BATS_TEST_TMPDIR/jepsen.out" 2>"$BATS_TEST_TMPDIR/jepsen.err" &
	JEPSEN_PID=$!
	track_pid "$JEPSEN_PID" jepsen
}

# nft_drop: every packet to or from chatd's port is dropped in NS.
nft_drop() {
	ip netns exec "$NS" nft -f - <<-EOF
	add rule inet chatnet out tcp dport $CHATD_PORT counter drop
	add rule inet chatnet in tcp sport $CHATD_PORT counter drop
	EOF
}

# nft_loss PERCENT: that share of the packets each way is dropped at random.
nft_loss() {
	ip netns exec "$NS" nft -f - <<-EOF
	add rule inet chatnet out tcp dport $CHATD_PORT numgen random mod 100 < $1 counter drop
	add rule inet chatnet in tcp sport $CHATD_PORT numgen random mod 100 < $1 counter drop
	EOF
}

# nft_dropped: packets the rules in force dropped so far (both ways).
nft_dropped() {
	ip netns exec "$NS" nft list table inet chatnet |
	    awk '{ for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

# nft_clear: the network is whole again.
nft_clear() {
	ip netns exec "$NS" nft flush chain inet chatnet in
	ip netns exec "$NS" nft flush chain inet chatnet out
}

# devices_up: the Jepsen driver's count of connected, synced devices.
devices_up() { local a s u; read -r a s u < "$PROG" 2>/dev/null && echo "${u:-0}" || echo 0; }
up_at_least() { [ "$(devices_up)" -ge "$1" ]; }

# fd_count PID: open descriptors of a process.
fd_count() { ls "/proc/$1/fd" | wc -l; }

# client_ports PORT: local ports of the established client sockets to
# 127.0.0.1:PORT (the driver's side; chatd's own have PORT as source).
client_ports() {
	ss -Htn state established dst 127.0.0.1 dport = ":$1" |
	    awk '{ n = split($3, a, ":"); print a[n] }'
}

# kill_clients PORT [SHARE]: ss -K on SHARE (default 1) of the client
# sockets to PORT, chosen at random; prints how many were killed.
kill_clients() {
	local ports n m k=0 batch
	mapfile -t ports < <(client_ports "$1" | shuf)
	n=$(awk -v c="${#ports[@]}" -v s="${2:-1}" 'BEGIN { printf "%d", c * s }')
	while [ "$k" -lt "$n" ]; do	# 50 ports a filter
		m=$(( n - k < 50 ? n - k : 50 ))
		batch=$(printf 'sport = :%s or ' "${ports[@]:k:m}")
		ss -K -tn dst 127.0.0.1 dport = ":$1" "( ${batch% or } )" >/dev/null
		k=$(( k + m ))
	done
	echo "$n"
}

# storm DEVICES ROUNDS: the driver keeps DEVICES devices connected (1:1
# messages only) while every 5 s half their sockets are destroyed with
# ss -K, ROUNDS times; then all of them at once.  Checks that every device
# is back within 15 s (the figure is printed), lost=0, and that chatd's
# descriptors return to their count with every device connected (±5), and
# to the count before the driver once it is gone.
storm() {
	local devices=$1 rounds=$2 users=$(( $1 / 5 ))
	super_start
	local chatd fd0 fd1 fd2 i n t0 ms
	wait_until 10 prog_has_pid chatd
	chatd=$(prog_pid chatd)
	fd0=$(fd_count "$chatd")
	jepsen_start --users "$users" --devices 5 --no-group --rate 100 \
	    --duration 600 --drain 60
	wait_until 120 up_at_least "$devices"
	more_acked 100
	fd1=$(fd_count "$chatd")
	for i in $(seq "$rounds"); do
		n=$(kill_clients "$CHATD_PORT" 0.5)
		echo "# round $i: ss -K on $n client sockets"
		[ "$n" -ge $(( devices / 2 - 5 )) ]
		sleep 5		# the nemesis' period
	done
	wait_until 60 up_at_least "$devices"
	n=$(kill_clients "$CHATD_PORT")
	t0=$(date +%s%N)
	[ "$n" -ge $(( devices - 5 )) ]
	# Each device's next send fails, so it notices at once; all back:
	wait_until 60 up_at_least "$devices"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "# all $n sockets killed: every device back in $ms ms"
	echo "$BATS_TEST_DESCRIPTION: $devices devices back in $ms ms" >> "${FAULT_FIGURES:-/dev/null}"
	more_acked 200 60
	fd2=$(fd_count "$chatd")
	jepsen_finish
	echo "# chatd fds: $fd0 before, $fd1 with $devices connected, $fd2 after the storm, $(fd_count "$chatd") after the driver"
	[ "$ms" -le 15000 ]
	[ "$(( fd2 - fd1 ))" -le 5 ] && [ "$(( fd1 - fd2 ))" -le 5 ]
	wait_until 10 fds_within "$chatd" "$fd0" 5
	# Every device was cut off at least once and came back by itself.
	[ "$(figure reconnects)" -ge "$devices" ]
}

# fds_within PID N SLACK: PID has N±SLACK descriptors open.
fds_within() { local f; f=$(fd_count "$1"); [ "$f" -le $(( $2 + $3 )) ] && [ "$f" -ge $(( $2 - $3 )) ]; }

NET="${NET:-$(dirname "$JEPSEN")/net.py}"

# csv_always_available CSV: slowhttptest's "Service Available" column is
# nonzero on every line (it writes the connection count when the probe got
# an answer, 0 when not).
csv_always_available() {
	awk -F, 'NR > 1 { n++; if ($5 == 0) { print "unavailable at second " $1; bad = 1 } }
	    END { exit bad || n < 5 }' "$1"
}

# slowloris SECS: RELIABILITY.md row 28 against chatd and chat-api at once
# (slowhttptest -c 1000 -H -i 10 -r 200 -p 3 -g, SECS long each) while the
# Jepsen driver keeps 8 devices chatting.  Every second both services
# answer slowhttptest's probe; a slow head of our own, a line a second, is
# closed at handshake_timeout (5 s) +1 s at most; chatd's descriptors stay
# under max_conns_per_ip (1,100 here: slowhttptest's 1,000 and its probe
# share 127.0.0.1 with the driver) plus its own; lost=0.
slowloris() {
	local secs=$1 limit=1100 hs=5
	conf handshake_timeout "$hs"
	conf max_conns_per_ip "$limit"
	super_start
	local chatd fd0 fdmax r port
	wait_until 10 prog_has_pid chatd
	chatd=$(prog_pid chatd)
	fd0=$(fd_count "$chatd")
	jepsen_start --rate 50 --duration 600 --drain 60
	more_acked 50
	local args=(-c 1000 -H -i 10 -r 200 -l "$secs" -p 3 -g)
	slowhttptest "${args[@]}" -o "$BATS_TEST_TMPDIR/ws" \
	    -u "http://127.0.0.1:$CHATD_PORT/v1/ws" >"$BATS_TEST_TMPDIR/ws.out" 2>&1 &
	local s1=$!
	track_pid "$s1" slowhttptest
	slowhttptest "${args[@]}" -o "$BATS_TEST_TMPDIR/api" \
	    -u "http://127.0.0.1:$API_PORT/v1/health" >"$BATS_TEST_TMPDIR/api.out" 2>&1 &
	local s2=$!
	track_pid "$s2" slowhttptest
	# chatd's descriptors, five times a second, while the attack lasts.
	( while kill -0 "$s1" 2>/dev/null || kill -0 "$s2" 2>/dev/null; do
		fd_count "$chatd"; sleep 0.2
	  done > "$BATS_TEST_TMPDIR/fds" ) &
	local sampler=$!
	sleep 3		# let the attack build up
	# Slow heads from another address, on both servers, during the attack.
	for port in "$CHATD_PORT" "$API_PORT"; do
		r=$("$PY" "$NET" slowhead --port "$port" --every 1)
		echo "# slow head on port $port: $r"
		awk -v c="$(jqr "$r" .closed_s)" -v h="$hs" \
		    'BEGIN { exit !(c != "null" && c >= h - 0.5 && c <= h + 1) }'
	done
	# A test may add its own attack here (row 28's 2,000 idle WebSockets).
	if declare -F slowloris_during >/dev/null; then slowloris_during; fi
	# Sessions keep chatting through it.
	more_acked 200 60
	wait "$sampler"
	fdmax=$(sort -n "$BATS_TEST_TMPDIR/fds" | tail -1)
	more_acked 50 30
	jepsen_finish
	echo "# chatd fds: $fd0 before, at most $fdmax during the attack"
	cat "$BATS_TEST_TMPDIR/ws.csv" "$BATS_TEST_TMPDIR/api.csv"
	[ "$fdmax" -gt $(( fd0 + 100 )) ]	# the attack reached chatd
	[ "$fdmax" -le $(( limit + fd0 + 20 )) ]
	csv_always_available "$BATS_TEST_TMPDIR/ws.csv"
	csv_always_available "$BATS_TEST_TMPDIR/api.csv"
	# Slow heads were closed by the servers (slowhttptest notices at its
	# next line, every 10 s).
	awk -F, 'END { exit !($2 > 0) }' "$BATS_TEST_TMPDIR/ws.csv"
	awk -F, 'END { exit !($2 > 0) }' "$BATS_TEST_TMPDIR/api.csv"
}
