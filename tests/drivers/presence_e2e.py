#!/usr/bin/python3
"""presence_e2e: presence through real chatd, presenced and WebSocket
clients, the cases a fake chatd cannot show.

    presence_e2e.py SCENARIO --url ws://127.0.0.1:PORT/v1/ws [--timeout S]

silent-drop   bob's client process is killed with SIGKILL: no close frame,
              so alice must not see bob offline before presence_timeout,
              and must see it after.
silent-conn   bob stays connected but says nothing: offline after the
              timeout; his next frame makes him online again.
before-restart / after-restart
              bob comes and says bye; the first half records the
              last_active_at alice was told; after the whole stack is
              restarted, alice's auth brings bob's presence with the same
              last_active_at.
Prints one JSON line and exits 0, or 1 with the reason on stderr.
"""
import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import Client, Ipc, login, make_users  # noqa: E402


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def device(store, url, user, dev=None):
    d, tok = login(store, user, dev)
    return await Client(url, user, d, tok).connect()


def friends(store, a, b):
    make_users(store, [a, b])
    store.ok("friend.add", user=a, other=b)
    store.ok("friend.add", user=b, other=a)


def statuses(c, user, start=0):
    """user's statuses among the frames c got, from frame start on."""
    return [p["status"] for p in c.presence[start:] if p["user"] == user]


def online_mark(c, user):
    """Index just past the last frame saying user is online (the frames
    after it are the ones a later change produces)."""
    for i in range(len(c.presence) - 1, -1, -1):
        p = c.presence[i]
        if p["user"] == user and p["status"] == "online":
            return i + 1
    return None


async def wait_for(cond, what, timeout):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out after %.1fs: %s" % (timeout, what))
        await asyncio.sleep(0.02)


async def keep_beating(c, every=0.5):
    while True:
        await c.send_raw('{"type":"hb"}')
        await asyncio.sleep(every)


async def silent_drop(a, store):
    friends(store, "alice", "bob")
    al = await device(store, a.url, "alice")
    beat = asyncio.create_task(keep_beating(al))
    # bob lives in a child process so that SIGKILL takes his socket with
    # it the way a crashed phone app would: no close frame.
    child = subprocess.Popen([sys.executable, __file__, "hold", "--url",
                              a.url], stdout=subprocess.PIPE)
    check(child.stdout.readline().strip() == b"ready", "bob's client ready")
    await wait_for(lambda: online_mark(al, "bob"), "bob online", 5)
    mark = online_mark(al, "bob")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    killed = time.monotonic()
    # Not before the timeout: a silent drop may be a tunnel, not a crash.
    await asyncio.sleep(a.timeout * 0.6)
    check("offline" not in statuses(al, "bob", mark),
          "bob offline %.1fs after a silent drop, before the %ss timeout" % (
              time.monotonic() - killed, a.timeout))
    await wait_for(lambda: "offline" in statuses(al, "bob", mark),
                   "bob offline after the timeout", a.timeout * 3)
    after = time.monotonic() - killed
    beat.cancel()
    return {"offline_after_s": round(after, 2)}


async def hold(a, store):
    bob = await device(store, a.url, "bob")
    print("ready", flush=True)
    while True:
        await bob.send_raw('{"type":"hb"}')
        await asyncio.sleep(0.5)


async def silent_conn(a, store):
    friends(store, "alice", "bob")
    al = await device(store, a.url, "alice")
    beat = asyncio.create_task(keep_beating(al))
    bob = await device(store, a.url, "bob")
    await wait_for(lambda: online_mark(al, "bob"), "bob online", 5)
    mark = online_mark(al, "bob")
    quiet = time.monotonic()
    await asyncio.sleep(a.timeout * 0.6)
    check("offline" not in statuses(al, "bob", mark),
          "offline before the timeout")
    await wait_for(lambda: "offline" in statuses(al, "bob", mark),
                   "a connected but silent bob goes offline", a.timeout * 3)
    after = time.monotonic() - quiet
    check(bob.close_code is None, "bob's connection is still open")
    n = len(al.presence)
    await bob.send_raw('{"type":"hb"}')
    await wait_for(lambda: len(al.presence) > n and
                   al.presence[-1]["status"] == "online",
                   "bob online again on his next frame", 5)
    beat.cancel()
    return {"offline_after_s": round(after, 2)}


async def before_restart(a, store):
    friends(store, "alice", "bob")
    al = await device(store, a.url, "alice")
    bob = await device(store, a.url, "bob")
    await wait_for(lambda: online_mark(al, "bob"), "bob online", 5)
    mark = online_mark(al, "bob")
    await asyncio.sleep(1.2)        # a beat later than the connect
    await bob.send_raw('{"type":"hb"}')
    await asyncio.sleep(1.2)
    await bob.send_raw('{"type":"bye"}')
    await wait_for(lambda: "offline" in statuses(al, "bob", mark),
                   "bob offline", 5)
    last = [p for p in al.presence[mark:] if p["user"] == "bob"][-1]
    check(last["last_active_at"] > 0, "last_active_at set: %s" % last)
    with open(a.state, "w") as f:
        json.dump(last, f)
    return {"last_active_at": last["last_active_at"]}


async def after_restart(a, store):
    with open(a.state) as f:
        before = json.load(f)
    al = await device(store, a.url, "alice")
    await wait_for(lambda: statuses(al, "bob"), "bob's presence on auth", 5)
    got = [p for p in al.presence if p["user"] == "bob"][0]
    check(got["status"] == "offline", "bob is offline: %s" % got)
    check(got["last_active_at"] == before["last_active_at"],
          "last_active_at survived the restart: %s then %s" % (before, got))
    return {"last_active_at": got["last_active_at"]}


SCENARIOS = {"silent-drop": silent_drop, "silent-conn": silent_conn,
             "hold": hold, "before-restart": before_restart,
             "after-restart": after_restart}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--url", required=True)
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--state", default=os.environ.get("CHAT_HOME", ".") +
                   "/presence_e2e.json")
    a = p.parse_args()
    store = Ipc("store")

    async def run_one():
        try:
            out = await SCENARIOS[a.scenario](a, store)
        except (AssertionError, asyncio.TimeoutError) as e:
            print("%s: FAILED: %s" % (a.scenario, e or type(e).__name__),
                  file=sys.stderr, flush=True)
            os._exit(1)
        print(json.dumps(dict(out or {}, scenario=a.scenario, ok=True)),
              flush=True)
        os._exit(0)
    asyncio.run(run_one())


if __name__ == "__main__":
    main()
