#!/usr/bin/env bats
# tests/run: alone (network namespaces and timed cuts)
# Two stack nodes in network namespaces of their own (issue 10): the NATS
# cluster in ours, node A (everything: one chat-super) in namespace A and
# node B (chatd and chat-api: one chat-super with node_services) in
# namespace B, each joined to ours by a veth pair on a private 10.x/30.
# Devices connect to each node's chatd from here.  The link between the
# nodes (node B's traffic to the NATS servers) is cut with nftables and
# restored during a stream: nothing acknowledged is lost.  Needs root,
# iproute2 and nftables (as tests/98-net.bats).

load helpers
load helpers-nats

DRV="$BATS_TEST_DIRNAME/drivers/nats_nodes.py"

setup() {
	nats_have || skip "nats-server is not installed (make deps)"
	command -v nft >/dev/null || skip "nftables is not installed"
	ip netns list >/dev/null 2>&1 || skip "no network namespaces here"
	chat_setup
	NATS_LISTEN=0.0.0.0 nats_cluster_start
	A_HOME=$CHAT_HOME
	B_HOME="$BATS_TEST_TMPDIR/homeB"
	mkdir -p "$B_HOME/etc" "$B_HOME/log" "$B_HOME/db"
	mkdir -p -m 0700 "$B_HOME/run"
}

teardown() {
	CHAT_HOME=$A_HOME CHAT_RUN=$A_HOME/run
	chat_teardown
	CHAT_HOME=$B_HOME chat_no_sanitizer_reports
	ns_all_down
}

# ns_up VAR: a namespace joined to ours by a veth pair; sets VAR_NS (its
# name), VAR_HOST (our end's address), VAR_IP (its end's).  Each is
# listed for ns_all_down.
ns_up() {
	local tag ns veth net i
	# A name in use (another suite's namespace) or a transient failure of
	# ip netns add while another namespace is being made: another name.
	for i in 1 2 3 4 5; do
		tag=$(( $$ % 1000 ))$(( RANDOM % 1000 ))
		ns="chatnode$tag" veth="cd${tag}a"
		ip netns add "$ns" 2>/dev/null && break
		[ "$i" -lt 5 ] || { echo "# ip netns add failed 5 times" >&3; return 1; }
		sleep 0.2
	done
	net="10.$(( 100 + RANDOM % 100 )).$(( RANDOM % 256 ))"
	echo "$ns $veth" >> "$BATS_TEST_TMPDIR/netns"
	ip link add "$veth" type veth peer name "${veth%a}b"
	ip link set "${veth%a}b" netns "$ns"
	ip addr add "$net.1/30" dev "$veth"
	ip link set "$veth" up
	ip -n "$ns" addr add "$net.2/30" dev "${veth%a}b"
	ip -n "$ns" link set "${veth%a}b" up
	ip -n "$ns" link set lo up
	ip netns exec "$ns" nft -f - <<-EOF
	table inet chatnode {
		chain in { type filter hook input priority 0; policy accept; }
		chain out { type filter hook output priority 0; policy accept; }
	}
	EOF
	printf -v "${1}_NS" %s "$ns"
	printf -v "${1}_HOST" %s "$net.1"
	printf -v "${1}_IP" %s "$net.2"
}

ns_all_down() {
	[ -f "$BATS_TEST_TMPDIR/netns" ] || return 0
	local ns veth
	while read -r ns veth; do
		ip netns del "$ns" 2>/dev/null || true
		ip link del "$veth" 2>/dev/null || true
	done < "$BATS_TEST_TMPDIR/netns"
	rm -f "$BATS_TEST_TMPDIR/netns"
}

# bus_urls HOSTIP: the three servers as a namespace reaches them.
bus_urls() {
	echo "nats://$1:${NATS_PORT[1]},nats://$1:${NATS_PORT[2]},nats://$1:${NATS_PORT[3]}"
}

# super_in NS HOME: that node's chat-super, started inside NS.
super_in() {
	CHAT_HOME=$2 CHAT_RUN=$2/run ip netns exec "$1" \
	    "$CHAT_BIN/chat-super" </dev/null >>"$2/log/chat-super.out" \
	    2>>"$2/log/chat-super.log" &
	track_pid $! chat-super
}

route_knows() {
	ipc route '{"op":"chatd.list"}' | jq -e --arg n "$1" \
	    '.chatds | map(.name) | index($n)' >/dev/null
}

start_nodes() {
	ns_up A
	ns_up B
	A_PORT=$(free_port) B_PORT=$(free_port)
	printf 'bus = %s\nchatd_listen = %s:%s\napi_listen = 127.0.0.1:%s\nrate_limit = 100000\nrate_burst = 100000\n' \
	    "$(bus_urls "$A_HOST")" "$A_IP" "$A_PORT" "$(free_port)" \
	    >> "$A_HOME/etc/chat.conf"
	printf 'bus = %s\nnode_services = chatd, api\nnode_id = 2\nchatd_listen = %s:%s\napi_listen = 127.0.0.1:%s\nrate_limit = 100000\nrate_burst = 100000\n' \
	    "$(bus_urls "$B_HOST")" "$B_IP" "$B_PORT" "$(free_port)" \
	    >> "$B_HOME/etc/chat.conf"
	super_in "$A_NS" "$A_HOME"
	wait_until 60 all_up "$A_HOME/run"
	cp "$A_HOME/etc/secret" "$B_HOME/etc/secret"
	super_in "$B_NS" "$B_HOME"
	wait_until 60 all_up "$B_HOME/run"
	URL_A="ws://$A_IP:$A_PORT/v1/ws" URL_B="ws://$B_IP:$B_PORT/v1/ws"
	wait_until 30 route_knows "chatd-$B_PORT"
}

# cut_b / mend_b: node B's packets to and from every NATS server dropped
# in its namespace (its clients still reach its chatd).
cut_b() {
	local i
	for i in 1 2 3; do
		ip netns exec "$B_NS" nft -f - <<-EOF
		add rule inet chatnode out tcp dport ${NATS_PORT[$i]} counter drop
		add rule inet chatnode in tcp sport ${NATS_PORT[$i]} counter drop
		EOF
	done
}
mend_b() {
	ip netns exec "$B_NS" nft flush chain inet chatnode in
	ip netns exec "$B_NS" nft flush chain inet chatnode out
}
dropped_b() {
	ip netns exec "$B_NS" nft list table inet chatnode |
	    awk '{ for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

@test "netns: nodes in their own namespaces exchange 1:1, group and presence over the cluster" {
	start_nodes
	# The nodes really are apart: node B's chatd is not on our loopback.
	run bash -c "exec 3<>/dev/tcp/127.0.0.1/$B_PORT"
	assert_failure
	run "$PY" "$DRV" exchange --url-a "$URL_A" --url-b "$URL_B"
	echo "$output"
	assert_success
	assert_output --partial '"ok": true'
}

@test "netns: the link between the nodes cut (nft drop) for 8 s during a stream and restored: nothing acknowledged is lost" {
	start_nodes
	progress="$BATS_TEST_TMPDIR/progress" stop="$BATS_TEST_TMPDIR/stop"
	"$PY" "$DRV" stream --url-a "$URL_A" --url-b "$URL_B" -n 40 \
	    --progress "$progress" --stop "$stop" > "$BATS_TEST_TMPDIR/drv.out" \
	    2> "$BATS_TEST_TMPDIR/drv.err" &
	DRV_PID=$!
	track_pid "$DRV_PID" driver
	acked() { [ -f "$progress" ] && [ "$(cat "$progress")" -ge "$1" ]; }
	wait_until 60 acked 60
	cut_b
	a0=$(cat "$progress")
	sleep 8		# past the 6 s a silent session lasts, and NATS' pings
	a1=$(cat "$progress")
	dropped=$(dropped_b)
	mend_b
	echo "# cut 8 s: $dropped packets dropped, acks $a0 -> $a1 during it" >&3
	[ "$dropped" -gt 0 ]
	wait_until 90 acked $((a1 + 150))
	touch "$stop"
	wait "$DRV_PID" || { cat "$BATS_TEST_TMPDIR/drv.err"; false; }
	cat "$BATS_TEST_TMPDIR/drv.err" "$BATS_TEST_TMPDIR/drv.out"
	echo "# $(cat "$BATS_TEST_TMPDIR/drv.out")" >&3
	grep -q '"ok": true' "$BATS_TEST_TMPDIR/drv.out"
	# The cut was felt: node B's route session ended and came back.
	r=$(CHAT_RUN=$B_HOME/run ipc route '{"op":"bus.status"}')
	echo "# node B route bridge: $r" >&3
	[ "$(jqr "$r" .sessions_ended)" -ge 1 ]
	[ "$(jqr "$r" .sessions)" -ge 1 ]
}
