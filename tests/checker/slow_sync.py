#!/usr/bin/python3
"""slow_sync: a big sync is paced by the reader (RELIABILITY.md row 17).

    slow_sync.py --port CHATD_PORT --url URL [-n 400] [--body 8000]
                 [--queue-max 1048576]

A backlog of n messages of --body bytes (several times send_queue_max) waits
in bob's inbox.  Bob's device authenticates on a bare socket and stops
reading right after `ready`: chatd must stop paging (the messages it pushed,
status synced_msgs, stay within send_queue_max) and must not close it.
Then the device reads at its own pace: every message arrives, in order,
then `synced`, and no close frame.  Prints one line of figures; exit 1
naming a failure.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "drivers"))
from chatlib import Ipc, RawWS, login, make_users  # noqa: E402


def queues(cport, chatd_port):
    """Bytes in the kernel between chatd and the client: chatd's send
    queue plus the client's receive queue (/proc/net/tcp)."""
    total = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            lport = int(p[1].split(":")[1], 16)
            rport = int(p[2].split(":")[1], 16)
            tx, rx = (int(x, 16) for x in p[4].split(":"))
            if (lport, rport) == (chatd_port, cport):
                total += tx
            elif (lport, rport) == (cport, chatd_port):
                total += rx
    return total


def synced_msgs(ctl):
    return ctl.ok("status")["synced_msgs"]


def settle(ctl, bound=20.0):
    """synced_msgs once it has not moved for 1 s."""
    end = time.monotonic() + bound
    last, since = synced_msgs(ctl), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.1)
        now = synced_msgs(ctl)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 1.0:
            return now
    raise AssertionError("chatd kept paging for %ds: %d pushed" %
                         (bound, last))


def run(a):
    store = Ipc("store")
    ctl = Ipc("chatd-%d" % a.port)
    make_users(store, ["q_alice", "q_bob"])
    body = "y" * a.body
    reps = store.batch([{"op": "msg.append", "from": "q_alice",
                         "device": "d1", "cid": "q%d" % i, "to": "q_bob",
                         "body": body} for i in range(a.n)])
    ids = [r["mid"] for r in reps if r.get("ok")]
    if len(ids) != a.n:
        raise AssertionError("seeding: %d of %d appended" % (len(ids), a.n))
    _, tok = login(store, "q_bob")
    before = synced_msgs(ctl)
    ws = RawWS(a.url, rcvbuf=4096)
    ws.frame(json.dumps({"type": "auth", "token": tok}))
    f = ws.read_frame()
    if f is None or json.loads(f[1]).get("type") != "ready":
        raise AssertionError("no ready frame: %r" % (f,))
    # Not reading: chatd pushes what fits and waits for the queue to drain.
    paused = settle(ctl) - before
    kernel = queues(ws.s.getsockname()[1], a.port)
    # Reading again: the rest, in order, then synced, and no close.
    ws.s.settimeout(30)
    got, code, synced = [], None, False
    wire = 0    # bytes of the first `paused` msg frames, headers included
    while True:
        f = ws.read_frame()
        if f is None:
            break
        if f[0] == 8:
            code = int.from_bytes(f[1][:2], "big") if f[1] else 1005
            break
        m = json.loads(f[1])
        if m.get("type") == "msg":
            got.append(m["id"])
            if len(got) <= paused:
                wire += len(f[1]) + (2 if len(f[1]) < 126 else 4)
        elif m.get("type") == "synced":
            synced = m.get("cursor") == ids[-1]
            break
    # What chatd itself held while the device did not read.
    held = wire - kernel
    out = {"n": a.n, "paused_at": paused, "kernel_kb": kernel // 1024,
           "chatd_held_kb": held // 1024, "got": len(got),
           "in_order": got == sorted(got), "synced": synced,
           "close_code": code}
    print(" ".join("%s=%s" % kv for kv in out.items()))
    fails = []
    if paused >= a.n or held > a.queue_max:
        fails.append("paging did not stop for a device that does not read "
                     "(%d of %d pushed, %d KB held by chatd)" % (
                         paused, a.n, held // 1024))
    if code is not None:
        fails.append("closed with %s during the sync" % code)
    if got != ids:
        fails.append("got %d of %d messages%s" % (
            len(got), a.n, "" if got == sorted(got) else ", out of order"))
    if not synced:
        fails.append("no synced frame with the newest id")
    if fails:
        print("FAILED: %s" % "; ".join(fails), file=sys.stderr)
        return 1
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("-n", type=int, default=400)
    p.add_argument("--body", type=int, default=8000)
    p.add_argument("--queue-max", type=int, default=1048576)
    a = p.parse_args()
    try:
        rc = run(a)
    except AssertionError as e:
        print("FAILED: %s" % e, file=sys.stderr)
        rc = 1
    sys.stdout.flush()
    os._exit(rc)


if __name__ == "__main__":
    main()
