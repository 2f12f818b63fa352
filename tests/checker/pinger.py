#!/usr/bin/python3
"""pinger: is chatd still answering WebSocket pings?

    pinger.py --url URL --ready FILE --stop FILE [--interval 0.5]
              [--timeout 2]

Makes user "pinger" (through chat-store's socket) with one device, connects
and authenticates, touches --ready once synced, then sends a WebSocket PING
every --interval seconds until --stop exists.  A ping with no pong within
--timeout is missed.  Prints one JSON object: pings, pongs, missed, max_ms
(the slowest pong), closed (the connection ended under it).
"""
import argparse
import asyncio
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "drivers"))
import websockets  # noqa: E402
from chatlib import Ipc, login, make_users  # noqa: E402


async def run(a):
    store = Ipc("store")
    make_users(store, ["pinger"])
    _, tok = login(store, "pinger")
    ws = await websockets.connect(a.url, ping_interval=None, max_size=None)
    await ws.send(json.dumps({"type": "auth", "token": tok}))
    while json.loads(await ws.recv()).get("type") != "synced":
        pass

    async def drain():     # frames other than pongs: read and drop
        try:
            async for _ in ws:
                pass
        except websockets.ConnectionClosed:
            pass
    reader = asyncio.create_task(drain())
    open(a.ready, "w").close()
    res = {"pings": 0, "pongs": 0, "missed": 0, "max_ms": 0, "closed": False}
    while not os.path.exists(a.stop):
        t0 = time.monotonic()
        res["pings"] += 1
        try:
            pong = await ws.ping()
            await asyncio.wait_for(pong, a.timeout)
            res["pongs"] += 1
            ms = round((time.monotonic() - t0) * 1000)
            res["max_ms"] = max(res["max_ms"], ms)
        except asyncio.TimeoutError:
            res["missed"] += 1
        except websockets.ConnectionClosed:
            res["closed"] = True
            break
        await asyncio.sleep(max(0, a.interval - (time.monotonic() - t0)))
    await ws.close()
    reader.cancel()
    print(json.dumps(res, sort_keys=True))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--stop", required=True)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--timeout", type=float, default=2)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
