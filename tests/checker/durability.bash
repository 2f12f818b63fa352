# Helpers of RELIABILITY.md rows 2 and 12 (tests/97-durability.bats,
# tests/long/row-02-*.bats): chat-store alone, tests/checker/durability.py
# pipelining msg.append on its socket, a kill, `chat-store dump` of what the
# database holds after it, and the check of that against every ack.
# Load after helpers:  load helpers; load checker/durability

DURABILITY="$BATS_TEST_DIRNAME/checker/durability.py"
[ -f "$DURABILITY" ] || DURABILITY="$BATS_TEST_DIRNAME/../checker/durability.py"

# durability_setup: the store up, users and a group made (state file).
durability_setup() {
	STATE="$BATS_TEST_TMPDIR/durability.json"
	LOGS="$BATS_TEST_TMPDIR/acks"
	mkdir -p "$LOGS"
	store_up
	"$PY" "$DURABILITY" setup --state "$STATE"
}

# store_up: chat-store alone, ready; STORE_PID.
store_up() {
	start_daemon chat-store
	STORE_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/store.sock"
}

# store_reaped: waits for the store killed under it; fails unless SIGKILL
# ended it (status 137).
store_reaped() {
	local st=0
	wait "$STORE_PID" || st=$?
	[ "$st" = 137 ] || { echo "# chat-store ended with $st, not by SIGKILL"; return 1; }
}

# durability_check T: dumps the database (the store is down) and checks
# every ack of every trial so far, and trial T's unacknowledged messages.
durability_check() {
	local out rc=0
	"$CHAT_BIN/chat-store" dump > "$BATS_TEST_TMPDIR/dump"
	out=$("$PY" "$DURABILITY" check --dump "$BATS_TEST_TMPDIR/dump" \
	    --trial "$1" "$LOGS"/*.ndjson 2>&1) || rc=$?
	echo "$out"
	# The figures of each trial, in the TAP output and the suite's summary.
	echo "# $out" >&3
	echo "$BATS_TEST_DESCRIPTION: $out" >> "${FAULT_FIGURES:-/dev/null}"
	return "$rc"
}

# kill_after_ack_trial T: the store is up; the driver SIGKILLs it the moment
# a random N-th ack (100..2100) arrives, then reads the replies already
# sent; the dump must hold every ack.  Starts the store again after.
kill_after_ack_trial() {
	local t=$1 n=$(( 100 + RANDOM % 2000 ))
	timeout 120 "$PY" "$DURABILITY" run --state "$STATE" --log "$LOGS/$t.ndjson" \
	    --trial "$t" --kill-pid "$STORE_PID" --kill-after "$n"
	store_reaped
	durability_check "$t"
	store_up
}

# torn_tail_trial T: the store is up; strace SIGKILLs it as it enters a
# random fdatasync (the write of a batch is in its log, the sync and so the
# acks are not: the window where a power cut tears the tail), then the
# newest *.log loses 1..100 bytes; the store must start cleanly on it, and
# the dump hold every ack.  Leaves the store up.
torn_tail_trial() {
	local t=$1 n=$(( 10 + RANDOM % 90 )) cut=$(( 1 + RANDOM % 100 ))
	local st="$BATS_TEST_TMPDIR/strace.$t" log size
	strace -f -y -qq -o "$st" -e trace=fdatasync \
	    -e inject=fdatasync:signal=SIGKILL:when="$n" -p "$STORE_PID" \
	    2>"$st.err" &
	local sp=$!
	track_pid "$sp" strace
	# Attached once the store's threads show up in /proc as traced.
	wait_until 10 grep -q "^TracerPid:[[:space:]]*$sp\$" "/proc/$STORE_PID/status"
	timeout 120 "$PY" "$DURABILITY" run --state "$STATE" \
	    --log "$LOGS/$t.ndjson" --trial "$t" --body-size 200
	store_reaped
	wait "$sp" || true
	# The kill came at the sync of a write-ahead log, not of a table.
	grep 'fdatasync(' "$st" | tail -1 | grep -q 'fdatasync([0-9]*<.*\.log>' ||
	    { echo "# not a log sync: $(grep 'fdatasync(' "$st" | tail -1)"; return 1; }
	log=$(ls "$CHAT_HOME"/db/*.log | sort | tail -1)
	size=$(stat -c %s "$log")
	truncate -s "-$cut" "$log"
	echo "# trial $t: killed at fdatasync $n, $(basename "$log") $size -> $((size - cut)) bytes" >&3
	store_up
	# Started cleanly: up, answering, nothing reported as corrupt.
	ipc store '{"op":"ping"}' | jq -e .ok >/dev/null
	! grep -qi "corrupt" "$CHAT_HOME/log/chat-store.log"
	stop_pid "$STORE_PID"
	wait "$STORE_PID" || true
	durability_check "$t"
	store_up
}
