#!/usr/bin/python3
"""backlog: chatd refuses sends while chat-route owes it 100,000 answers.

    backlog.py --url URL --route-pid PID [--extra 50]

Stops chat-route (SIGSTOP), sends 100,000 + extra messages from one
device, and expects exactly the last `extra` to be answered at once with
an error "unavailable" (chatd queues no more than that for a route that
does not answer), then resumes chat-route (SIGCONT) and expects the first
100,000 acked and none of the refused ones.  Prints one line of figures;
exit 1 naming the first failure.
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "drivers"))
import websockets  # noqa: E402
from chatlib import Ipc, login, make_users  # noqa: E402

LIMIT = 100000          # chatd's ROUTE_PENDING_MAX


async def connect(url, tok):
    ws = await websockets.connect(url, max_size=None, ping_interval=None,
                                  max_queue=None)
    await ws.send(json.dumps({"type": "auth", "token": tok}))
    while True:
        f = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if f["type"] == "synced":
            return ws


async def run(a):
    store = Ipc("store")
    make_users(store, ["bla", "blb"])
    ws = await connect(a.url, login(store, "bla")[1])
    n = LIMIT + a.extra
    acked, refused, other = set(), set(), []
    done = asyncio.Event()

    async def reader():
        async for raw in ws:
            f = json.loads(raw)
            cid = f.get("cid", "")
            if f["type"] == "ack":
                acked.add(cid)
            elif f["type"] == "error" and f.get("code") == "unavailable":
                refused.add(cid)
            elif f["type"] == "error":
                other.append(f)
            if len(acked) + len(refused) + len(other) >= n:
                done.set()

    task = asyncio.ensure_future(reader())
    os.kill(a.route_pid, signal.SIGSTOP)
    try:
        for i in range(n):
            await ws.send(json.dumps({"type": "send", "cid": "b%d" % i,
                                      "to": "blb", "body": "x"}))
        t0 = time.monotonic()
        while len(refused) + len(other) < a.extra and \
                time.monotonic() - t0 < 60:
            await asyncio.sleep(0.1)
        early_acks = len(acked)
    finally:
        os.kill(a.route_pid, signal.SIGCONT)
    try:
        await asyncio.wait_for(done.wait(), a.timeout)
    except asyncio.TimeoutError:
        pass
    task.cancel()
    want_refused = {"b%d" % i for i in range(LIMIT, n)}
    out = {"sent": n, "acked": len(acked), "refused": len(refused),
           "other_errors": len(other), "acked_while_stopped": early_acks}
    print(" ".join("%s=%s" % kv for kv in out.items()))
    fail = None
    if other:
        fail = "unexpected error: %s" % other[0]
    elif early_acks:
        fail = "%d acks while chat-route was stopped" % early_acks
    elif refused != want_refused:
        fail = "refused %d, want exactly the last %d" % (len(refused),
                                                         a.extra)
    elif len(acked) != LIMIT or acked & refused:
        fail = "acked %d of the first %d" % (len(acked), LIMIT)
    if fail:
        print("FAILED: %s" % fail, file=sys.stderr)
        return 1
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--route-pid", type=int, required=True)
    p.add_argument("--extra", type=int, default=50)
    p.add_argument("--timeout", type=float, default=240)
    a = p.parse_args()
    rc = asyncio.run(run(a))
    sys.stdout.flush()
    os._exit(rc)


if __name__ == "__main__":
    main()
