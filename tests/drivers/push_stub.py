#!/usr/bin/python3
"""push_stub: a local HTTP server standing in for a push provider.

    push_stub.py PORT LOG [CONTROL]

Listens on 127.0.0.1:PORT (HTTP/1.1, keep-alive) and appends one JSON line
per request to LOG: {"t", "method", "path", "headers" (names lower case),
"body", "peer" (client port), "active" (requests being answered, this one
included), "answer"}.  Writes LOG.ready once listening.

CONTROL, if given, is a JSON file read before every answer (and polled
every 50 ms for "refuse"); absent or {} means answer success:
  {"mode": "ok"}                       success, in the provider's shape
  {"mode": "status", "status": 503, "retry_after": "2", "body": "..."}
  {"mode": "hang", "secs": 30}         read the request, answer nothing
                                       for secs, then close
  {"mode": "trickle", "secs": 30}      send the status line and headers,
                                       then one body byte every 0.2 s
  {"mode": "refuse"}                   stop listening, drop open
                                       connections; listen again when the
                                       mode changes
  "count": N                           apply the mode to the next N
                                       requests only, then answer success
  "match": "text"                      apply the mode only to paths that
                                       contain text (others: success)
Success shapes: a path ending in /token gets an OAuth2 token answer
{"access_token": "stub-token-N", "expires_in": 3600}; .../messages:send gets
FCM's {"name": ...}; anything else 200 (201 for /up/...) with "{}".
"""
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOG = int(sys.argv[1]), sys.argv[2]
CONTROL = sys.argv[3] if len(sys.argv) > 3 else None
lock = threading.Lock()
state = {"version": None, "used": 0, "tokens": 0, "seq": 0, "active": 0}
conns = set()


def control():
    """The control object in force now (count applied)."""
    if not CONTROL or not os.path.exists(CONTROL):
        return {}
    try:
        with open(CONTROL, "rb") as f:
            raw = f.read()
        c = json.loads(raw or b"{}")
    except (OSError, ValueError):
        return {}
    return c


def take_control(path):
    with lock:
        c = control()
        if "match" in c and c["match"] not in path:
            return {}
        key = json.dumps(c, sort_keys=True)
        if key != state["version"]:
            state["version"], state["used"] = key, 0
        if "count" in c:
            if state["used"] >= int(c["count"]):
                return {}
            state["used"] += 1
        return c


def record(entry):
    line = json.dumps(entry) + "\n"
    with lock:
        with open(LOG, "a") as f:
            f.write(line)
            f.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with lock:
            conns.add(self.connection)

    def finish(self):
        with lock:
            conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def reply(self, status, body, headers=()):
        data = body.encode()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        with lock:
            state["active"] += 1
        try:
            self.answer()
        finally:
            with lock:
                state["active"] -= 1

    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        c = take_control(self.path)
        mode = c.get("mode", "ok")
        with lock:
            active = state["active"]
        entry = {"t": time.time(), "method": self.command, "path": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body": body.decode("utf-8", "replace"),
                 "peer": self.client_address[1], "active": active}
        if mode == "refuse":
            # a kept-alive connection the listener's shutdown has not
            # reached yet: drop it unanswered
            entry["answer"] = "refused"
            record(entry)
            self.close_connection = True
            return
        if mode == "hang":
            entry["answer"] = "hang"
            record(entry)
            time.sleep(float(c.get("secs", 30)))
            self.close_connection = True
            return
        if mode == "trickle":
            entry["answer"] = "trickle"
            record(entry)
            n = int(float(c.get("secs", 30)) / 0.2)
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            try:
                for _ in range(n):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
            self.close_connection = True
            return
        if mode == "status":
            status = int(c.get("status", 503))
            hdrs = []
            if "retry_after" in c:
                hdrs.append(("Retry-After", str(c["retry_after"])))
            entry["answer"] = status
            record(entry)
            self.reply(status, c.get("body", "{}"), hdrs)
            return
        with lock:
            state["seq"] += 1
            seq = state["seq"]
        if self.path.endswith("/token"):
            with lock:
                state["tokens"] += 1
                tok = "stub-token-%d" % state["tokens"]
            out = json.dumps({"access_token": tok, "expires_in": 3600,
                              "token_type": "Bearer"})
            status = 200
        elif self.path.endswith("messages:send"):
            out = json.dumps({"name": "projects/p/messages/%d" % seq})
            status = 200
        elif self.path.startswith("/up/"):
            out, status = "{}", 201
        else:
            out, status = "{}", 200
        entry["answer"] = status
        record(entry)
        self.reply(status, out)

    do_PUT = do_POST


def serve():
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    srv = None
    ready = False
    while True:
        refuse = control().get("mode") == "refuse"
        if refuse and srv is not None:
            srv.shutdown()
            srv.server_close()
            srv = None
            with lock:
                for s in list(conns):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        elif not refuse and srv is None:
            srv = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
            threading.Thread(target=srv.serve_forever, args=(0.05,),
                             daemon=True).start()
            if not ready:
                open(LOG + ".ready", "w").close()
                ready = True
        time.sleep(0.05)


if __name__ == "__main__":
    serve()
