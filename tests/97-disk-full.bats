#!/usr/bin/env bats
# RELIABILITY.md row 10: chat-store's database on a tmpfs of 8 MiB, load
# until the disk is full, then room again (remount at 64 MiB).  While it is
# full every send must end in an explicit error (the client's `unavailable`,
# which chatd maps from chat-store's `store_unavailable`), never an ack and
# never silence; nothing restarts in a loop; within 5 s of space returning
# sends succeed with no one repairing anything; every ack is delivered.

load helpers
load checker/stack
load checker/nemesis


setup() {
	chat_setup
	mount -t tmpfs -o size=8m tmpfs "$CHAT_HOME/db"
	MOUNTED="$CHAT_HOME/db"
	# 6 MiB of the 8 taken by a file LevelDB ignores, so that small
	# messages fill the rest in seconds: with 2 KB bodies the sends held
	# while the disk is full come back as a burst of MBs per device, and
	# chatd rightly closes a connection whose send queue passes 1 MiB
	# (row 17), which would blur what this row measures.
	dd if=/dev/zero of="$CHAT_HOME/db/filler" bs=1M count=6 status=none
}

teardown() {
	# On a failure, what the store and chatd said last.
	[ -n "${BATS_TEST_COMPLETED:-}" ] ||
	    tail -n 15 "$CHAT_HOME/log/store.log" "$CHAT_HOME/log/chatd.log" \
	    "$CHAT_HOME/log/route.log" 2>/dev/null | sed 's/^/# /'
	chat_teardown
	if [ -n "${MOUNTED:-}" ]; then
		umount "$MOUNTED" 2>/dev/null || umount -l "$MOUNTED"
	fi
	no_sanitizer_reports
}

# prog_restarts NAME: how often chat-super restarted it.
prog_restarts() { super_status | jq -r --arg n "$1" '.programs[] | select(.name == $n) | .restarts'; }

# store_failed_writes: the store's count of batches it could not write.
store_failed_writes() { grep -c "write of a batch of .* failed" "$CHAT_HOME/log/store.log"; }

@test "row 10: disk full on a tmpfs of 8 MiB: every send refused while full, no crash loop, sends succeed ≤5 s after space returns, lost=0" {
	super_start
	local store_pid route_pid chatd_pid t_full t_back w
	store_pid=$(prog_pid store); route_pid=$(prog_pid route)
	chatd_pid=$(prog_pid chatd)
	jepsen_start --rate 300 --duration 300 --body-size 200 --backoff-max 1
	more_acked 100
	# Load until ENOSPC: chat-store says its write failed.
	wait_until 120 grep -q "write of a batch of .* failed" "$CHAT_HOME/log/store.log"
	t_full=$(date +%s.%N)
	echo "# full after $(acked) acks: $(df -k --output=used,size "$CHAT_HOME/db" | tail -1) KiB used, size" >&3
	# Held full for 5 s of load (and of reopen attempts).
	sleep 5
	t_back=$(date +%s.%N)
	mount -o remount,size=64m "$CHAT_HOME/db"
	more_acked 300 30
	jepsen_finish
	w=$(window "$t_full" "$t_back")
	echo "# while full: $w" >&3
	echo "# $FIGURES" >&3
	# While full: refusals, each explicit, and no ack, no silence.
	jq -e '.errors.unavailable > 0' <<<"$w"
	jq -e '.errors | keys == ["unavailable"]' <<<"$w"
	jq -e '.acks == 0 and .no_answer == 0' <<<"$w"
	# Sends succeed within 5 s of the remount.
	jq -e '.first_ack_after != null and .first_ack_after <= 5' <<<"$w"
	# No crash loop, no restart at all: the same processes throughout.
	[ "$(prog_pid store)" = "$store_pid" ]
	[ "$(prog_pid route)" = "$route_pid" ]
	[ "$(prog_pid chatd)" = "$chatd_pid" ]
	[ "$(prog_restarts store)" = 0 ]
	grep -q "database reopened after a write error" "$CHAT_HOME/log/store.log"
}

@test "row 10: chat-store killed while the disk is full comes back degraded, not in a crash loop; sends succeed ≤5 s after space returns, lost=0" {
	super_start
	local store t_full t_back w
	jepsen_start --rate 300 --duration 300 --body-size 200 --backoff-max 1
	more_acked 100
	wait_until 120 grep -q "write of a batch of .* failed" "$CHAT_HOME/log/store.log"
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
