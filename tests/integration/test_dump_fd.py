#!/usr/bin/python3
"""DumpFlows streams a big store through the caller's fd, complete and
well-formed: 100k real conntrack entries, dumped by an unprivileged member
with `conntrackerctl dump` (legacy and JSON) and by a raw DumpFlows call.

Needs root. Creates the users ct-test-member and ct-test-outsider and the
group conntracker when absent (see busenv.py). May raise the host's
net.netfilter.nf_conntrack_max (global) for the test and restores it.
"""

import json
import os
import re
import select
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
import busenv  # noqa: E402
import netns  # noqa: E402
from busenv import MEMBER, ctl, describe, gcall  # noqa: E402
from netns import SERVER4, SERVER4_ALT  # noqa: E402

busenv.not_root_exit()

FLOWS = 100_000
FIRST_PORT = 10_000
SOURCE_PORT = 4000  # one socket: with --no-fold every flow has this sport

# One legacy flow line (netns.legacy_line): label, per-label index,
# endpoints, ports or ICMP type/code, confirmed.
LEGACY_RE = re.compile(
    r" *[A-Z0-9]+v[46] \[ *\d+\] src = [0-9a-f.:]+(?: \(port=\d+\))? "
    r"to dst = [0-9a-f.:]+(?: \(port=\d+\)| \(type=\d+ \| code=\d+\))?"
    r"(?: \(confirmed\))?")

# Runs in the client namespace: one datagram to each (addr, port) of
# argv[2..] ranges from one socket, paced so that the veth backlog does not
# drop them; prints how many were sent.
_SENDER = r"""
import socket, sys, time
sport, count, first = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
addrs = sys.argv[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
s.bind(("0.0.0.0", sport))
sent = 0
deadline = time.monotonic() + 30
for addr in addrs:
    for port in range(first, first + count):
        s.sendto(b"x", (addr, port))
        sent += 1
        if sent % 500 == 0:
            time.sleep(0.002)
            if time.monotonic() > deadline:
                sys.exit(f"too slow: {sent} sent in 30 s")
print(sent)
"""


# Runs as the member: DumpFlows (JSON) into a pipe it does not read until a
# line arrives on stdin, so the daemon finds the pipe full; then reads it all
# and prints {"count": reply, "lines": lines read, "error": ...}.
_STALLED_READER = r"""
import json, os, sys, threading
from gi.repository import Gio, GLib
bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
r, w = os.pipe()
fds = Gio.UnixFDList.new()
fds.append(w)
os.close(w)
result = {}
loop = GLib.MainLoop()
def done(conn, res):
    try:
        reply, _ = conn.call_with_unix_fd_list_finish(res)
        result["count"] = reply.unpack()[0]
    except GLib.Error as e:
        result["error"] = e.message
    for fd in fds.steal_fds():
        os.close(fd)
    loop.quit()
bus.call_with_unix_fd_list(
    "org.conntracker", "/org/conntracker/Flows", "org.conntracker.Flows",
    "DumpFlows", GLib.Variant("(a{sv}h)", ({"format": GLib.Variant("s",
    "json")}, 0)), None, Gio.DBusCallFlags.NONE, 60000, fds, None, done)
lines = []
def read_all():
    print("STALLED", flush=True)
    sys.stdin.readline()
    with os.fdopen(r, "rb") as f:
        lines.append(sum(1 for _ in f))
reader = threading.Thread(target=read_all, daemon=True)
reader.start()
loop.run()
reader.join(30)
result["lines"] = lines[0] if lines else None
print(json.dumps(result), flush=True)
"""


@netns.requires_root
class DumpThroughFd(unittest.TestCase):

    def setUp(self):
        self.started = time.monotonic()
        self.raise_conntrack_max(FLOWS * 2)
        self.env = busenv.ServiceEnv(self.addCleanup, polkit="real",
                                     start_daemon=False)
        # Unreplied UDP entries live 30 s by default: long enough, but keep
        # them for the whole test (this sysctl is per network namespace).
        self.env.server.run(["sysctl", "-q", "-w",
                             "net.netfilter.nf_conntrack_udp_timeout=600"])
        self.env.start_daemon("--max-flows", "200000", "--no-fold")

    def raise_conntrack_max(self, need):
        path = "/proc/sys/net/netfilter/nf_conntrack_max"
        with open(path) as f:
            old = int(f.read())
        if old >= need:
            return

        def restore():
            with open(path, "w") as f:
                f.write(str(old))
        with open(path, "w") as f:
            f.write(str(need))
        self.addCleanup(restore)

    def conntrack_count(self):
        return int(self.env.server.run(["conntrack", "-C"]).stdout.strip())

    def test_100k_flows_through_the_fd(self):
        env = self.env
        sent = env.client.run(
            [sys.executable, "-c", _SENDER, str(SOURCE_PORT),
             str(FLOWS // 2), str(FIRST_PORT), SERVER4, SERVER4_ALT],
            timeout=45).stdout.strip()
        self.assertEqual(int(sent), FLOWS)
        entries = self.conntrack_count()
        # A few datagrams may be lost on the way; the oracle is what the
        # kernel tracked, but it must be nearly all of them.
        self.assertGreaterEqual(entries, FLOWS * 0.98,
                                "the kernel tracked too few entries")

        # The daemon catches up (events, or a resync after an overrun).
        caught_up = netns.wait_until(
            lambda: env.flow_count() == self.conntrack_count(), 20, 0.25)
        self.assertTrue(caught_up, f"FlowCount {env.flow_count()}, "
                        f"conntrack -C {self.conntrack_count()}")
        count = env.flow_count()
        expected = netns.expected_flows(netns.conntrack_list(env.server),
                                        fold=False)
        self.assertEqual(len(expected), count)
        self.assertEqual(busenv.get_property(env.bus, "Evicted"), ("t", "0"))
        print(f"{count} flows in the store after "
              f"{time.monotonic() - self.started:.1f} s", file=sys.stderr)

        # Legacy, through conntrackerctl as an unprivileged member.
        p = ctl(MEMBER, "dump", timeout=40)
        self.assertEqual(p.returncode, 0, describe(p))
        lines = p.stdout.splitlines()
        bad = [(n, line) for n, line in enumerate(lines, 1)
               if not LEGACY_RE.fullmatch(line)]
        self.assertEqual(bad[:5], [], f"{len(bad)} malformed legacy lines")
        self.assertEqual(len(lines), count)
        self.assertEqual(lines, netns.expected_legacy_lines(expected),
                         "the legacy dump is not the kernel's flows in "
                         "dump order")
        del p, lines

        # JSON lines, through conntrackerctl.
        p = ctl(MEMBER, "dump", "--format", "json", timeout=40)
        self.assertEqual(p.returncode, 0, describe(p))
        objs = busenv.json_lines(p.stdout, "dump --format json")
        self.assertEqual(len(objs), count)
        got = busenv.flows_by_key(objs, "dump --format json")
        self.assertEqual(got.keys(), expected.keys())
        del p, objs, got

        # A raw DumpFlows into a file: the reply's count is what was
        # written, and the daemon closed its copy (the file is complete
        # when the reply comes).
        out = os.path.join(env.workdir, "dump.json")
        r = gcall("DumpFlows", "(a{sv}h)", "({'format': <'json'>}, 0)",
                  fd=f"file:{out}", timeout=40)
        self.assertIsNone(r.error, r)
        with open(out) as f:
            n = sum(1 for _ in f)
        self.assertEqual(r.reply[0], count)
        self.assertEqual(n, count)

        # The daemon writes without blocking other clients: while a reader
        # lets its pipe fill up, everyone else is served.
        proc = busenv.spawn(self, MEMBER, [busenv.GI_PYTHON, "-c",
                                           _STALLED_READER],
                            stdin=subprocess.PIPE)
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        line = proc.stdout.readline() if ready else ""
        self.assertEqual(line.strip(), "STALLED", f"exit {proc.poll()}")
        time.sleep(1)  # the daemon has filled the pipe by now
        for what, user in (("root", None), ("the member", MEMBER)):
            start = time.monotonic()
            r = gcall("ListFlows", "(a{sv})", "({'limit': <uint32 3>},)",
                      user=user, timeout=5)
            self.assertNotIn("error", r, f"ListFlows as {what} during a "
                              f"stalled dump: {r}")
            self.assertEqual(r.reply[1], count, r)
            print(f"ListFlows as {what} during a stalled dump: "
                  f"{time.monotonic() - start:.3f} s", file=sys.stderr)
        self.assertIsNone(proc.poll(), "the stalled dump ended early")
        self.assertEqual(self.env.flow_count(), count)
        try:
            out, err = proc.communicate("go\n", timeout=40)
        except subprocess.TimeoutExpired:
            self.fail("the stalled dump did not finish once read")
        self.assertEqual(proc.returncode, 0, err)
        result = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(result, {"count": count, "lines": count})

        env.assert_alive(self, "after the dumps")
        # Meant to stay well under a minute (meson's timeout bounds it).
        print(f"whole test: {time.monotonic() - self.started:.1f} s",
              file=sys.stderr)


if __name__ == "__main__":
    netns.main()
