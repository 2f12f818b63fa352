#!/usr/bin/env bats
# tests/run: alone (strace on the daemons)
# RELIABILITY.md row 8: an ack is written to a client only after the
# fdatasync that covers its message.  kill -9 cannot see this ordering, so
# strace watches chat-store and chatd during about 200 sends, and
# tests/checker/fsync_order.py matches each ack frame chatd wrote to the
# store's read of the request, a sync after it, and the reply after the sync.

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

# trace PID FILE: strace attached to PID until stopped.
trace() {
	strace -f -tt -T -s 65536 -o "$2" \
	    -e trace=fdatasync,fsync,read,recvfrom,recvmsg,write,writev,sendmsg,sendto \
	    -p "$1" 2>/dev/null &
	track_pid $! strace
}

@test "row 8: 0 acks written to a client before the covering fdatasync (strace, ~200 sends)" {
	command -v strace
	trace "$STORE_PID" "$BATS_TEST_TMPDIR/store.st"
	local sp=$!
	trace "$CHATD_PID" "$BATS_TEST_TMPDIR/chatd.st"
	local cp=$!
	# strace is attached once it has written a line.
	sleep 0.5
	jepsen_start --rate 100 --duration 2 --users 2 --devices 1
	jepsen_finish --run-out
	kill -INT "$sp" "$cp"
	wait "$sp" "$cp" || true
	run "$PY" "$BATS_TEST_DIRNAME/checker/fsync_order.py" \
	    "$BATS_TEST_TMPDIR/store.st" "$BATS_TEST_TMPDIR/chatd.st"
	echo "$output"
	assert_success
	n=$(sed -n 's/^acks=\([0-9]*\).*/\1/p' <<<"$output")
	[ "$n" -ge 150 ]
	assert_output --partial "early=0"
	# The checker can fail: the same traces without the syncs.
	grep -v 'fdatasync\|fsync' "$BATS_TEST_TMPDIR/store.st" > "$BATS_TEST_TMPDIR/nosync.st"
	run "$PY" "$BATS_TEST_DIRNAME/checker/fsync_order.py" \
	    "$BATS_TEST_TMPDIR/nosync.st" "$BATS_TEST_TMPDIR/chatd.st"
	assert_failure
	assert_output --partial "covered=0"
	assert_output --partial "no fdatasync between"
}
