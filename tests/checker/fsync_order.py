#!/usr/bin/python3
"""fsync_order: RELIABILITY.md row 8, acks only after the covering sync.

    fsync_order.py STORE_STRACE CHATD_STRACE

Reads two `strace -f -tt -T -s 65536 -e trace=...` logs, one of chat-store
and one of chatd, taken while clients sent messages, and checks for every
ack frame chatd wrote to a client (matched by its cid and id):
  1. chat-store read the request with that cid at t_req,
  2. a fdatasync/fsync of chat-store began after t_req and returned at
     t_sync, and
  3. chat-store wrote the reply carrying that message id after t_sync, and
  4. chatd wrote the ack after that reply.
Prints "acks=N covered=N early=N" and exits 1 naming the first ack that was
written before its covering sync.
"""
import re
import sys
from datetime import datetime

LINE = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(\d\d:\d\d:\d\d\.\d+) (.*)$")
DUR = re.compile(r"<(\d+\.\d+)>\s*$")
CID = re.compile(r'cid\\":\\"([^\\"]+)\\"')
MID = re.compile(r'mid\\":\\"([0-9a-f]{16})\\"')
ACK = re.compile(r'\\"type\\":\\"ack\\",\\"cid\\":\\"([^\\"]+)\\",'
                 r'\\"id\\":\\"([0-9a-f]{16})\\"')


def secs(ts):
    t = datetime.strptime(ts, "%H:%M:%S.%f")
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def calls(path):
    """(start, end, name, text) of each completed syscall; an unfinished
    call is joined with its resumed line."""
    pending = {}
    out = []
    for raw in open(path, errors="replace"):
        m = LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        pid, ts, rest = m.group(1), secs(m.group(2)), m.group(3)
        if rest.endswith("<unfinished ...>"):
            name = rest.split("(", 1)[0]
            pending[(pid, name)] = (ts, rest)
            continue
        rm = re.match(r"<\.\.\. (\w+) resumed>(.*)$", rest)
        if rm:
            name = rm.group(1)
            start, text = pending.pop((pid, name), (ts, ""))
            out.append((start, ts, name, text + rm.group(2)))
            continue
        name = rest.split("(", 1)[0]
        d = DUR.search(rest)
        out.append((ts, ts + (float(d.group(1)) if d else 0), name, rest))
    return out


def main():
    store, chatd = calls(sys.argv[1]), calls(sys.argv[2])
    req_t, reply_t, syncs = {}, {}, []
    for start, end, name, text in store:
        if name in ("read", "recvfrom", "recvmsg", "readv"):
            for cid in CID.findall(text):
                req_t.setdefault(cid, start)
        elif name in ("fdatasync", "fsync"):
            syncs.append((start, end))
        elif name in ("write", "writev", "sendmsg", "sendto"):
            for mid in MID.findall(text):
                reply_t.setdefault(mid, start)
    acks = []
    for start, end, name, text in chatd:
        if name in ("write", "writev", "sendmsg", "sendto", "send"):
            for cid, mid in ACK.findall(text):
                acks.append((start, cid, mid))
    early, first = 0, None
    for t_ack, cid, mid in acks:
        t_req, t_rep = req_t.get(cid), reply_t.get(mid)
        ok = t_req is not None and t_rep is not None and t_rep <= t_ack
        if ok:
            ok = any(s >= t_req and e <= t_rep for s, e in syncs)
        if not ok:
            early += 1
            if first is None:
                first = ("ack of cid %s (id %s) at %.6f: request %s, reply "
                         "%s, no fdatasync between" % (cid, mid, t_ack, t_req,
                                                        t_rep))
    print("acks=%d covered=%d early=%d syncs=%d" % (
        len(acks), len(acks) - early, early, len(syncs)))
    if first or not acks:
        print("FAILED: %s" % (first or "no ack seen in chatd's trace"),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
