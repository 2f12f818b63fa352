#!/usr/bin/env bats
# RELIABILITY.md row 10, the store restarted on a full disk: it cannot open
# its database (recovery must write a table), and exiting would only make
# chat-super restart it 1, 2, 4, 8 s apart and then give up.  It must come
# back once, degraded (ready, refusing every op with store_unavailable), and
# serve within 5 s of space returning, with no one restarting anything.

load ../helpers
load ../checker/stack
load ../checker/nemesis

setup() {
	chat_setup
	# The suite's long name put chatd's socket at 108 bytes under a
	# TMPDIR of 13 (/tmp/ci5.XXXX): one over sun_path, and chatd never
	# started.  The sockets go 7 bytes higher up.
	export CHAT_RUN="$BATS_TEST_TMPDIR/r"
	mkdir -p -m 0700 "$CHAT_RUN"
	tmpfs_db_setup
}

teardown() {
	tmpfs_db_teardown
	no_sanitizer_reports
}

@test "row 10: chat-store killed while the disk is full comes back degraded, not in a crash loop; sends succeed ≤5 s after space returns, lost=0" {
	super_start
	local store t_full t_back w
	# 32 sends a device in flight at most, as a client's queue: without
	# a window the 8 s outage parked some 3,000 sends, each retrying
	# every second, and the driver (at load 9, on the ASan build) handled
	# replies 8 s late: the bound below measured the driver, not the
	# store's return.
	jepsen_start --rate 300 --duration 300 --body-size 200 --backoff-max 1 --window 32
	more_acked 100
	wait_until 120 disk_full_seen
	# A store that restarts on a full disk cannot open its database.
	store=$(prog_pid store)
	kill -9 "$store"
	wait_until 10 up_again store "$store"
	store=$(prog_pid store)
	t_full=$(now)
	# Held full for 8 s: a store that exits on the failed open would be
	# restarted 1, 2, 4 s apart and be 8 s into its backoff by the end.
	while awk -v t0="$t_full" -v t="$(now)" 'BEGIN { exit !(t - t0 < 8) }'; do
		sleep 0.5
	done
	t_back=$(now)
	mount -o remount,size=64m "$CHAT_HOME/db"
	more_acked 300 30
	jepsen_finish
	w=$(window "$t_full" "$t_back")
	echo "# while full, after the restart: $w" >&3
	echo "# $FIGURES" >&3
	# Up the whole time, refusing explicitly, and serving again ≤5 s later
	# with no operator.
	[ "$(prog_pid store)" = "$store" ]
	[ "$(prog_restarts store)" = 1 ]
	jq -e '.errors | keys == ["unavailable"]' <<<"$w"
	jq -e '.acks == 0' <<<"$w"
	jq -e '.first_ack_after != null and .first_ack_after <= 5' <<<"$w"
}
