#!/usr/bin/env bats
# tests/run: alone (kill -9 under 400 msg/s of load)
# RELIABILITY.md rows 1 and 3: kill -9 of each daemon of the message path
# under chat-super while tests/checker/jepsen.py keeps a steady load of 400
# messages a second from 8 devices, then the supervisor itself.  After each
# fault the driver drains every device from its cursor and the checker
# counts lost, phantom, dup_surfaced and order violations: all must be 0.

load helpers
load checker/stack

setup() { chat_setup; }
teardown() {
	chat_teardown
	no_sanitizer_reports
}

# kill_under_load NAME: the row 1 case for one program.
kill_under_load() {
	super_start
	jepsen_start --rate 400 --duration 300
	more_acked 150
	local old t0 ms
	old=$(prog_pid "$1")
	[ -n "$old" ]
	t0=$(date +%s%N)
	kill -9 "$old"
	wait_until 5 up_again "$1" "$old"
	ms=$(ready_ms_since "$1" "$t0")
	echo "# $1 ready again $ms ms after the kill"
	# Restart within 2 s (chat-super's first backoff is 1 s).
	[ "$ms" -le 2000 ]
	more_acked 300
	jepsen_finish
	# All devices drained within 10 s.
	awk "BEGIN { exit !($(figure drain_s) <= 10) }"
}

@test "row 1: kill -9 of chat-store under load: lost=0" {
	kill_under_load store
}

@test "row 1: kill -9 of chat-route under load: lost=0" {
	kill_under_load route
}

@test "row 1: kill -9 of chatd under load: lost=0" {
	kill_under_load chatd
}

@test "row 1: kill -9 of chat-push under load: lost=0" {
	kill_under_load push
}

@test "row 3: kill -9 of chat-super: no orphans, one store, lost=0" {
	super_start
	jepsen_start --rate 200 --duration 300
	more_acked 150
	local kids store_pid
	kids=$(super_status | jq -r '.programs[].pid // empty')
	store_pid=$(prog_pid store)
	kill -9 "$SUPER_PID"
	# PR_SET_PDEATHSIG: every child goes with it.
	for p in $kids; do wait_until 5 sh -c "! kill -0 $p"; done
	# Another store cannot open the database while one holds the LOCK:
	# prove the guard itself with a second store beside a running one.
	start_daemon chat-super
	SUPER_PID=$LAST_PID
	wait_until 20 all_up
	local st
	st=0; CHAT_RUN="$BATS_TEST_TMPDIR/run2" timeout 5 "$CHAT_BIN/chat-store" \
	    2>"$BATS_TEST_TMPDIR/store2.log" || st=$?
	[ "$st" != 0 ]
	grep -q "in use by a running chat-store" "$BATS_TEST_TMPDIR/store2.log"
	# Exactly one chat-store process for this CHAT_HOME.
	[ "$(pgrep -f -c "^$CHAT_BIN/chat-store" -P "$SUPER_PID")" = 1 ]
	more_acked 200
	jepsen_finish
	# Teardown by the supervisor leaves no child behind.
	kids=$(super_status | jq -r '.programs[].pid // empty')
	stop_pid "$SUPER_PID"
	for p in $kids; do ! kill -0 "$p" 2>/dev/null; done
}

@test "the checker itself: a lost, a phantom, a duplicate and an order violation are each named" {
	h="$BATS_TEST_TMPDIR/h.ndjson"
	base='{"ev":"setup","t":0,"devices":[{"dev":0,"user":"a","device":"A"},{"dev":1,"user":"b","device":"B"}],"groups":{}}
{"ev":"send","t":1,"dev":0,"user":"a","cid":"c1","to":"b","group":null,"n":1}
{"ev":"ack","t":2,"dev":0,"cid":"c1","id":"0000000000000010"}
{"ev":"send","t":3,"dev":0,"user":"a","cid":"c2","to":"b","group":null,"n":1}
{"ev":"ack","t":4,"dev":0,"cid":"c2","id":"0000000000000020"}'
	echo "$base" > "$h"
	printf '%s\n' '{"ev":"recv","t":5,"dev":1,"id":"0000000000000010","frm":"a","cid":"c1"}' \
	    '{"ev":"recv","t":5,"dev":1,"id":"0000000000000020","frm":"a","cid":"c2"}' >> "$h"
	run "$PY" "$JEPSEN" check "$h"
	assert_success
	assert_output --partial "lost=0 phantom=0 dup_surfaced=0 order=0 dev_order=0"
	# lost: c2 never reaches b.
	{ echo "$base"; echo '{"ev":"recv","t":5,"dev":1,"id":"0000000000000010","frm":"a","cid":"c1"}'; } > "$h"
	run "$PY" "$JEPSEN" check "$h"
	assert_failure
	assert_output --partial "lost=1"
	assert_output --partial "0000000000000020 (cid c2 from a) never reached device 1"
	# phantom: a delivery nobody sent.
	{ echo "$base"; printf '%s\n' '{"ev":"recv","t":5,"dev":1,"id":"0000000000000010","frm":"a","cid":"c1"}' \
	    '{"ev":"recv","t":5,"dev":1,"id":"0000000000000020","frm":"a","cid":"c2"}' \
	    '{"ev":"recv","t":6,"dev":1,"id":"0000000000000030","frm":"a","cid":"zz"}'; } > "$h"
	run "$PY" "$JEPSEN" check "$h"
	assert_failure
	assert_output --partial "phantom=1"
	assert_output --partial "cid zz from a"
	# dup_surfaced: one cid under two ids on a device; order on the device.
	{ echo "$base"; printf '%s\n' '{"ev":"recv","t":5,"dev":1,"id":"0000000000000010","frm":"a","cid":"c1"}' \
	    '{"ev":"recv","t":5,"dev":1,"id":"0000000000000020","frm":"a","cid":"c2"}' \
	    '{"ev":"recv","t":6,"dev":1,"id":"0000000000000011","frm":"a","cid":"c1"}'; } > "$h"
	run "$PY" "$JEPSEN" check "$h"
	assert_failure
	assert_output --partial "dup_surfaced=1"
	assert_output --partial "dev_order=1"
	# order in a conversation: c2 acked after c1 was acked, smaller id.
	sed 's/"0000000000000020"/"0000000000000008"/' <<<"$base" > "$h"
	printf '%s\n' '{"ev":"recv","t":5,"dev":1,"id":"0000000000000008","frm":"a","cid":"c2"}' \
	    '{"ev":"recv","t":5,"dev":1,"id":"0000000000000010","frm":"a","cid":"c1"}' >> "$h"
	run "$PY" "$JEPSEN" check "$h"
	assert_failure
	assert_output --partial "order=1"
	assert_output --partial "order in a/b"
}
