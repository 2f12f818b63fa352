#!/usr/bin/python3
"""push_e2e: the WebSocket side of tests/71-push-e2e.bats.

    push_e2e.py send --url URL --from USER (--to USER | --group GID)
                     --body TEXT [--online USER]...
    push_e2e.py online --url URL --user USER [--secs S]

send: connects one new device of each --online user first (each waits for
its sync), then one new device of --from, sends one message, waits for its
ack and for every --online device to receive it; prints the ack as JSON.
online: connects a new device of USER, holds it S seconds (default 0.5),
prints {"device": ...}.  Devices are made with chat-store's device.login
and tokens minted by chatlib, as in msgtest.py; exit 1 with the reason on
stderr if anything is not as expected.
"""
import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import Client, Ipc, login, run_scenario  # noqa: E402


async def device(store, url, user):
    d, tok = login(store, user)
    return await Client(url, user, d, tok).connect()


async def send(a, store):
    online = [await device(store, a.url, u) for u in a.online]
    snd = await device(store, a.url, getattr(a, "from"))
    ack = await snd.send("p1", a.body, to=a.to, group=a.group)
    if ack.get("type") != "ack":
        raise AssertionError("send: %s" % ack)
    for c in online:
        await c.wait_msgs(1, timeout=10)
        if c.msgs[0]["id"] != ack["id"]:
            raise AssertionError("%s got %s" % (c.user, c.msgs))
    return ack


async def online(a, store):
    c = await device(store, a.url, a.user)
    await asyncio.sleep(a.secs)
    await c.close()
    return {"device": c.device}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["send", "online"])
    p.add_argument("--url", required=True)
    p.add_argument("--from")
    p.add_argument("--to")
    p.add_argument("--group")
    p.add_argument("--body", default="hello")
    p.add_argument("--online", action="append", default=[])
    p.add_argument("--user")
    p.add_argument("--secs", type=float, default=0.5)
    a = p.parse_args()
    store = Ipc("store")

    run_scenario(a.cmd, (send if a.cmd == "send" else online), a, store)


if __name__ == "__main__":
    main()
