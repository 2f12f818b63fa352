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
	add rule inet chatnet out tcp dport $CHATD_PORT drop
	add rule inet chatnet in tcp sport $CHATD_PORT drop
	EOF
}

# nft_loss PERCENT: that share of the packets each way is dropped at random.
nft_loss() {
	ip netns exec "$NS" nft -f - <<-EOF
	add rule inet chatnet out tcp dport $CHATD_PORT numgen random mod 100 < $1 drop
	add rule inet chatnet in tcp sport $CHATD_PORT numgen random mod 100 < $1 drop
	EOF
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
