#!/usr/bin/python3
"""A fake chatd for presenced's tests: holds one connection to
presence.sock, sends each line written to the command FIFO as is, and
appends every line presenced sends back (replies and events) to OUT.

  presence_fake_chatd.py SOCK FIFO OUT

A command line "close" shuts the connection (as a chatd that died would);
"reconnect" opens a new one.  The program runs until killed.
"""
import os, select, socket, sys

sock_path, fifo, out_path = sys.argv[1:4]
out = open(out_path, "ab", buffering=0)
fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)   # RDWR: never sees EOF


def connect():
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    return s


s = connect()
pending = b""
rbuf = b""
while True:
    fds = [fd] + ([s] if s else [])
    r, _, _ = select.select(fds, [], [])
    if fd in r:
        pending += os.read(fd, 65536)
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line == b"close":
                if s:
                    s.close()
                s = None
            elif line == b"reconnect":
                if s:
                    s.close()
                s = connect()
            elif s and line:
                s.sendall(line + b"\n")
    if s and s in r:
        d = s.recv(65536)
        if not d:
            s.close()
            s = None
            continue
        rbuf += d
        while b"\n" in rbuf:
            line, rbuf = rbuf.split(b"\n", 1)
            out.write(line + b"\n")
