#!/usr/bin/env bats
# RELIABILITY.md row 4: a crash loop.  Under a steady load every running
# child of chat-super gets SIGKILL every 3 s, 10 times in 30 s; then the
# stack must come back by itself and carry normal load for 10 s.  chat-super
# must back off (never a restart sooner than 1 s after an exit, longer
# pauses as restarts pile up) without spinning (its CPU < 10% over the
# loop), the store must reopen its database each time, and no acknowledged
# message may be lost over all the cycles.

load ../helpers
load ../checker/stack
load ../checker/nemesis

setup() { chat_setup; }
teardown() {
	chat_teardown
	no_sanitizer_reports
}

elapsed_lt() { awk -v t0="$1" -v s="$2" -v t="$(now)" 'BEGIN { exit !(t - t0 < s) }'; }

# live_children: the pids chat-super reports running now.
live_children() { super_status | jq -r '.programs[] | .pid // empty'; }

# restart_gaps: for every restart in chat-super's log, the ms from the
# program's exit to its next start, one per line: "NAME MS".
restart_gaps() {
	awk '
	function ms(ts,   d) {
		# 2026-11-23T11:50:02.507Z
		split(substr(ts, 12, 12), d, /[:.]/)
		return ((d[1] * 60 + d[2]) * 60 + d[3]) * 1000 + d[4]
	}
	$4 ~ /:$/ && / exited \(/ { n = $4; sub(/:$/, "", n); gone[n] = ms($1) }
	$4 ~ /:$/ && / started pid / { n = $4; sub(/:$/, "", n)
		if (n in gone) { print n, ms($1) - gone[n]; delete gone[n] } }
	' "$CHAT_HOME/log/chat-super.log"
}

@test "row 4: crash loop, every child kill -9 10x in 30 s: backoff ≥1 s, chat-super CPU <10%, store reopens, then 10 s of load: lost=0" {
	super_start
	local t0 t_cycle c p killed=0 store_kills=0 cpu0 cpu1 wall pct hz
	local store_starts0 store_starts1 gaps
	jepsen_start --rate 200 --duration 600 --drain 60
	more_acked 150
	hz=$(getconf CLK_TCK)
	cpu0=$(cpu_ticks "$SUPER_PID")
	store_starts0=$(grep -c "listening on" "$CHAT_HOME/log/store.log")
	t0=$(now)
	for c in $(seq 10); do
		t_cycle=$(now)
		for p in $(live_children); do
			[ "$p" = "$(prog_pid store)" ] && store_kills=$((store_kills + 1))
			kill -9 "$p" 2>/dev/null && killed=$((killed + 1))
		done
		while elapsed_lt "$t_cycle" 3; do sleep 0.2; done
	done
	cpu1=$(cpu_ticks "$SUPER_PID")
	wall=$(awk -v t0="$t0" -v t="$(now)" 'BEGIN { print t - t0 }')
	pct=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$hz" -v w="$wall" \
	    'BEGIN { printf "%.2f", (b - a) / hz / w * 100 }')
	echo "# $killed processes killed ($store_kills of them the store) in ${wall}s; chat-super CPU ${pct}%" >&3
	# The stack comes back by itself (the longest backoff is 30 s) ...
	wait_until 90 all_up
	# ... and carries normal load for 10 s.
	t0=$(now)
	while elapsed_lt "$t0" 10; do sleep 0.5; done
	more_acked 100
	jepsen_finish
	echo "# $FIGURES" >&3
	store_starts1=$(grep -c "listening on" "$CHAT_HOME/log/store.log")
	gaps=$(restart_gaps)
	echo "# restarts (program, ms from exit to start): $(echo $gaps)" >&3
	# No busy spin.
	awk -v p="$pct" 'BEGIN { exit !(p < 10) }'
	# Every restart came ≥1 s after the exit; with 5 or more restarts of a
	# program the pauses grew (≥2 s).
	[ -n "$gaps" ]
	awk '$2 < 1000 { bad = 1; print "# too soon: " $0 } END { exit bad }' <<<"$gaps"
	awk '{ n[$1]++; if ($2 > m[$1]) m[$1] = $2 }
	    END { for (k in n) if (n[k] >= 5 && m[k] < 2000) { print "# no backoff: " k; bad = 1 } exit bad }' <<<"$gaps"
	# The store reopened its database after each of its kills.
	[ "$store_kills" -ge 3 ]
	[ $(( store_starts1 - store_starts0 )) -ge "$store_kills" ]
	! grep -q "corrupt" "$CHAT_HOME/log/store.log"
	# Nothing was given up on.
	! super_status | jq -e '.programs[] | select(.state == "failed" or .state == "fatal")'
}
