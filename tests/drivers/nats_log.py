#!/usr/bin/python3
"""nats_log: the message log on JetStream (tests/102-nats-log.bats).

    nats_log.py stream --url WS --acked FILE [--progress F --stop F] [-n N]
    nats_log.py noquorum --url WS [--count N --wait S]
    nats_log.py check --acked FILE --stream FILE|--store

stream: devices send 1:1 and group messages, each resent with its cid until
acked, until --stop exists; the acks (cid -> id) go to --acked as JSON.
noquorum: sends --count messages and waits --wait s: none may be acked.
check: compares the acked ids with the stream's entries (--stream: the
lines `chat-bus call` printed for DIRECT.GET of every seq) or with the
message keys of the store on $CHAT_RUN/store.sock: prints lost, dup (an id
held twice, or a cid under two ids) and extra (held, never acked: allowed).
Each prints one JSON line and exits 0, or 1 with the reason on stderr.
"""
import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import Client, Ipc, login, make_users  # noqa: E402
from msgtest import (Stream, check, keep_connected,  # noqa: E402
                     send_until_acked, uniq)


async def stream(a):
    store = Ipc("store")
    al_u, bo_u, ca_u = uniq("al"), uniq("bo"), uniq("ca")
    make_users(store, [al_u, bo_u, ca_u])
    gid = store.ok("group.create", owner=ca_u, name="s",
                   members=[al_u, bo_u])["group"]
    st = Stream()
    senders = [Client(a.url, u, *login(store, u)) for u in (al_u, bo_u, ca_u)]
    # second devices of bob and alice: each must get every message of both
    # conversations and the group live, once, in id order
    recv = [Client(a.url, u, *login(store, u)) for u in (bo_u, al_u)]
    everyone = senders + recv
    keepers = [asyncio.create_task(keep_connected(c, st)) for c in everyone]
    for c in everyone:
        while not hasattr(c, "up"):
            await asyncio.sleep(0.01)
        await asyncio.wait_for(c.up.wait(), 20)
    sem = asyncio.Semaphore(32)
    tasks = []

    async def paced(c, prefix, **target):
        i = 0
        while not os.path.exists(a.stop) and (a.count == 0 or i < a.count):
            await sem.acquire()
            t = asyncio.create_task(send_until_acked(
                c, st, "%s%d" % (prefix, i), "%s body %d \u00e9" % (prefix, i),
                **target))
            t.add_done_callback(lambda _: sem.release())
            tasks.append(t)
            i += 1
            await asyncio.sleep(1 / (a.n or 50))

    async def progress():
        while not st.finished:
            with open(a.progress + ".tmp", "w") as f:
                f.write("%d\n" % len(st.acked))
            os.rename(a.progress + ".tmp", a.progress)
            await asyncio.sleep(0.05)
    prog = asyncio.create_task(progress())
    await asyncio.gather(paced(senders[0], "a-", to=bo_u),
                         paced(senders[1], "b-", to=al_u),
                         paced(senders[2], "c-", group=gid))
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    want = set(st.acked.values())
    end = time.monotonic() + 40
    for c in recv:
        while not want <= c.ids and time.monotonic() < end:
            await asyncio.sleep(0.05)
    st.finished = True
    for c in recv:
        check(want <= c.ids, "%s: %d acked messages never arrived" %
              (c.user, len(want - c.ids)))
        check(c.dups == 0 and c.order == 0, "%s: dups %d order %d" %
              (c.user, c.dups, c.order))
    for c in everyone:
        await c.close()
    for k in keepers:
        k.cancel()
    await prog
    check(st.mismatch == 0, "a cid acked with two ids: %d" % st.mismatch)
    with open(a.acked, "w") as f:
        json.dump(st.acked, f)
    return {"acked": len(st.acked), "resent": st.resent,
            "reconnects": st.reconnects}


async def noquorum(a):
    """Sends while the stream has no quorum: never an ack."""
    store = Ipc("store")
    al_u, bo_u = uniq("al"), uniq("bo")
    make_users(store, [al_u, bo_u])
    c = await Client(a.url, al_u, *login(store, al_u)).connect()
    futs = [await c.send("q%d" % i, "no quorum %d" % i, to=bo_u, wait=False)
            for i in range(a.count)]
    done, pending = await asyncio.wait(futs, timeout=a.wait)
    kinds = [f.result().get("type") for f in done]
    codes = sorted({f.result().get("code") for f in done
                    if f.result().get("type") == "error"})
    await c.close()
    acked = kinds.count("ack")
    check(acked == 0, "%d of %d acked without a quorum" % (acked, a.count))
    return {"acked": acked, "errors": kinds.count("error"),
            "waiting": len(pending), "codes": codes}


def held_in_stream(path):
    held = []
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            e = json.loads(line)
            if e.get("op") == "msg.append":
                held.append((e["from"], e["device"], e["cid"], e["mid"]))
    return held


def held_in_store():
    store, held, after = Ipc("store"), [], None
    while True:
        kw = {"prefix": "m/", "limit": 1000}
        if after:
            kw["after"] = after
        r = store.ok("scan", **kw)
        rows = r.get("items") or r.get("keys") or r.get("rows") or []
        if not rows:
            break
        for row in rows:
            v = row["value"]
            if isinstance(v, str):
                v = json.loads(v)
            held.append((v["from"], v["device"], v["cid"], v["id"]))
        after = rows[-1]["key"]
        if not r.get("more", len(rows) == 1000):
            break
    return held


def check_held(a):
    acked = json.load(open(a.acked))
    held = held_in_stream(a.stream) if a.stream else held_in_store()
    ids = [h[3] for h in held]
    by_cid = {}
    for (_, _, cid, mid) in held:
        by_cid.setdefault(cid, set()).add(mid)
    lost = [c for c, i in acked.items() if i not in set(ids)]
    dup = len(ids) - len(set(ids)) + sum(len(s) - 1 for s in by_cid.values())
    extra = len(set(ids) - set(acked.values()))
    if lost:
        print("lost: %s" % lost[:10], file=sys.stderr)
    return {"acked": len(acked), "held": len(ids), "lost": len(lost),
            "dup": dup, "extra": extra}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["stream", "noquorum", "check"])
    p.add_argument("--url")
    p.add_argument("--acked")
    p.add_argument("--progress", default=os.devnull)
    p.add_argument("--stop", default="/nonexistent")
    p.add_argument("-n", type=int, default=0, help="sends/s each")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--wait", type=float, default=5)
    p.add_argument("--stream")
    p.add_argument("--store", action="store_true")
    a = p.parse_args()
    try:
        if a.scenario == "check":
            out = check_held(a)
        else:
            out = asyncio.run(asyncio.wait_for(
                {"stream": stream, "noquorum": noquorum}[a.scenario](a), 300))
    except AssertionError as e:
        print("nats_log: %s" % e, file=sys.stderr)
        return 1
    out["ok"] = True
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    t0 = time.monotonic()
    sys.exit(main())
