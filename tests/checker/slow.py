#!/usr/bin/python3
"""slow: RELIABILITY.md row 17, a slow consumer.

    slow.py --url URL --pid CHATD_PID [-n 400] [--body 8000]

Bob's device "slow" authenticates and then never reads (a 4 KiB receive
buffer) while alice sends n messages of --body bytes to bob and carol
chats with dave.  chatd must close the slow connection (1008) once its
queue passes send_queue_max instead of growing, keep its RSS growth under
20 MB, keep carol->dave latency (p99) within 2x the baseline measured
before, and the slow device, reconnecting with its cursor, must get every
message (lost 0).  Prints one line of figures; exit 1 naming a failure.
"""
import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "drivers"))
from chatlib import Client, Ipc, RawWS, login, make_users  # noqa: E402


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


async def latency(c, to, n, tag):
    out = []
    for i in range(n):
        t0 = time.monotonic()
        r = await c.send("%s%d" % (tag, i), "ping", to=to.user)
        while not any(m["id"] == r["id"] for m in to.msgs[-3:]):
            await asyncio.sleep(0.001)
        out.append(time.monotonic() - t0)
        await asyncio.sleep(0.01)
    out.sort()
    return out[max(0, int(len(out) * 0.99) - 1)]


async def run(a):
    store = Ipc("store")
    make_users(store, ["s_alice", "s_bob", "s_carol", "s_dave"])
    al = await Client(a.url, "s_alice", *login(store, "s_alice")).connect()
    ca = await Client(a.url, "s_carol", *login(store, "s_carol")).connect()
    da = await Client(a.url, "s_dave", *login(store, "s_dave")).connect()
    sdev, stok = login(store, "s_bob")
    slow = RawWS(a.url, rcvbuf=4096)
    if not slow.auth(stok):
        raise AssertionError("slow device: auth failed")
    base = await latency(ca, da, 50, "b")
    rss0 = rss_kb(a.pid)
    peak = rss0
    body = "x" * a.body
    acked = []

    async def flood():
        for i in range(a.n):
            r = await al.send("f%d" % i, body, to="s_bob")
            if r["type"] != "ack":
                raise AssertionError("send %d: %s" % (i, r))
            acked.append(r["id"])
    ft = asyncio.create_task(flood())
    lt = asyncio.create_task(latency(ca, da, 50, "d"))
    while not ft.done():
        peak = max(peak, rss_kb(a.pid))
        await asyncio.sleep(0.02)
    await ft
    p99 = await lt
    peak = max(peak, rss_kb(a.pid))
    # The slow socket: what it holds, then the server's close (1008).
    slow.s.setsockopt(__import__("socket").SOL_SOCKET,
                      __import__("socket").SO_RCVBUF, 1 << 20)
    code = slow.close_code()
    # Reconnect with the stored cursor: every message arrives.
    back = Client(a.url, "s_bob", sdev, stok)
    try:
        await back.connect()
    except Exception:
        raise AssertionError("the slow device's reconnect: closed %s" %
                             back.close_code)
    got = set(m["id"] for m in back.msgs)
    lost = len(set(acked) - got)
    out = {"sent": a.n, "close_code": code, "rss_growth_kb": peak - rss0,
           "base_p99_ms": round(base * 1e3, 1),
           "during_p99_ms": round(p99 * 1e3, 1), "lost": lost,
           "synced": len(got)}
    print(" ".join("%s=%s" % kv for kv in out.items()))
    fails = []
    if code != 1008:
        fails.append("slow connection ended with %s, not 1008" % code)
    if peak - rss0 > 20 * 1024:
        fails.append("chatd RSS grew %d KB" % (peak - rss0))
    if p99 > max(2 * base, base + 0.05):
        fails.append("others' p99 %.1f ms vs %.1f ms" % (p99 * 1e3,
                                                         base * 1e3))
    if lost:
        fails.append("slow device lost %d acked messages" % lost)
    if fails:
        print("FAILED: %s" % "; ".join(fails), file=sys.stderr)
        return 1
    return 0


def main():
    import argparse as ap
    p = ap.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("-n", type=int, default=400)
    p.add_argument("--body", type=int, default=8000)
    a = p.parse_args()
    try:
        rc = asyncio.run(run(a))
    except AssertionError as e:
        print("FAILED: %s" % e, file=sys.stderr)
        rc = 1
    sys.stdout.flush()
    os._exit(rc)


if __name__ == "__main__":
    main()
