#!/usr/bin/python3
"""kick: a logout closes the logged-out device's open WebSockets, and only
those (RELIABILITY.md row 23, "logout closes all of that user's sockets").

    kick.py --api URL --urls WS1,WS2 one|all|route-down

Users sign up and log in through chat-api (the path a client takes); their
devices connect to the two chatds in turn.

one         POST /v1/logout from one device: that socket gets an error
            frame and close 4003; the user's device on the other chatd and
            another user stay open and still exchange messages.
all         POST /v1/logout {"all":true}: every device of the user, on both
            chatds, is closed; another user is not.
route-down  (chat-route stopped by the caller) POST /v1/logout is still 200
            and the token is refused.
After each, the logged-out tokens are refused at auth (4003).  Prints one
line of figures; exit 1 naming a failure.
"""
import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "drivers"))
from chatlib import Client, api_call  # noqa: E402

fails = []


def check(ok, what):
    if not ok:
        fails.append(what)


def http(a, method, path, tok=None, body=None):
    return api_call(a.api, method, path, tok, body)


def signup(a, user):
    st, _ = http(a, "POST", "/v1/signup", body={"user": user,
                                                 "password": "password1"})
    if st not in (201, 409):
        raise AssertionError("signup %s: %s" % (user, st))


async def device(a, user, name, url):
    """A device logged in through chat-api and connected to url."""
    st, r = http(a, "POST", "/v1/login", body={"user": user, "password":
                                                "password1", "device": name})
    if st != 200:
        raise AssertionError("login %s/%s: %s %s" % (user, name, st, r))
    return await Client(url, user, r["device"], r["token"]).connect()


async def closed(c, t0, bound=5.0):
    """(close code, seconds since t0) once c is closed, or (None, None)."""
    try:
        code = await c.wait_closed(timeout=bound)
        return code, round(time.monotonic() - t0, 3)
    except asyncio.TimeoutError:
        return None, None


async def refused(c):
    """1 if c's token no longer opens a session (auth closes 4003)."""
    again = Client(c.url, c.user, c.device, c.tok)
    try:
        await again.connect()
    except Exception:
        pass
    code = await again.wait_closed(timeout=10)
    return code == 4003 and again.ready is None


async def still_talk(sender, receiver, cid):
    """sender's message reaches receiver: both are still up."""
    r = await sender.send(cid, "still here", to=receiver.user)
    if r.get("type") != "ack":
        return False
    end = time.monotonic() + 10
    while time.monotonic() < end:
        if any(m["id"] == r["id"] for m in receiver.msgs):
            return True
        await asyncio.sleep(0.02)
    return False


def logged_out_error(c):
    return any(e.get("code") == "unauthorized" for e in c.errors)


async def one(a):
    u1, u2 = a.users
    phone = await device(a, u1, "phone", a.urls[0])
    laptop = await device(a, u1, "laptop", a.urls[1])
    other = await device(a, u2, "desk", a.urls[0])
    t0 = time.monotonic()
    st, _ = http(a, "POST", "/v1/logout", phone.tok)
    check(st == 200, "logout: %s" % st)
    code, secs = await closed(phone, t0)
    check(code == 4003, "phone closed with %s, not 4003" % code)
    check(logged_out_error(phone), "no error frame before the close: %s" %
          phone.errors)
    check(laptop.close_code is None and other.close_code is None,
          "others closed: laptop %s, other %s" % (laptop.close_code,
                                                 other.close_code))
    check(await still_talk(other, laptop, "k1"), "laptop no longer gets "
          "messages")
    check(await still_talk(laptop, other, "k2"), "other no longer gets "
          "messages")
    check(await refused(phone), "phone's token still opens a session")
    st, _ = http(a, "GET", "/v1/discover", laptop.tok)
    check(st == 200, "laptop's token refused by chat-api: %s" % st)
    return {"closed": code, "close_s": secs, "others_open": True}


async def all_(a):
    u1, u2 = a.users
    devs = [await device(a, u1, "d%d" % i, a.urls[i % 2]) for i in range(3)]
    other = await device(a, u2, "desk", a.urls[1])
    t0 = time.monotonic()
    st, r = http(a, "POST", "/v1/logout", devs[0].tok, body={"all": True})
    check(st == 200 and r.get("devices") == 3, "logout all: %s %s" % (st, r))
    got = [await closed(d, t0) for d in devs]
    codes = [c for c, _ in got]
    check(codes == [4003] * 3, "devices closed with %s" % codes)
    check(other.close_code is None, "the other user closed: %s" %
          other.close_code)
    for d in devs:
        check(await refused(d), "%s's token still opens a session" %
              d.device)
    st, _ = http(a, "GET", "/v1/discover", devs[1].tok)
    check(st == 401, "chat-api still takes a logged-out token: %s" % st)
    return {"closed": codes, "close_s": max((s or 0) for _, s in got),
            "others_open": other.close_code is None}


async def route_down(a):
    u1, _ = a.users
    d = await device(a, u1, "phone", a.urls[0])
    t0 = time.monotonic()
    st, _ = http(a, "POST", "/v1/logout", d.tok)
    secs = round(time.monotonic() - t0, 3)
    check(st == 200, "logout with chat-route down: %s" % st)
    await d.close()
    check(await refused(d), "the token still opens a session")
    return {"logout": st, "logout_s": secs}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--api", required=True)
    p.add_argument("--urls", required=True)
    p.add_argument("--users", default="kick_a,kick_b")
    p.add_argument("scenario", choices=["one", "all", "route-down"])
    a = p.parse_args()
    a.urls = a.urls.split(",")
    a.urls = (a.urls * 2)[:2]
    a.users = a.users.split(",")
    for u in a.users:
        signup(a, u)
    fn = {"one": one, "all": all_, "route-down": route_down}[a.scenario]
    try:
        out = asyncio.run(fn(a))
    except AssertionError as e:
        fails.append(str(e))
        out = {}
    print(" ".join("%s=%s" % kv for kv in out.items()))
    if fails:
        print("FAILED: %s" % "; ".join(fails), file=sys.stderr)
    sys.stdout.flush()
    os._exit(1 if fails else 0)


if __name__ == "__main__":
    main()
