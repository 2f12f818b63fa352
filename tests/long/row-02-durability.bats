#!/usr/bin/env bats
# RELIABILITY.md row 2, the full version: chat-store is killed with SIGKILL
# the moment a random ack arrives, 20 times over one database; after each
# kill `chat-store dump` must hold every ack of every trial so far, and no
# more unacknowledged messages of the trial than requests were in flight.
# (tests/97-durability.bats runs 3 trials in make test.)

load ../helpers
load ../checker/durability

setup() { chat_setup; }
teardown() {
	chat_teardown
}

@test "row 2: kill -9 of chat-store right after an ack, 20 trials: present ⊇ acked in 20/20, extra ≤ in flight" {
	durability_setup
	for t in $(seq 20); do
		kill_after_ack_trial "$t"
	done
}
