#!/usr/bin/env bats
# RELIABILITY.md row 6: chatd paused (SIGSTOP) for 25 s under load, longer
# than the clients' timeout (each device pings every 5 s and gives up a
# connection with no pong 5 s later).  Every device must time out while
# chatd is stopped, reconnect after SIGCONT asking for what came after the
# newest id it holds, and end with every ack delivered once, in order.

load ../helpers
load ../checker/stack
load ../checker/nemesis

setup() { chat_setup; }
teardown() {
	[ -z "${PAUSED:-}" ] || kill -CONT "$PAUSED" 2>/dev/null || true
	chat_teardown
	no_sanitizer_reports
}

# elapsed_lt T0 S: less than S seconds since T0 (now's format).
elapsed_lt() { awk -v t0="$1" -v s="$2" -v t="$(now)" 'BEGIN { exit !(t - t0 < s) }'; }

@test "row 6: SIGSTOP chatd 25 s (> client timeout): clients time out, reconnect, resume: lost=0 dup_surfaced=0 order=0" {
	super_start
	local chatd t_stop t_cont w after devs=8
	chatd=$(prog_pid chatd)
	jepsen_start --rate 200 --duration 120 --ping 5
	more_acked 300
	PAUSED=$chatd
	kill -STOP "$chatd"
	t_stop=$(now)
	while elapsed_lt "$t_stop" 25; do sleep 0.5; done
	# The moment before CONT: handshakes queued meanwhile finish at once.
	t_cont=$(now)
	kill -CONT "$chatd"
	PAUSED=
	more_acked 300 60
	jepsen_finish
	w=$(window "$t_stop" "$t_cont")
	after=$(window "$t_cont" "$(now)")
	echo "# paused: $w" >&3
	echo "# after CONT: $after" >&3
	echo "# $FIGURES" >&3
	# Every device gave its connection up while chatd was stopped ...
	jq -e --argjson n "$devs" '.disconnected_devs == $n' <<<"$w"
	# ... and nothing was acked from 1 s after the stop.
	w=$(window "$(awk -v t="$t_stop" 'BEGIN { printf "%.3f", t + 1 }')" "$t_cont")
	jq -e '.acks == 0' <<<"$w"
	# Each came back, resuming from the newest id it held.
	jq -e --argjson n "$devs" '.resumed >= $n and .connects == .resumed' <<<"$after"
	[ "$(figure reconnects)" -ge "$devs" ]
	# chatd was paused, not restarted.
	[ "$(prog_pid chatd)" = "$chatd" ]
}
