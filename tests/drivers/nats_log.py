#!/usr/bin/python3
"""nats_log: the message log on JetStream (tests/102-nats-log.bats).

    nats_log.py stream --url WS --acked FILE [--progress F --stop F] [-n N]
    nats_log.py noquorum --url WS [--count N --wait S]
    nats_log.py check --acked FILE --stream FILE|--store
    nats_log.py convs --url WS --acked FILE [--count N]
                      [--shards N --end-on K]
    nats_log.py shard --stream FILE --shards N --shard K

stream: devices send 1:1 and group messages, each resent with its cid until
acked, until --stop exists; the acks (cid -> id) go to --acked as JSON.
noquorum: sends --count messages and waits --wait s: none may be acked.
check: compares the acked ids with the stream's entries (--stream: the
lines `chat-bus call` printed for DIRECT.GET of every seq) or with the
message keys of the store on $CHAT_RUN/store.sock: prints lost, dup (an id
held twice, or a cid under two ids) and extra (held, never acked: allowed).
convs: 8 users send --count messages over many conversations (1:1 pairs
and 3 groups), each resent until acked; with --end-on K one more message,
last, on a conversation of shard K of --shards.
shard: the store on $CHAT_RUN must hold exactly the stream's entries whose
conversation is store shard K of N (FNV-1a of d/a/b or g/gid, computed here
apart from lib/shard.c): prints want, held, missing and foreign.
Each prints one JSON line and exits 0, or 1 with the reason on stderr.
"""
import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (Client, Ipc, login, make_users,  # noqa: E402
                     shard_of)
from msgtest import (Pacer, Stream, check, keep_connected,  # noqa: E402
                     send_until_acked, start_all, uniq, write_progress)


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
    keepers = await start_all(everyone, lambda c: keep_connected(c, st))
    pace = Pacer(st, a.stop, a.n or 50, count=a.count, tail=" \u00e9")
    prog = asyncio.create_task(write_progress(st, a.progress))
    await asyncio.gather(pace.send(senders[0], "a-", to=bo_u),
                         pace.send(senders[1], "b-", to=al_u),
                         pace.send(senders[2], "c-", group=gid))
    await pace.finish(120)
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


async def convs(a):
    """Many conversations: every pair of 8 users and 3 groups of them."""
    store = Ipc("store")
    users = [uniq("u%d" % i) for i in range(8)]
    make_users(store, users)
    gids = [store.ok("group.create", owner=users[i], name="g%d" % i,
                     members=[u for u in users if u != users[i]])["group"]
            for i in range(3)]
    st = Stream()
    cl = [Client(a.url, u, *login(store, u)) for u in users]
    keepers = await start_all(cl, lambda c: keep_connected(c, st))
    sem = asyncio.Semaphore(16)
    tag = uniq("v") + "-"    # cids unique across runs on one stream

    async def one(i):
        n = len(users)
        s, t = i % n, (i // n + 1 + i) % n
        target = {"group": gids[i % 3]} if i % 5 == 4 or s == t else \
            {"to": users[t]}
        async with sem:
            await send_until_acked(cl[s], st, tag + str(i), "conv %d" % i,
                                   **target)
    await asyncio.gather(*[one(i) for i in range(a.count)])
    if a.end_on is not None:
        # one more, last in the stream, on a 1:1 of shard --end-on
        s, t = next((s, t) for s in range(8) for t in range(8) if s != t and
                    conv_shard({"from": users[s], "to": users[t]},
                               a.shards) == a.end_on)
        await send_until_acked(cl[s], st, tag + "end", "the last",
                               to=users[t])
    st.finished = True
    for c in cl:
        await c.close()
    for k in keepers:
        k.cancel()
    check(st.mismatch == 0, "a cid acked with two ids: %d" % st.mismatch)
    with open(a.acked, "w") as f:
        json.dump(st.acked, f)
    return {"acked": len(st.acked), "resent": st.resent}


def conv_shard(e, n):
    if "group" in e:
        key = "g/" + e["group"]
    else:
        key = "d/%s/%s" % tuple(sorted((e["from"], e["to"])))
    return shard_of(key, n)


def check_shard(a):
    """The store holds exactly its shard's entries of the stream."""
    want, per = set(), [0] * a.shards
    for line in open(a.stream):
        line = line.strip()
        if line.startswith("{"):
            e = json.loads(line)
            if e.get("op") == "msg.append":
                k = conv_shard(e, a.shards)
                per[k] += 1
                if k == a.shard:
                    want.add(e["mid"])
    held = [h[3] for h in held_in_store()]
    missing, foreign = want - set(held), set(held) - want
    if missing or foreign:
        print("missing %s foreign %s" % (sorted(missing)[:5],
              sorted(foreign)[:5]), file=sys.stderr)
    return {"want": len(want), "held": len(held), "missing": len(missing),
            "foreign": len(foreign), "dup": len(held) - len(set(held)),
            "per_shard": per}


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
    p.add_argument("scenario", choices=["stream", "noquorum", "check",
                                        "convs", "shard"])
    p.add_argument("--url")
    p.add_argument("--acked")
    p.add_argument("--progress", default=os.devnull)
    p.add_argument("--stop", default="/nonexistent")
    p.add_argument("-n", type=int, default=0, help="sends/s each")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--wait", type=float, default=5)
    p.add_argument("--stream")
    p.add_argument("--store", action="store_true")
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--end-on", type=int)
    a = p.parse_args()
    try:
        if a.scenario == "check":
            out = check_held(a)
        elif a.scenario == "shard":
            out = check_shard(a)
        else:
            out = asyncio.run(asyncio.wait_for(
                {"stream": stream, "noquorum": noquorum,
                 "convs": convs}[a.scenario](a), 300))
    except AssertionError as e:
        print("nats_log: %s" % e, file=sys.stderr)
        return 1
    out["ok"] = True
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    t0 = time.monotonic()
    sys.exit(main())
