#!/usr/bin/python3
"""durability: acknowledged writes against what chat-store holds after a kill.

    durability.py setup --state FILE [--users 4]
    durability.py run   --state FILE --log FILE --trial T [--conns 8]
                        [--depth 64] [--body-size 64] [--kill-pid PID
                        --kill-after N] [--max-secs 30]
    durability.py check --dump FILE --trial T LOG...

RELIABILITY.md rows 2 and 12 work one layer below the WebSocket clients:
an ack of msg.append is chat-store's promise that the message, one inbox
entry per recipient and the dedupe record are on disk, so this driver
speaks msg.append on the store's own socket, over many pipelined
connections (group commit batches them), and logs every request and every
reply.

`setup` creates users u0..u{N-1} and a group of them (ids in the state file).
`run` keeps --depth requests in flight on each connection, alternating 1:1
and group messages with cids "t<T>-<conn>-<i>".  With --kill-pid it sends
SIGKILL to that pid the moment the N-th ack arrives ("right after an ack"),
stops sending, and reads every reply already in the socket buffers until
EOF.  Without it, it runs until the store goes away (or --max-secs).  It
prints "sent= acked= refused= inflight=": inflight is requests with no reply
at all, the only ones whose fate is unknown.

`check` reads `chat-store dump` output and every run log given:
  lost   an ack (of any trial) whose message key, id, inbox entries or dedupe
         record is not in the dump
  extra  messages of trial T in the dump that were never acked; they must be
         no more than trial T's inflight (a refused send must not be there)
It prints one line of figures and exits 1 on a failure, naming the first.
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "drivers"))
from chatlib import Ipc, make_users  # noqa: E402


def setup(a):
    store = Ipc("store")
    users = ["u%d" % i for i in range(a.users)]
    make_users(store, users)
    gid = store.ok("group.create", owner=users[0], name="durability",
                   members=users[1:])["group"]
    with open(a.state, "w") as f:
        json.dump({"users": users, "group": gid}, f)


async def run(a):
    st = json.load(open(a.state))
    users, gid = st["users"], st["group"]
    sock = os.path.join(os.environ.get("CHAT_RUN", "./var/run"), "store.sock")
    log = open(a.log, "w")
    counts = {"sent": 0, "acked": 0, "refused": 0}
    state = {"stop": False, "killed": False}
    pad = "x" * a.body_size
    t_end = time.monotonic() + a.max_secs

    def out(**kw):
        log.write(json.dumps(kw, separators=(",", ":")) + "\n")

    async def conn(c):
        r, w = await asyncio.open_unix_connection(sock, limit=1 << 24)
        pending = {}
        room = asyncio.Semaphore(a.depth)
        frm = users[c % len(users)]

        async def reader():
            try:
                await read_replies()
            finally:
                room.release()      # wakes the sender: it sees rt done

        async def read_replies():
            while True:
                line = await r.readline()
                if not line:
                    return
                rep = json.loads(line)
                req = pending.pop(rep.get("id"), None)
                if req is None:
                    continue
                room.release()
                if rep.get("ok"):
                    counts["acked"] += 1
                    out(ev="ack", trial=a.trial, frm=req["from"],
                        cid=req["cid"], id=rep["mid"],
                        rcpt=rep.get("recipients"))
                    if (a.kill_pid and not state["killed"] and
                            counts["acked"] >= a.kill_after):
                        os.kill(a.kill_pid, signal.SIGKILL)
                        state["killed"] = True
                        state["stop"] = True
                        out(ev="kill", acked=counts["acked"])
                else:
                    counts["refused"] += 1
                    out(ev="refused", trial=a.trial, frm=req["from"],
                        cid=req["cid"], code=rep["error"]["code"])

        rt = asyncio.create_task(reader())
        i, n = 0, 0
        try:
            while not state["stop"] and time.monotonic() < t_end:
                await room.acquire()
                if state["stop"] or rt.done():
                    break
                n += 1
                i += 1
                req = {"op": "msg.append", "id": n, "from": frm,
                       "device": "dev%d" % c, "cid": "t%d-%d-%d" % (
                           a.trial, c, i), "body": "b%d.%d%s" % (c, i, pad)}
                if i % 2:
                    req["to"] = users[(c + 1 + i // 2) % len(users)]
                    if req["to"] == frm:
                        req["to"] = users[(c + 1) % len(users)]
                else:
                    req["group"] = gid
                pending[n] = req
                out(ev="send", trial=a.trial, frm=frm, cid=req["cid"])
                counts["sent"] += 1
                w.write(json.dumps(req).encode() + b"\n")
                if n % 16 == 0:
                    await w.drain()
        except (ConnectionError, OSError):
            pass
        try:
            await asyncio.wait_for(rt, max(1, t_end - time.monotonic()))
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass
        w.close()

    await asyncio.gather(*[conn(c) for c in range(a.conns)],
                         return_exceptions=True)
    inflight = counts["sent"] - counts["acked"] - counts["refused"]
    out(ev="done", trial=a.trial, inflight=inflight, **counts)
    log.close()
    print("trial=%d sent=%d acked=%d refused=%d inflight=%d killed=%d" % (
        a.trial, counts["sent"], counts["acked"], counts["refused"], inflight,
        state["killed"]))


def read_logs(paths):
    acked, refused, inflight = {}, set(), {}
    for p in paths:
        for line in open(p):
            e = json.loads(line)
            if e["ev"] == "ack":
                acked[(e["frm"], e["cid"])] = e
            elif e["ev"] == "refused":
                refused.add((e["frm"], e["cid"]))
            elif e["ev"] == "done":
                inflight[e["trial"]] = e["inflight"]
    return acked, refused, inflight


def check(a):
    acked, refused, inflight = read_logs(a.logs)
    msgs, inbox, dedupe = {}, set(), {}
    for line in open(a.dump, encoding="utf-8", errors="replace"):
        k, _, v = line.rstrip("\n").partition("\t")
        if k.startswith("m/"):
            m = json.loads(v)
            msgs[(m["from"], m["cid"])] = m["id"]
        elif k.startswith("i/"):
            inbox.add(k)
        elif k.startswith("x/"):
            _, user, _dev, cid = k.split("/", 3)
            dedupe[(user, cid)] = json.loads(v)["id"]
    res = {"trial": a.trial, "acked": 0, "present": 0, "lost": 0,
           "extra": 0, "inflight": inflight.get(a.trial, 0)}
    first = []
    for key, e in acked.items():
        res["acked"] += e.get("trial") == a.trial
        why = None
        if msgs.get(key) != e["id"]:
            why = "message %s" % ("absent" if key not in msgs else
                                  "has id %s" % msgs[key])
        elif dedupe.get(key) != e["id"]:
            why = "dedupe record absent"
        else:
            gone = [u for u in e["rcpt"] or []
                    if "i/%s/%s" % (u, e["id"]) not in inbox]
            if gone:
                why = "inbox entries of %s absent" % ",".join(gone)
        if why:
            res["lost"] += 1
            first.append("lost: %s (cid %s from %s, trial %s): %s" % (
                e["id"], key[1], key[0], e.get("trial"), why))
    prefix = "t%d-" % a.trial
    for key in msgs:
        if not key[1].startswith(prefix):
            continue
        res["present"] += 1
        if key not in acked:
            res["extra"] += 1
            if key in refused:
                first.append("refused send %s/%s is stored" % key)
    if res["extra"] > res["inflight"]:
        first.append("%d unacknowledged messages stored, but only %d "
                     "requests were in flight" % (res["extra"],
                                                  res["inflight"]))
    print(" ".join("%s=%s" % kv for kv in res.items()))
    if first:
        print("FAILED: %s" % first[0], file=sys.stderr)
        return 1
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["setup", "run", "check"])
    p.add_argument("logs", nargs="*")
    p.add_argument("--state")
    p.add_argument("--log")
    p.add_argument("--dump")
    p.add_argument("--trial", type=int, default=0)
    p.add_argument("--users", type=int, default=4)
    p.add_argument("--conns", type=int, default=8)
    p.add_argument("--depth", type=int, default=64)
    p.add_argument("--body-size", type=int, default=64)
    p.add_argument("--kill-pid", type=int)
    p.add_argument("--kill-after", type=int, default=1000)
    p.add_argument("--max-secs", type=float, default=30)
    a = p.parse_intermixed_args()
    if a.mode == "setup":
        setup(a)
        return 0
    if a.mode == "run":
        asyncio.run(run(a))
        return 0
    return check(a)


if __name__ == "__main__":
    sys.exit(main())
