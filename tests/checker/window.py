#!/usr/bin/python3
"""window: what a jepsen.py history shows between two wall-clock moments.

    window.py HISTORY FROM TO

FROM and TO are Unix times (date +%s.%N), placed in the history through the
setup event's wall0.  Prints one JSON object about the events with FROM <= t
< TO, for the nemesis of a fault row (a pause, a full disk):
  acks, errors {code: n}, no_answer (a send that ended with no reply: its
  ack wait timed out or its connection dropped, "retry"),
  sends, connects, resumed (connects that asked for what came after the
  newest id held: "since"), disconnects, disconnected_devs (distinct
  devices that lost their connection), first_ack_after: seconds from TO to the
  first ack at or after TO (null if none), and acks_made_after: acks in the
  window of messages whose id (its 42 bits of milliseconds, chat-route's
  clock) was made at or after FROM.  With FROM the moment chat-store was
  stopped, such a message reached the store after the stop and cannot have
  been committed: any ack of one is an ack without a commit, however late
  the acks of earlier commits arrive on a loaded machine.
"""
import json
import sys


ID_EPOCH_MS = 1704067200000     # lib/id.h


def id_ms(hexid):
    """Unix milliseconds in a message id; 0 for a missing one."""
    try:
        return (int(hexid, 16) >> 22) + ID_EPOCH_MS
    except (TypeError, ValueError):
        return 0


def main():
    path, t_from, t_to = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    wall0 = None
    res = {"acks": 0, "errors": {}, "no_answer": 0, "sends": 0,
           "connects": 0, "resumed": 0, "disconnects": 0, "disconnected_devs": 0,
           "first_ack_after": None, "acks_made_after": 0}
    gone = set()
    for line in open(path):
        e = json.loads(line)
        if e["ev"] == "setup":
            wall0 = e["wall0"]
            continue
        t = wall0 + e["t"]
        ev = e["ev"]
        if ev == "ack" and t >= t_to and res["first_ack_after"] is None:
            res["first_ack_after"] = round(t - t_to, 3)
        if not t_from <= t < t_to:
            continue
        if ev == "ack":
            res["acks"] += 1
            if id_ms(e.get("id")) >= t_from * 1000:
                res["acks_made_after"] += 1
        elif ev in ("error", "fail"):
            c = e.get("code")
            res["errors"][c] = res["errors"].get(c, 0) + 1
        elif ev == "retry":
            res["no_answer"] += 1
        elif ev == "send":
            res["sends"] += 1
        elif ev == "connect":
            res["connects"] += 1
            res["resumed"] += e.get("since") is not None
        elif ev == "disconnect":
            res["disconnects"] += 1
            gone.add(e["dev"])
    res["disconnected_devs"] = len(gone)
    print(json.dumps(res, sort_keys=True))


if __name__ == "__main__":
    main()
