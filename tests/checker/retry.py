#!/usr/bin/python3
"""retry: RELIABILITY.md row 7, sender retry after a lost ack.

    retry.py --url URL [-n 100]

For each of n cids, alice's device connects, sends the message and drops
its TCP connection at once, before any ack can reach it (the ack is lost);
then it connects again and resends the same cid, and takes the ack.  Bob's
device listens the whole time.  Checks: every retry is acked, with the id
chat-store holds for that cid; chat-store holds exactly one message per
cid; bob received each exactly once.  Prints one line of figures; exit 1
naming the first failure.
"""
import argparse
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "drivers"))
import websockets  # noqa: E402
from chatlib import Client, Ipc, login, make_users  # noqa: E402


async def connect(url, tok):
    ws = await websockets.connect(url, max_size=None, ping_interval=None)
    await ws.send(json.dumps({"type": "auth", "token": tok}))
    while True:
        f = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if f["type"] == "synced":
            return ws


async def run(a):
    store = Ipc("store")
    make_users(store, ["ra", "rb"])
    adev, atok = login(store, "ra")
    bob = await Client(a.url, "rb", *login(store, "rb")).connect()
    acks, fails = {}, []
    for i in range(a.n):
        cid = "retry-%d" % i
        frame = json.dumps({"type": "send", "cid": cid, "to": "rb",
                            "body": "r%d" % i})
        ws = await connect(a.url, atok)
        await ws.send(frame)
        ws.transport.abort()            # gone before any ack arrives
        ws = await connect(a.url, atok)
        await ws.send(frame)
        while True:
            f = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if f["type"] in ("ack", "error") and f.get("cid") == cid:
                break
        ws.transport.abort()
        if f["type"] != "ack":
            fails.append("%s: %s" % (cid, f))
            continue
        acks[cid] = f["id"]
    # chat-store: one message per cid, with the id the retry was told.
    stored, after = {}, None
    while True:
        kw = {"user": "rb", "limit": 1000}
        if after:
            kw["after"] = after
        r = store.ok("inbox.read", **kw)
        for m in r["messages"]:
            stored.setdefault(m["cid"], []).append(m["id"])
            after = m["id"]
        if not r["more"]:
            break
    await bob.wait_msgs(len(acks), timeout=20)
    await asyncio.sleep(0.3)
    got = {}
    for m in bob.msgs:
        got.setdefault(m["cid"], []).append(m["id"])
    twice = [c for c, ids in stored.items() if len(ids) > 1]
    wrong = [c for c, i in acks.items() if stored.get(c) != [i]]
    seen_twice = [c for c, ids in got.items() if len(ids) > 1]
    out = {"n": a.n, "acked": len(acks), "stored": len(stored),
           "stored_twice": len(twice), "ack_id_mismatch": len(wrong),
           "bob_got": len(bob.msgs), "bob_twice": len(seen_twice) + bob.dups,
           "refused": len(fails)}
    print(" ".join("%s=%s" % kv for kv in out.items()))
    first = (fails or ["stored twice: %s %s" % (c, stored[c]) for c in twice]
             or ["retry of %s acked %s, stored %s" % (c, acks[c],
                 stored.get(c)) for c in wrong]
             or ["bob got %s twice" % c for c in seen_twice])
    if first or len(stored) != a.n or len(bob.msgs) != a.n:
        print("FAILED: %s" % (first[0] if first else out), file=sys.stderr)
        return 1
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("-n", type=int, default=100)
    a = p.parse_args()
    rc = asyncio.run(run(a))
    sys.stdout.flush()
    os._exit(rc)


if __name__ == "__main__":
    main()
