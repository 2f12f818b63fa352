#!/usr/bin/python3
"""ack_p99: the send-to-ack latency of a slice of a jepsen.py history.

    ack_p99.py HISTORY FROM TO

Takes the acks numbered FROM..TO-1 in the order the history holds them
(the order of the driver's progress count, so a test can name a window by
the acked counts it saw at its start and end) and prints the 99th
percentile of their send-to-ack latency in whole milliseconds, and how many
there were: "p99_ms=N n=M".  Exit 1 if the slice is empty.
"""
import json
import sys


def main():
    hist, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sent, lat = {}, []
    with open(hist) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue	# a line the driver is still writing
            key = (e.get("dev"), e.get("cid"))
            if e["ev"] == "send" and key not in sent:
                sent[key] = e["t"]	# a retry keeps the first send's time
            elif e["ev"] == "ack" and key in sent:
                lat.append(e["t"] - sent[key])
    lat = sorted(lat[lo:hi])
    if not lat:
        print("p99_ms=0 n=0")
        return 1
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print("p99_ms=%d n=%d" % (round(p99 * 1000), len(lat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
