#!/usr/bin/python3
"""push_backoff: checks one device's retries in a push stub's log against
chat-push's backoff (exponential, equal jitter, capped).

    push_backoff.py LOG PATH ANSWER BASE CAP END

LOG is tests/drivers/push_stub.py's log; the tries are its lines for PATH
answered ANSWER (e.g. 503), sorted by time; BASE and CAP are
push_backoff_ms and push_backoff_max_ms in seconds; END is when the fault
ended (epoch seconds: the stub stopped answering ANSWER), so the window the
device was retrying in is END minus its first try, whatever the load made of
the test's schedule.

After its i-th failure chat-push waits d_i/2 to d_i, d_i = min(BASE*2^(i-1),
CAP), counted from the answer, so each gap between two tries the stub saw is
at least d_i/2: a shorter one is a retry storm, a backoff that started over,
or two streams of requests where one batch should be.  The count is checked
against the window: at most as many tries as the shortest delays fit in it,
and at least as many as the longest delays (plus SLACK a try for the
request and the loop) fit: a device that stopped retrying fails.

Prints one line of figures; exits 1 with the reason on a violation.
"""
import json
import sys

SLACK = 0.5     # s per try: the request itself and a loaded loop
EPS = 0.01      # ms truncation of chat-push's clock


def delay(i, base, cap):
    """d_i: the longest delay after the i-th failure (i from 1)."""
    return min(base * 2 ** (i - 1), cap)


def fit(window, base, cap, longest):
    """Tries that fit in window with the shortest or longest delays."""
    n, t = 1, 0.0
    while True:
        d = delay(n, base, cap)
        t += d + SLACK if longest else d / 2
        if t > window:
            return n
        n += 1


def main():
    log, path, answer = sys.argv[1], sys.argv[2], sys.argv[3]
    base, cap, end = (float(x) for x in sys.argv[4:7])
    ts = []
    with open(log) as f:
        for line in f:
            r = json.loads(line)
            if r.get("path") == path and str(r.get("answer")) == answer:
                ts.append(r["t"])
    ts.sort()
    if not ts:
        print("%s: no try answered %s" % (path, answer))
        return 1
    window = end - ts[0]
    lo, hi = fit(window, base, cap, True), fit(window, base, cap, False)
    bad = []
    for i in range(1, len(ts)):
        gap, d = ts[i] - ts[i - 1], delay(i, base, cap)
        if gap < d / 2 - EPS:
            bad.append("try %d came %.3f s after the one before, under "
                       "half of d_%d = %.2f s" % (i + 1, gap, i, d))
    print("%s: %d x %s in %.1f s (allowed %d-%d), gaps %s" % (
        path, len(ts), answer, window, lo, hi,
        [round(ts[i] - ts[i - 1], 2) for i in range(1, len(ts))]))
    if len(ts) > hi:
        bad.append("%d tries, more than the %d the shortest delays fit"
                   % (len(ts), hi))
    if len(ts) < lo:
        bad.append("%d tries, fewer than the %d the longest delays fit"
                   % (len(ts), lo))
    for b in bad:
        print("%s: %s" % (path, b))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
