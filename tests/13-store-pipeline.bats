#!/usr/bin/env bats
# chat-store's pipelined group commit (commit.c, tx.h): while one batch is
# being synced the worker runs the next, and what the next batch reads must
# include what the batch being synced wrote.  A stream of appends where
# every cid comes twice in a row straddles many batch boundaries; each
# second copy must be the first's dup (same id, dup true), and group.add
# behind a group.add must see its member.

load helpers

setup() { chat_setup; }
teardown() {
	stop_all
	chat_teardown
}

@test "store pipeline: a request sees the writes of the batch still being synced (dedupe, group members)" {
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
	run "$PY" - "$CHAT_RUN/store.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(60); s.connect(sys.argv[1])
f = s.makefile("rb")
def call(reqs):
    s.sendall("".join(json.dumps(r) + "\n" for r in reqs).encode())
    out = {}
    while len(out) < len(reqs):
        o = json.loads(f.readline()); out[o["id"]] = o
    return [out[r["id"]] for r in reqs]
n = 0
def rid():
    global n; n += 1; return n
users = ["alice", "bob"] + ["m%d" % i for i in range(60)]
for u in users:
    r = call([{"op": "user.create", "id": rid(), "user": u, "password": "password-" + u}])[0]
    assert r["ok"], r
# 3,000 cids, each sent twice back to back, all written before any answer,
# behind one single append: the worker takes up to 2,048 ops a batch, so a
# full batch then ends between the two copies of a cid
reqs = [{"op": "msg.append", "id": rid(), "from": "alice", "device": "d1",
         "cid": "lead", "to": "bob", "body": "x"}]
for i in range(3000):
    for _ in range(2):
        reqs.append({"op": "msg.append", "id": rid(), "from": "alice",
                     "device": "d1", "cid": "c%d" % i, "to": "bob", "body": "x" * 50})
st0 = call([{"op": "status", "id": rid()}])[0]
rep = call(reqs)[1:]
st = call([{"op": "status", "id": rid()}])[0]
bad = 0
for a, b in zip(rep[0::2], rep[1::2]):
    if not (a["ok"] and b["ok"] and not a["dup"] and b["dup"] and a["mid"] == b["mid"]):
        bad += 1
# group.add one after another in one stream: each must see the ones before
g = call([{"op": "group.create", "id": rid(), "owner": "alice", "name": "g", "members": []}])[0]
assert g["ok"], g
adds = [{"op": "group.add", "id": rid(), "group": g["group"], "user": "m%d" % i, "by": "alice"}
        for i in range(60)]
rep = call(adds)
notok = [r for r in rep if not r["ok"]]
mem = call([{"op": "group.get", "id": rid(), "group": g["group"]}])[0]["members"]
print("pairs not deduplicated: %d of 3000; group.add failed: %d; members %d; batches %d" %
      (bad, len(notok), len(mem), st["batches"] - st0["batches"]))
sys.exit(0 if bad == 0 and not notok and len(mem) == 61 else 1)
PY
	echo "$output"
	assert_success
	# the appends took more than one batch, or it proved nothing
	[[ $output =~ batches\ ([0-9]+) ]]
	[ "${BASH_REMATCH[1]}" -ge 2 ]
}
