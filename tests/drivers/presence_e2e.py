#!/usr/bin/python3
"""presence_e2e: presence through real chatd, presenced and WebSocket
clients, the cases a fake chatd cannot show.

    presence_e2e.py SCENARIO --url ws://127.0.0.1:PORT/v1/ws [--timeout S]

silent-drop   bob's client process is killed with SIGKILL: no close frame,
              so alice must not see bob offline before presence_timeout,
              and must see it after.
silent-conn   bob stays connected but says nothing: offline after the
              timeout; his next frame makes him online again.
blip          bob's client is killed and his device is back before the
              timeout: alice sees no offline.
two-devices   bob on two devices: bye on one changes nothing; a clean close
              of the other makes him offline at once.
no-group-push group members and strangers get no pushed presence; the
              group query answers the members; a stranger is refused.
query-new     alice and dave, members of one group, connect while the test
              holds presenced stopped (so neither's status is written yet):
              alice's group query answers both online all the same.
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
from chatlib import Client, Ipc, login, make_users, run_scenario  # noqa: E402


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
    child, line = await start_hold(a)
    check(line[:1] == [b"ready"], "bob's client ready")
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
    parent = os.getppid()
    bob = await device(store, a.url, "bob")
    print("ready", bob.device, flush=True)
    # Orphaned (the driver failed): go, or bats waits for our stderr.
    while os.getppid() == parent:
        await bob.send_raw('{"type":"hb"}')
        await asyncio.sleep(0.5)


async def start_hold(a):
    """bob's client in a child process: (process, its first line split).
    The line is read off the loop, so alice's pings are answered meanwhile
    (a child slow to start on a loaded machine got her dropped)."""
    child = subprocess.Popen([sys.executable, __file__, "hold", "--url",
                              a.url], stdout=subprocess.PIPE)
    line = await asyncio.get_running_loop().run_in_executor(
        None, child.stdout.readline)
    return child, line.split()


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


async def blip(a, store):
    """bob's client is killed (no close frame) and the same device comes
    back before the timeout: alice never sees bob offline."""
    friends(store, "alice", "bob")
    al = await device(store, a.url, "alice")
    beat = asyncio.create_task(keep_beating(al))
    child, line = await start_hold(a)
    check(len(line) == 2 and line[0] == b"ready", "bob's client ready")
    await wait_for(lambda: online_mark(al, "bob"), "bob online", 5)
    mark = online_mark(al, "bob")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    killed = time.monotonic()
    await asyncio.sleep(a.timeout * 0.3)
    bob = await device(store, a.url, "bob", line[1].decode())
    bbeat = asyncio.create_task(keep_beating(bob))
    # Well past the moment the drop alone would have made bob offline.
    while time.monotonic() - killed < a.timeout * 2:
        await asyncio.sleep(0.1)
    check("offline" not in statuses(al, "bob", mark),
          "bob offline after a %.1fs blip: %s" % (a.timeout * 0.3,
                                                   al.presence[mark:]))
    check(bob.close_code is None, "bob's new connection is open")
    beat.cancel()
    bbeat.cancel()
    return {"blip_s": round(a.timeout * 0.3, 2)}


async def two_devices(a, store):
    """bob on two devices: online until both are gone; bye on one changes
    nothing, a clean close of the other makes him offline at once."""
    friends(store, "alice", "bob")
    al = await device(store, a.url, "alice")
    beats = [asyncio.create_task(keep_beating(al))]
    b1 = await device(store, a.url, "bob")
    b2 = await device(store, a.url, "bob")
    beats += [asyncio.create_task(keep_beating(b)) for b in (b1, b2)]
    await wait_for(lambda: online_mark(al, "bob"), "bob online", 5)
    mark = online_mark(al, "bob")
    beats[1].cancel()
    await b1.send_raw('{"type":"bye"}')
    check(await b1.wait_closed() == 1000, "bye closes with 1000")
    await asyncio.sleep(1.0)
    check("offline" not in statuses(al, "bob", mark),
          "bob offline with a device left: %s" % al.presence[mark:])
    beats[2].cancel()
    gone = time.monotonic()
    await b2.close()
    # "at once": well before presence_timeout would have said it
    await wait_for(lambda: "offline" in statuses(al, "bob", mark),
                   "bob offline once both are gone", a.timeout * 0.9)
    after = time.monotonic() - gone
    beats[0].cancel()
    return {"offline_after_s": round(after, 2)}


async def no_group_push(a, store):
    """Group members and strangers get no pushed presence; a group query
    answers the members; a stranger cannot be queried."""
    make_users(store, ["alice", "dave", "eve", "bob"])
    friends(store, "alice", "bob")
    gid = store.ok("group.create", owner="alice", name="g",
                   members=["dave"])["group"]
    al = await device(store, a.url, "alice")
    dv = await device(store, a.url, "dave")
    ev = await device(store, a.url, "eve")
    await dv.send_raw('{"type":"hb"}')
    await dv.send_raw('{"type":"bye"}')
    await dv.wait_closed()
    await ev.send_raw('{"type":"bye"}')
    await ev.wait_closed()
    # A barrier: bob's change goes through presenced after theirs.
    bob = await device(store, a.url, "bob")
    await wait_for(lambda: online_mark(al, "bob"), "bob online", 5)
    await asyncio.sleep(0.3)
    check(all(p["user"] == "bob" for p in al.presence),
          "pushed to a group member or a stranger: %s" % al.presence)
    dv = await device(store, a.url, "dave")
    n = len(al.presence)
    await al.send_raw(json.dumps({"type": "presence", "group": gid}))
    await wait_for(lambda: len(al.presence) >= n + 2, "group query", 5)
    got = sorted((p["user"], p["status"]) for p in al.presence[n:])
    check(got == [("alice", "online"), ("dave", "online")],
          "group query: %s" % got)
    check(not dv.presence, "dave got presence pushed: %s" % dv.presence)
    n, e = len(al.presence), len(al.errors)
    await al.send_raw(json.dumps({"type": "presence", "users": ["eve"]}))
    await wait_for(lambda: len(al.errors) > e, "an error for eve", 5)
    check(al.errors[-1]["code"] == "unauthorized" and
          "eve" in al.errors[-1]["message"], "eve: %s" % al.errors[-1])
    await asyncio.sleep(0.2)
    check(not any(p["user"] == "eve" for p in al.presence),
          "eve's presence shown: %s" % al.presence)
    await bob.close()
    return {}


async def query_new(a, store):
    """A group query right after the members connected answers them
    online, though presenced (stopped by the test) has written nothing."""
    make_users(store, ["alice", "dave"])
    gid = store.ok("group.create", owner="alice", name="g",
                   members=["dave"])["group"]
    al = await device(store, a.url, "alice")
    dv = await device(store, a.url, "dave")
    n = len(al.presence)
    await al.send_raw(json.dumps({"type": "presence", "group": gid}))
    await wait_for(lambda: len(al.presence) >= n + 2, "group query", 5)
    got = sorted((p["user"], p["status"]) for p in al.presence[n:])
    check(got == [("alice", "online"), ("dave", "online")],
          "group query: %s" % got)
    check(all(p["last_active_at"] > 0 for p in al.presence[n:]),
          "last_active_at: %s" % al.presence[n:])
    await al.close()
    await dv.close()
    return {}


SCENARIOS = {"query-new": query_new, "silent-drop": silent_drop, "silent-conn": silent_conn,
             "hold": hold, "before-restart": before_restart,
             "after-restart": after_restart, "blip": blip,
             "two-devices": two_devices, "no-group-push": no_group_push}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--url", required=True)
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--state", default=os.environ.get("CHAT_HOME", ".") +
                   "/presence_e2e.json")
    a = p.parse_args()
    store = Ipc("store")

    run_scenario(a.scenario, SCENARIOS[a.scenario], a, store)


if __name__ == "__main__":
    main()
