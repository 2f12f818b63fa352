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
from chatlib import Client, Ipc, login, make_users  # noqa: E402

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


SC = None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--url", required=True)
    p.add_argument("--url2")
    p.add_argument("-n", type=int, default=0)
    p.add_argument("--progress")
    p.add_argument("--stop")
    a = p.parse_args()
    store = Ipc("store")
    try:
        out = asyncio.run(SCENARIOS[a.scenario](a, store))
    except AssertionError as e:
        print("%s: FAILED: %s" % (a.scenario, e), file=sys.stderr)
        sys.exit(1)
    print(json.dumps(dict(out or {}, scenario=a.scenario, ok=True)))


if __name__ == "__main__":
    main()
