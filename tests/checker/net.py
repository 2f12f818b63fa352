#!/usr/bin/python3
"""net: drivers of the network rows of RELIABILITY.md (tests/98-net.bats,
tests/long/row-1*-*.bats) that the Jepsen driver does not cover.

    net.py heartbeat --url URL --hook URL [--hangup S]

heartbeat (row 13): users alice and bob, friends.  alice's device has a
webhook push registration at HOOK/alice/DEVICE and connects on a raw
socket: it completes the upgrade and auth, then reads whatever comes but
never answers a PING and never sends another frame.  bob connects with a
library client (which answers PINGs) and, once alice is silent, sends her
one message M1: chatd writes it to her dead socket, so it is held in her
inbox past her cursor.  The driver waits for chatd to hang up on alice and
for bob to see her go offline, then prints one JSON line:
  hangup_s      seconds from alice's last frame (her auth) to the TCP close
  pings         PING frames chatd sent her meanwhile
  m1            M1's id;  m1_seen  whether the dead socket got it
  closed_at     time.time() of the close (compare with the stub's "t")
  offline_s     seconds from the close to bob's presence frame "offline"
  device        alice's device id

    net.py slowhead --port P [--src ADDR] [--every S] [--limit S]

slowhead (row 28): one connection from ADDR (default 127.0.0.2) to
127.0.0.1:P sends a request line, then one more header line every S
seconds (default 1), never the blank line; prints {"closed_s": seconds
until the server closed it} (null if still open after --limit, 30 s).

    net.py flood --port P --n N [--src ADDR] [--path /v1/health]

flood (row 28): N connections from ADDR (default 127.0.0.3) to 127.0.0.1:P
at once, held; after 1 s counts those the server closed without a byte
("refused") and those still open; then one request for PATH from
127.0.0.1 must be answered.  Prints {"refused", "open", "other_status"}.
Exit 1 with the reason on stderr if any step fails.
"""
import argparse
import asyncio
import json
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "drivers"))
from chatlib import Client, Ipc, RawWS, login, make_users  # noqa: E402


def fail(why):
    print("net: FAILED: %s" % why, file=sys.stderr)
    sys.stderr.flush()
    os._exit(1)


async def heartbeat(a):
    store = Ipc("store")
    make_users(store, ["alice", "bob"])
    store.ok("friend.add", user="alice", other="bob")
    store.ok("friend.add", user="bob", other="alice")
    dev, tok = login(store, "alice")
    store.ok("push.set", user="alice", device=dev, provider="webhook",
             endpoint="%s/alice/%s" % (a.hook, dev))
    bdev, btok = login(store, "bob")
    bob = await Client(a.url, "bob", bdev, btok).connect()

    raw = RawWS(a.url)
    if not raw.auth(tok):
        fail("alice's auth on the raw socket")
    t_last = time.monotonic()       # her last frame: nothing after this
    loop = asyncio.get_running_loop()
    frames = {"pings": 0, "msgs": []}

    def reader():
        raw.s.settimeout(a.hangup * 3)
        while True:
            f = raw.read_frame()
            if f is None:
                return time.monotonic(), time.time()
            if f[0] == 9:
                frames["pings"] += 1
            elif f[0] == 1:
                frames["msgs"].append(json.loads(f[1]))
            elif f[0] == 8:
                # chatd's close frame: the hangup it chose (not ours).
                frames["close"] = int.from_bytes(f[1][:2], "big") \
                    if f[1] else 1005
    rd = loop.run_in_executor(None, reader)
    await asyncio.sleep(min(1.0, a.hangup / 4))
    ack = await bob.send("m1", "while alice is silent", to="alice")
    if ack.get("type") != "ack":
        fail("bob's send: %s" % ack)
    mark = len([p for p in bob.presence if p["user"] == "alice"])
    t_close, closed_at = await rd
    hangup_s = t_close - t_last
    end = time.monotonic() + a.hangup * 2 + 5
    while True:
        off = [p for p in bob.presence if p["user"] == "alice"][mark:]
        if off and off[-1]["status"] == "offline":
            break
        if time.monotonic() > end:
            fail("bob never saw alice offline: %s" % bob.presence)
        await asyncio.sleep(0.01)
    offline_s = time.monotonic() - t_close
    try:
        raw.s.close()
    except OSError:
        pass
    await bob.close()
    return {"hangup_s": round(hangup_s, 3), "pings": frames["pings"],
            "close": frames.get("close"), "m1": ack["id"],
            "m1_seen": any(m.get("id") == ack["id"] for m in frames["msgs"]
                           if m.get("type") == "msg"),
            "closed_at": closed_at, "offline_s": round(offline_s, 3),
            "device": dev}


def slowhead(a):
    s = socket.socket()
    s.bind((a.src or "127.0.0.2", 0))
    s.connect(("127.0.0.1", a.port))
    t0 = time.monotonic()
    s.sendall(b"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    s.settimeout(a.every)
    i = 0
    while time.monotonic() - t0 < a.limit:
        try:
            if not s.recv(4096):
                break
        except socket.timeout:
            try:
                s.sendall(b"X-Slow-%d: still here\r\n" % i)
                i += 1
            except OSError:
                break
        except OSError:
            break
    else:
        return {"closed_s": None, "lines": i}
    return {"closed_s": round(time.monotonic() - t0, 3), "lines": i}


def flood(a):
    conns = []
    for _ in range(a.n):
        s = socket.socket()
        s.bind((a.src or "127.0.0.3", 0))
        s.connect(("127.0.0.1", a.port))
        conns.append(s)
    time.sleep(1)
    refused = 0
    for s in conns:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                refused += 1
        except BlockingIOError:
            pass
        except OSError:
            refused += 1
    c = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    c.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
               "Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: "
               "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "\r\n" % a.path).encode() if a.path == "/v1/ws" else
              ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
               % a.path).encode())
    head = c.recv(64).split(b"\r\n")[0].decode(errors="replace")
    for s in conns:
        s.close()
    return {"refused": refused, "open": a.n - refused,
            "other_status": head}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["heartbeat", "slowhead", "flood"])
    p.add_argument("--url")
    p.add_argument("--hook")
    p.add_argument("--hangup", type=float, default=4)
    p.add_argument("--port", type=int)
    p.add_argument("--src")
    p.add_argument("--every", type=float, default=1)
    p.add_argument("--limit", type=float, default=30)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--path", default="/v1/health")
    a = p.parse_args()
    try:
        if a.mode == "slowhead":
            out = slowhead(a)
        elif a.mode == "flood":
            out = flood(a)
        else:
            out = asyncio.run(heartbeat(a))
    except (AssertionError, asyncio.TimeoutError, OSError, socket.timeout) \
            as e:
        fail("%s: %s" % (type(e).__name__, e))
    print(json.dumps(out))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
