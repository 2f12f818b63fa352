#!/usr/bin/python3
"""nats_nodes: two stack nodes joined by NATS (tests/101-nats-nodes.bats).

    nats_nodes.py SCENARIO --url-a WS_URL --url-b WS_URL [--progress F --stop F]

Node A holds chat-store, chat-route and presenced; node B only chatd and
chat-api, reaching A's daemons through chat-bus.  $CHAT_HOME/$CHAT_RUN are
node A's (users and devices are made through its store.sock; both nodes
share the token secret).  Each scenario prints one JSON line of figures
and exits 0, or 1 with the reason on stderr.
"""
import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import Client, Ipc, login, make_users  # noqa: E402
from msgtest import (Pacer, Stream, check, drain, ids_of,  # noqa: E402
                     keep_connected, start_all, uniq, verdict,
                     write_progress)

SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__.replace("_", "-")] = fn
    return fn


async def device(store, url, user):
    return await Client(url, user, *login(store, user)).connect()


async def settle(clients, secs=0.5):
    """Waits a little so that a second copy, if any, would arrive."""
    await asyncio.sleep(secs)
    for c in clients:
        check(c.dups == 0 and c.order == 0,
              "%s: dups %d order %d" % (c.user, c.dups, c.order))


@scenario
async def exchange(a, store):
    """A device on each node: 1:1 both ways, a group message, presence;
    each acked once and delivered once, to the right devices only."""
    al_u, bo_u, ca_u = uniq("al"), uniq("bo"), uniq("ca")
    make_users(store, [al_u, bo_u, ca_u])
    store.ok("friend.add", user=al_u, other=bo_u)
    store.ok("friend.add", user=bo_u, other=al_u)
    al = await device(store, a.url_a, al_u)          # node A
    bo = await device(store, a.url_b, bo_u)          # node B
    bo2 = await device(store, a.url_a, bo_u)         # bob's other device, A
    ca = await device(store, a.url_b, ca_u)          # node B
    t0 = time.monotonic()
    ack = await al.send("x1", "A to B", to=bo_u)
    check(ack["type"] == "ack", "ack A->B: %s" % ack)
    await bo.wait_msgs(1)
    await bo2.wait_msgs(1)
    a2b_ms = (time.monotonic() - t0) * 1000
    check(bo.msgs[0]["id"] == ack["id"] and bo.msgs[0]["body"] == "A to B"
          and bo.msgs[0]["from"] == al_u, "B got %s" % bo.msgs)
    t0 = time.monotonic()
    ack2 = await bo.send("y1", "B to A", to=al_u)
    check(ack2["type"] == "ack", "ack B->A: %s" % ack2)
    await al.wait_msgs(1)
    b2a_ms = (time.monotonic() - t0) * 1000
    check(al.msgs[0]["id"] == ack2["id"] and al.msgs[0]["from"] == bo_u,
          "A got %s" % al.msgs)
    await bo2.wait_msgs(2)     # the sender's other device, on the other node
    check(bo2.msgs[1]["id"] == ack2["id"], "bob's A device: %s" % bo2.msgs)
    gid = store.ok("group.create", owner=ca_u, name="nodes",
                   members=[al_u, bo_u])["group"]
    ack3 = await ca.send("g1", "to the group", group=gid)
    check(ack3["type"] == "ack", "group ack: %s" % ack3)
    for c, n in ((al, 2), (bo, 2), (bo2, 3)):
        await c.wait_msgs(n)
        check(c.msgs[-1]["id"] == ack3["id"] and c.msgs[-1]["group"] == gid,
              "%s got %s" % (c.user, c.msgs))
    # Presence crosses too: bob (node B) goes away; alice (A) is told.
    end = time.monotonic() + 10
    while not any(p["user"] == bo_u and p["status"] == "online"
                  for p in al.presence):
        check(time.monotonic() < end, "alice never saw bob online: %s"
              % al.presence)
        await asyncio.sleep(0.05)
    await settle([al, bo, bo2, ca])
    check(len(al.msgs) == 2 and len(bo.msgs) == 2 and len(bo2.msgs) == 3
          and not ca.msgs, "one copy each: %d %d %d %d" % (
              len(al.msgs), len(bo.msgs), len(bo2.msgs), len(ca.msgs)))
    for c in (al, bo, bo2, ca):
        await c.close()
    return {"a_to_b_ms": round(a2b_ms, 1), "b_to_a_ms": round(b2a_ms, 1)}


@scenario
async def stream(a, store):
    """Streams both ways and to a group while the test kills a NATS server
    (it polls --progress, then creates --stop).  Senders resend unacked
    cids; devices resume from the newest id they hold.  Then every acked
    message reached every device it should, once, in id order, and each
    cid is stored once."""
    al_u, bo_u, ca_u, da_u = (uniq(p) for p in ("al", "bo", "ca", "da"))
    make_users(store, [al_u, bo_u, ca_u, da_u])
    gid = store.ok("group.create", owner=ca_u, name="s",
                   members=[al_u, bo_u, da_u])["group"]
    st = Stream()

    def mk(url, u):
        return Client(url, u, *login(store, u))
    sa, sb, sc = mk(a.url_a, al_u), mk(a.url_b, bo_u), mk(a.url_b, ca_u)
    # receivers: bob on B and on A, alice on B and on A, dave on A
    recv = [mk(a.url_b, bo_u), mk(a.url_a, bo_u), mk(a.url_b, al_u),
            mk(a.url_a, al_u), mk(a.url_a, da_u)]
    everyone = [sa, sb, sc] + recv
    keepers = await start_all(everyone, lambda c: keep_connected(c, st))
    pace = Pacer(st, a.stop, a.n or 50)
    prog = asyncio.create_task(write_progress(st, a.progress))
    await asyncio.gather(pace.send(sa, "a-", to=bo_u),
                         pace.send(sb, "b-", to=al_u),
                         pace.send(sc, "c-", group=gid))
    await pace.finish(90)
    sent = dict(st.acked)
    every = ids_of(sent, "a-", "b-", "c-")
    # what each receiver must hold (a sender's other devices get copies)
    want = [every, every, every, every, ids_of(sent, "c-")]
    lost, phantom = await drain(st, sent, recv, want, everyone,
                                keepers + [prog], secs=40)
    return verdict(st, sent, lost, phantom, everyone, bo_u)


def discover(apis, tok):
    """chat_url from the first chat-api in apis that answers, or None."""
    for api in apis:
        req = urllib.request.Request(api + "/v1/discover", headers={
            "Authorization": "Bearer " + tok})
        try:
            with urllib.request.urlopen(req, timeout=2) as r:
                return json.load(r)["chat_url"]
        except Exception:
            continue
    return None


def keep_discovering(c, st, apis):
    """As msgtest's keep_connected, but after a loss the device asks
    /v1/discover (each node's chat-api in turn) where to go, so a device
    whose chatd died moves to a live one and resumes from its newest id."""
    c.moves = 0

    async def relocate(c):
        loop = asyncio.get_running_loop()
        url = await loop.run_in_executor(None, discover, apis, c.tok)
        if url and url != c.url:
            c.url = url
            c.moves += 1
    return keep_connected(c, st, relocate)


@scenario
async def failover(a, store):
    """Node B dies whole during a stream (the test kills it): its devices
    rediscover, move to node A's chatd and resume from their newest id;
    senders resend what was not acked.  Then the stream's checks."""
    al_u, bo_u, ca_u, dd_u = (uniq(p) for p in ("al", "bo", "ca", "dd"))
    make_users(store, [al_u, bo_u, ca_u, dd_u])
    gid = store.ok("group.create", owner=al_u, name="f",
                   members=[bo_u, ca_u])["group"]
    st = Stream()
    apis = a.api.split(",")

    def mk(url, u):
        return Client(url, u, *login(store, u))
    sa, sd = mk(a.url_b, al_u), mk(a.url_a, dd_u)
    recv = [mk(a.url_b, bo_u), mk(a.url_a, ca_u)]
    everyone = [sa, sd] + recv
    keepers = await start_all(everyone,
                              lambda c: keep_discovering(c, st, apis))
    pace = Pacer(st, a.stop, a.n or 50)
    prog = asyncio.create_task(write_progress(st, a.progress))
    await asyncio.gather(pace.send(sa, "a-", to=ca_u),
                         pace.send(sa, "g-", group=gid),
                         pace.send(sd, "d-", to=bo_u))
    await pace.finish(90)
    sent = dict(st.acked)
    want = [ids_of(sent, "g-", "d-"), ids_of(sent, "a-", "g-")]
    lost, phantom = await drain(st, sent, recv, want, everyone,
                                keepers + [prog], secs=40)
    out = {"acked": len(sent), "lost": lost, "phantom": phantom,
           "dups": sum(c.dups for c in everyone),
           "order": sum(c.order for c in everyone),
           "cid_two_ids": st.mismatch, "reconnects": st.reconnects,
           "resent": st.resent,
           "moved": sum(1 for c in (sa, recv[0]) if c.url == a.url_a)}
    byid = {i: c for c, i in sent.items()}
    missing = [(byid[i], i, i < c.last) for k, c in enumerate(recv)
               for i in sorted(want[k] - c.ids)]
    if missing:     # which, and whether the device holds newer ids
        out["missing"] = missing[:10]
    print(json.dumps(out), file=sys.stderr)
    check(sum(lost.values()) == 0, "lost acked messages: %s" % out)
    check(phantom == 0 and out["dups"] == 0 and out["order"] == 0 and
          st.mismatch == 0, "%s" % out)
    check(out["moved"] == 2, "node B's devices did not move: %s" % out)
    return out


@scenario
async def hold(a, store):
    """Holds a.n devices connected to --url-b until killed (load for
    discovery); prints a token for the API first, then sleeps."""
    u = uniq("ho")
    make_users(store, [u])
    cs = [await device(store, a.url_b, u) for _ in range(a.n or 3)]
    print(json.dumps({"token": login(store, u)[1], "held": len(cs)}),
          flush=True)
    while True:
        await asyncio.sleep(3600)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--url-a", required=True)
    p.add_argument("--url-b", required=True)
    p.add_argument("-n", type=int, default=0, help="stream: sends/s each")
    p.add_argument("--api", help="failover: chat-api URLs, comma "
                   "separated")
    p.add_argument("--progress")
    p.add_argument("--stop")
    a = p.parse_args()
    try:
        out = asyncio.run(SCENARIOS[a.scenario](a, Ipc("store")))
    except AssertionError as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
    out["ok"] = True
    print(json.dumps(out))


if __name__ == "__main__":
    main()
