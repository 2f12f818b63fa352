#!/usr/bin/python3
"""failover: tests/drivers/rshard.py's scenarios with devices that move to
the other chatd when theirs is gone (tests/108-nats-shard-lease.bats: a
whole node killed, its clients resume on the other node).

    failover.py SCENARIO --url ws://A --url2 ws://B [rshard.py's options]

A device that fails to connect three times in a row to its chatd tries the
other URL, resuming from the newest id it holds, as a client given two
addresses would.  One scenario of its own, hold-beat: rshard.py's hold
with a heartbeat from each device every second (presence_timeout short).
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rshard  # noqa: E402


def urls():
    out = []
    for i, a in enumerate(sys.argv):
        if a in ("--url", "--url2") and i + 1 < len(sys.argv):
            out.append(sys.argv[i + 1])
    return out


async def keep_connected(c, st):
    """msgtest.keep_connected, moving to the other URL after 3 failures."""
    other = urls()
    c.up = asyncio.Event()
    backoff, first, fails = 0.05, True, 0
    while not st.finished:
        try:
            await c.connect(since=None if first else c.last)
        except Exception:
            fails += 1
            if fails >= 3 and len(other) == 2:
                c.url = other[1] if c.url == other[0] else other[0]
                fails = 0
            await asyncio.sleep(backoff)
            backoff = min(1.0, backoff * 2)
            continue
        first, backoff, fails = False, 0.05, 0
        c.up.set()
        await c.reader
        c.up.clear()
        if not st.finished:
            st.reconnects += 1


async def hold_beat(a, store):
    """One device of a shard-0 user on A, two of a shard-1 user on B, each
    sending {"type":"hb"} every second until --stop exists; --progress gets
    their names once all are up."""
    (x,), (y,) = rshard.pick("bx", 0, a.shards), rshard.pick("by", 1, a.shards)
    rshard.make_users(store, [x, y])
    held = [await rshard.dev(store, a.url, x),
            await rshard.dev(store, a.url2, y),
            await rshard.dev(store, a.url2, y)]
    with open(a.progress, "w") as f:
        f.write("%s %s\n" % (x, y))
    while not os.path.exists(a.stop):
        for c in held:
            await c.send_raw('{"type":"hb"}')
        await asyncio.sleep(1)
    for c in held:
        await c.close()
    return {"held": len(held)}


if __name__ == "__main__":
    rshard.SCENARIOS["hold-beat"] = hold_beat
    rshard.keep_connected = keep_connected
    rshard.main()
