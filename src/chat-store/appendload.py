#!/usr/bin/python3
"""appendload: drives chat-store's msg.append over its socket, for the
group-commit measurement in chat-store(1) and the kill -9 test.

  appendload.py SOCK [--conns 8] [--count 20000] [--body 200]
                [--window 256] [--acks FILE] [--setup]

--setup creates the users loada and loadb first.  Each of --conns
connections pipelines up to --window appends from loada to loadb, with
cids unique to this run.  --acks appends every acknowledged message id to
FILE as its reply arrives (flushed line by line), so a test can kill the
store mid-burst and check each of them afterwards.  Prints one JSON line:
{"acked","errors","codes","seconds","per_second"}, codes counting
each error code.  A closed connection ends that
connection's part (the store was killed); that is not an error.
"""
import argparse, json, os, socket, sys, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("sock")
ap.add_argument("--conns", type=int, default=8)
ap.add_argument("--count", type=int, default=20000)
ap.add_argument("--body", type=int, default=200)
ap.add_argument("--window", type=int, default=256)
ap.add_argument("--acks")
ap.add_argument("--setup", action="store_true")
a = ap.parse_args()

def call(s, f, req):
    s.sendall(json.dumps(req).encode() + b"\n")
    return json.loads(f.readline())

if a.setup:
    s = socket.socket(socket.AF_UNIX); s.connect(a.sock); f = s.makefile("rb")
    for n, u in enumerate(("loada", "loadb"), 1):
        r = call(s, f, {"op": "user.create", "id": n, "user": u,
                        "password": "password-" + u})
        if not r["ok"] and r["error"]["code"] != "user_exists":
            sys.exit("setup: %r" % r)
    s.close()

nonce = "%x%x" % (os.getpid(), int(time.time() * 1000))
body = "x" * a.body
lock = threading.Lock()
acks = open(a.acks, "a") if a.acks else None
acked = errors = 0
codes = {}

def worker(k, quota):
    global acked, errors, codes
    s = socket.socket(socket.AF_UNIX); s.connect(a.sock)
    f = s.makefile("rb")
    sent = got = 0
    try:
        while got < quota:
            burst = b""
            while sent < quota and sent - got < a.window:
                sent += 1
                burst += json.dumps({"op": "msg.append", "id": sent,
                    "from": "loada", "device": "load%d" % k,
                    "cid": "%s-%d-%d" % (nonce, k, sent), "to": "loadb",
                    "body": body}).encode() + b"\n"
            if burst:
                s.sendall(burst)
            line = f.readline()
            if not line:
                break
            got += 1
            r = json.loads(line)
            with lock:
                if r.get("ok"):
                    acked += 1
                    if acks:
                        acks.write(r["mid"] + "\n"); acks.flush()
                else:
                    errors += 1
                    c = r.get("error", {}).get("code")
                    codes[c] = codes.get(c, 0) + 1
    except OSError:
        pass
    s.close()

t0 = time.time()
per = a.count // a.conns
ts = [threading.Thread(target=worker, args=(k, per + (1 if k < a.count % a.conns else 0)))
      for k in range(a.conns)]
for t in ts: t.start()
for t in ts: t.join()
dt = time.time() - t0
print(json.dumps({"acked": acked, "errors": errors, "codes": codes,
                  "seconds": round(dt, 3),
                  "per_second": round(acked / dt) if dt > 0 else 0}))
