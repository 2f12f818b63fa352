#!/usr/bin/python3
"""abuse: hostile clients against a whole stack (RELIABILITY.md rows 23-26
and 29), one subcommand a row.

    abuse.py ROW --url WS_URL --api http://127.0.0.1:PORT

Users and devices are made through chat-store's socket and tokens minted
as chatlib does, so each scenario controls exactly what the attacker holds.
Each prints one line of figures and exits 0, or 1 naming the first failure.
"""
import argparse
import asyncio
import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "drivers"))
import websockets  # noqa: E402
from chatlib import HOME, Client, Ipc, api_call, b64u, login, make_users, token  # noqa

ROWS = {}
FAIL = []


def row(fn):
    ROWS[fn.__name__] = fn
    return fn


def check(cond, what):
    if not cond:
        FAIL.append(what)
    return cond


def http(a, method, path, tok=None, body=None):
    return api_call(a.api, method, path, tok, body)


async def attempt(url, auth_frame, headers=None, then_send=None,
                  wait=1.5):
    """Opens a WebSocket (no 101 -> "no-101"), sends auth_frame (if any)
    and a pipelined send right behind it; returns (outcome, frames):
    outcome is the close code, or "open" if still up after wait."""
    try:
        ws = await websockets.connect(url, ping_interval=None,
                                      additional_headers=headers or {})
    except TypeError:
        ws = await websockets.connect(url, ping_interval=None,
                                      extra_headers=headers or {})
    except Exception:
        return "no-101", []
    frames = []
    try:
        if auth_frame is not None:
            await ws.send(auth_frame)
        if then_send:
            await ws.send(json.dumps(then_send))
        end = time.monotonic() + wait
        while True:
            left = end - time.monotonic()
            if left <= 0:
                await ws.close()
                return "open", frames
            f = await asyncio.wait_for(ws.recv(), left)
            frames.append(json.loads(f))
    except asyncio.TimeoutError:
        await ws.close()
        return "open", frames
    except websockets.ConnectionClosed:
        return ws.close_code, frames


def forged(user, device, gen, mac_key=b"", ttl=3600):
    payload = "v1:%s:%s:%d:%d" % (user, device, int(time.time()) + ttl, gen)
    import hashlib
    import hmac
    enc = b64u(payload.encode())
    return enc + "." + b64u(hmac.new(mac_key, enc.encode(),
                                     hashlib.sha256).digest())


@row
async def auth(a, store):
    """Row 23: every bad credential is refused before any app frame is
    handled; nothing is stored from those connections."""
    make_users(store, ["victim", "mallory"])
    dev, good = login(store, "mallory")
    with open(HOME + "/etc/secret", "rb") as f:
        f.read()
    payload, mac = good.split(".")
    jwt_none = (b64u(b'{"alg":"none","typ":"JWT"}') + "." +
                b64u(json.dumps({"sub": "mallory", "dev": dev}).encode()) +
                ".")
    stale_dev, stale = login(store, "mallory")
    store.ok("device.logout", user="mallory", device=stale_dev)
    flipped = payload + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB")
    cases = {
        "no-token": {"type": "auth"},
        "empty-token": {"type": "auth", "token": ""},
        "garbage": {"type": "auth", "token": "garbage"},
        "expired": {"type": "auth", "token": token("mallory", dev, 0,
                                                   ttl=-60)},
        "bad-signature": {"type": "auth", "token": flipped},
        "no-signature": {"type": "auth", "token": payload + "."},
        "alg-none-jwt": {"type": "auth", "token": jwt_none},
        "swapped-key": {"type": "auth", "token": forged("mallory", dev, 0,
                                                        b"")},
        # victim's claims under mallory's MAC (a replace on the base64
        # text changed nothing when it held no "a": the genuine token).
        "other-users-claims": {"type": "auth", "token": b64u(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            .replace(b"mallory", b"victim")) + "." + mac},
        "unknown-user": {"type": "auth", "token": token("ghost", "x", 0)},
        "unknown-device": {"type": "auth", "token": token("mallory",
                                                          "nodevice", 0)},
        "after-logout": {"type": "auth", "token": stale},
        "huge-token": {"type": "auth", "token": "A" * 20000},
        "not-auth-first": {"type": "send", "cid": "x", "to": "victim",
                           "body": "no"},
    }
    n = 0
    for name, frame in cases.items():
        n += 1
        send = {"type": "send", "cid": "evil-%s" % name, "to": "victim",
                "body": "from %s" % name}
        out, frames = await attempt(a.url, json.dumps(frame), then_send=send)
        ready = [f for f in frames if f.get("type") in ("ready", "ack",
                                                         "msg")]
        check(out in (4001, 4003, 1008, "no-101") and not ready,
              "%s: outcome %s, frames %s" % (name, out, frames))
    # A token only in a cookie (no Origin), no auth frame: never ready.
    out, frames = await attempt(
        a.url, None, headers={"Cookie": "token=" + good}, wait=a.auth_wait)
    n += 1
    check(out in (4001, 1008, "no-101") and not frames,
          "cookie-only: outcome %s, frames %s" % (out, frames))
    hist = store.ok("msg.history", user="victim", limit=50,
                    **{"with": "mallory"})["messages"]
    check(not hist, "stored from refused connections: %s" % hist)
    # Logout (chat-api) closes the device's live socket within 1 s.
    ldev, ltok = login(store, "mallory")
    c = await Client(a.url, "mallory", ldev, ltok).connect()
    t0 = time.monotonic()
    st, _ = http(a, "POST", "/v1/logout", ltok)
    check(st == 200, "logout: %s" % st)
    try:
        code = await c.wait_closed(timeout=1.0)
        closed_s = time.monotonic() - t0
    except asyncio.TimeoutError:
        code, closed_s = None, None
    check(code is not None, "the socket of a logged-out device is still "
          "open 1 s after POST /v1/logout")
    return {"cases": n, "stored": len(hist), "logout_close_s":
            round(closed_s, 3) if closed_s is not None else "open"}


@row
async def impersonate(a, store):
    """Row 24: the sender is the connection's user, whatever the frame
    says; ids are the server's; B's dedupe keys are B's own."""
    make_users(store, ["imp_a", "imp_b", "imp_c"])
    ca = await Client(a.url, "imp_a", *login(store, "imp_a")).connect()
    bdev, btok = login(store, "imp_b")
    cc = await Client(a.url, "imp_c", *login(store, "imp_c")).connect()
    forged_id = "7fffffffffffffff"
    frames = [
        {"type": "send", "cid": "f1", "to": "imp_c", "body": "1",
         "from": "imp_b"},
        {"type": "send", "cid": "f2", "to": "imp_c", "body": "2",
         "user": "imp_b", "device": bdev},
        {"type": "send", "cid": "f3", "to": "imp_c", "body": "3",
         "id": forged_id, "mid": forged_id, "ts": 1},
        {"type": "send", "cid": "b-cid", "to": "imp_c", "body": "4",
         "from": "imp_b", "device": bdev},
    ]
    acks = []
    for f in frames:
        fut = asyncio.get_running_loop().create_future()
        ca.waiters[f["cid"]] = fut
        await ca.send_raw(json.dumps(f))
        acks.append(await asyncio.wait_for(fut, 10))
    check(all(x["type"] == "ack" for x in acks), "acks: %s" % acks)
    check(all(x.get("id") != forged_id for x in acks), "forged id kept")
    await cc.wait_msgs(4)
    got = cc.msgs
    check(all(m["from"] == "imp_a" for m in got),
          "delivered with from %s" % [m["from"] for m in got])
    hist = store.ok("msg.history", user="imp_c", limit=50,
                    **{"with": "imp_b"})["messages"]
    check(not hist, "attributed to imp_b: %s" % hist)
    stored = store.ok("msg.history", user="imp_c", limit=50,
                      **{"with": "imp_a"})["messages"]
    check(len(stored) == 4 and all(m["from"] == "imp_a" and
                                   m.get("device") != bdev for m in stored),
          "stored: %s" % stored)
    # B's own send with the cid A used is a new message, not A's dup.
    cb = await Client(a.url, "imp_b", bdev, btok).connect()
    r = await cb.send("b-cid", "b's own", to="imp_c")
    check(r["type"] == "ack" and r["id"] not in [x["id"] for x in acks],
          "imp_b's cid was taken by imp_a's frame: %s" % r)
    return {"sent": len(frames), "attributed_to_b": len(hist),
            "from_a": sum(m["from"] == "imp_a" for m in got)}


@row
async def idor(a, store):
    """Row 25: another user's conversations, groups and cursors."""
    make_users(store, ["ida", "idb", "idc"])
    g = store.ok("group.create", owner="idb", name="secret",
                 members=["idc"])["group"]
    adev, atok = login(store, "ida")
    bdev, btok = login(store, "idb")
    cb = await Client(a.url, "idb", bdev, btok).connect()
    ccdev, cctok = login(store, "idc")
    cc = await Client(a.url, "idc", ccdev, cctok).connect()
    secret = []
    for i in range(5):
        secret.append((await cb.send("s%d" % i, "secret %d" % i,
                                     to="idc"))["id"])
        secret.append((await cb.send("g%d" % i, "group %d" % i,
                                     group=g))["id"])
    await cc.wait_msgs(10)
    cursor_before = store.ok("device.get", user="idb", device=bdev)["cursor"]
    errors, leaked = 0, 0
    # HTTP: the group, its members, its history and presence.
    for path in ["/v1/groups/%s" % g, "/v1/conversations/%s/messages" % g,
                 "/v1/presence?group=%s" % g,
                 "/v1/conversations/%s/messages?before=ffffffffffffffff" % g]:
        st, body = http(a, "GET", path, atok)
        errors += st >= 400
        leaked += "secret" in json.dumps(body) or "group " in json.dumps(body)
        check(st in (403, 404), "%s: %s %s" % (path, st, body))
    # Enumerated group ids.
    for i in range(1, 30):
        st, body = http(a, "GET", "/v1/conversations/g_%d/messages" % i,
                        atok)
        check(st in (403, 404), "g_%d: %s" % (i, st))
        errors += st >= 400
    # A 1:1 history with b, paged by ids of b-c messages: only a-b ones.
    for mid in secret:
        st, body = http(a, "GET", "/v1/conversations/idb/messages?before="
                        "%s" % mid, atok)
        msgs = body.get("messages", [])
        leaked += sum(1 for m in msgs if "secret" in m.get("body", "") or
                      "group" in m.get("body", ""))
    # Other users' conversations by name: a's own 1:1 with them, empty.
    st, body = http(a, "GET", "/v1/conversations/idc/messages", atok)
    leaked += len(body.get("messages", []))
    # WebSocket: recv of b's ids, presence of the group, send to it.
    ca = await Client(a.url, "ida", adev, atok).connect()
    for mid in secret + ["ffffffffffffffff"]:
        await ca.send_raw(json.dumps({"type": "recv", "id": mid}))
    await ca.send_raw(json.dumps({"type": "presence", "group": g}))
    r = await ca.send("x1", "intrude", group=g)
    check(r["type"] == "error" and r["code"] == "not_member",
          "send to a foreign group: %s" % r)
    await asyncio.sleep(0.5)
    check(any(e.get("code") in ("not_member", "unauthorized")
              for e in ca.errors), "presence of a foreign group: %s"
          % ca.errors)
    check(not ca.msgs, "a got messages: %s" % ca.msgs)
    cursor_after = store.ok("device.get", user="idb", device=bdev)["cursor"]
    check(cursor_after == cursor_before, "b's cursor moved: %s -> %s" % (
        cursor_before, cursor_after))
    # b still gets everything on a fresh sync of a new device.
    b2 = await Client(a.url, "idb", *login(store, "idb")).connect(
        since="0" * 16)
    check(len(b2.msgs) == 10, "b lost messages: %d of 10" % len(b2.msgs))
    check(leaked == 0, "%d foreign messages leaked" % leaked)
    return {"requests": errors, "leaked": leaked,
            "b_cursor_moved": cursor_after != cursor_before}


@row
async def group(a, store):
    """Row 26: membership abuse, and 50 concurrent adds to a group of 90."""
    names = ["gm%03d" % i for i in range(150)]
    make_users(store, names + ["outsider", "removed"])
    owner = names[0]
    toks = {u: login(store, u)[1] for u in [owner, "outsider", "removed",
                                             names[1]]}
    st, g = http(a, "POST", "/v1/groups", toks[owner],
                 {"name": "abuse", "members": names[1:89] + ["removed"]})
    check(st == 201 and len(g["members"]) == 90, "create: %s %s" % (st, g))
    gid = g["group"]

    def members():
        return len(store.ok("group.get", group=gid)["members"])
    # Join uninvited; a non-member invites.
    st, _ = http(a, "PUT", "/v1/groups/%s/members/outsider" % gid,
                 toks["outsider"])
    check(st == 403, "join uninvited: %s" % st)
    st, _ = http(a, "PUT", "/v1/groups/%s/members/%s" % (gid, names[120]),
                 toks["outsider"])
    check(st == 403, "non-member invites: %s" % st)
    st, _ = http(a, "DELETE", "/v1/groups/%s/members/%s" % (gid, names[1]),
                 toks["outsider"])
    check(st == 403, "non-member removes: %s" % st)
    st, _ = http(a, "DELETE", "/v1/groups/%s/members/%s" % (gid, names[2]),
                 toks[names[1]])
    check(st == 403, "member removes another: %s" % st)
    check(members() == 90, "membership changed by refused requests")
    # A removed member: no send, no history, nothing live after removal.
    rdev, rtok = login(store, "removed")
    rc = await Client(a.url, "removed", rdev, rtok).connect()
    oc = await Client(a.url, owner, *login(store, owner)).connect()
    before = await oc.send("pre", "before removal", group=gid)
    await rc.wait_msgs(1)
    st, _ = http(a, "DELETE", "/v1/groups/%s/members/removed" % gid,
                 toks[owner])
    check(st == 200, "owner removes: %s" % st)
    after = await oc.send("post", "after removal", group=gid)
    r = await rc.send("r1", "still here?", group=gid)
    check(r["type"] == "error" and r["code"] == "not_member",
          "removed member sends: %s" % r)
    st, _ = http(a, "GET", "/v1/conversations/%s/messages" % gid, rtok)
    check(st == 403, "removed member reads: %s" % st)
    await asyncio.sleep(0.5)
    check([m["id"] for m in rc.msgs] == [before["id"]],
          "removed member got %s (after removal: %s)" % (
              [m["id"] for m in rc.msgs], after["id"]))
    # An outsider sees nothing of the group, live or by sync.
    out = await Client(a.url, "outsider", *login(store, "outsider")).connect(
        since="0" * 16)
    await asyncio.sleep(0.2)
    check(not out.msgs, "outsider got %s" % out.msgs)
    check(members() == 89, "after removal: %d" % members())
    http(a, "PUT", "/v1/groups/%s/members/%s" % (gid, names[89]),
         toks[owner])
    check(members() == 90, "back to 90")
    # 50 concurrent adds to a group of 90: exactly 10 succeed.
    loop = asyncio.get_running_loop()
    adds = names[90:140]
    res = await asyncio.gather(*[loop.run_in_executor(
        None, http, a, "PUT", "/v1/groups/%s/members/%s" % (gid, u),
        toks[owner]) for u in adds])
    ok = sum(1 for s, _ in res if s == 200)
    full = sum(1 for s, b in res if s == 409 and
               b.get("error", {}).get("code") == "group_full")
    n = members()
    check(ok == 10 and full == 40 and n == 100,
          "concurrent adds: %d ok, %d group_full, %d members" % (ok, full, n))
    st, b = http(a, "PUT", "/v1/groups/%s/members/%s" % (gid, names[145]),
                 toks[owner])
    check(st == 409 and members() == 100, "101st: %s %s" % (st, b))
    return {"concurrent_ok": ok, "group_full": full, "members": n}


@row
async def rate(a, store):
    """Row 29: one device floods; it gets rate_limited and no acks past
    the limit; others' latency stays; the log names no body."""
    make_users(store, ["flood", "calm1", "calm2", "sink"])
    fc = await Client(a.url, "flood", *login(store, "flood")).connect()
    c1 = await Client(a.url, "calm1", *login(store, "calm1")).connect()
    sink = await Client(a.url, "sink", *login(store, "sink")).connect()
    # Baseline latency of calm1 -> sink.
    async def lat(n, tag):
        out = []
        for i in range(n):
            t0 = time.monotonic()
            r = await c1.send("%s%d" % (tag, i), "calm", to="sink")
            check(r["type"] == "ack", "calm send: %s" % r)
            want = r.get("id")
            while not any(m["id"] == want for m in sink.msgs[-5:]):
                await asyncio.sleep(0.001)
            out.append(time.monotonic() - t0)
            await asyncio.sleep(0.02)
        out.sort()
        return out[int(len(out) * 0.99) - 1]
    base = await lat(50, "b")
    t0 = time.monotonic()
    futs = []
    secret = "SECRET-BODY-%d" % os.getpid()
    for i in range(a.n):
        futs.append(await fc.send("f%d" % i, secret, to="sink", wait=False))
    flood_lat = asyncio.create_task(lat(50, "d"))
    res = await asyncio.wait_for(asyncio.gather(*futs), 60)
    elapsed = time.monotonic() - t0
    p99 = await flood_lat
    acked = sum(1 for r in res if r["type"] == "ack")
    limited = sum(1 for r in res if r.get("code") == "rate_limited")
    allowed = a.burst + a.rate * elapsed
    check(limited > 0 and acked + limited == a.n,
          "acked %d, rate_limited %d of %d" % (acked, limited, a.n))
    check(acked <= allowed + 1, "acked %d > burst %d + rate %d * %.1fs" % (
        acked, a.burst, a.rate, elapsed))
    check(p99 <= max(2 * base, base + 0.05),
          "calm p99 %.1f ms vs baseline %.1f ms" % (p99 * 1e3, base * 1e3))
    return {"sent": a.n, "acked": acked, "rate_limited": limited,
            "secs": round(elapsed, 2), "base_p99_ms": round(base * 1e3, 1),
            "flood_p99_ms": round(p99 * 1e3, 1), "secret": secret}


async def hold(url, tok, wait=10):
    """One device's WebSocket, authenticated and left idle: (client, "ready")
    or (client, close code, error codes) once refused."""
    c = Client(url, tok[0], tok[1], tok[2])
    try:
        await c.connect(wait_synced=False)
        end = time.monotonic() + wait
        while c.ready is None and c.close_code is None and \
                not c.reader.done():
            if time.monotonic() > end:
                return c, "timeout"
            await asyncio.sleep(0.01)
    except Exception as e:
        return c, "no-connect %s" % e
    if c.ready is not None:
        return c, "ready"
    await c.wait_closed()
    return c, (c.close_code, tuple(e.get("code") for e in c.errors))


@row
async def conns(a, store):
    """Row 28: one user opens a.n idle WebSockets, each its own device: the
    first a.cap are served, the rest refused at auth (error
    too_many_connections, close 4004) while another user is served; a
    device connecting again at the cap replaces its old connection, and a
    closed one frees its place."""
    make_users(store, ["hog", "calm1", "calm2"])
    devs = [("hog",) + login(store, "hog") for _ in range(a.n)]
    t0 = time.monotonic()
    held, refused, other = [], [], []
    for i in range(0, a.n, 100):       # 100 at a time: a flood, not a DoS
        for c, r in await asyncio.gather(*[hold(a.url, d)
                                           for d in devs[i:i + 100]]):
            (held if r == "ready" else refused).append((c, r))
    secs = time.monotonic() - t0
    check(len(held) == a.cap, "%d of %d held, cap %d" % (
        len(held), a.n, a.cap))
    bad = [r for _, r in refused if r != (4004, ("too_many_connections",))]
    check(not bad, "refusals not 4004/too_many_connections: %s" % bad[:3])
    # Another user is served and chats while the hog holds its cap.
    c1 = await Client(a.url, "calm1", *login(store, "calm1")).connect()
    c2 = await Client(a.url, "calm2", *login(store, "calm2")).connect()
    r = await c1.send("calm-1", "hi", to="calm2")
    check(r["type"] == "ack", "calm send at the hog's cap: %s" % r)
    await c2.wait_msgs(1)
    # A held device connecting again is let in, its old connection closed.
    old = held[0][0]
    again, r = await hold(a.url, ("hog", old.device, old.tok))
    check(r == "ready", "a held device connecting again: %s" % (r,))
    code = await old.wait_closed()
    check(code == 4002, "the replaced connection closed with %s" % code)
    # A closed connection frees its place, and only one.
    await held[1][0].close()
    await asyncio.sleep(0.3)
    extra = [("hog",) + login(store, "hog") for _ in range(2)]
    got = [r for _, r in [await hold(a.url, d) for d in extra]]
    check(got[0] == "ready" and got[1] != "ready",
          "after one close, two more: %s" % (got,))
    return {"opened": a.n, "held": len(held), "refused": len(refused),
            "secs": round(secs, 2)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("row", choices=sorted(ROWS))
    p.add_argument("--url", required=True)
    p.add_argument("--api")
    p.add_argument("-n", type=int, default=2000)
    p.add_argument("--rate", type=int, default=20)
    p.add_argument("--burst", type=int, default=100)
    p.add_argument("--auth-wait", type=float, default=3)
    p.add_argument("--cap", type=int, default=64)
    p.add_argument("--src", help="connect WebSockets from this address "
                   "(another loopback: max_conns_per_ip is not the test)")
    a = p.parse_args()
    if a.src:
        connect = websockets.connect
        websockets.connect = lambda *x, **k: connect(
            *x, local_addr=(a.src, 0), **k)
    store = Ipc("store")

    async def go():
        return await ROWS[a.row](a, store)
    try:
        out = asyncio.run(go())
    except Exception as e:
        FAIL.append("%s: %s" % (type(e).__name__, e))
        out = {}
    out["failures"] = len(FAIL)
    print(" ".join("%s=%s" % kv for kv in out.items()))
    for f in FAIL:
        print("FAILED: %s" % f, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1 if FAIL else 0)


if __name__ == "__main__":
    main()
