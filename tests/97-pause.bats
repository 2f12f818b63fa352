#!/usr/bin/env bats
# tests/run: alone (a timed pause under load)
# RELIABILITY.md row 5: chat-store paused (SIGSTOP) for 10 s under load,
# then SIGCONT, as Jepsen's pause nemesis does.  Sends during the pause may
# end in an error or no answer, never in an ack without a commit; chatd
# keeps answering WebSocket pings and does not balloon; after CONT every
# ack is delivered once.

load helpers
load checker/stack
load checker/nemesis

setup() { chat_setup; }
teardown() {
	# A test that failed mid-pause must not leave the store stopped.
	[ -z "${PAUSED:-}" ] || kill -CONT "$PAUSED" 2>/dev/null || true
	chat_teardown
	no_sanitizer_reports
}

@test "row 5: SIGSTOP chat-store 10 s under load: no ack while paused, chatd answers pings, RSS +<50 MB, lost=0 dup_surfaced=0" {
	super_start
	local store chatd rss0 rss max=0 t_stop t_cont w i
	store=$(prog_pid store); chatd=$(prog_pid chatd)
	pinger_start
	jepsen_start --rate 200 --duration 60
	more_acked 150
	rss0=$(rss_kb "$chatd")
	PAUSED=$store
	kill -STOP "$store"
	t_stop=$(now)
	# 10 s of load against a stopped store, chatd's RSS sampled.
	for i in $(seq 20); do
		sleep 0.5
		rss=$(rss_kb "$chatd")
		[ "$rss" -le "$max" ] || max=$rss
	done
	# The moment before CONT: handshakes queued meanwhile finish at once.
	t_cont=$(now)
	kill -CONT "$store"
	PAUSED=
	more_acked 300 60
	rss=$(rss_kb "$chatd")
	[ "$rss" -le "$max" ] || max=$rss
	jepsen_finish
	pinger_finish
	# From the stop to the CONT.  Acks of batches committed just before
	# the stop may still arrive in it (under ASan on a loaded machine, a
	# second late); an ack of a message whose id was made after the stop
	# is one without a commit.  From 1 s after the stop, nearly nothing.
	w=$(window "$t_stop" "$t_cont")
	late=$(window "$(awk -v t="$t_stop" 'BEGIN { printf "%.3f", t + 1 }')" "$t_cont")
	echo "# paused: $w" >&3
	echo "# pings: $PINGS; chatd RSS $rss0 KiB before, at most $max KiB" >&3
	echo "# $FIGURES" >&3
	echo "# from 1 s after the stop: $late" >&3
	jq -e '.acks_made_after == 0 and .sends > 0' <<<"$w"
	jq -e '.acks_made_after == 0 and .acks <= 5' <<<"$late"
	jq -e '.missed == 0 and .closed == false and .pongs >= 20' <<<"$PINGS"
	[ $(( max - rss0 )) -lt $(( 50 * 1024 )) ]
	# The store was paused, never replaced.
	[ "$(prog_pid store)" = "$store" ]
}
