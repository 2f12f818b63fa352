# The chaos stream of a message driver (tests/drivers/msgtest.py or
# rshard.py, scenario "chaos"): started in the background, its acks counted
# from its progress file, stopped and checked.  Shared by the kill -9 suites
# (41-faults, 45-route-shards, 105-nats-route-shards).
#
#   chaos_start DRIVER ARGS...   runs "DRIVER chaos ARGS --progress --stop"
#   more_acks N                  until N more sends are acked (ACK_WAIT s,
#                                30 unless the suite sets it)
#   chaos_finish                 stop sending; fails unless the driver's
#                                check passed ("ok": true)

chaos_start() {
	local drv=$1; shift
	PROG="$BATS_TEST_TMPDIR/progress"
	STOP="$BATS_TEST_TMPDIR/stop"
	"$PY" "$drv" chaos "$@" --progress "$PROG" --stop "$STOP" \
	    >"$BATS_TEST_TMPDIR/chaos.out" 2>"$BATS_TEST_TMPDIR/chaos.err" &
	DRIVER_PID=$!
	track_pid "$DRIVER_PID" driver
}

acks() { cat "$PROG" 2>/dev/null || echo 0; }
acks_at_least() { [ "$(acks)" -ge "$1" ]; }

more_acks() {
	local want=$(( $(acks) + $1 ))
	wait_until "${ACK_WAIT:-30}" acks_at_least "$want"
}

chaos_finish() {
	touch "$STOP"
	local rc=0
	wait "$DRIVER_PID" || rc=$?
	cat "$BATS_TEST_TMPDIR/chaos.err" "$BATS_TEST_TMPDIR/chaos.out"
	[ "$rc" = 0 ]
	grep -q '"ok": true' "$BATS_TEST_TMPDIR/chaos.out"
}
