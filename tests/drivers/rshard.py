#!/usr/bin/python3
"""rshard: chat-route sharded by user (tests/45-route-shards.bats).

    rshard.py SCENARIO --url ws://A --url2 ws://B [-n N] [--shards 2]

Users are picked by the shard the same FNV-1a gives (lib/shard.h), so each
scenario knows which chat-route shard owns whom.  Prints one JSON line and
exits 0, or 1 with the reason on stderr.
"""
import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (Client, Ipc, login, make_users,  # noqa: E402
                     run_scenario, shard_of)
import msgtest  # noqa: E402
from msgtest import (Pacer, Stream, check, drain, ids_of,  # noqa: E402
                     inbox_cids, keep_connected, start_all, write_progress)

SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__.replace("_", "-")] = fn
    return fn


def shard(user, n):
    return shard_of(user, n)


def pick(prefix, k, n, count=1):
    """count user names prefixN on shard k of n."""
    out, i = [], 0
    while len(out) < count:
        u = "%s%d" % (prefix, i)
        if shard(u, n) == k:
            out.append(u)
        i += 1
    return out


async def dev(store, url, user, d=None):
    d, tok = login(store, user, d)
    return await Client(url, user, d, tok).connect()


def id_order(c):
    """Every message reaches a device in increasing id order, whichever
    shard appended it (PROTOCOL.md: the newest id a device holds is always
    a valid since): the count of msg frames not above the one before."""
    return c.order


async def wait_ids(c, want, what, timeout=30):
    end = time.monotonic() + timeout
    while not want <= c.ids:
        if time.monotonic() > end:
            raise AssertionError("%s: %d of %d after %ds" % (
                what, len(want & c.ids), len(want), timeout))
        await asyncio.sleep(0.02)


class Tracked(Client):
    """A Client that keeps which ids came twice (cid and both times)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.first, self.twice = {}, []

    def on_frame(self, f):
        if f.get("type") == "msg":
            i = f["id"]
            if i in self.first:
                self.twice.append((f["cid"], i, self.first[i],
                                   round(time.time(), 3)))
            else:
                self.first[i] = round(time.time(), 3)
        super().on_frame(f)


@scenario
async def cross(a, store):
    """1:1 both ways across shards, a group with members on both, the
    sender's other device on the other chatd, typing across: each message
    once, every device's in increasing id order, acked with the store's
    id."""
    n = a.shards
    (x,), (y,) = pick("xa", 0, n), pick("yb", 1, n)
    (x2,), (y2,) = pick("xc", 0, n), pick("yd", 1, n)
    make_users(store, [x, y, x2, y2])
    gid = store.ok("group.create", owner=x, name="across",
                   members=[y, x2, y2])["group"]
    cx = await dev(store, a.url, x)
    cx2 = await dev(store, a.url2, x, None)     # x's other device
    cy = await dev(store, a.url2, y)
    cxm = await dev(store, a.url2, x2)
    cym = await dev(store, a.url, y2)
    N = a.n or 50
    xs, ys, gs = set(), set(), set()
    for i in range(N):
        r = await cx.send("x%d" % i, "x to y %d" % i, to=y)
        check(r["type"] == "ack", "ack: %s" % r)
        xs.add(r["id"])
        r = await cy.send("y%d" % i, "y to x %d" % i, to=x)
        check(r["type"] == "ack", "ack: %s" % r)
        ys.add(r["id"])
        s = [cx, cy, cxm, cym][i % 4]
        r = await s.send("g%d" % i, "group %d" % i, group=gid)
        check(r["type"] == "ack", "ack: %s" % r)
        gs.add(r["id"])
    want = {
        "x": (ys | gs), "x-other": (xs | ys | gs), "y": (xs | gs),
        "x2": gs, "y2": gs}
    devs = {"x": cx, "x-other": cx2, "y": cy, "x2": cxm, "y2": cym}
    sent_by = {"x": cx, "y": cy, "x2": cxm, "y2": cym}
    # the sending device does not get its own message back
    for name, c in devs.items():
        w = set(want[name])
        if name in sent_by:
            w -= {ack["id"] for ack in sent_by[name].acks.values()}
        await wait_ids(c, w, name)
    await asyncio.sleep(0.3)    # anything extra would arrive by now
    out = {}
    for name, c in devs.items():
        w = set(want[name])
        if name in sent_by:
            w -= {ack["id"] for ack in sent_by[name].acks.values()}
        extra = c.ids - w
        check(not extra, "%s got %d it should not" % (name, len(extra)))
        check(c.dups == 0, "%s got %d twice" % (name, c.dups))
        check(id_order(c) == 0, "%s: %d ids below the newest it held" %
              (name, id_order(c)))
        out[name] = len(c.ids)
    # typing across shards, both ways, and in the group
    await cx.send_raw(json.dumps({"type": "typing", "to": y}))
    await cy.send_raw(json.dumps({"type": "typing", "to": x}))
    await cxm.send_raw(json.dumps({"type": "typing", "group": gid}))
    await msgtest.wait_for(lambda: any(t["from"] == x for t in cy.typing),
                           "typing x to y")
    await msgtest.wait_for(lambda: any(t["from"] == y for t in cx.typing),
                           "typing y to x")
    await msgtest.wait_for(lambda: any(t.get("group") == gid
                                       for t in cym.typing), "group typing")
    out["shards"] = {u: shard(u, n) for u in (x, y, x2, y2)}
    return out


@scenario
async def push(a, store):
    """An offline recipient on the other shard with a push registration:
    its shard (not the sender's) asks chat-push, once."""
    n = a.shards
    (x,), (y,) = pick("px", 0, n), pick("py", 1, n)
    make_users(store, [x, y])
    yd, _ = login(store, y)
    store.ok("push.set", user=y, device=yd, provider="webhook",
             endpoint="http://127.0.0.1:9/h")
    cx = await dev(store, a.url, x)
    r = await cx.send("p1", "wake up", to=y)
    check(r["type"] == "ack", "ack: %s" % r)
    s0, s1 = Ipc("route-0"), Ipc("route-1")

    def enq():
        return (s1.ok("status")["push_enqueued"] +
                s1.ok("status")["push_dups"])
    await msgtest.wait_for(lambda: enq() >= 1, "shard 1 enqueues the job")
    await asyncio.sleep(0.3)
    st0, st1 = s0.ok("status"), s1.ok("status")
    check(st0["push_lookups"] == 0 and st0["push_enqueued"] == 0,
          "shard 0 did push work: %s" % st0)
    check(st1["push_enqueued"] == 1, "shard 1: %s" % st1)
    pj = Ipc("push").ok("status")
    return {"shard0_lookups": st0["push_lookups"],
            "shard1_enqueued": st1["push_enqueued"], "push": {
                k: v for k, v in pj.items() if isinstance(v, int)}}


@scenario
async def hold(a, store):
    """One device of a shard-0 user, two of a shard-1 user, held until
    --stop exists; --progress gets their names once all are up."""
    (x,), (y,) = pick("hx", 0, a.shards), pick("hy", 1, a.shards)
    make_users(store, [x, y])
    held = [await dev(store, a.url, x), await dev(store, a.url2, y),
            await dev(store, a.url2, y)]
    with open(a.progress, "w") as f:
        f.write("%s %s\n" % (x, y))
    while not os.path.exists(a.stop):
        await asyncio.sleep(0.05)
    for c in held:
        await c.close()
    return {"held": len(held)}


@scenario
async def chaos(a, store):
    """Steady 1:1 and group streams from senders on both shards to devices
    on both, while the test kill -9s a shard (it polls --progress and makes
    --stop).  Then every acked message reached every device it should,
    none twice, every device's in increasing id order (none late), each
    cid stored once."""
    n = a.shards
    (s0, r0), (s1, r1) = pick("cs", 0, n, 2), pick("ct", 1, n, 2)
    make_users(store, [s0, r0, s1, r1])
    gid = store.ok("group.create", owner=s0, name="chaos",
                   members=[r0, s1, r1])["group"]
    st = Stream()

    def mk(u, url):
        return Tracked(url, u, *login(store, u))
    snd0, snd1 = mk(s0, a.url), mk(s1, a.url2)
    rc = [mk(r0, a.url), mk(r0, a.url2), mk(r1, a.url), mk(r1, a.url2),
          mk(s0, a.url2)]
    everyone = [snd0, snd1] + rc
    keepers = await start_all(everyone, lambda c: keep_connected(c, st))
    pace = Pacer(st, a.stop, a.n or 100, window=32)
    prog = asyncio.create_task(write_progress(st, a.progress))
    await asyncio.gather(pace.send(snd0, "a-", to=r1),
                         pace.send(snd1, "b-", to=r0),
                         pace.send(snd0, "g-", group=gid),
                         pace.send(snd1, "h-", group=gid))
    await pace.finish(60)
    sent = dict(st.acked)
    to_r0 = ids_of(sent, "b-", "g-", "h-")
    to_r1 = ids_of(sent, "a-", "g-", "h-")
    want = [to_r0, to_r0, to_r1, to_r1, to_r1]
    lost, phantom = await drain(st, sent, rc, want, everyone,
                                keepers + [prog])
    dups = sum(c.dups for c in everyone)
    order = sum(id_order(c) for c in everyone)
    stored = inbox_cids(r1, inbox_cids(r0))
    # r0 holds b g h, r1 holds a g h: g and h twice over the two inboxes
    twice = sum(1 for cid, k in stored.items()
                if k > (2 if cid[0] in "gh" else 1))
    out = {"acked": len(sent), "lost": lost, "phantom": phantom,
           "dups": dups, "out_of_id_order": order, "stored_twice": twice,
           "cid_two_ids": st.mismatch, "reconnects": st.reconnects,
           "resent": st.resent,
           "twice": {"%s/%s" % (c.user, c.device[:6]): c.twice
                     for c in everyone if c.twice}}
    print(json.dumps(out), file=sys.stderr)
    check(sum(lost.values()) == 0, "lost acked messages: %s" % out)
    check(phantom == 0 and dups == 0 and order == 0 and twice == 0 and
          st.mismatch == 0, "%s" % out)
    check(len(stored) == len(sent), "inboxes hold %d cids, %d acked" %
          (len(stored), len(sent)))
    return out


@scenario
async def feed(a, store):
    """chat-store's feed for route shard 1 of 2 (chat-store(1), "Feeds"):
    one event a committed message with recipients on shard 1, in id
    order, with only shard 1's users and the client's frame; none for a
    message with no recipient there; a dup fed again; bad keys refused."""
    n = 2
    (x, z), (y,) = pick("fx", 0, n, 2), pick("fy", 1, n)
    make_users(store, [x, y, z])
    fol = Ipc("store")
    fol.s.settimeout(10)
    bad = fol.call("feed.follow", shard=2, shards=2)
    check(not bad["ok"] and bad["error"]["code"] == "bad_request",
          "shard 2 of 2: %s" % bad)
    check(fol.call("feed.follow", shard=1, shards=2)["ok"], "follow")
    gid = store.ok("group.create", owner=x, name="fed",
                   members=[y, z])["group"]
    m1 = store.ok("msg.append", **{"from": x, "device": "d1", "cid": "f1",
                                   "to": y, "body": "hi \"y\""})
    m2 = store.ok("msg.append", **{"from": x, "device": "d1", "cid": "f2",
                                   "to": z, "body": "not fed"})
    m3 = store.ok("msg.append", **{"from": z, "device": "d2", "cid": "f3",
                                   "group": gid, "body": "all"})
    m4 = store.ok("msg.append", **{"from": x, "device": "d1", "cid": "f1",
                                   "to": y, "body": "hi \"y\""})
    check(m4["dup"] and m4["mid"] == m1["mid"], "dup: %s" % m4)
    evs = []
    while len(evs) < 3:
        ev = json.loads(fol.f.readline())
        if ev.get("ev") == "feed":
            evs.append(ev)
    got = [(e["mid"], e["dup"], e["users"], e["from"], e["device"])
           for e in evs]
    want = [(m1["mid"], False, [y], x, "d1"), (m3["mid"], False, [y], z, "d2"),
            (m1["mid"], True, [y], x, "d1")]
    check(got == want, "fed %s, want %s (m2 %s)" % (got, want, m2["mid"]))
    f = evs[0]["frame"]
    check(f == {"type": "msg", "id": m1["mid"], "from": x, "to": y,
                "body": 'hi "y"', "ts": m1["ts"], "cid": "f1"},
          "frame: %s" % f)
    check(evs[1]["frame"]["group"] == gid, "group frame: %s" % evs[1])
    return {"fed": len(evs)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS) + ["names"])
    p.add_argument("--url")
    p.add_argument("--url2")
    p.add_argument("-n", type=int, default=0)
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--progress")
    p.add_argument("--stop")
    p.add_argument("--user", action="append", default=[])
    a = p.parse_args()
    if a.scenario == "names":     # the shard of each --user
        for u in a.user:
            print("%s %d" % (u, shard(u, a.shards)))
        return
    store = Ipc("store")

    run_scenario(a.scenario, SCENARIOS[a.scenario], a, store)


if __name__ == "__main__":
    main()
