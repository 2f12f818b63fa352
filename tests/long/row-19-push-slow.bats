#!/usr/bin/env bats
# RELIABILITY.md row 19: the push provider slow or hanging.  The whole stack
# runs under chat-super with a steady chat load (tests/checker/jepsen.py);
# the webhook provider is a local stub (tests/drivers/push_stub.py) that
# reads each request and answers nothing for 30 s (15 s of this), then
# sends a 200 status and trickles the body a byte every 0.2 s (10 s), then
# recovers.  Six offline users with a webhook registration get one message
# each as the hang begins.  chat.conf: push_timeout_ms 3000 (the matrix's
# 10 s, shortened), push_concurrency 2.
# Pass: every request cut at the timeout (3 s +-10%); never more than 2
# requests at once; no gateway stall (send-ack p99 during the fault within
# 2x the baseline, 50 ms floor: a loaded 2-core machine); every retry of a
# device's batch carries the same idempotency key (so the provider shows at
# most 1 push per batch) and each device gets exactly 1 completed push
# after the recovery; the chat checker clean.

load ../helpers
load ../checker/stack
load ../checker/pushfault

STUB="$BATS_TEST_DIRNAME/../drivers/push_stub.py"
DRV="$BATS_TEST_DIRNAME/../drivers/push_e2e.py"
P99="$BATS_TEST_DIRNAME/../checker/ack_p99.py"
USERS="bob carol dave erin frank gina"

setup() { chat_setup; }
teardown() {
	chat_teardown
	no_sanitizer_reports
}

@test "row 19: push endpoint hanging then trickling: timeouts enforced, concurrency bounded, no stall, 1 key per batch" {
	local aw port t0 a0 a1 base fault
	declare -A SENT DEV
	"$PY" "$BATS_TEST_DIRNAME/../drivers/msgtest.py" seed \
	    --names "alice,${USERS// /,}" | "$CHAT_BIN/chat-store" import 2>/dev/null
	port=$(free_port)
	"$PY" "$STUB" "$port" "$BATS_TEST_TMPDIR/hook.log" "$BATS_TEST_TMPDIR/hook.ctl" \
	    2>>"$BATS_TEST_TMPDIR/hook.err" &
	track_pid $! stub
	HOOK="http://127.0.0.1:$port/hook"
	touch "$BATS_TEST_TMPDIR/hook.log"
	wait_until 10 test -e "$BATS_TEST_TMPDIR/hook.log.ready"
	conf push_collapse_ms 200
	conf push_backoff_ms 500
	conf push_backoff_max_ms 2000
	conf push_timeout_ms 3000
	conf push_connect_timeout_ms 1000
	conf push_concurrency 2
	super_start
	jepsen_start --rate 100 --duration 300 --no-group
	more_acked 300
	aw=$(acked)	# past the connects: the baseline starts here
	more_acked 300
	a0=$(acked)
	for u in $USERS; do DEV[$u]=$(register "$u"); done

	# 0-15 s: hanging.  One message to each user as it begins.
	stub_ctl '{"mode":"hang","secs":30}'
	t0=$(now)
	for u in $USERS; do send_to "$u"; done
	wait_until 10 nreqs_ge 2 '.answer=="hang"'
	until_since "$t0" 15
	# 15-25 s: a 200 status line, then the body a byte at a time
	stub_ctl '{"mode":"trickle","secs":30}'
	until_since "$t0" 25
	a1=$(acked)
	stub_ctl '{}'
	wait_until 20 nreqs_ge 6 '.answer==200'
	sleep 3	# past another backoff cap and collapse window: any duplicate
	more_acked 200
	jepsen_finish

	echo "# requests: $(nreqs) ($(nreqs '.answer=="hang"') hang, $(nreqs '.answer=="trickle"') trickle, $(nreqs '.answer==200') x 200)"
	[ "$(nreqs '.answer=="hang"')" -ge 4 ]
	[ "$(nreqs '.answer=="trickle"')" -ge 2 ]
	# timeouts enforced: every cut request logged after 3 s +- 10%
	grep -o "after [0-9]* ms, sealed" "$CHAT_HOME/log/push.log" |
	    awk '{ n++; if ($2 < 2700 || $2 > 3300) bad++; printf "# cut after %d ms\n", $2 }
	    END { exit !(n >= 6 && bad == 0) }'
	# concurrency bounded: each hanging or trickling request holds a
	# worker until the 3 s timeout, so no 2.7 s window holds more than 2
	reqs '.answer=="hang" or .answer=="trickle"' | jq -s '[.[].t] | sort | . as $t |
	    [range(length) | . as $i | [$t[] | select(. >= $t[$i] and . < $t[$i] + 2.7)] |
	    length] | max' > "$BATS_TEST_TMPDIR/maxconc"
	echo "# most requests at once: $(cat "$BATS_TEST_TMPDIR/maxconc")"
	[ "$(cat "$BATS_TEST_TMPDIR/maxconc")" -le 2 ]
	# <= 1 visible push per batch: one idempotency key for all of a
	# device's tries, and exactly 1 completed push
	for u in $USERS; do
		p="/hook/$u/${DEV[$u]}"
		[ "$(reqs ".path==\"$p\"" | jq -r '.headers["idempotency-key"]' | sort -u | wc -l)" -eq 1 ]
		[ "$(nreqs ".answer==200 and .path==\"$p\"")" -eq 1 ]
		echo "# $u: $(nreqs ".path==\"$p\"") tries, 1 key"
	done
	# no gateway stall
	base=$("$P99" "$HIST" "$aw" "$a0")
	fault=$("$P99" "$HIST" "$a0" "$a1")
	echo "# send-ack before: $base; during the fault: $fault"
	b=${base#p99_ms=}; b=${b%% *}
	f=${fault#p99_ms=}; f=${f%% *}
	[ "$f" -le $(( b * 2 > 50 ? b * 2 : 50 )) ]
}
