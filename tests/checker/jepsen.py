#!/usr/bin/python3
"""jepsen: a Jepsen-style history recorder and checker for the chat stack.

    jepsen.py run   --url URL --history FILE [--users 4] [--devices 2]
                    [--rate 400] [--duration 5] [--stop FILE]
                    [--progress FILE] [--drain 30] [--body-size 0]
                    [--ping S] [--no-group] [--backoff-max S] [--window N]
    jepsen.py check FILE

`run` makes users u0..u{U-1} with D devices each (through chat-store's
socket, tokens minted as chatlib does) and one group of all of them; every
device sends at a steady total rate, alternating 1:1 messages to another user
and group messages, while the test's nemesis acts on the stack.  Each device
keeps itself connected (backoff with jitter, resume from the newest id it
holds) and resends an unacknowledged cid after each reconnect.  Every send,
ack, error, indeterminate end and delivery is a line of the NDJSON history.
After the duration (or once --stop exists) it finishes pending sends, then
drains: every device reconnects with its newest id as `since` and reads
until synced.  Then it checks the history, prints one line of figures on
stdout and exits 0, or 1 naming the first failing message on stderr.
--progress FILE is rewritten every 50 ms as "ACKED SENT UP" (UP: devices
connected and synced now).  --window N keeps at most N sends of a device
outstanding, as a real client's queue does; the rest wait their turn in
order and are not sent (nor in the history) until then.  Without it every
offered send is in flight at once: through a long outage that is thousands
of sends retrying, and the driver, not the stack, sets the pace after.

`check` reads a history and does the same checking alone:
  lost          acked, but some device that should have it never got it
  phantom       delivered, but never sent, or only ever refused
  dup_surfaced  a device that drops repeated ids would still show one (from,
                cid) twice: two different ids for one cid
  order         within a conversation, a message acked before another was
                first sent has the larger id
  dev_order     a device got an id not above the one before (live or sync)
Sends that never got an ack or a refusal are indeterminate ("info"): they may
or may not arrive, and count as neither lost nor phantom.
"""
import argparse
import asyncio
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "drivers"))
import websockets  # noqa: E402
from chatlib import Ipc, login, make_users  # noqa: E402

# Errors that mean "not stored": a resend is pointless.
DEFINITIVE = {"bad_request", "unauthorized", "no_such_user", "not_member",
              "too_large", "no_such_group"}


class History:
    def __init__(self, path):
        self.f = open(path, "w")
        self.t0 = time.monotonic()
        self.wall0 = time.time()    # t=0 on the wall clock (setup event)

    def add(self, ev, **kw):
        kw["ev"] = ev
        kw["t"] = round(time.monotonic() - self.t0, 4)
        self.f.write(json.dumps(kw, separators=(",", ":")) + "\n")

    def close(self):
        self.f.close()


class Device:
    """One device's socket kept up, its sends and what it received."""
    ping = None     # --ping: the client PINGs and gives up a dead link
    backoff_max = 0.1   # --backoff-max: the longest pause after an error
    devs = []           # every Device, for wake_all

    def __init__(self, k, url, user, dev, tok, hist):
        self.k, self.url, self.user, self.dev, self.tok = k, url, user, dev, tok
        self.h = hist
        self.ws = None
        self.last = None            # newest id held: since on reconnect
        self.up = asyncio.Event()
        self.waiters = {}           # cid -> future
        self.stopped = False
        self.reconnects = 0
        self.woken = None           # resolved when up, or at give_up time
        Device.devs.append(self)

    async def connect_once(self, timeout=15):
        ws = await asyncio.wait_for(websockets.connect(
            self.url, max_size=None, ping_interval=Device.ping,
            ping_timeout=Device.ping, open_timeout=5,
            close_timeout=1), 6)
        a = {"type": "auth", "token": self.tok}
        if self.last:
            a["since"] = self.last
        await ws.send(json.dumps(a))
        self.h.add("connect", dev=self.k, since=self.last)
        synced = asyncio.get_running_loop().create_future()
        return ws, synced

    async def keep(self):
        backoff = 0.05
        while not self.stopped:
            try:
                ws, synced = await self.connect_once()
            except Exception:
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(1.0, backoff * 2)
                continue
            self.ws = ws
            reader = asyncio.create_task(self.read(ws, synced))
            try:
                await asyncio.wait_for(asyncio.shield(synced), 20)
                backoff = 0.05
                self.up.set()
                self.wake()
            except Exception:
                pass
            await reader
            self.up.clear()
            self.ws = None
            self.h.add("disconnect", dev=self.k, code=ws.close_code)
            if not self.stopped:
                self.reconnects += 1

    async def read(self, ws, synced):
        try:
            async for raw in ws:
                self.frame(json.loads(raw), synced)
        except Exception:
            pass
        finally:
            for f in list(self.waiters.values()):
                if not f.done():
                    f.set_result(None)
            self.waiters.clear()
            if not synced.done():
                synced.set_result(None)

    def frame(self, f, synced):
        t = f.get("type")
        if t == "msg":
            self.h.add("recv", dev=self.k, id=f["id"], frm=f["from"],
                       cid=f["cid"], to=f.get("to"), group=f.get("group"))
            if self.last is None or f["id"] > self.last:
                self.last = f["id"]
        elif t == "synced":
            if not synced.done():
                synced.set_result(f)
        elif t in ("ack", "error"):
            w = self.waiters.pop(f.get("cid"), None)
            if w and not w.done():
                w.set_result(f)
            elif t == "error":
                self.h.add("stray_error", dev=self.k, frame=f)

    def wake(self):
        if self.woken is not None and not self.woken.done():
            self.woken.set_result(None)

    @staticmethod
    def wake_all():
        for d in Device.devs:
            d.wake()

    async def wait_up(self):
        """Until the device is up, or until the sends give up (wake_all).
        One future a device that its parked sends share, not a 1 s poll
        each: in a crash loop 16,000 sends parked on devices that were
        down each woke every second (wait_for on an Event, whose waiters
        leave its deque in O(n)), the driver's loop had no time left for
        its sockets, its PONGs came 30 s late and chatd rightly hung up
        on it (row 4, ASan build)."""
        if self.up.is_set():
            return
        if self.woken is None or self.woken.done():
            self.woken = asyncio.get_running_loop().create_future()
        await asyncio.shield(self.woken)

    async def send(self, cid, body, to=None, group=None, give_up=None):
        """Resends cid until it is acked or refused, or until give_up()."""
        tries = errors = 0
        while True:
            if give_up and give_up():
                self.h.add("info", dev=self.k, cid=cid)
                return None
            if not self.up.is_set():
                await self.wait_up()
                continue
            ws = self.ws
            if ws is None:
                continue
            f = {"type": "send", "cid": cid, "body": body}
            if to:
                f["to"] = to
            if group:
                f["group"] = group
            fut = asyncio.get_running_loop().create_future()
            self.waiters[cid] = fut
            tries += 1
            self.h.add("send", dev=self.k, user=self.user, cid=cid, to=to,
                       group=group, n=tries)
            try:
                await ws.send(json.dumps(f))
                r = await asyncio.wait_for(fut, 10)
            except Exception:
                r = None
            if r is None:
                self.h.add("retry", dev=self.k, cid=cid)
                await asyncio.sleep(0.05)
                continue
            if r["type"] == "ack":
                self.h.add("ack", dev=self.k, cid=cid, id=r["id"])
                return r
            code = r.get("code")
            if code in DEFINITIVE:
                self.h.add("fail", dev=self.k, cid=cid, code=code)
                return r
            self.h.add("error", dev=self.k, cid=cid, code=code)
            errors += 1
            if Device.backoff_max <= 0.1:
                await asyncio.sleep(0.1)
            else:   # 0.1 s doubling, with jitter, up to --backoff-max
                await asyncio.sleep(min(Device.backoff_max, 0.1 * 2 ** min(
                    errors - 1, 20)) * (0.5 + random.random() / 2))


async def run(a):
    Device.ping = a.ping
    Device.backoff_max = a.backoff_max
    store = Ipc("store")
    users = ["u%d" % i for i in range(a.users)]
    make_users(store, users)
    gid = store.ok("group.create", owner=users[0], name="jepsen",
                   members=users[1:])["group"]
    h = History(a.history)
    devs = []
    for u in users:
        for _ in range(a.devices):
            d, tok = login(store, u)
            devs.append(Device(len(devs), a.url, u, d, tok, h))
    h.add("setup", devices=[{"dev": d.k, "user": d.user, "device": d.dev}
                            for d in devs], groups={gid: users},
          wall0=h.wall0)
    keepers = [asyncio.create_task(d.keep()) for d in devs]
    await asyncio.wait_for(asyncio.gather(*[d.up.wait() for d in devs]), 30)
    h.add("start")
    t_end = time.monotonic() + a.duration
    stopping = lambda: (time.monotonic() > t_end or  # noqa: E731
                        (a.stop and os.path.exists(a.stop)))
    finish_by = [None]
    give_up = lambda: (finish_by[0] is not None and  # noqa: E731
                       time.monotonic() > finish_by[0])
    tasks, counts = [], {"sent": 0, "acked": 0}

    pad = "x" * a.body_size

    windows = [asyncio.Semaphore(a.window) if a.window else None
               for _ in devs]

    async def one(d, i):
        w = windows[d.k]
        if w is None:
            return await one_send(d, i)
        async with w:
            if not give_up():   # never sent: not in the history at all
                await one_send(d, i)

    async def one_send(d, i):
        if i % 2 or a.no_group:
            others = [u for u in users if u != d.user]
            r = await d.send("d%d-%d" % (d.k, i), "b%d.%d" % (d.k, i) + pad,
                             to=others[i % len(others)], give_up=give_up)
        else:
            r = await d.send("d%d-%d" % (d.k, i), "b%d.%d" % (d.k, i) + pad,
                             group=gid, give_up=give_up)
        if r and r["type"] == "ack":
            counts["acked"] += 1

    async def progress():
        while True:
            if a.progress:
                with open(a.progress + ".tmp", "w") as f:
                    f.write("%d %d %d\n" % (counts["acked"], counts["sent"],
                                            sum(d.up.is_set() for d in devs)))
                os.rename(a.progress + ".tmp", a.progress)
            await asyncio.sleep(0.05)
    prog = asyncio.create_task(progress())
    period = 1.0 / a.rate
    nxt, i = time.monotonic(), 0
    while not stopping():
        d = devs[i % len(devs)]
        tasks.append(asyncio.create_task(one(d, i // len(devs))))
        counts["sent"] += 1
        i += 1
        nxt += period
        dt = nxt - time.monotonic()
        if dt > 0:
            await asyncio.sleep(dt)
    h.add("stop")
    finish_by[0] = time.monotonic() + a.drain
    # parked sends see give_up() once it holds
    asyncio.get_running_loop().call_later(a.drain + 0.05, Device.wake_all)
    await asyncio.gather(*tasks)
    h.add("sends_done")
    # Drain: every device reconnects with its newest id and reads to synced.
    t0 = time.monotonic()
    for d in devs:
        d.stopped = True
        if d.ws:
            await d.ws.close()
    await asyncio.gather(*keepers, return_exceptions=True)
    h.add("drain_start")

    async def drain(d):
        while True:
            try:
                ws, synced = await d.connect_once()
                reader = asyncio.create_task(d.read(ws, synced))
                f = await asyncio.wait_for(asyncio.shield(synced), a.drain)
                await ws.close()
                await reader
                if f is not None:
                    return
            except Exception:
                pass
            if time.monotonic() - t0 > a.drain:
                h.add("drain_failed", dev=d.k)
                return
            await asyncio.sleep(0.1)
    await asyncio.gather(*[drain(d) for d in devs])
    drain_s = time.monotonic() - t0
    h.add("drain_done", secs=round(drain_s, 3))
    prog.cancel()
    h.close()
    res = check(a.history)
    res["drain_s"] = round(drain_s, 2)
    res["reconnects"] = sum(d.reconnects for d in devs)
    return res


def check(path):
    """The figures of a history; res["first"] names the first failure."""
    devs, groups = {}, {}
    sends = {}          # (user, cid) -> {"to","group","dev"}
    acked = {}          # (user, cid) -> set of ids
    ack_t = {}          # (user, cid) -> time of first ack
    first_send = {}     # (user, cid) -> time
    failed = set()
    info = set()
    recv = {}           # dev -> [ids in arrival order]
    got = {}            # dev -> {id: (from, cid)}
    for line in open(path):
        e = json.loads(line)
        ev = e["ev"]
        if ev == "setup":
            devs = {d["dev"]: d for d in e["devices"]}
            groups = e["groups"]
            for k in devs:
                recv[k], got[k] = [], {}
        elif ev == "send":
            key = (e["user"], e["cid"])
            sends[key] = {"to": e["to"], "group": e["group"], "dev": e["dev"]}
            first_send.setdefault(key, e["t"])
        elif ev in ("ack", "fail", "info"):
            key = (devs[e["dev"]]["user"], e["cid"])
            if ev == "ack":
                acked.setdefault(key, set()).add(e["id"])
                ack_t.setdefault(key, e["t"])
            elif ev == "fail":
                failed.add(key)
            else:
                info.add(key)
        elif ev == "recv":
            recv[e["dev"]].append(e["id"])
            got[e["dev"]][e["id"]] = (e["frm"], e["cid"])
    res = {"devices": len(devs), "sent": len(sends), "acked": len(acked),
           "failed": len(failed - set(acked)),
           "info": len(info - set(acked)), "lost": 0, "phantom": 0,
           "dup_surfaced": 0, "order": 0, "dev_order": 0, "first": None}

    def fail(what):
        if res["first"] is None:
            res["first"] = what
    # lost: each acked message on every device that should hold it.
    for key, ids in acked.items():
        if len(ids) > 1:
            res["dup_surfaced"] += 1
            fail("cid %s/%s acked with ids %s" % (key[0], key[1], sorted(ids)))
        mid = min(ids)
        s = sends[key]
        users = set(groups[s["group"]]) if s["group"] else {key[0], s["to"]}
        for k, d in devs.items():
            if d["user"] in users and k != s["dev"] and mid not in got[k]:
                res["lost"] += 1
                fail("lost: %s (cid %s from %s) never reached device %d (%s)"
                     % (mid, key[1], key[0], k, d["user"]))
    # phantom, dup_surfaced, dev_order on each device.
    for k, ids in recv.items():
        prev = None
        for i in ids:
            if prev is not None and i <= prev:
                res["dev_order"] += 1
                fail("device %d got %s after %s" % (k, i, prev))
            prev = i if prev is None or i > prev else prev
        bycid = {}
        for i, (frm, cid) in got[k].items():
            key = (frm, cid)
            bycid.setdefault(key, set()).add(i)
            if key not in sends or (key in failed and key not in acked):
                res["phantom"] += 1
                fail("phantom: device %d got %s (cid %s from %s) that was "
                     "%s" % (k, i, cid, frm, "refused" if key in sends
                             else "never sent"))
            elif key in acked and i not in acked[key]:
                res["phantom"] += 1
                fail("phantom: device %d got %s for cid %s/%s acked as %s"
                     % (k, i, frm, cid, sorted(acked[key])))
        for key, s in bycid.items():
            if len(s) > 1:
                res["dup_surfaced"] += 1
                fail("device %d shows cid %s/%s twice: %s" % (k, key[0],
                     key[1], sorted(s)))
    # order per conversation: acked before first sent => smaller id.
    conv = {}
    for key, ids in acked.items():
        s = sends[key]
        c = s["group"] or "/".join(sorted([key[0], s["to"]]))
        conv.setdefault(c, []).append((ack_t[key], first_send[key], min(ids),
                                       key))
    for c, ms in conv.items():
        ms.sort()                       # by ack time
        by_send = sorted(ms, key=lambda m: m[1])
        # For each message B, every A acked before B was first sent must
        # have a smaller id: compare with the max id acked before send(B).
        j, best = 0, None
        for b in by_send:
            while j < len(ms) and ms[j][0] < b[1]:
                if best is None or ms[j][2] > best[2]:
                    best = ms[j]
                j += 1
            if best is not None and best[2] >= b[2]:
                res["order"] += 1
                fail("order in %s: %s (cid %s) acked before %s (cid %s) "
                     "was sent, but has the larger id" % (
                         c, best[2], best[3][1], b[2], b[3][1]))
    return res


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["run", "check"])
    p.add_argument("file", nargs="?")
    p.add_argument("--url")
    p.add_argument("--history")
    p.add_argument("--users", type=int, default=4)
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--rate", type=float, default=400)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--stop")
    p.add_argument("--progress")
    p.add_argument("--drain", type=float, default=30)
    p.add_argument("--ping", type=float, default=None,
                   help="client PING every S s, a link silent S s more is "
                   "given up (a real client's heartbeat)")
    p.add_argument("--backoff-max", type=float, default=0.1,
                   help="after a retryable error a send pauses 0.1 s, "
                   "doubling up to S (default 0.1: always 0.1 s)")
    p.add_argument("--window", type=int, default=0,
                   help="at most N sends of a device outstanding; the "
                   "rest wait in order (default 0: no limit)")
    p.add_argument("--no-group", action="store_true",
                   help="1:1 messages only (large runs: no fan-out to all)")
    p.add_argument("--body-size", type=int, default=0,
                   help="bytes of padding in each body")
    a = p.parse_args()
    if a.mode == "check":
        res = check(a.file)
    else:
        res = asyncio.run(run(a))
    first = res.pop("first")
    print(" ".join("%s=%s" % kv for kv in res.items()))
    sys.stdout.flush()
    bad = res["lost"] or res["phantom"] or res["dup_surfaced"] or \
        res["order"] or res["dev_order"] or first
    if bad:
        print("FAILED: %s" % first, file=sys.stderr)
    os._exit(1 if bad else 0)


if __name__ == "__main__":
    main()
