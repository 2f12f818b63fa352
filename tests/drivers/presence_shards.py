#!/usr/bin/python3
"""presence_shards: presence with presenced sharded by user
(presence_shards = 2), through a real chatd and WebSocket clients.

    presence_shards.py SCENARIO --url ws://127.0.0.1:PORT/v1/ws
                       [--timeout S] [--kill PID --pidfile F]

A user's shard is computed here with FNV-1a (32 bits) of the name modulo 2,
as lib/shard.c does, so each scenario picks names on the shard it needs.

cross    friends on different shards (and on the same one) see each other
         go online and offline exactly once each way.
beats    heartbeats keep a device online on its shard past the timeout;
         its last_active_at follows them, and a silent device goes offline
         after the timeout, told to a friend on the other shard.
query    client and presenced queries for a mix of users of both shards
         answer right (friends on auth, users, group).
restart  shard 1 killed with SIGKILL (--kill PID) and restarted: its users
         are online again after chatd's resync, without an offline; one
         whose device left while it was down is swept offline once; a
         change on shard 0 made meanwhile reaches shard 1's users once;
         shard 0's users see nothing else.
nodes    two nodes on NATS (tests/106, --url-b, --restart-flag): friends
         across nodes and shards see each other once each way, and a
         restart of shard 1 between flips nobody.
Prints one JSON line and exits 0, or 1 with the reason on stderr.
"""
import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (Client, Ipc, login, make_users,  # noqa: E402
                     run_scenario, shard_of)

NSHARDS = 2


def shard(name):
    return shard_of(name, NSHARDS)


def names(prefix, k, n):
    """n user names prefix0, prefix1, ... that are on shard k."""
    out, i = [], 0
    while len(out) < n:
        if shard("%s%d" % (prefix, i)) == k:
            out.append("%s%d" % (prefix, i))
        i += 1
    return out


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def befriend(store, a, b):
    store.ok("friend.add", user=a, other=b)
    store.ok("friend.add", user=b, other=a)


async def device(url, store, user, dev=None):
    d, tok = login(store, user, dev)
    c = await Client(url, user, d, tok).connect()
    c.beat = asyncio.create_task(keep_beating(c))
    return c


async def keep_beating(c, every=0.5):
    try:
        while True:
            await c.send_raw('{"type":"hb"}')
            await asyncio.sleep(every)
    except Exception:
        pass


async def bye(c):
    c.beat.cancel()
    await c.send_raw('{"type":"bye"}')
    await c.wait_closed()


def statuses(c, user, start=0):
    return [p["status"] for p in c.presence[start:] if p["user"] == user]


def frames(c, user, start=0):
    return [p for p in c.presence[start:] if p["user"] == user]


async def wait_for(cond, what, timeout):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out after %.1fs: %s" % (timeout, what))
        await asyncio.sleep(0.02)


def status_of(k):
    return Ipc("presence-%d" % k).ok("status")


async def auth_done(c, friends):
    """Until c got its friends' presence on auth; the index past it."""
    await wait_for(lambda: all(statuses(c, f) for f in friends),
                   "%s's friends on auth" % c.user, 10)
    return len(c.presence)


async def cross(a, store):
    a0, c0 = names("a", 0, 2)
    b1, d1 = names("b", 1, 2)
    make_users(store, [a0, c0, b1, d1])
    for f in (a0, c0, d1):
        befriend(store, b1, f)
    ca = await device(a.url, store, a0)
    cc = await device(a.url, store, c0)
    cd = await device(a.url, store, d1)
    marks = {}
    for c in (ca, cc, cd):
        marks[c.user] = await auth_done(c, [b1])
        check(statuses(c, b1) == ["offline"], "%s saw %s before it came: %s"
              % (c.user, b1, c.presence))
    cb = await device(a.url, store, b1)
    await auth_done(cb, [a0, c0, d1])
    got = sorted((p["user"], p["status"]) for p in cb.presence)
    check(got == sorted((u, "online") for u in (a0, c0, d1)),
          "%s's friends on auth: %s" % (b1, got))
    for c in (ca, cc, cd):
        await wait_for(lambda: "online" in statuses(c, b1, marks[c.user]),
                       "%s sees %s online" % (c.user, b1), 10)
    # the other way: a0 (shard 0) leaves and comes back; b1 (shard 1) sees it
    mb = len(cb.presence)
    await bye(ca)
    await wait_for(lambda: "offline" in statuses(cb, a0, mb),
                   "%s sees %s offline" % (b1, a0), 10)
    ca2 = await device(a.url, store, a0)
    await wait_for(lambda: len(statuses(cb, a0, mb)) >= 2,
                   "%s sees %s online again" % (b1, a0), 10)
    check(statuses(cb, a0, mb) == ["offline", "online"],
          "%s about %s: %s" % (b1, a0, frames(cb, a0, mb)))
    m2 = await auth_done(ca2, [b1])
    check(statuses(ca2, b1) == ["online"], "%s's new device on auth: %s"
          % (a0, ca2.presence))
    await bye(cb)
    for c, m in ((ca2, m2), (cc, marks[c0]), (cd, marks[d1])):
        await wait_for(lambda: "offline" in statuses(c, b1, m),
                       "%s sees %s offline" % (c.user, b1), 10)
    await asyncio.sleep(1.0)        # anything twice would be here by now
    check(statuses(cb, a0, mb) == ["offline", "online"],
          "%s about %s: %s" % (b1, a0, frames(cb, a0, mb)))
    check(statuses(cb, c0, mb) == [] and statuses(cb, d1, mb) == [],
          "%s told of friends that did not change: %s" % (b1, cb.presence))
    for c, m in ((cc, marks[c0]), (cd, marks[d1])):
        check(statuses(c, b1, m) == ["online", "offline"],
              "%s about %s: %s" % (c.user, b1, frames(c, b1, m)))
    check(statuses(ca2, b1, m2) == ["offline"],
          "%s about %s: %s" % (a0, b1, frames(ca2, b1, m2)))
    s0, s1 = status_of(0), status_of(1)
    check(s0["shard"] == 0 and s1["shard"] == 1 and s0["shards"] == 2,
          "shard numbers: %s %s" % (s0, s1))
    check(s0["foreign"] == 0 and s1["foreign"] == 0, "foreign devices")
    # shard 0 -> 1: a0 and c0 online, a0 offline and online again (b1 is
    # their friend there); shard 1 -> 0: b1 online and offline (to a0, c0)
    check(s0["notify_sent"] == 4 and s1["notify_received"] == 4,
          "shard 0 -> 1 notifies: %s %s" % (s0, s1))
    check(s1["notify_sent"] == 2 and s0["notify_received"] == 2,
          "shard 1 -> 0 notifies: %s %s" % (s1, s0))
    check(s0["devices"] == 2 and s1["devices"] == 1,
          "devices on each shard: %d %d" % (s0["devices"], s1["devices"]))
    return {"notify": [s0["notify_sent"], s1["notify_sent"]]}


async def beats(a, store):
    a0 = names("a", 0, 1)[0]
    b1 = names("b", 1, 1)[0]
    make_users(store, [a0, b1])
    befriend(store, a0, b1)
    ca = await device(a.url, store, a0)
    m = await auth_done(ca, [b1])
    cb = await device(a.url, store, b1)
    await wait_for(lambda: "online" in statuses(ca, b1, m),
                   "%s online" % b1, 10)
    first = frames(ca, b1, m)[0]["last_active_at"]
    before = status_of(1)["beats"]
    # Beating well past the timeout: still online.
    end = time.monotonic() + a.timeout * 2.5
    while time.monotonic() < end:
        await asyncio.sleep(0.2)
        check(statuses(ca, b1, m) == ["online"],
              "%s while beating: %s" % (b1, frames(ca, b1, m)))
    s0, s1 = status_of(0), status_of(1)
    check(s1["beats"] > before, "shard 1 got no beats: %s" % s1)
    check(s1["devices"] == 1 and s0["devices"] == 1,
          "each shard holds its own user's device: %d %d"
          % (s0["devices"], s1["devices"]))
    # Silent from now: offline after the timeout, told across shards.
    cb.beat.cancel()
    quiet = time.time() * 1000
    await wait_for(lambda: "offline" in statuses(ca, b1, m),
                   "silent %s goes offline" % b1, a.timeout * 3)
    last = frames(ca, b1, m)[-1]
    check(statuses(ca, b1, m) == ["online", "offline"],
          "%s: %s" % (b1, frames(ca, b1, m)))
    check(last["last_active_at"] >= first + a.timeout * 2000 and
          last["last_active_at"] <= quiet + 1500,
          "last_active_at follows the beats: online %d, offline %d, "
          "quiet from %d" % (first, last["last_active_at"], quiet))
    stored = store.ok("presence.get", users=[b1])["presence"][0]
    check(stored["status"] == "offline" and
          stored["last_active_at"] == last["last_active_at"],
          "stored: %s" % stored)
    return {"beat_span_ms": last["last_active_at"] - first}


async def query(a, store):
    q0 = names("q", 0, 1)[0]
    x0, y0 = names("x", 0, 2)
    x1, y1 = names("y", 1, 2)
    stranger = names("s", 1, 1)[0]
    make_users(store, [q0, x0, y0, x1, y1, stranger])
    for f in (x0, y0, x1, y1):
        befriend(store, q0, f)
    gid = store.ok("group.create", owner=x1, name="g",
                   members=[q0, y0, y1])["group"]
    on = [await device(a.url, store, u) for u in (x0, x1)]
    gone = await device(a.url, store, y1)
    await bye(gone)
    # y1 is stored offline by shard 1 with its last_active_at
    await wait_for(lambda: store.ok("presence.get", users=[y1])
                   ["presence"][0]["last_active_at"] > 0 and
                   store.ok("presence.get", users=[y1])["presence"][0]
                   ["status"] == "offline", "y1 stored offline", 10)
    await wait_for(lambda: [store.ok("presence.get", users=[u])["presence"]
                            [0]["status"] for u in (x0, x1)] ==
                   ["online", "online"], "x0, x1 stored online", 10)
    want = {x0: "online", y0: "offline", x1: "online", y1: "offline"}
    cq = await device(a.url, store, q0)
    await auth_done(cq, list(want))
    got = {p["user"]: p["status"] for p in cq.presence}
    check(got == want, "friends on auth: %s" % got)
    n, e = len(cq.presence), len(cq.errors)
    await cq.send_raw(json.dumps({"type": "presence",
                                  "users": [x0, y0, x1, y1, stranger]}))
    await wait_for(lambda: len(cq.presence) >= n + 4 and
                   len(cq.errors) > e, "users query", 10)
    got = {p["user"]: p["status"] for p in cq.presence[n:]}
    check(got == want, "users query: %s" % got)
    check(cq.errors[-1]["code"] == "unauthorized" and
          stranger in cq.errors[-1]["message"], "%s: %s" % (stranger,
                                                            cq.errors))
    y1_at = [p for p in cq.presence[n:] if p["user"] == y1][0]
    check(y1_at["last_active_at"] > 0, "y1's last_active_at: %s" % y1_at)
    n = len(cq.presence)
    await cq.send_raw(json.dumps({"type": "presence", "group": gid}))
    await wait_for(lambda: len(cq.presence) >= n + 4, "group query", 10)
    got = {p["user"]: p["status"] for p in cq.presence[n:]}
    check(got == {q0: "online", x1: "online", y0: "offline",
                  y1: "offline"}, "group query: %s" % got)
    # presenced's own queries, on each shard, for users of both
    for k in (0, 1):
        r = Ipc("presence-%d" % k).ok("presence.query", user=q0,
                                      users=[x0, y0, x1, y1, stranger])
        got = {p["user"]: p["status"] for p in r["presence"]}
        check(got == want, "presence.query on shard %d: %s" % (k, got))
        r = Ipc("presence-%d" % k).ok("presence.query", user=q0, group=gid)
        got = {p["user"]: p["status"] for p in r["presence"]}
        check(got == {q0: "online", x1: "online", y0: "offline",
                      y1: "offline"}, "group on shard %d: %s" % (k, got))
    return {"users": len(want)}


def restart_shard1(a):
    env = dict(os.environ, CHAT_PRESENCE_SHARD="1")
    log = open(os.environ["CHAT_HOME"] + "/log/presenced.log", "ab")
    p = subprocess.Popen([os.environ["CHAT_BIN"] + "/presenced"], env=env,
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    with open(a.pidfile, "a") as f:
        f.write("%d presenced\n" % p.pid)
    return p


def sock_up(name):
    try:
        Ipc(name).ok("ping")
        return True
    except OSError:
        return False


async def restart(a, store):
    a0, c0 = names("a", 0, 2)
    b1, e1 = names("b", 1, 2)
    make_users(store, [a0, c0, b1, e1])
    befriend(store, a0, b1)
    befriend(store, a0, e1)
    befriend(store, c0, b1)
    ca = await device(a.url, store, a0)
    ma = await auth_done(ca, [b1, e1])
    cb = await device(a.url, store, b1)
    ce = await device(a.url, store, e1)
    mb = await auth_done(cb, [a0, c0])
    await wait_for(lambda: "online" in statuses(ca, b1, ma) and
                   "online" in statuses(ca, e1, ma), "b1, e1 online", 10)
    e_on = frames(ca, e1, ma)[0]["last_active_at"]
    off0 = status_of(0)["went_offline"]

    os.kill(a.kill, 9)
    while sock_up("presence-1"):
        await asyncio.sleep(0.02)
    await bye(ce)                   # e1 leaves while its shard is down
    cc = await device(a.url, store, c0)   # c0 comes: shard 0 tells shard 1
    await asyncio.sleep(0.5)
    restart_shard1(a)
    await wait_for(lambda: sock_up("presence-1"), "shard 1 back", 10)
    # chatd's link resyncs: b1's device is on shard 1 again
    await wait_for(lambda: status_of(1)["devices"] == 1 and
                   status_of(1)["online"] == 1, "b1 online on shard 1", 10)
    await wait_for(lambda: "online" in statuses(cb, c0, mb),
                   "b1 told that c0 came while its shard was down", 10)
    check(status_of(1)["notify_held"] >= 1, "the notify was not held for "
          "the settle: %s" % status_of(1))
    # e1 is swept offline presence_timeout + 1 s after the restart
    await wait_for(lambda: "offline" in statuses(ca, e1, ma),
                   "e1 swept offline", a.timeout * 3 + 5)
    e_off = frames(ca, e1, ma)[-1]
    check(e_on <= e_off["last_active_at"] <= time.time() * 1000,
          "e1's last_active_at: online %d, offline %s" % (e_on, e_off))
    stored = store.ok("presence.get", users=[b1, e1])["presence"]
    check([(p["user"], p["status"]) for p in stored] ==
          [(b1, "online"), (e1, "offline")], "stored: %s" % stored)
    # a change on shard 1 after the restart reaches shard 0's users
    await bye(cb)
    await wait_for(lambda: "offline" in statuses(ca, b1, ma),
                   "a0 sees b1 offline", 10)
    await asyncio.sleep(1.0)
    check(statuses(ca, b1, ma) == ["online", "offline"],
          "a0 about b1 (no offline-online at the restart): %s"
          % frames(ca, b1, ma))
    check(statuses(ca, e1, ma) == ["online", "offline"],
          "a0 about e1: %s" % frames(ca, e1, ma))
    check(statuses(cb, c0, mb) == ["online"],
          "b1 about c0: %s" % frames(cb, c0, mb))
    check(statuses(cb, a0, mb) == [], "b1 about a0: %s" % frames(cb, a0, mb))
    s0 = status_of(0)
    check(s0["went_offline"] == off0 and s0["online"] == 2,
          "shard 0's users unaffected: %s" % s0)
    return {"swept_after_restart": True}


async def nodes(a, store):
    """Two nodes (tests/106): shard 0 and chatd A on node A, shard 1 and
    chatd B on node B.  a0@A with b1@B, and c1@A with d0@B, are friends:
    each pair crosses nodes and shards both ways.  Then shard 1 (on B) is
    killed with SIGKILL and restarted by the suite (--kill: we wait for it
    through --pidfile's flag file): nobody goes offline, and b1's change
    after it still reaches a0."""
    a0, d0 = names("a", 0, 2)
    b1, c1 = names("b", 1, 2)
    make_users(store, [a0, b1, c1, d0])
    befriend(store, a0, b1)
    befriend(store, c1, d0)
    ca = await device(a.url, store, a0)
    cc = await device(a.url, store, c1)
    ma = await auth_done(ca, [b1])
    mc = await auth_done(cc, [d0])
    cb = await device(a.url_b, store, b1)
    cd = await device(a.url_b, store, d0)
    mb = await auth_done(cb, [a0])
    md = await auth_done(cd, [c1])
    check(statuses(cb, a0) == ["online"] and statuses(cd, c1) == ["online"],
          "on auth at B: %s %s" % (cb.presence, cd.presence))
    await wait_for(lambda: "online" in statuses(ca, b1, ma) and
                   "online" in statuses(cc, d0, mc),
                   "A's devices see B's online", 20)
    if a.restart_flag:
        # the suite kills shard 1 and starts it again, then removes the flag
        open(a.restart_flag, "w").close()
        await wait_for(lambda: not os.path.exists(a.restart_flag),
                       "the suite restarts shard 1", 60)
    await bye(ca)
    await bye(cd)
    await wait_for(lambda: "offline" in statuses(cb, a0, mb) and
                   "offline" in statuses(cc, d0, mc),
                   "offline seen across nodes", 20)
    ca2 = await device(a.url, store, a0)
    m2 = await auth_done(ca2, [b1])
    check(statuses(ca2, b1) == ["online"], "a0's new device on auth: %s"
          % ca2.presence)
    await wait_for(lambda: len(statuses(cb, a0, mb)) >= 2,
                   "b1 sees a0 back", 20)
    await bye(cb)
    await wait_for(lambda: "offline" in statuses(ca2, b1, m2),
                   "a0 sees b1 leave after the restart", 20)
    await asyncio.sleep(1.0)
    check(statuses(cb, a0, mb) == ["offline", "online"], "b1 about a0: %s"
          % frames(cb, a0, mb))
    check(statuses(cc, d0, mc) == ["online", "offline"], "c1 about d0: %s"
          % frames(cc, d0, mc))
    check(statuses(ca, b1, ma) == ["online"], "a0 about b1 (no offline at "
          "the restart): %s" % frames(ca, b1, ma))
    check(statuses(cd, c1, md) == [], "d0 about c1: %s" % frames(cd, c1, md))
    check(statuses(ca2, b1, m2) == ["offline"], "a0 about b1: %s"
          % frames(ca2, b1, m2))
    return {"nodes": 2}


SCENARIOS = {"cross": cross, "beats": beats, "query": query,
             "restart": restart, "nodes": nodes}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--url", required=True)
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--kill", type=int)
    p.add_argument("--pidfile")
    p.add_argument("--url-b")
    p.add_argument("--restart-flag")
    a = p.parse_args()
    store = Ipc("store")

    run_scenario(a.scenario, SCENARIOS[a.scenario], a, store)


if __name__ == "__main__":
    main()
