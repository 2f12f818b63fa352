#!/usr/bin/python3
"""alive: chatd's liveness check (src/chatd/alive.c) seen from a raw socket.

    alive.py talker|ponger --url URL --hangup S

A device of user "ann" logs in through chat-store's socket and connects on
a raw WebSocket (tests/drivers/chatlib.py RawWS), authenticates, then for
3 x S seconds:
  talker  sends {"type":"hb"} every S/4 seconds and never answers a PING;
  ponger  sends no frame but answers every PING with its PONG.
Then it falls silent (no frame, no PONG) and waits, at most 4 x S, for
chatd to hang up.  Prints one JSON line:
  open_s         seconds it stayed open while talking or ponging (3 x S
                 when chatd kept it)
  pings_early    PINGs received while talking or ponging
  pings          PINGs received in all
  hangup_s       seconds from its last frame or PONG to the TCP close
                 (null if chatd never closed it)
  close_frame    whether chatd sent a close frame (a hangup sends none)
Exits 1 with the reason on stderr if a step fails.
"""
import argparse
import json
import os
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import Ipc, RawWS, login, make_users  # noqa: E402


def fail(why):
    print("alive: FAILED: %s" % why, file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["talker", "ponger"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--hangup", type=float, required=True)
    a = ap.parse_args()

    store = Ipc("store")
    make_users(store, ["ann"])
    _, tok = login(store, "ann")
    raw = RawWS(a.url)
    if not raw.auth(tok):
        fail("auth refused")
    last = time.monotonic()            # ann's last frame or PONG
    start = last
    st = {"pings": 0, "pings_early": 0, "close_frame": False}
    closed = None
    active = True
    next_hb = last + a.hangup / 4
    while closed is None:
        now = time.monotonic()
        if active and now - start >= 3 * a.hangup:
            active = False
            st["open_s"] = round(now - start, 3)
        if not active and now - last > 4 * a.hangup:
            break
        if active and a.mode == "talker" and now >= next_hb:
            if not raw.frame('{"type":"hb"}'):
                closed = time.monotonic()
                break
            last = now
            next_hb = now + a.hangup / 4
        wait = max(0.0, min(next_hb - now, 0.05))
        r, _, _ = select.select([raw.s], [], [], wait)
        if not r:
            continue
        f = raw.read_frame()
        if f is None:
            closed = time.monotonic()
            break
        if f[0] == 9:
            st["pings"] += 1
            if active:
                st["pings_early"] += 1
                if a.mode == "ponger":
                    raw.frame(f[1], opcode=10)
                    last = time.monotonic()
        elif f[0] == 8:
            st["close_frame"] = True
    if "open_s" not in st:
        st["open_s"] = round((closed or time.monotonic()) - start, 3)
    st["hangup_s"] = round(closed - last, 3) if closed else None
    print(json.dumps(st))


if __name__ == "__main__":
    main()
