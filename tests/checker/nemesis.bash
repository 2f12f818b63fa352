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

# Helpers of RELIABILITY.md row 10 (tests/97-disk-full.bats,
# tests/long/row-10-*.bats): chat-store's database on a small tmpfs.

# tmpfs_db_setup: $CHAT_HOME/db on a tmpfs of 8 MiB, 6 MiB of it taken by a
# file LevelDB ignores, so that small messages fill the rest in seconds:
# with 2 KB bodies the sends held while the disk is full come back as a
# burst of MBs per device, and chatd rightly closes a connection whose send
# queue passes 1 MiB (row 17), which would blur what row 10 measures.
tmpfs_db_setup() {
	mount -t tmpfs -o size=8m tmpfs "$CHAT_HOME/db"
	MOUNTED="$CHAT_HOME/db"
	dd if=/dev/zero of="$CHAT_HOME/db/filler" bs=1M count=6 status=none
}

# tmpfs_db_teardown: what the store and chatd said last if the test failed;
# the stack stopped; the tmpfs unmounted, always.
tmpfs_db_teardown() {
	[ -n "${BATS_TEST_COMPLETED:-}" ] ||
	    tail -n 15 "$CHAT_HOME/log/store.log" "$CHAT_HOME/log/chatd.log" \
	    "$CHAT_HOME/log/route.log" 2>/dev/null | sed 's/^/# /'
	chat_teardown
	if [ -n "${MOUNTED:-}" ]; then
		umount "$MOUNTED" 2>/dev/null || umount -l "$MOUNTED"
	fi
}

# disk_full_seen: chat-store has said a write failed.
disk_full_seen() { grep -q "write of a batch of .* failed" "$CHAT_HOME/log/store.log"; }

# prog_restarts NAME: how often chat-super restarted it.
prog_restarts() { super_status | jq -r --arg n "$1" '.programs[] | select(.name == $n) | .restarts'; }
