# Helpers of the pause, crash-loop and disk rows (tests/97-*.bats,
# tests/long/row-*.bats): a WebSocket ping probe beside the load, a
# process's RSS and CPU time from /proc, and the window of a history.
# Load after helpers and checker/stack.

CHECKER_DIR="$BATS_TEST_DIRNAME/checker"
[ -d "$CHECKER_DIR" ] || CHECKER_DIR="$BATS_TEST_DIRNAME/../checker"
WINDOW="$CHECKER_DIR/window.py"

# now: the wall clock as date +%s.%N (what window.py takes).
now() { date +%s.%N; }

# window FROM TO: window.py's figures of $HIST between two moments.
window() { "$PY" "$WINDOW" "$HIST" "$1" "$2"; }

# rss_kb PID: resident set size in KiB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# cpu_ticks PID: user + system clock ticks the process has used.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# pinger_start: tests/checker/pinger.py authenticated on chatd, pinging
# every 0.5 s; PINGER_PID.  Returns once it is connected.
pinger_start() {
	PING_READY="$BATS_TEST_TMPDIR/ping.ready"
	PING_STOP="$BATS_TEST_TMPDIR/ping.stop"
	rm -f "$PING_READY" "$PING_STOP"
	"$PY" "$CHECKER_DIR/pinger.py" --url "$URL" --ready "$PING_READY" \
	    --stop "$PING_STOP" >"$BATS_TEST_TMPDIR/ping.out" \
	    2>"$BATS_TEST_TMPDIR/ping.err" &
	PINGER_PID=$!
	track_pid "$PINGER_PID" pinger
	wait_until 20 test -e "$PING_READY"
}

# pinger_finish: stops it; its figures in PINGS.
pinger_finish() {
	touch "$PING_STOP"
	wait "$PINGER_PID"
	PINGS=$(cat "$BATS_TEST_TMPDIR/ping.out")
}
