#!/usr/bin/env bats
# RELIABILITY.md rows 2 and 12, the quick versions: acknowledged writes
# survive kill -9 of chat-store (3 trials here, 20 in tests/long), and a
# write log torn at its tail after a kill -9 loses only what was never
# acknowledged.  tests/checker/durability.py drives msg.append on the
# store's socket and checks a `chat-store dump` against every ack.

load helpers
load checker/durability

setup() { chat_setup; }
teardown() {
	chat_teardown
}

@test "row 2: kill -9 of chat-store right after an ack, 3 trials: present ⊇ acked, extra ≤ in flight" {
	durability_setup
	for t in 1 2 3; do
		kill_after_ack_trial "$t"
	done
}

@test "the durability checker itself: a missing message, inbox entry or dedupe record, and a stored refusal are each named" {
	durability_setup
	kill_after_ack_trial 1
	stop_pid "$STORE_PID"
	wait "$STORE_PID" || true
	d="$BATS_TEST_TMPDIR/dump"
	"$CHAT_BIN/chat-store" dump > "$d"
	ack=$(grep -m1 '"ev":"ack"' "$LOGS/1.ndjson")
	id=$(jq -r .id <<<"$ack"); from=$(jq -r .frm <<<"$ack"); cid=$(jq -r .cid <<<"$ack")
	for drop in "^m/.*/$id	" "^i/$from/$id	" "^x/$from/[^/]*/$cid	"; do
		grep -v "$drop" "$d" > "$d.cut"
		[ "$(wc -l < "$d.cut")" -lt "$(wc -l < "$d")" ]
		run "$PY" "$DURABILITY" check --dump "$d.cut" --trial 1 "$LOGS/1.ndjson"
		assert_failure
		assert_output --partial "lost=1 "
		assert_output --partial "lost: $id (cid $cid from $from"
	done
	# An acknowledged message read back as refused: a refusal that stored.
	sed "s/\"ev\":\"ack\",\\(.*\"cid\":\"$cid\"\\)/\"ev\":\"refused\",\"code\":\"x\",\\1/" \
	    "$LOGS/1.ndjson" > "$BATS_TEST_TMPDIR/refused.ndjson"
	run "$PY" "$DURABILITY" check --dump "$d" --trial 1 "$BATS_TEST_TMPDIR/refused.ndjson"
	assert_failure
	assert_output --partial "refused send $from/$cid is stored"
}

@test "row 12: kill -9 at a log sync, the newest *.log torn by 1..100 bytes, 3 trials: starts cleanly, lost=0 against acks" {
	command -v strace
	durability_setup
	for t in 1 2 3; do
		torn_tail_trial "$t"
	done
}
