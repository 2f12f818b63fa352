"""chatlib: a neutral client for the messaging tests.

It speaks to chat-store over its Unix socket (users, devices, groups) and to
chatd over WebSocket (python3-websockets), and mints tokens itself from
$CHAT_HOME/etc/secret with the format lib/token.h documents, so a test
depends on neither chat-api nor any program under test to talk to the one
under test.  Every WebSocket client records what it receives and checks the
protocol's ordering rule as it goes: ids a device receives only increase.
"""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request

import websockets

HOME = os.environ.get("CHAT_HOME", "./var")
RUN = os.environ.get("CHAT_RUN", HOME + "/run")


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(user, device, gen, ttl=3600):
    """A bearer token as lib/token.c makes it."""
    with open(HOME + "/etc/secret", "rb") as f:
        secret = f.read()
    payload = "v1:%s:%s:%d:%d" % (user, device, int(time.time()) + ttl, gen)
    enc = b64u(payload.encode())
    mac = hmac.new(secret, enc.encode(), hashlib.sha256).digest()
    return enc + "." + b64u(mac)


def api_call(base, method, path, tok=None, body=None):
    """One chat-api request: (status, decoded JSON body), errors included."""
    req = urllib.request.Request(base + path, method=method)
    if tok:
        req.add_header("Authorization", "Bearer " + tok)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, data, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class Ipc:
    """A blocking NDJSON client of a daemon's socket, pipelining batches."""

    def __init__(self, name):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(60)
        self.s.connect("%s/%s.sock" % (RUN, name))
        self.f = self.s.makefile("rb")
        self.n = 0

    def batch(self, reqs):
        out, ids = [], []
        for r in reqs:
            self.n += 1
            r = dict(r, id=self.n)
            ids.append(self.n)
            out.append(json.dumps(r).encode() + b"\n")
        self.s.sendall(b"".join(out))
        got = {}
        while len(got) < len(ids):
            line = self.f.readline()
            if not line:
                raise RuntimeError("eof from socket")
            rep = json.loads(line)
            if "id" in rep and rep["id"] in ids:
                got[rep["id"]] = rep
        return [got[i] for i in ids]

    def call(self, op, **kw):
        return self.batch([dict(kw, op=op)])[0]

    def ok(self, op, **kw):
        r = self.call(op, **kw)
        if not r.get("ok"):
            raise AssertionError("%s failed: %s" % (op, r))
        return r


# yescrypt of "password1", so seeded users can log in through chat-api too.
PASSWORD1_HASH = ("$y$j9T$uW0wc8HyQNsL3DQDVqWe.1$"
                  "lqcDABoy2YolmVAIDaI7.MKzz8v3VyF9KuSNTo3M880")


def seed_lines(names):
    """`chat-store import` lines making users (key u/NAME, see
    ARCHITECTURE.md) without paying yescrypt for each: for big groups."""
    now = int(time.time() * 1000)
    return [json.dumps({"key": "u/" + u, "value": {
        "user": u, "display_name": u, "created_at": now,
        "hash": PASSWORD1_HASH}}) for u in names]


def shard_of(key, n):
    """The shard of key among n, as lib/shard.c computes it: FNV-1a (32
    bits) of its UTF-8 bytes, mixed by murmur3's fmix32, modulo n."""
    if n <= 1:
        return 0
    h = 2166136261
    for b in key.encode():
        h = ((h ^ b) * 16777619) & 0xffffffff
    h ^= h >> 16
    h = (h * 0x85ebca6b) & 0xffffffff
    h ^= h >> 13
    h = (h * 0xc2b2ae35) & 0xffffffff
    h ^= h >> 16
    return h % n


def run_scenario(name, fn, a, store):
    """Runs the async scenario fn(a, store) and exits: 0 after printing its
    result as one JSON line (with scenario and ok), 1 after saying on
    stderr why it failed (an AssertionError or a timeout).  os._exit, so
    that tasks still pending make no noise and open sockets close at once."""
    async def run_one():
        try:
            out = await fn(a, store)
        except (AssertionError, asyncio.TimeoutError) as e:
            print("%s: FAILED: %s" % (name, e or type(e).__name__),
                  file=sys.stderr, flush=True)
            os._exit(1)
        print(json.dumps(dict(out or {}, scenario=name, ok=True)),
              flush=True)
        os._exit(0)
    asyncio.run(run_one())


def make_users(store, names, password="password1"):
    reps = store.batch([{"op": "user.create", "user": u, "password": password}
                        for u in names])
    for u, r in zip(names, reps):
        if not r.get("ok") and r["error"]["code"] != "user_exists":
            raise AssertionError("user.create %s: %s" % (u, r))


def login(store, user, device=None):
    """(device, token) for a new or named device."""
    kw = {"user": user}
    if device:
        kw["device"] = device
    r = store.ok("device.login", **kw)
    return r["device"], token(user, r["device"], r["gen"])


class Closed(Exception):
    pass


class Client:
    """One device's WebSocket.  Frames are sorted as they arrive: msg frames
    into msgs (ids checked to increase), acks and errors by cid."""

    def __init__(self, url, user, device, tok):
        self.url, self.user, self.device, self.tok = url, user, device, tok
        self.ws = None
        self.msgs = []          # every msg frame, in arrival order
        self.ids = set()
        self.last = "0" * 16    # newest id held (valid since)
        self.dups = 0           # a msg id received again
        self.order = 0          # a msg id not above the one before
        self.acks = {}          # cid -> ack frame
        self.errors = []        # error frames
        self.typing = []
        self.presence = []
        self.waiters = {}       # cid -> future
        self.synced = None
        self.ready = None
        self.close_code = None
        self.reader = None

    async def connect(self, since=None, auth=True, wait_synced=True):
        self.ws = await websockets.connect(self.url, max_size=None,
                                           ping_interval=None)
        self.synced = asyncio.get_running_loop().create_future()
        self.close_code = None
        self.reader = asyncio.create_task(self._read())
        if auth:
            a = {"type": "auth", "token": self.tok}
            if since is not None:
                a["since"] = since
            await self.ws.send(json.dumps(a))
            if wait_synced:
                await asyncio.wait_for(asyncio.shield(self.synced), 60)
        return self

    async def _read(self):
        try:
            async for raw in self.ws:
                self.on_frame(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            for f in list(self.waiters.values()):
                if not f.done():
                    f.set_exception(Closed())
                    f.exception()   # retrieved: no warning if unawaited
            self.waiters.clear()
            if not self.synced.done():
                self.synced.set_exception(Closed())
                self.synced.exception()  # no "never retrieved" warning

    def on_frame(self, f):
        t = f.get("type")
        if t == "msg":
            i = f["id"]
            if i in self.ids:
                self.dups += 1
            elif i <= self.last:
                self.order += 1
            if i not in self.ids:
                self.ids.add(i)
                self.msgs.append(f)
            if i > self.last:
                self.last = i
        elif t == "ready":
            self.ready = f
        elif t == "synced":
            if not self.synced.done():
                self.synced.set_result(f)
        elif t == "ack":
            self.acks[f["cid"]] = f
            w = self.waiters.pop(f["cid"], None)
            if w and not w.done():
                w.set_result(f)
        elif t == "error":
            self.errors.append(f)
            w = self.waiters.pop(f.get("cid"), None)
            if w and not w.done():
                w.set_result(f)
        elif t == "typing":
            self.typing.append(f)
        elif t == "presence":
            self.presence.append(f)

    async def send_raw(self, text):
        await self.ws.send(text)

    async def send(self, cid, body, to=None, group=None, wait=True):
        """Sends one message; with wait, returns its ack or error frame."""
        f = {"type": "send", "cid": cid, "body": body}
        if to:
            f["to"] = to
        if group:
            f["group"] = group
        fut = asyncio.get_running_loop().create_future()
        self.waiters[cid] = fut
        await self.ws.send(json.dumps(f))
        if wait:
            return await asyncio.wait_for(fut, 30)
        return fut

    async def wait_msgs(self, n, timeout=30):
        """Until at least n messages are held."""
        end = time.monotonic() + timeout
        while len(self.msgs) < n:
            if time.monotonic() > end:
                raise AssertionError("%s/%s: %d of %d messages after %ds" % (
                    self.user, self.device, len(self.msgs), n, timeout))
            await asyncio.sleep(0.02)

    async def wait_closed(self, timeout=10):
        await asyncio.wait_for(self.reader, timeout)
        return self.close_code

    async def close(self):
        if self.ws:
            await self.ws.close()
            if self.reader:
                await self.reader


class RawWS:
    """A WebSocket client on a bare socket, for what a library will not
    do: stop reading, send fragments one by one, send invalid UTF-8."""

    def __init__(self, url, rcvbuf=None):
        hostport = url.split("//")[1].split("/")[0]
        host, port = hostport.rsplit(":", 1)
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(10)
        self.s.connect((host, int(port)))
        self.s.sendall(("GET /v1/ws HTTP/1.1\r\nHost: %s\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n" % hostport).encode())
        hdr = b""
        while b"\r\n\r\n" not in hdr:
            b = self.s.recv(1)
            if not b:
                raise AssertionError("no upgrade reply")
            hdr += b
        if b" 101 " not in hdr.split(b"\r\n")[0]:
            raise AssertionError("upgrade refused: %r" % hdr)

    def frame(self, payload, opcode=1, fin=True):
        """Sends one masked frame; False if the server already closed."""
        if isinstance(payload, str):
            payload = payload.encode()
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        try:
            self.s.sendall(head + mask + body)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            b = self.s.recv(n - len(buf))
            if not b:
                return None
            buf += b
        return buf

    def read_frame(self):
        """(opcode, payload), or None at EOF."""
        try:
            h = self._read(2)
            if h is None:
                return None
            n = h[1] & 0x7f
            if n == 126:
                n = int.from_bytes(self._read(2), "big")
            elif n == 127:
                n = int.from_bytes(self._read(8), "big")
            return h[0] & 0x0f, self._read(n)
        except (ConnectionResetError, socket.timeout):
            return None

    def close_code(self):
        """Reads until the server's close frame: its code, or None if the
        connection ended without one."""
        while True:
            f = self.read_frame()
            if f is None:
                return None
            if f[0] == 8:
                return int.from_bytes(f[1][:2], "big") if f[1] else 1005

    def auth(self, tok):
        self.frame(json.dumps({"type": "auth", "token": tok}))
        while True:
            f = self.read_frame()
            if f is None or json.loads(f[1]).get("type") == "synced":
                return f is not None
