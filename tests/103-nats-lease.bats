#!/usr/bin/env bats
# tests/run: alone (lease TTL timing)
# Shard ownership by lease (issue 10, chat-scaling(7) "Shard ownership"):
# two nodes, each with its own chat-route, both run `chat-bus serve route
# --lease` for shard 0.  One holds the key route.0 of the JetStream bucket
# chat_owners and serves chat.route.0; the other stands by.  The owner is
# killed (kill -9) or paused past the TTL: the standby takes the lease once
# it lapses, requests are answered again, and never by two owners at once
# (a prober records who answered each request; the ownership log says when
# each held the lease).

load helpers
load helpers-nats

TTL=3

setup() {
	nats_have || skip "nats-server is not installed (make deps)"
	chat_setup
	nats_cluster_start
	A_HOME=$CHAT_HOME
	B_HOME="$BATS_TEST_TMPDIR/homeB"
	mkdir -p "$B_HOME/etc" "$B_HOME/log"
	mkdir -p -m 0700 "$B_HOME/run"
}

teardown() {
	CHAT_HOME=$A_HOME CHAT_RUN=$A_HOME/run
	chat_teardown
	CHAT_HOME=$B_HOME chat_no_sanitizer_reports
}

on_b() { CHAT_HOME=$B_HOME CHAT_RUN=$B_HOME/run "$@"; }

# Node A: chat-store (served on the bus) and a chat-route; node B: the
# store reached through chat-bus attach, a chat-route of its own (another
# node id).  Each node's route stands for the lease route.0.
start_nodes() {
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	start_daemon chat-bus --bus "${NATS_URL[1]}" serve store
	start_daemon chat-route
	wait_for_sock "$CHAT_RUN/route.sock"
	start_daemon chat-bus --bus "${NATS_URL[1]}" --lease --ttl $TTL \
	    --node a serve route
	SERVE_A=$LAST_PID
	on_b start_daemon chat-bus --bus "${NATS_URL[2]}" attach store
	wait_for_sock "$B_HOME/run/store.sock"
	CHAT_NODE_ID=2 on_b start_daemon chat-route
	wait_for_sock "$B_HOME/run/route.sock"
	on_b start_daemon chat-bus --bus "${NATS_URL[2]}" --lease --ttl $TTL \
	    --node b serve route
	SERVE_B=$LAST_PID
	wait_until 30 owner_is_one
}

# owner: the node whose chat-bus answers on chat.route.0 ("a" or "b").
owner() {
	"$CHAT_BIN/chat-bus" --bus "${NATS_URL[3]}" --timeout 3000 call \
	    chat.route.0 '{"op":"bus.status"}' 2>/dev/null |
	    jq -r 'select(.lease.owner == true) | .lease.node'
}
owner_is_one() { case "$(owner)" in a|b) return 0;; esac; return 1; }
owner_is() { [ "$(owner)" = "$1" ]; }

# The prober: one request after another to chat.route.0 (a new chat-bus
# each, so slow under ASan on a loaded machine); writes
# "ms node" per answer to $PROBE.
start_prober() {
	PROBE="$BATS_TEST_TMPDIR/probe"
	(
		while [ ! -f "$BATS_TEST_TMPDIR/stop" ]; do
			t0=$(date +%s%3N)
			n=$("$CHAT_BIN/chat-bus" --bus "${NATS_URL[3]}" \
			    --timeout 5000 call chat.route.0 \
			    '{"op":"bus.status"}' 2>/dev/null |
			    jq -r '.lease.node // empty')
			if [ -n "$n" ]; then echo "$(date +%s%3N) $n" >> "$PROBE"
			else echo "$t0" >> "$PROBE.missed"; fi
			sleep 0.1
		done
	) &
	track_pid $! prober
}

# answers_from NODE: the prober has an answer from NODE.
answers_from() { [ -f "$PROBE" ] && grep -q " $1\$" "$PROBE"; }

# The prober's answers never go back to the old owner once the new one
# answered: the sequence of nodes is OLD... NEW... and nothing after.
answers_switch_once() {
	local seq
	seq=$(awk '{print $2}' "$PROBE" | uniq | paste -sd' ')
	echo "# answered by: $seq" >&3
	[ "$seq" = "$1 $2" ]
}

# ms of a log line's time stamp (UTC ISO, ms).
log_ms() { date -d "$1" +%s%3N; }

# The ownership log of a node: "ms taken|lost" lines for route.0.
ownership() {
	grep -E "lease 'route.0' (taken|lost)" "$1" | while read -r ts rest; do
		case "$rest" in
		*taken*) echo "$(log_ms "$ts") taken" ;;
		*) echo "$(log_ms "$ts") lost" ;;
		esac
	done
}

@test "lease: the owner's chat-bus is killed (-9); the standby takes route.0 after the TTL and requests are answered again" {
	start_nodes
	old=$(owner)
	if [ "$old" = a ]; then victim=$SERVE_A new=b oldlog=$A_HOME/log/chat-bus.log newlog=$B_HOME/log/chat-bus.log
	else victim=$SERVE_B new=a oldlog=$B_HOME/log/chat-bus.log newlog=$A_HOME/log/chat-bus.log; fi
	start_prober
	wait_until 20 answers_from "$old"
	# The standby really stands by: asked, refused, not serving.
	grep -q "standing by for" "$newlog"
	run grep -q "lease 'route.0' taken" "$newlog"
	assert_failure
	t_kill=$(date +%s%3N)
	kill -KILL "$victim"
	wait_until 30 answers_from "$new"
	# A chat-route request (not only chat-bus's own op) is answered.
	r=$("$CHAT_BIN/chat-bus" --bus "${NATS_URL[3]}" --timeout 10000 call \
	    chat.route.0 '{"op":"ping"}')
	assert_equal "$(jqr "$r" .ok)" true
	touch "$BATS_TEST_TMPDIR/stop"
	answers_switch_once "$old" "$new"
	# The ownership log: the new owner took the lease after the kill,
	# no sooner than 3/4 of the TTL (the lease had to lapse), and it
	# holds it still.
	own=$(ownership "$newlog")
	echo "# new owner's log: $own; killed at $t_kill" >&3
	[ "$(echo "$own" | wc -l)" = 1 ]
	t_take=$(echo "$own" | awk '$2=="taken"{print $1}')
	echo "# taken $((t_take - t_kill)) ms after the kill (TTL ${TTL} s)" >&3
	[ "$t_take" -gt "$t_kill" ]
	[ $((t_take - t_kill)) -ge $((TTL * 1000 / 2)) ]
	# The old owner took it once and never logged a loss (it died).
	assert_equal "$(ownership "$oldlog" | awk '{print $2}' | paste -sd' ')" "taken"
}

@test "lease: an owner paused (SIGSTOP) past the TTL loses route.0 and, woken, answers nothing more; never two owners" {
	start_nodes
	old=$(owner)
	if [ "$old" = a ]; then victim=$SERVE_A new=b oldlog=$A_HOME/log/chat-bus.log newlog=$B_HOME/log/chat-bus.log
	else victim=$SERVE_B new=a oldlog=$B_HOME/log/chat-bus.log newlog=$A_HOME/log/chat-bus.log; fi
	start_prober
	wait_until 20 answers_from "$old"
	kill -STOP "$victim"
	t_stop=$(date +%s%3N)
	wait_until 30 answers_from "$new"
	# Still paused, the old owner keeps its subscription (the servers
	# drop its connection only minutes later): the next 4 probes are all
	# answered by the new owner, none lost to the paused one (in one
	# queue group with it, each would be, half the time).
	local t_new k
	t_new=$(date +%s%3N)
	k=$(grep -c " $new\$" "$PROBE")
	four_more() { [ "$(grep -c " $new\$" "$PROBE")" -ge $((k + 4)) ]; }
	wait_until 40 four_more
	[ "$(awk -v t="$t_new" '$1 > t' "$PROBE.missed" 2>/dev/null | wc -l)" = 0 ]
	kill -CONT "$victim"
	# Woken, the old owner finds its lease gone (fence or refusal).
	wait_until 20 grep -q "lease 'route.0' lost" "$oldlog"
	# Requests go on for a while: all to the new owner.
	n=$(wc -l < "$PROBE")
	more() { [ "$(wc -l < "$PROBE")" -ge $((n + 10)) ]; }
	wait_until 60 more
	touch "$BATS_TEST_TMPDIR/stop"
	answers_switch_once "$old" "$new"
	t_take=$(ownership "$newlog" | awk '$2=="taken"{print $1}')
	echo "# taken $((t_take - t_stop)) ms after the pause (TTL ${TTL} s)" >&3
	[ "$t_take" -gt "$t_stop" ]
	r=$("$CHAT_BIN/chat-bus" --bus "${NATS_URL[3]}" call chat.route.0 \
	    '{"op":"bus.status"}')
	assert_equal "$(jqr "$r" '[.lease.node, .lease.owner] | @tsv')" "$new	true"
	# The standby stands by again, asking: it may take route.0 later.
	grep -q "no longer serving 'chat.route.0'" "$oldlog"
}

@test "lease: bus_leases in chat.conf puts an unchanged serve under a lease; a bad TTL is a usage error" {
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	printf 'bus_leases = presence, store\nbus_lease_ttl = 2\n' >> "$CHAT_HOME/etc/chat.conf"
	start_daemon chat-bus --bus "${NATS_URL[1]}" --node a serve store
	wait_until 30 grep -q "lease 'store.0' taken" "$CHAT_HOME/log/chat-bus.log"
	r=$("$CHAT_BIN/chat-bus" --bus "${NATS_URL[2]}" call chat.store.0 \
	    '{"op":"bus.status"}')
	assert_equal "$(jqr "$r" '[.lease.key, .lease.owner] | @tsv')" "store.0	true"
	run env CHAT_BUS_LEASE_TTL=0 "$CHAT_BIN/chat-bus" --bus "${NATS_URL[1]}" serve store
	assert_equal "$status" 100
}
