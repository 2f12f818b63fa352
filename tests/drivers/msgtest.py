#!/usr/bin/python3
"""msgtest: the messaging scenarios of tests/4*-*.bats, one subcommand each.

    msgtest.py SCENARIO --url ws://127.0.0.1:PORT/v1/ws [--url2 URL] [...]

Each scenario sets up its own users through chat-store's socket, drives
real WebSocket clients against chatd, checks what every device received,
prints one JSON line of figures, and exits 0, or 1 with the reason on
stderr.  $CHAT_HOME and $CHAT_RUN name the stack under test.
"""
import argparse
import asyncio
import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (Client, Ipc, RawWS, login, make_users,  # noqa: E402
                     seed_lines, run_scenario)

SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__.replace("_", "-")] = fn
    return fn


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def uniq(prefix):
    return "%s%s" % (prefix, uuid.uuid4().hex[:8])


async def device(store, url, user, dev=None, **kw):
    d, tok = login(store, user, dev)
    return await Client(url, user, d, tok).connect(**kw)


def body_of(c):
    return [m["body"] for m in c.msgs]


@scenario
async def pair(a, store):
    """1:1 both ways: acks, then the frame on the other side."""
    make_users(store, ["alice", "bob"])
    al = await device(store, a.url, "alice")
    bo = await device(store, a.url, "bob")
    check(al.ready["user"] == "alice" and al.ready["device"] == al.device,
          "ready frame: %s" % al.ready)
    ack = await al.send("c1", "hello bob", to="bob")
    check(ack["type"] == "ack" and len(ack["id"]) == 16 and ack["cid"] == "c1"
          and isinstance(ack["ts"], int), "ack: %s" % ack)
    await bo.wait_msgs(1)
    m = bo.msgs[0]
    check(m == {"type": "msg", "id": ack["id"], "from": "alice", "to": "bob",
                "body": "hello bob", "ts": ack["ts"], "cid": "c1"},
          "bob got %s" % m)
    ack2 = await bo.send("c1", "hi alice \u00e9\u6f22 \"quoted\"\n", to="alice")
    await al.wait_msgs(1)
    check(al.msgs[0]["id"] == ack2["id"] and al.msgs[0]["from"] == "bob" and
          al.msgs[0]["body"] == "hi alice \u00e9\u6f22 \"quoted\"\n",
          "alice got %s" % al.msgs)
    check(ack2["id"] > ack["id"], "ids grow with time")
    await asyncio.sleep(0.2)
    check(len(al.msgs) == 1 and len(bo.msgs) == 1,
          "a sender's own device gets no copy of what it sent")
    return {"ids": [ack["id"], ack2["id"]]}


@scenario
async def group(a, store):
    """A group of a.n members (u000..): one message reaches every member's
    device, and the sender's other device; the next member is refused."""
    n = a.n or 100
    names = ["u%03d" % i for i in range(n)]
    make_users(store, names + ["u%03d" % n])
    g = store.ok("group.create", owner=names[0], name="big", members=names[1:])
    gid = g["group"]
    check(len(g["members"]) == n, "group has %d members" % len(g["members"]))
    full = store.call("group.add", group=gid, user="u%03d" % n, by=names[0])
    check(not full["ok"] and full["error"]["code"] == "group_full",
          "member %d refused: %s" % (n + 1, full))
    clients = await asyncio.gather(*[device(store, a.url, u) for u in names])
    other = await device(store, a.url, names[0])
    t0 = time.monotonic()
    ack = await clients[0].send("g1", "to everyone", group=gid)
    check(ack["type"] == "ack", "ack: %s" % ack)
    for c in clients[1:] + [other]:
        await c.wait_msgs(1, timeout=20)
        m = c.msgs[0]
        check(m["id"] == ack["id"] and m["group"] == gid and m["from"] ==
              names[0] and m["body"] == "to everyone",
              "%s got %s" % (c.user, m))
    fan_ms = (time.monotonic() - t0) * 1000
    await asyncio.sleep(0.2)
    check(not clients[0].msgs, "the sending device gets no copy")
    check(all(len(c.msgs) == 1 for c in clients[1:]), "one copy each")
    return {"members": n, "fanout_ms": round(fan_ms, 1)}


@scenario
async def devices(a, store):
    """Three devices of one user see what it sends and what it receives."""
    make_users(store, ["tri", "bob"])
    d = [await device(store, a.url, "tri") for _ in range(3)]
    bob = await device(store, a.url, "bob")
    ack = await d[0].send("t1", "from device 0", to="bob")
    await bob.wait_msgs(1)
    for c in d[1:]:
        await c.wait_msgs(1)
        check(c.msgs[0]["id"] == ack["id"] and c.msgs[0]["to"] == "bob",
              "%s got %s" % (c.device, c.msgs))
    ack2 = await bob.send("b1", "to all of tri", to="tri")
    for c in d:
        want = 1 if c is d[0] else 2
        await c.wait_msgs(want)
        check(c.msgs[-1]["id"] == ack2["id"] and c.msgs[-1]["from"] == "bob",
              "%s got %s" % (c.device, c.msgs))
    await asyncio.sleep(0.2)
    check(len(d[0].msgs) == 1, "the sending device got its own message")
    # A fresh sync of a device holds both, in order, its own included.
    c4 = await device(store, a.url, "tri", d[2].device, since="0" * 16)
    check([m["id"] for m in c4.msgs] == [ack["id"], ack2["id"]],
          "sync from zero: %s" % c4.msgs)
    return {}


async def send_many(c, n, to=None, group=None, prefix="m", window=256,
                    body=lambda i: "message %d" % i):
    """Sends n messages pipelined, window at a time; their acks in order
    of cid number."""
    acks = [None] * n
    sem = asyncio.Semaphore(window)

    async def one(i):
        async with sem:
            r = await c.send("%s%d" % (prefix, i), body(i), to=to,
                             group=group)
            check(r["type"] == "ack", "send %d: %s" % (i, r))
            acks[i] = r
    await asyncio.gather(*[one(i) for i in range(n)])
    return acks


@scenario
async def offline(a, store):
    """A device that was away gets exactly what it missed, in order, by its
    stored cursor and by since; a live device got the same stream."""
    n = a.n or 10000
    make_users(store, ["alice", "bob"])
    al = await device(store, a.url, "alice")
    live = await device(store, a.url, "bob")
    away = await device(store, a.url, "bob")
    first = await al.send("first", "before the gap", to="bob")
    await away.wait_msgs(1)
    await away.send_raw(json.dumps({"type": "recv", "id": first["id"]}))
    await asyncio.sleep(0.3)    # the cursor write lands
    await away.close()
    t0 = time.monotonic()
    acks = await send_many(al, n, to="bob")
    send_s = time.monotonic() - t0
    ids = sorted(x["id"] for x in acks)
    check(len(set(ids)) == n, "every message has its own id")
    await live.wait_msgs(n + 1, timeout=60)
    check([m["id"] for m in live.msgs[1:]] == ids and live.order == 0 and
          live.dups == 0, "the live device's stream")
    t0 = time.monotonic()
    back = Client(a.url, "bob", away.device, away.tok)
    await back.connect()            # no since: the stored cursor
    sync_s = time.monotonic() - t0
    check(back.ready["cursor"] == first["id"],
          "ready cursor %s, want %s" % (back.ready["cursor"], first["id"]))
    got = [m["id"] for m in back.msgs]
    check(got == ids, "sync: %d messages (first %s), want %d (first %s); order violations %d, "
          "dups %d" % (len(got), got[:1], n, ids[:1], back.order, back.dups))
    check(back.synced.result()["cursor"] == ids[-1], "synced cursor")
    check([m["body"] for m in back.msgs[:3]] ==
          ["message %d" % i for i in range(3)], "bodies in send order")
    await back.close()
    mid = ids[n // 2]
    half = Client(a.url, "bob", away.device, away.tok)
    await half.connect(since=mid)
    check([m["id"] for m in half.msgs] == ids[n // 2 + 1:],
          "since: %d messages" % len(half.msgs))
    return {"messages": n, "send_s": round(send_s, 2),
            "sends_per_s": round(n / send_s), "sync_s": round(sync_s, 2),
            "synced_per_s": round(n / sync_s)}


@scenario
async def dedupe(a, store):
    """A retried cid is one message with one id, on the same connection or
    a new one; another device's same cid is another message."""
    make_users(store, ["alice", "bob"])
    al = await device(store, a.url, "alice")
    bob = await device(store, a.url, "bob")
    a1 = await al.send("same", "once", to="bob")
    a2 = await al.send("same", "once", to="bob")
    await al.close()
    again = Client(a.url, "alice", al.device, al.tok)
    await again.connect()
    a3 = await again.send("same", "once", to="bob")
    check(a1["id"] == a2["id"] == a3["id"], "ids %s %s %s" % (
        a1["id"], a2["id"], a3["id"]))
    other = await device(store, a.url, "alice")
    a4 = await other.send("same", "twice", to="bob")
    check(a4["id"] != a1["id"], "another device's cid is its own")
    await bob.wait_msgs(2)
    await asyncio.sleep(0.3)
    check([m["id"] for m in bob.msgs] == [a1["id"], a4["id"]] and
          bob.dups == 0, "bob got %s" % bob.msgs)
    h = store.ok("msg.history", user="bob", **{"with": "alice"})
    check(len(h["messages"]) == 2, "stored: %s" % h["messages"])
    return {}


@scenario
async def nonmember(a, store):
    """A non-member can neither send to a group, nor read its history, nor
    see its presence or typing; the members get nothing from it."""
    make_users(store, ["alice", "bob", "carol"])
    gid = store.ok("group.create", owner="alice", name="ab",
                   members=["bob"])["group"]
    al = await device(store, a.url, "alice")
    bob = await device(store, a.url, "bob")
    ca = await device(store, a.url, "carol")
    r = await ca.send("x1", "let me in", group=gid)
    check(r["type"] == "error" and r["code"] == "not_member" and
          r["cid"] == "x1", "send: %s" % r)
    r = await ca.send("x2", "nobody", group="g_nosuchgroup")
    check(r["type"] == "error" and r["code"] in ("no_such_group",
          "not_member"), "send to no group: %s" % r)
    r = await ca.send("x3", "nobody", to="nosuchuser")
    check(r["type"] == "error" and r["code"] == "no_such_user",
          "send to no user: %s" % r)
    h = store.call("msg.history", user="carol", group=gid)
    check(not h["ok"] and h["error"]["code"] == "not_member",
          "history: %s" % h)
    await ca.send_raw(json.dumps({"type": "presence", "group": gid}))
    await ca.send_raw(json.dumps({"type": "typing", "group": gid}))
    ok = await al.send("in", "members only", group=gid)
    await bob.wait_msgs(1)
    await asyncio.sleep(0.3)
    check([m["id"] for m in bob.msgs] == [ok["id"]], "bob: %s" % bob.msgs)
    check(not ca.msgs, "carol got %s" % ca.msgs)
    check(any(e["code"] == "not_member" and "cid" not in e
              for e in ca.errors), "presence: %s" % ca.errors)
    check(not bob.typing and not al.typing, "typing leaked")
    return {}


@scenario
async def malformed(a, store):
    """Each bad frame gets an error frame and the connection stays up."""
    make_users(store, ["alice", "bob"])
    al = await device(store, a.url, "alice")
    big = "x" * 16385
    bad = [
        ("not json", "bad_request"),
        ("[1,2,3]", "bad_request"),
        ('{"type":42}', "bad_request"),
        ('{"no":"type"}', "bad_request"),
        ('{"type":"nope"}', "bad_request"),
        ('{"type":"send"}', "bad_request"),
        ('{"type":"send","cid":"c","to":"bob"}', "bad_request"),
        ('{"type":"send","cid":"c","to":"bob","body":7}', "bad_request"),
        ('{"type":"send","cid":"c","body":"b"}', "bad_request"),
        ('{"type":"send","cid":"c","to":"bob","group":"g_a","body":"b"}',
         "bad_request"),
        ('{"type":"send","cid":"c","to":"Bob!","body":"b"}', "bad_request"),
        ('{"type":"send","cid":"c","group":"nogroup","body":"b"}',
         "bad_request"),
        ('{"type":"send","cid":"%s","to":"bob","body":"b"}' % ("c" * 65),
         "bad_request"),
        ('{"type":"send","cid":"","to":"bob","body":"b"}', "bad_request"),
        ('{"type":"send","cid":"big","to":"bob","body":"%s"}' % big,
         "too_large"),
        ('{"type":"recv","id":"xyz"}', "bad_request"),
        ('{"type":"recv"}', "bad_request"),
        ('{"type":"presence"}', "bad_request"),
        ('{"type":"presence","users":"bob"}', "bad_request"),
        ('{"type":"presence","users":[1]}', "bad_request"),
        ('{"type":"typing"}', "bad_request"),
        ('{"type":"auth","token":"again"}', "bad_request"),
    ]
    for text, code in bad:
        n = len(al.errors)
        await al.send_raw(text)
        for _ in range(200):
            if len(al.errors) > n:
                break
            await asyncio.sleep(0.01)
        check(len(al.errors) == n + 1, "no error frame for %.60s" % text)
        e = al.errors[-1]
        check(e["code"] == code and isinstance(e.get("message"), str),
              "%.60s: got %s" % (text, e))
    check(al.errors[14].get("cid") == "big", "too_large names its cid")
    await al.ws.send(b'{"type":"hb"}')     # binary: refused, still up
    await asyncio.sleep(0.2)
    check(al.errors[-1]["code"] == "bad_request", "binary frame")
    ack = await al.send("good", "still here", to="bob")
    check(ack["type"] == "ack", "after the bad frames: %s" % ack)
    await al.send_raw('{"type":"hb"}')
    await asyncio.sleep(0.1)
    check(len(al.errors) == len(bad) + 1, "hb is quiet")
    return {"bad_frames": len(bad) + 1}


async def expect_close(c, code, what):
    got = await c.wait_closed(10)
    check(got == code, "%s: closed with %s, want %s" % (what, got, code))


@scenario
async def auth(a, store):
    """auth first, in time, with a good token, or the socket closes."""
    make_users(store, ["alice"])
    dev, tok = login(store, "alice")
    t0 = time.monotonic()
    c = await Client(a.url, "alice", dev, tok).connect(auth=False)
    await expect_close(c, 4001, "silence")
    waited = time.monotonic() - t0
    check(0.5 <= waited <= 4, "closed after %.2fs" % waited)
    c = await Client(a.url, "alice", dev, tok).connect(auth=False)
    await c.send_raw('{"type":"send","cid":"c","to":"alice","body":"b"}')
    await expect_close(c, 4001, "send before auth")
    check(c.errors and c.errors[0]["code"] == "unauthorized", "error first")
    c = await Client(a.url, "alice", dev, tok).connect(auth=False)
    await c.send_raw("garbage")
    await expect_close(c, 4001, "garbage before auth")
    for bad in ["", "x", tok[:-2] + ("AA" if tok[-2:] != "AA" else "BB"),
                tok.replace(".", "")]:
        c = await Client(a.url, "alice", dev, bad).connect(wait_synced=False)
        await expect_close(c, 4001 if bad == "" else 4003, "token %r" % bad)
    c = await Client(a.url, "alice", "nodevice", __import__("chatlib").token(
        "alice", "nodevice", 1)).connect(wait_synced=False)
    await expect_close(c, 4003, "unknown device")
    store.ok("device.logout", user="alice", device=dev)
    c = await Client(a.url, "alice", dev, tok).connect(wait_synced=False)
    await expect_close(c, 4003, "token after logout")
    check(c.errors[0]["code"] == "unauthorized", "error %s" % c.errors)
    dev2, tok2 = login(store, "alice")
    c = await Client(a.url, "alice", dev2, tok2).connect()
    check(c.ready["device"] == dev2, "a good login works")
    c2 = await Client(a.url, "alice", dev2, tok2).connect()
    await expect_close(c, 4002, "the same device connecting again")
    await c2.close()
    return {"auth_timeout_s": round(waited, 2)}


@scenario
async def ratelimit(a, store):
    """Past the burst, sends get rate_limited, not acks; the socket stays
    up and sends succeed again once the bucket refills."""
    make_users(store, ["alice", "bob"])
    al = await device(store, a.url, "alice")
    bob = await device(store, a.url, "bob")
    n = 60
    t0 = time.monotonic()
    futs = [await al.send("r%d" % i, "b", to="bob", wait=False)
            for i in range(n)]
    res = await asyncio.gather(*futs)
    el = time.monotonic() - t0
    acked = [r for r in res if r["type"] == "ack"]
    limited = [r for r in res if r.get("code") == "rate_limited"]
    check(len(acked) + len(limited) == n, "others: %s" % res)
    check(10 <= len(acked) <= 10 + 5 * el + 2, "%d acked in %.2fs" % (
        len(acked), el))
    check(limited and all("cid" in r for r in limited), "rate_limited cids")
    await asyncio.sleep(1.2)
    r = await al.send("later", "b", to="bob")
    check(r["type"] == "ack", "after a pause: %s" % r)
    await bob.wait_msgs(len(acked) + 1)
    return {"acked": len(acked), "limited": len(limited)}


@scenario
async def oversize(a, store):
    """A message over max_frame closes with 1009 (whole or fragmented); a
    body over 16384 bytes inside a fitting frame is only an error."""
    make_users(store, ["alice", "bob"])
    al = await device(store, a.url, "alice")
    r = await al.send("b1", "y" * 16385, to="bob")
    check(r["type"] == "error" and r["code"] == "too_large", "%s" % r)
    r = await al.send("b2", "y" * 16384, to="bob")
    check(r["type"] == "ack", "16384 bytes fit: %s" % r)
    await al.send_raw('{"type":"hb","pad":"%s"}' % ("z" * 65536))
    await expect_close(al, 1009, "one big frame")
    al = await device(store, a.url, "alice")
    raw = RawWS(a.url)
    check(raw.auth(login(store, "alice")[1]), "raw auth")
    sent = 0
    for i in range(70):
        if not raw.frame("z" * 1024, opcode=1 if i == 0 else 0, fin=i == 69):
            break
        sent += 1
    code = raw.close_code()
    check(code == 1009, "70 fragments of 1 KiB: closed with %s after %d" % (
        code, sent))
    raw = RawWS(a.url)
    check(raw.auth(login(store, "alice")[1]), "raw auth")
    raw.frame(b'{"type":"hb","x":"\xff\xfe"}')
    code = raw.close_code()
    check(code == 1007, "invalid UTF-8: closed with %s" % code)
    al = await device(store, a.url, "alice")
    r = await al.send("b3", "fine", to="bob")
    check(r["type"] == "ack", "a new connection works: %s" % r)
    return {}


@scenario
async def slow(a, store):
    """A device that stops reading is closed once its queue passes
    send_queue_max; the sender and other devices are not affected."""
    make_users(store, ["alice", "bob"])
    al = await device(store, a.url, "alice")
    bob = await device(store, a.url, "bob")
    raw = RawWS(a.url, rcvbuf=4096)
    check(raw.auth(login(store, "bob")[1]), "raw auth")
    ctl = Ipc(a.ctl)
    # The kernel's socket buffers take a few MB first; then the queue.
    n = 0
    while n < 4000:
        await send_many(al, 10, to="bob", prefix="s%d-" % n,
                        body=lambda i: "q" * 4000)
        n += 10
        await bob.wait_msgs(n)
        st = ctl.call("status")
        if st["slow_closed"] >= 1:
            break
    st = ctl.call("status")
    check(st["slow_closed"] >= 1, "not closed after %d messages: %s" % (n, st))
    await bob.wait_msgs(n)
    check(bob.order == 0 and bob.dups == 0, "the reading device is fine")
    return {"messages_until_close": n}


@scenario
async def typing_presence(a, store):
    """typing is relayed to the other side's online devices and never
    stored; presence answers for oneself and friends only."""
    make_users(store, ["alice", "bob", "carol"])
    store.ok("friend.add", user="alice", other="bob")
    store.ok("friend.add", user="bob", other="alice")
    gid = store.ok("group.create", owner="alice", name="t",
                   members=["bob", "carol"])["group"]
    al = await device(store, a.url, "alice")
    bob = await device(store, a.url, "bob")
    ca = await device(store, a.url, "carol")
    await al.send_raw(json.dumps({"type": "typing", "to": "bob"}))
    await al.send_raw(json.dumps({"type": "typing", "group": gid}))
    for _ in range(200):
        if len(bob.typing) >= 2 and ca.typing:
            break
        await asyncio.sleep(0.01)
    check(bob.typing[0] == {"type": "typing", "from": "alice", "to": "bob"},
          "bob: %s" % bob.typing)
    check({"type": "typing", "from": "alice", "group": gid} in bob.typing and
          ca.typing == [{"type": "typing", "from": "alice", "group": gid}],
          "group typing: %s %s" % (bob.typing, ca.typing))
    check(not al.typing, "no echo to the typist")
    inbox = store.ok("inbox.read", user="bob")
    check(not inbox["messages"], "typing stored: %s" % inbox)
    await al.send_raw(json.dumps({"type": "presence",
                                  "users": ["alice", "bob", "carol"]}))
    await al.send_raw(json.dumps({"type": "presence", "group": gid}))
    for _ in range(200):
        if len(al.presence) >= 5:
            break
        await asyncio.sleep(0.01)
    users = sorted(p["user"] for p in al.presence)
    check(users == ["alice", "alice", "bob", "bob", "carol"],
          "presence: %s" % al.presence)
    check(all(p["status"] in ("online", "offline") and
              isinstance(p["last_active_at"], int) for p in al.presence),
          "presence fields: %s" % al.presence)
    check(any(e["code"] == "unauthorized" and "carol" in e["message"]
              for e in al.errors), "carol is not a friend: %s" % al.errors)
    return {}


@scenario
async def two_chatd(a, store):
    """Devices on two chatd instances exchange messages both ways."""
    make_users(store, ["alice", "bob"])
    al = await device(store, a.url, "alice")
    al2 = await device(store, a.url2, "alice")
    bob = await device(store, a.url2, "bob")
    x = await al.send("a", "across", to="bob")
    y = await bob.send("b", "and back", to="alice")
    await bob.wait_msgs(1)
    await al.wait_msgs(1)
    await al2.wait_msgs(2)
    check(bob.msgs[0]["id"] == x["id"] and al.msgs[0]["id"] == y["id"],
          "crossed: %s %s" % (bob.msgs, al.msgs))
    check([m["id"] for m in al2.msgs] == [x["id"], y["id"]],
          "alice's device on the other chatd: %s" % al2.msgs)
    # The same device moving to the other chatd closes the first socket.
    moved = Client(a.url2, "alice", al.device, al.tok)
    await moved.connect()
    synced = len(moved.msgs)    # x and y again: this device sent no recv
    await expect_close(al, 4002, "device moved to the other chatd")
    z = await bob.send("c", "follows the move", to="alice")
    await moved.wait_msgs(synced + 1)
    check(moved.msgs[-1]["id"] == z["id"], "after the move: %s" % moved.msgs)
    return {}


@scenario
async def hold(a, store):
    """Connects a.n devices of user holder and keeps them open: prints
    "ready" once all are synced, then waits to be killed (discovery's
    connection count is read meanwhile)."""
    make_users(store, ["holder"])
    cs = [await device(store, a.url, "holder") for _ in range(a.n or 3)]
    print("ready", flush=True)
    while all(c.close_code is None for c in cs):
        await asyncio.sleep(0.2)
    raise AssertionError("a held connection closed")



class Stream:
    """Shared state of the chaos scenario."""

    def __init__(self):
        self.finished = False
        self.reconnects = 0
        self.resent = 0
        self.acked = {}         # cid -> id
        self.mismatch = 0       # a cid acked with two different ids


async def keep_connected(c, st, relocate=None):
    """Keeps c connected, resuming from the newest id it holds.  Before each
    reconnect, await relocate(c) if given: it may point c.url elsewhere."""
    c.up = asyncio.Event()
    backoff, first = 0.05, True
    while not st.finished:
        if not first and relocate is not None:
            await relocate(c)
        try:
            await c.connect(since=None if first else c.last)
        except Exception:
            await asyncio.sleep(backoff)
            backoff = min(1.0, backoff * 2)
            continue
        first, backoff = False, 0.05
        c.up.set()
        await c.reader
        c.up.clear()
        if not st.finished:
            st.reconnects += 1


async def send_until_acked(c, st, cid, body, **target):
    """One message, resent with its cid until acked (at least once)."""
    tries = 0
    while True:
        await c.up.wait()
        tries += 1
        if tries > 1:
            st.resent += 1
        try:
            fut = await c.send(cid, body, wait=False, **target)
            r = await asyncio.wait_for(fut, 20)
        except Exception:
            await asyncio.sleep(0.05)
            continue
        if r["type"] == "ack":
            if cid in st.acked and st.acked[cid] != r["id"]:
                st.mismatch += 1
            st.acked[cid] = r["id"]
            return
        if r.get("code") in ("rate_limited", "unavailable"):
            await asyncio.sleep(0.1)
            continue
        raise AssertionError("send %s: %s" % (cid, r))


async def start_all(everyone, keep):
    """Starts keep(c) for every client; returns those tasks once every one
    is up."""
    keepers = [asyncio.create_task(keep(c)) for c in everyone]
    for c in everyone:
        while not hasattr(c, "up"):
            await asyncio.sleep(0.01)
        await asyncio.wait_for(c.up.wait(), 20)
    return keepers


class Pacer:
    """Steady senders: each message resent with its cid until acked, at
    most `window` of them unacknowledged at once, one every 1/rate s a
    sender, until the file `stop` exists (or `count` a sender)."""

    def __init__(self, st, stop, rate, window=32, count=0, tail=""):
        self.st, self.stop, self.rate, self.count = st, stop, rate, count
        self.tail = tail        # appended to every body
        self.sem = asyncio.Semaphore(window)
        self.tasks = []

    async def send(self, c, prefix, **target):
        i = 0
        while not os.path.exists(self.stop) and (
                self.count == 0 or i < self.count):
            await self.sem.acquire()
            t = asyncio.create_task(send_until_acked(
                c, self.st, "%s%d" % (prefix, i),
                "%s body %d%s" % (prefix, i, self.tail), **target))
            t.add_done_callback(lambda _: self.sem.release())
            self.tasks.append(t)
            i += 1
            await asyncio.sleep(1 / self.rate)

    async def finish(self, secs):
        """Every send started so far acked, within secs."""
        await asyncio.wait_for(asyncio.gather(*self.tasks), secs)


async def write_progress(st, path):
    """Rewrites path with the count of acked cids every 50 ms."""
    while not st.finished:
        with open(path + ".tmp", "w") as f:
            f.write("%d\n" % len(st.acked))
        os.rename(path + ".tmp", path)
        await asyncio.sleep(0.05)


@scenario
async def chaos(a, store):
    """A steady stream (1:1 and group) while the test kill -9s processes
    (it polls --progress for the acks so far and creates --stop when
    done).  Senders resend unacked cids on every reconnect; devices resume
    from the newest id they hold.  Then: every acked message reached every
    device it should, none twice, ids increasing on each device, and each
    cid is stored once."""
    make_users(store, ["alice", "bob", "carol", "dave"])
    gid = store.ok("group.create", owner="carol", name="chaos",
                   members=["alice", "bob", "dave"])["group"]
    st = Stream()
    mk = lambda u: Client(a.url, u, *login(store, u))  # noqa: E731
    sa, sc = mk("alice"), mk("carol")
    recv = [mk("bob"), mk("bob"), mk("dave"), mk("alice")]
    everyone = [sa, sc] + recv
    keepers = await start_all(everyone, lambda c: keep_connected(c, st))
    pace = Pacer(st, a.stop, a.n or 200, window=64)
    prog = asyncio.create_task(write_progress(st, a.progress))
    await asyncio.gather(pace.send(sa, "a-", to="bob"),
                         pace.send(sc, "c-", group=gid))
    await pace.finish(60)
    sent = dict(st.acked)
    one, grp = ids_of(sent, "a-"), ids_of(sent, "c-")
    want = [one | grp, one | grp, grp, one | grp]
    lost, phantom = await drain(st, sent, recv, want, everyone,
                                keepers + [prog])
    # Each cid stored once: bob's inbox holds both streams.
    return verdict(st, sent, lost, phantom, everyone, "bob")


def ids_of(sent, *prefixes):
    """The ids acked for the cids that start with one of prefixes."""
    return {i for cid, i in sent.items() if cid.startswith(prefixes)}


async def drain(st, sent, recv, want, everyone, tasks, secs=30):
    """The end of a stream scenario: waits up to secs for each receiver
    recv[k] to hold the ids want[k], then closes every client and cancels
    tasks.  Returns (lost, phantom): for each receiver ("user/device") how
    many wanted ids it lacks, and how many ids receivers hold that nobody
    acked."""
    end = time.monotonic() + secs
    for k, c in enumerate(recv):
        while not want[k] <= c.ids and time.monotonic() < end:
            await asyncio.sleep(0.05)
    st.finished = True
    for c in everyone:
        await c.close()
    for t in tasks:
        t.cancel()
    lost = {"%s/%s" % (c.user, c.device[:6]): len(want[k] - c.ids)
            for k, c in enumerate(recv)}
    phantom = sum(len(c.ids - set(sent.values())) for c in recv)
    return lost, phantom


def inbox_cids(holder, counts=None):
    """How many times each cid stands in holder's inbox, added to counts
    (a dict, returned).  A new socket: chat-store may have been restarted
    under the scenario."""
    store = Ipc("store")
    counts = {} if counts is None else counts
    after = None
    while True:
        kw = {"user": holder, "limit": 1000}
        if after:
            kw["after"] = after
        r = store.ok("inbox.read", **kw)
        for m in r["messages"]:
            counts[m["cid"]] = counts.get(m["cid"], 0) + 1
            after = m["id"]
        if not r["more"]:
            break
    return counts


def verdict(st, sent, lost, phantom, everyone, holder):
    """The scenario's figures, printed on stderr and returned; checks that
    nothing acked was lost, nothing surfaced twice or out of order, and
    that holder's inbox holds every acked cid exactly once."""
    stored = inbox_cids(holder)
    twice = sum(1 for n in stored.values() if n > 1)
    dups = sum(c.dups for c in everyone)
    order = sum(c.order for c in everyone)
    out = {"acked": len(sent), "lost": lost, "phantom": phantom,
           "dups": dups, "order": order, "stored_twice": twice,
           "cid_two_ids": st.mismatch, "reconnects": st.reconnects,
           "resent": st.resent}
    print(json.dumps(out), file=sys.stderr)
    check(sum(lost.values()) == 0, "lost acked messages: %s" % out)
    check(phantom == 0 and dups == 0 and order == 0 and twice == 0 and
          st.mismatch == 0, "%s" % out)
    check(len(stored) == len(sent), "%s's inbox holds %d cids, %d acked" %
          (holder, len(stored), len(sent)))
    return out


async def wait_for(cond, what, timeout=10):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out: %s" % what)
        await asyncio.sleep(0.02)


@scenario
async def presence_push(a, store):
    """With presenced: a device gets its friends' presence on auth, and
    each change of a friend (online, bye, clean close) is pushed at once;
    a non-friend's changes are not."""
    make_users(store, ["alice", "bob", "carol"])
    store.ok("friend.add", user="alice", other="bob")
    store.ok("friend.add", user="bob", other="alice")
    bob = await device(store, a.url, "bob")
    al = await device(store, a.url, "alice")

    def seen(user, status):
        return any(p["user"] == user and p["status"] == status
                   for p in al.presence)
    await wait_for(lambda: seen("bob", "online"), "bob online on auth")
    check(all(isinstance(p["last_active_at"], int) and
              p["last_active_at"] > 0 for p in al.presence),
          "last_active_at: %s" % al.presence)
    await bob.send_raw('{"type":"bye"}')
    check(await bob.wait_closed() == 1000, "bye closes with 1000")
    await wait_for(lambda: seen("bob", "offline"), "bob offline after bye",
                   timeout=3)
    n = len(al.presence)
    bob = await device(store, a.url, "bob", bob.device)
    await wait_for(lambda: len(al.presence) > n and
                   al.presence[-1]["status"] == "online", "bob back online")
    n = len(al.presence)
    await bob.close()
    await wait_for(lambda: len(al.presence) > n and
                   al.presence[-1]["status"] == "offline",
                   "bob offline after a clean close", timeout=3)
    ca = await device(store, a.url, "carol")
    await ca.send_raw('{"type":"hb"}')
    await asyncio.sleep(0.5)
    check(not any(p["user"] == "carol" for p in al.presence),
          "carol is not a friend: %s" % al.presence)
    return {"frames": len(al.presence)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS) + ["seed"])
    p.add_argument("--url")
    p.add_argument("--names", default="", help="seed: users, comma separated")
    p.add_argument("--url2")
    p.add_argument("-n", type=int, default=0)
    p.add_argument("--progress")
    p.add_argument("--stop")
    p.add_argument("--ctl", help="chatd's control socket name")
    a = p.parse_args()
    if a.scenario == "seed":
        names = [u for u in a.names.split(",") if u]
        for line in seed_lines(names + ["u%03d" % i for i in range(a.n)]):
            print(line)
        return
    store = Ipc("store")

    run_scenario(a.scenario, SCENARIOS[a.scenario], a, store)


if __name__ == "__main__":
    main()
