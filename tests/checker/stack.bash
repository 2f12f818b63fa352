# Helpers of the fault suites (tests/9*-*.bats, tests/long/*.bats): a whole
# stack under chat-super on free ports, its programs' pids from the
# supervisor's status, and the Jepsen-style driver (tests/checker/jepsen.py)
# in the background.  Load after helpers:  load helpers; load checker/stack

JEPSEN="$BATS_TEST_DIRNAME/checker/jepsen.py"
[ -f "$JEPSEN" ] || JEPSEN="$BATS_TEST_DIRNAME/../checker/jepsen.py"

# conf KEY VALUE...: appends lines to chat.conf.
conf() { printf '%s = %s\n' "$1" "$2" >> "$CHAT_HOME/etc/chat.conf"; }

# super_start: the built-in stack (or $CHAT_HOME/etc/stack.conf) under
# chat-super, chatd and chat-api on free ports; waits until every program is
# up.  Sets SUPER_PID, CHATD_PORT, URL.
super_start() {
	CHATD_PORT=${CHATD_PORT:-$(free_port)}
	API_PORT=${API_PORT:-$(free_port)}
	URL="ws://127.0.0.1:$CHATD_PORT/v1/ws"
	if [ ! -e "$CHAT_HOME/etc/.conf-done" ]; then
		conf chatd_listen "127.0.0.1:$CHATD_PORT"
		conf chatd_url "$URL"
		conf api_listen "127.0.0.1:$API_PORT"
		# Load tests need no rate limit; a test that sets one keeps it.
		grep -q '^rate_limit' "$CHAT_HOME/etc/chat.conf" 2>/dev/null ||
		    { conf rate_limit 100000; conf rate_burst 100000; }
		touch "$CHAT_HOME/etc/.conf-done"
	fi
	start_daemon chat-super
	SUPER_PID=$LAST_PID
	wait_until 20 all_up
}

# super_status: chat-super's status reply.
super_status() { ipc super '{"op":"status"}'; }

# all_up: every program of the stack is up.
all_up() {
	super_status | jq -e '.ok and ([.programs[] | select(.state != "up" and .state != "skipped")] | length == 0)' >/dev/null
}

# prog_pid NAME: the pid chat-super reports for a program (empty if none).
prog_pid() { super_status | jq -r --arg n "$1" '.programs[] | select(.name == $n) | .pid // empty'; }
# prog_has_pid NAME: NAME runs now (polled: each call asks chat-super anew).
prog_has_pid() { [ -n "$(prog_pid "$1")" ]; }
prog_state() { super_status | jq -r --arg n "$1" '.programs[] | select(.name == $n) | .state'; }

# still_up: no program of the stack restarted during the test.
still_up() {
	super_status | jq -e '[.programs[] | select(.restarts > 0 or .state != "up")] | length == 0' >/dev/null
}

# up_again NAME OLDPID: the program runs again with another pid.
up_again() {
	super_status | jq -e --arg n "$1" --argjson old "$2" \
	    '.programs[] | select(.name == $n) | .state == "up" and .pid != null and .pid != $old' >/dev/null
}

# ready_ms_since NAME T0_NS: ms from T0 (date +%s%N) to chat-super's log line
# saying NAME is ready again (its last such line).
ready_ms_since() {
	local ts
	ts=$(grep "chat-super info: $1: ready, pid" "$CHAT_HOME/log/chat-super.log" |
	    tail -1 | cut -d' ' -f1)
	echo $(( ($(date -d "$ts" +%s%N) - $2) / 1000000 ))
}

# jepsen_start [ARGS...]: the driver in the background (history in
# $BATS_TEST_TMPDIR/history.ndjson); JEPSEN_PID.
jepsen_start() {
	HIST="$BATS_TEST_TMPDIR/history.ndjson"
	PROG="$BATS_TEST_TMPDIR/progress"
	STOP="$BATS_TEST_TMPDIR/stop"
	rm -f "$STOP"
	"$PY" "$JEPSEN" run --url "$URL" --history "$HIST" --progress "$PROG" \
	    --stop "$STOP" "$@" >"$BATS_TEST_TMPDIR/jepsen.out" \
	    2>"$BATS_TEST_TMPDIR/jepsen.err" &
	JEPSEN_PID=$!
	track_pid "$JEPSEN_PID" jepsen
}

# The driver writes its progress file after its first acks: 0 until then.
acked() {
	local a=0
	[ -s "$PROG" ] && read -r a _ < "$PROG"
	echo "${a:-0}"
}
acked_at_least() { [ "$(acked)" -ge "$1" ]; }

# more_acked N [SECONDS]: until N more sends than now are acknowledged.
# On failure it says how far the driver got (acked, sent, devices up) and
# whether it is still running: a driver whose --duration ran out sends
# nothing more, which a stalled stack must not be confused with.
more_acked() {
	local want=$(( $(acked) + $1 ))
	wait_until "${2:-30}" acked_at_least "$want" && return 0
	echo "# more_acked: wanted $want; progress (acked sent up): $(cat "$PROG" 2>/dev/null);" \
	    "driver $(kill -0 "$JEPSEN_PID" 2>/dev/null && echo running || echo exited)"
	tail -n 5 "$BATS_TEST_TMPDIR/jepsen.err" 2>/dev/null | sed 's/^/# driver: /'
	return 1
}

# jepsen_finish [--run-out]: stop sending (or let --duration run out), wait
# for the drain and the check; prints the figures; fails unless the checker
# passed and something was acknowledged.
jepsen_finish() {
	[ "${1:-}" = --run-out ] || touch "$STOP"
	local rc=0
	wait "$JEPSEN_PID" || rc=$?
	cat "$BATS_TEST_TMPDIR/jepsen.out" "$BATS_TEST_TMPDIR/jepsen.err"
	FIGURES=$(cat "$BATS_TEST_TMPDIR/jepsen.out")
	# Kept for the summary of the suite.
	echo "$BATS_TEST_DESCRIPTION: $FIGURES" >> "${FAULT_FIGURES:-/dev/null}"
	[ "$rc" = 0 ]
	[[ "$FIGURES" == *" lost=0 phantom=0 dup_surfaced=0 order=0 dev_order=0"* ]]
	[ "$(figure acked)" -gt 0 ]
}

# figure NAME: one figure of the last jepsen_finish.
figure() { tr ' ' '\n' <<<"$FIGURES" | sed -n "s/^$1=//p"; }

# no_sanitizer_reports: fails on any ASan/UBSan report in the logs.
no_sanitizer_reports() {
	! grep -s "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" \
	    "$CHAT_HOME"/log/*.log
}
