#!/usr/bin/env python3
"""notify-sink.py SOCKET LOG — the systemd side of the notify protocol.

Binds an AF_UNIX datagram socket at SOCKET (a path, so it is reachable
from any network namespace) and appends every message it receives
(READY=1, STATUS=..., STOPPING=1) to LOG, one line each, flushed at once.
Runs until SIGTERM."""
import os
import signal
import socket
import sys


def main():
    path, log = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock.bind(path)
    with open(log, "a", buffering=1) as out:
        while True:
            data = sock.recv(65536)
            for line in data.decode(errors="replace").splitlines():
                out.write(line + "\n")


if __name__ == "__main__":
    main()
