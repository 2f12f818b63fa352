#!/usr/bin/env bats
# tests/run: alone (a tmpfs mount and a 5 s bound)
# RELIABILITY.md row 10: chat-store's database on a tmpfs of 8 MiB, load
# until the disk is full, then room again (remount at 64 MiB).  While it is
# full every send must end in an explicit error (the client's `unavailable`,
# which chatd maps from chat-store's `store_unavailable`), never an ack and
# never silence; nothing restarts in a loop; within 5 s of space returning
# sends succeed with no one repairing anything; every ack is delivered.
# tests/long/row-10-disk-full-restart.bats kills the store while it is full.

load helpers
load checker/stack
load checker/nemesis

setup() {
	chat_setup
	tmpfs_db_setup
}

teardown() {
	tmpfs_db_teardown
	no_sanitizer_reports
}

@test "row 10: disk full on a tmpfs of 8 MiB: every send refused while full, no crash loop, sends succeed ≤5 s after space returns, lost=0" {
	super_start
	local store_pid route_pid chatd_pid t_full t_back w
	store_pid=$(prog_pid store); route_pid=$(prog_pid route)
	chatd_pid=$(prog_pid chatd)
	jepsen_start --rate 300 --duration 300 --body-size 200 --backoff-max 1
	more_acked 100
	# Load until ENOSPC: chat-store says its write failed.
	wait_until 120 disk_full_seen
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

# alice_created: chat-store created user alice (or has her already).
alice_created() {
	ipc store '{"op":"user.create","user":"alice","password":"password1"}' |
	    grep -Eq '"ok":true|user_exists'
}

@test "row 10: chat-store started on a full disk serves degraded (status says so, every op store_unavailable) and opens its database once room returns" {
	# Nothing left at all: LevelDB cannot even create its database.
	dd if=/dev/zero of="$CHAT_HOME/db/rest" bs=64k status=none 2>/dev/null || true
	start_daemon chat-store
	local pid=$LAST_PID r
	wait_for_sock "$CHAT_RUN/store.sock"
	r=$(ipc store '{"op":"status"}')
	echo "# full: $r"
	jq -e '.ok and .degraded == true' <<<"$r"
	r=$(ipc store '{"op":"user.create","user":"alice","password":"password1"}')
	jq -e '.error.code == "store_unavailable"' <<<"$r"
	grep -q "serving degraded" "$CHAT_HOME/log/chat-store.log"
	# Room again: the next ops open it, with no restart.
	rm "$CHAT_HOME/db/rest"
	wait_until 10 alice_created
	r=$(ipc store '{"op":"status"}')
	echo "# room again: $r"
	jq -e '.degraded == false' <<<"$r"
	kill -0 "$pid"
}
