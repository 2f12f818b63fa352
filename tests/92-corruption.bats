#!/usr/bin/env bats
# RELIABILITY.md row 11: LevelDB corruption at rest.  4 bytes flipped in the
# middle of the write-ahead log: chat-store (paranoid_checks on) refuses to
# start with exit 102, chat-super marks it fatal after at most 3 tries and
# stops trying, and `chat-store repair --expect` runs RepairDB and reports
# every acknowledged message that is gone, per conversation, after which the
# store serves what survived.  8 bytes flipped in a table file: every read
# that touches the block fails with an explicit store_unavailable, never a
# silently shorter inbox.

load helpers
load checker/stack
export BATS_TEST_DIRNAME BATS_TEST_TMPDIR

setup() {
	chat_setup
	start_daemon chat-store
	STORE_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/store.sock"
	# 3000 acked 1:1 messages from a to b; their ids and conversation.
	"$PY" - <<'PY'
import os, sys
sys.path.insert(0, os.environ["BATS_TEST_DIRNAME"] + "/drivers")
import chatlib
s = chatlib.Ipc("store")
chatlib.make_users(s, ["a", "b"])
reps = s.batch([{"op": "msg.append", "from": "a", "device": "D",
                 "cid": "c%d" % i, "to": "b", "body": "x" * 100}
                for i in range(3000)])
assert all(r["ok"] for r in reps), reps[:3]
with open(os.environ["BATS_TEST_TMPDIR"] + "/acked", "w") as f:
    f.writelines(r["mid"] + " d/a/b\n" for r in reps)
PY
	stop_pid "$STORE_PID"
}

teardown() {
	chat_teardown
	no_sanitizer_reports
}

# flip FILE N OFFSET: overwrites N bytes at OFFSET with 0xde 0xad ...
flip() {
	head -c "$2" /dev/zero | tr '\0' '\336' |
	    dd of="$1" bs=1 seek="$3" conv=notrunc status=none
}

@test "row 11: a flipped WAL refuses to start (102), chat-super marks it fatal, repair reports the gap" {
	local log
	log=$(ls "$CHAT_HOME"/db/*.log)
	[ "$(stat -c %s "$log")" -gt 100000 ]
	flip "$log" 4 $(( $(stat -c %s "$log") / 2 ))
	run "$CHAT_BIN/chat-store"
	[ "$status" = 102 ]
	assert_output --partial "is corrupt"
	# Under chat-super: fatal after at most 3 tries, and it stays down.
	echo "store - chat-store" > "$CHAT_HOME/etc/stack.conf"
	start_daemon chat-super
	fatal() { [ "$(prog_state store)" = fatal ]; }
	wait_until 15 fatal
	sleep 1.5
	[ "$(prog_state store)" = fatal ]
	starts=$(grep -c "store: started pid" "$CHAT_HOME/log/chat-super.log")
	echo "# store started $starts time(s) before fatal"
	[ "$starts" -le 3 ]
	stop_all
	# repair: every acked id that is gone is reported, by conversation.
	run "$CHAT_BIN/chat-store" repair --expect "$BATS_TEST_TMPDIR/acked"
	echo "$output" | tail -3
	[ "$status" = 1 ]
	assert_output --partial "RepairDB done"
	gaps=$(grep -c "^gap d/a/b [0-9a-f]\{16\} expected$" <<<"$output")
	[ "$gaps" -gt 0 ]
	# The store starts on the repaired database; present + reported = acked.
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	present=$("$PY" - <<'PY'
import os, sys
sys.path.insert(0, os.environ["BATS_TEST_DIRNAME"] + "/drivers")
import chatlib
s = chatlib.Ipc("store")
n, after = 0, None
while True:
    kw = {"user": "b", "limit": 200}
    if after:
        kw["after"] = after
    r = s.ok("inbox.read", **kw)
    n += len(r["messages"])
    if not r["more"] or not r["messages"]:
        break
    after = r["messages"][-1]["id"]
print(n)
PY
)
	echo "# acked 3000, present $present, reported missing $gaps"
	[ $(( present + gaps )) = 3000 ]
	# Repair again on a sound database: the same gaps, nothing new lost.
	stop_all
	run "$CHAT_BIN/chat-store" repair --expect "$BATS_TEST_TMPDIR/acked"
	[ "$(grep -c '^gap ' <<<"$output")" = "$gaps" ]
}

@test "row 11: a flipped table block gives explicit errors, never a silently short inbox" {
	# Opening replays the log into a table file.
	"$CHAT_BIN/chat-store" dump >/dev/null
	local t
	t=$(ls "$CHAT_HOME"/db/*.ldb | head -1)
	flip "$t" 8 $(( $(stat -c %s "$t") / 3 ))
	run "$CHAT_BIN/chat-store" dump
	echo "$output" | tail -2; ls -la "$CHAT_HOME/db"
	[ "$status" = 102 ]
	assert_output --partial "Corruption"
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	run "$PY" - <<'PY'
import os, sys
sys.path.insert(0, os.environ["BATS_TEST_DIRNAME"] + "/drivers")
import chatlib
s = chatlib.Ipc("store")
n, after = 0, None
while True:
    kw = {"user": "b", "limit": 200}
    if after:
        kw["after"] = after
    r = s.call("inbox.read", **kw)
    if not r["ok"]:
        print("error", r["error"]["code"], n)
        break
    n += len(r["messages"])
    if not r["more"] or not r["messages"]:
        print("complete", n)
        break
    after = r["messages"][-1]["id"]
PY
	echo "$output"
	# Either all 3000 (the flip hit nothing read) or an explicit error.
	[[ "$output" == "complete 3000" || "$output" == "error store_unavailable "* ]]
	# repair drops the bad block and names what went with it.
	stop_all
	run "$CHAT_BIN/chat-store" repair --expect "$BATS_TEST_TMPDIR/acked"
	echo "$output" | tail -2
	[ "$status" = 0 ] || [ "$status" = 1 ]
	assert_output --partial "3000 expected ids checked"
}

@test "row 11: wherever 8 bytes of a table are flipped (every 3 KB, every 1 KB of its index and footer), repair leaves no bad block behind" {
	"$CHAT_BIN/chat-store" dump >/dev/null
	cp -a "$CHAT_HOME/db" "$BATS_TEST_TMPDIR/db0"
	local t size off rc n=0 bad=0
	t=$(basename "$(ls "$CHAT_HOME"/db/*.ldb | head -1)")
	size=$(stat -c %s "$CHAT_HOME/db/$t")
	# Most flips break snappy's decoding; a few still decode, and RepairDB
	# without checksums kept those tables whole, bad block and all.  In
	# the last 9 KB (index, filter, footer) a flip loses the whole table:
	# no message left, which the gap report must survive too.
	for off in $(seq 1000 3001 $(( size - 2000 ))) \
	    $(seq $(( size - 9000 )) 997 $(( size - 60 ))); do
		rm -rf "$CHAT_HOME/db"
		cp -a "$BATS_TEST_TMPDIR/db0" "$CHAT_HOME/db"
		flip "$CHAT_HOME/db/$t" 8 "$off"
		rc=0
		"$CHAT_BIN/chat-store" repair --expect "$BATS_TEST_TMPDIR/acked" \
		    > "$BATS_TEST_TMPDIR/out" 2>&1 || rc=$?
		n=$(( n + 1 ))
		if [ "$rc" -gt 1 ] || ! grep -q "3000 expected ids checked" "$BATS_TEST_TMPDIR/out"; then
			bad=$(( bad + 1 ))
			echo "# offset $off: exit $rc: $(tail -1 "$BATS_TEST_TMPDIR/out")"
		fi
	done
	echo "# $n flips repaired, $bad failed"
	[ "$n" -ge 40 ] && [ "$bad" = 0 ]
}

@test "chat-store repair: --help, refused while the daemon runs, 0 on a sound database" {
	run "$CHAT_BIN/chat-store" repair --help
	assert_success
	assert_output --partial "usage: chat-store repair"
	run "$CHAT_BIN/chat-store" repair --bogus
	[ "$status" = 100 ]
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	run "$CHAT_BIN/chat-store" repair
	[ "$status" = 111 ]
	assert_output --partial "in use"
	stop_all
	run "$CHAT_BIN/chat-store" repair --expect "$BATS_TEST_TMPDIR/acked"
	assert_success
	assert_output --partial "3000 messages, 3000 expected ids checked, 0 gaps"
}
