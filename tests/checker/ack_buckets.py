#!/usr/bin/python3
"""ack_buckets: send-to-ack latency of a jepsen.py history, bucketed by the
send's time relative to a moment (a kill -9), to tell a stall that follows
the fault from load spread over the run.

    ack_buckets.py HISTORY T_FAULT [--width S] [--before S] [--after S]

T_FAULT is a Unix time (date +%s.%N), placed in the history through the
setup event's wall0.  Prints one line a bucket of WIDTH seconds (default
1) from BEFORE (default 10) seconds before T_FAULT to AFTER (default 10)
after it: "dt=+2 n=98 p50_ms=4 p99_ms=13 max_ms=20", then one JSON line
{"fault_p99_ms", "rest_p99_ms", "worst_dt"}: the p99 of the sends in the
AFTER seconds from T_FAULT and of those in the BEFORE seconds up to it (a
baseline of the same run, just before), and the bucket with the highest
max.  With --check, exits 1 if fault_p99_ms is over twice rest_p99_ms and
50 ms over it: the fault slowed the acks beyond what the machine's load
just before it did.
"""
import argparse
import json
import sys


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * q))] if v else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("history")
    p.add_argument("t_fault", type=float)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--before", type=float, default=10.0)
    p.add_argument("--after", type=float, default=10.0)
    p.add_argument("--check", action="store_true")
    a = p.parse_args()
    wall0, sent, lat = None, {}, []
    for line in open(a.history):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e["ev"] == "setup":
            wall0 = e["wall0"]
            continue
        key = (e.get("dev"), e.get("cid"))
        if e["ev"] == "send" and key not in sent:
            sent[key] = e["t"]
        elif e["ev"] == "ack" and key in sent:
            lat.append((wall0 + sent[key] - a.t_fault, e["t"] - sent[key]))
    buckets, fault, rest = {}, [], []
    for dt, l in lat:
        if not -a.before <= dt < a.after:
            continue
        buckets.setdefault(int(dt // a.width), []).append(l)
        (fault if dt >= 0 else rest).append(l)
    worst = None
    for b in sorted(buckets):
        v = buckets[b]
        print("dt=%+g n=%d p50_ms=%d p99_ms=%d max_ms=%d" % (
            b * a.width, len(v), round(pct(v, .5) * 1e3),
            round(pct(v, .99) * 1e3), round(max(v) * 1e3)))
        if worst is None or max(v) > max(buckets[worst]):
            worst = b
    f, r = round(pct(fault, .99) * 1e3), round(pct(rest, .99) * 1e3)
    print(json.dumps({"fault_p99_ms": f, "rest_p99_ms": r,
                      "worst_dt": None if worst is None else worst * a.width}))
    if a.check and (not fault or not rest or f > max(2 * r, r + 50)):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
