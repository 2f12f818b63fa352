#!/usr/bin/env bats
# RELIABILITY.md row 1, nightly: kill -9 of each program of the message
# path under 400 msg/s, NIGHTLY_TRIALS times each (20 by default), every
# trial on a new stack so chat-super's backoff starts afresh.  Each trial
# must restart the program within 2 s, drain every device within 10 s of
# it, and leave lost=0 phantom=0 dup_surfaced=0 order=0 (the checker's
# line, tests/checker/jepsen.py).  The first failing trial stops the test
# and is named.  make test-nightly runs it.

load ../helpers
load ../checker/stack

TRIALS=${NIGHTLY_TRIALS:-20}

setup() { chat_setup; }
teardown() {
	chat_teardown
	no_sanitizer_reports
}

# trial NAME N: one kill -9 of NAME on a new stack.
trial() {
	local old t0 ms
	stop_all
	no_sanitizer_reports
	rm -rf "$CHAT_HOME"
	# The last trial's driver files: its stop file would end the next.
	rm -f "$BATS_TEST_TMPDIR"/{stop,progress,history.ndjson,jepsen.out,jepsen.err}
	chat_setup
	unset CHATD_PORT API_PORT
	super_start
	jepsen_start --rate 400 --duration 30
	more_acked 150
	old=$(prog_pid "$1")
	[ -n "$old" ]
	t0=$(date +%s%N)
	kill -9 "$old"
	wait_until 5 up_again "$1" "$old"
	ms=$(ready_ms_since "$1" "$t0")
	more_acked 300
	echo "# $1 trial $2 of $TRIALS" >&2
	jepsen_finish
	echo "# $1 trial $2: ready again after $ms ms; $FIGURES" >&3
	[ "$ms" -le 2000 ] || { echo "trial $2: restart $ms ms" >&2; return 1; }
	awk "BEGIN { exit !($(figure drain_s) <= 10) }" ||
	    { echo "trial $2: drain $(figure drain_s) s" >&2; return 1; }
}

trials() {
	local i
	for (( i = 1; i <= TRIALS; i++ )); do
		trial "$1" "$i"
	done
}

@test "row 1 nightly: kill -9 of chat-store, $TRIALS trials: lost=0 in each" { trials store; }
@test "row 1 nightly: kill -9 of chat-route, $TRIALS trials: lost=0 in each" { trials route; }
@test "row 1 nightly: kill -9 of chatd, $TRIALS trials: lost=0 in each" { trials chatd; }
@test "row 1 nightly: kill -9 of chat-push, $TRIALS trials: lost=0 in each" { trials push; }
