#!/usr/bin/python3
"""conntrackerd's journal fields, as journald would receive them: the daemon
runs with its stderr connected to a fake journald's stdout socket, so GLib
sends every line over the native protocol to /run/systemd/journal/socket,
where the test reads the fields (MESSAGE_ID and the CT_ fields of
src/daemon/log-ids.h) without systemd as PID 1.

The fake journald lives in a private mount namespace (tmpfs over /run);
the daemon is in its own network namespace with a small receive buffer, a
small store, and a burst of flows while it is stopped: start, overrun,
resync, eviction, authorization decisions on Reset (root allowed, nobody
denied) over the peer socket, the reset, and stop must each be one entry
with its MESSAGE_ID and fields. A second daemon, with tracing, logs the
decisions on org.conntracker.trace and each change they allowed.

Needs root.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
import busenv  # noqa: E402
import netns  # noqa: E402
from netns import SERVER4  # noqa: E402

busenv.not_root_exit()

# log-ids.h
IDS = {
    "started": "675408041b2a4d77bb57a5289426e8b4",
    "stopped": "33dec602f7994a7f8a7fc3550ffd40e9",
    "overrun": "b7b199e635814293a4b925259e9030ce",
    "resync": "bd2977a648624ef4b747f02b791def19",
    "evicted": "f44cf26d2b104f6eb87c6ca79355c428",
    "authorization": "14b52a404aa14994a0646c8b29bd89c1",
    "store-reset": "b5db4a6edd81499ebdb37b6080697928",
    "trace-changed": "73d429dc71504a3eb6fafe50887b8c73",
}

BURST = 3000
MAX_FLOWS = 1000
FIRST_PORT = 30000

# Runs as root in a new mount namespace: a tmpfs over /run with
# /run/systemd/journal/{socket,stdout}, as journald has them; starts the
# daemon (argv[3:]) with its stderr connected to "stdout", writes every
# datagram's fields as a JSON line to argv[1] and the daemon's pid to
# argv[2]; forwards SIGTERM, and exits with the daemon's status.
_FAKE_JOURNALD = r"""
import json, os, select, signal, socket, struct, subprocess, sys
out_path, pid_path, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"],
               check=True)
os.makedirs("/run/systemd/journal")
dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
dgram.bind("/run/systemd/journal/socket")
dgram.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind("/run/systemd/journal/stdout")
listener.listen(1)
stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
stream.connect("/run/systemd/journal/stdout")
accepted, _ = listener.accept()
daemon = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=stream)
stream.close()
with open(pid_path, "w") as f:
    f.write(str(daemon.pid))
signal.signal(signal.SIGTERM, lambda s, f: daemon.send_signal(s))
signal.signal(signal.SIGINT, lambda s, f: daemon.send_signal(s))

def parse(data):
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        eq = data.find(b"=", i, nl)
        if eq >= 0:
            key, value, i = data[i:eq], data[eq + 1:nl], nl + 1
        else:
            key = data[i:nl]
            n = struct.unpack("<Q", data[nl + 1:nl + 9])[0]
            value, i = data[nl + 9:nl + 9 + n], nl + 9 + n + 1
        fields[key.decode()] = value.decode("utf-8", "replace")
    return fields

plain = b""
with open(out_path, "a") as out:
    while True:
        r, _, _ = select.select([s for s in (dgram, accepted) if s], [], [],
                                0.2)
        if dgram in r:
            out.write(json.dumps(parse(dgram.recv(1 << 20))) + "\n")
            out.flush()
        if accepted in r:
            chunk = accepted.recv(65536)
            if chunk:
                plain += chunk
            else:
                accepted.close()
                accepted = None
        if daemon.poll() is not None and not r:
            break
    if plain:
        out.write(json.dumps({"PLAIN_STDERR": plain.decode("utf-8",
                                                          "replace")}) + "\n")
sys.exit(daemon.returncode)
"""


class JournaledDaemon(netns.Daemon):
    """netns.Daemon, through the fake journald (see _FAKE_JOURNALD)."""

    def __init__(self, ns, workdir, args):
        super().__init__(ns, workdir, args)
        self.journal_path = os.path.join(workdir, "journal.jsonl")
        self.pid_path = os.path.join(workdir, "daemon.pid")
        self.wrapper = os.path.join(workdir, "journaled-conntrackerd")
        script = os.path.join(workdir, "fake_journald.py")
        with open(script, "w") as f:
            f.write(_FAKE_JOURNALD)
        with open(self.wrapper, "w") as f:
            f.write("#!/bin/sh\n"
                    "exec unshare --mount --propagation private -- "
                    f"/usr/bin/python3 {script} {self.journal_path} "
                    f"{self.pid_path} {netns.daemon_binary()} \"$@\"\n")
        os.chmod(self.wrapper, 0o755)

    def start(self, timeout=10):
        saved = os.environ["CONNTRACKERD"]
        os.environ["CONNTRACKERD"] = self.wrapper
        try:
            return super().start(timeout)
        finally:
            os.environ["CONNTRACKERD"] = saved

    def daemon_pid(self):
        with open(self.pid_path) as f:
            return int(f.read())

    def entries(self):
        try:
            with open(self.journal_path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def with_id(self, name):
        return [e for e in self.entries() if e.get("MESSAGE_ID") == IDS[name]]

    def wait_for(self, name, predicate=lambda e: True, timeout=10):
        found = netns.wait_until(
            lambda: [e for e in self.with_id(name) if predicate(e)], timeout,
            0.1)
        if not found:
            raise AssertionError(
                f"no {name} entry in the journal within {timeout} s; "
                f"entries:\n" + "\n".join(map(json.dumps, self.entries())))
        return found[-1]


@netns.requires_root
class JournalFields(unittest.TestCase):

    def setUp(self):
        saved = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = \
            "unix:path=/nonexistent/conntracker-test-no-bus"
        self.addCleanup(lambda: os.environ.__setitem__(
            "DBUS_SYSTEM_BUS_ADDRESS", saved) if saved is not None
            else os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None))
        tmp = tempfile.TemporaryDirectory(prefix="conntracker-journal-")
        self.addCleanup(tmp.cleanup)
        self.workdir = tmp.name
        os.chmod(self.workdir, 0o755)
        self.pair = netns.Pair()
        self.addCleanup(self.pair.close)
        self.socket = os.path.join(self.workdir, "socket")
        self.address = f"unix:path={self.socket}"

    def assertField(self, entry, key, want):
        self.assertEqual(entry.get(key), want, json.dumps(entry))

    def assertCount(self, entry, key, at_least=1):
        self.assertGreaterEqual(int(entry.get(key, "-1")), at_least,
                                json.dumps(entry))

    def test_notable_events_carry_their_fields(self):
        d = JournaledDaemon(self.pair.server, self.workdir, [
            "--no-bus", "--listen", self.socket, "-c", "--rcvbuf", "4096",
            "--max-flows", str(MAX_FLOWS)])
        self.addCleanup(d.kill)
        d.start()

        e = d.wait_for("started")
        self.assertField(e, "CT_FLOWS", "0")
        self.assertIn("CT_CONNS", e)
        self.assertIn("CT_VERSION", e)
        self.assertField(e, "PRIORITY", "5")
        self.assertField(e, "GLIB_DOMAIN", "conntracker")
        self.assertTrue(e.get("CODE_FILE", "").endswith("main.c"), e)

        # Events lost while the daemon is stopped: overrun, then a resync;
        # the store (1000) is too small for the burst: eviction.
        pid = d.daemon_pid()
        os.kill(pid, signal.SIGSTOP)
        try:
            netns.client_traffic(self.pair.client,
                                 [["udp-burst", SERVER4, FIRST_PORT, BURST]])
        finally:
            os.kill(pid, signal.SIGCONT)
        e = d.wait_for("overrun")
        self.assertCount(e, "CT_OVERRUNS")
        self.assertCount(e, "CT_OVERRUNS_SINCE_REPORT")
        self.assertCount(e, "CT_RCVBUF")
        self.assertField(e, "PRIORITY", "4")
        self.assertTrue(e["CODE_FILE"].endswith("ct-source.c"), e)
        e = d.wait_for("resync")
        self.assertCount(e, "CT_RESYNCS")
        self.assertCount(e, "CT_CONNS", BURST)
        self.assertIn("CT_CONNS_RECONCILED", e)
        self.assertField(e, "PRIORITY", "5")
        e = d.wait_for("evicted")
        self.assertCount(e, "CT_EVICTED")
        self.assertField(e, "CT_MAX_FLOWS", str(MAX_FLOWS))

        # Privileged calls: every decision is an entry.
        p = busenv.run_as(None, [busenv.ctl_binary(), "--address",
                                 self.address, "reset"])
        self.assertEqual(p.returncode, 0, busenv.describe(p))
        e = d.wait_for("authorization",
                       lambda e: e.get("CT_DECISION") == "allowed")
        self.assertField(e, "CT_POLKIT_ACTION", "org.conntracker.reset")
        self.assertField(e, "CT_METHOD", "Reset")
        self.assertField(e, "CT_CALLER_UID", "0")
        self.assertField(e, "CT_TRANSPORT", "peer")
        self.assertField(e, "CT_REASON", "root")
        self.assertCount(e, "CT_CALLER_PID")
        self.assertField(e, "PRIORITY", "5")
        e = d.wait_for("store-reset")
        self.assertCount(e, "CT_FLOWS", MAX_FLOWS)
        self.assertTrue(e["CT_CALLER"].startswith("peer:"), e)

        p = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             "--", busenv.ctl_binary(), "--address", self.address, "reset"],
            capture_output=True, text=True, timeout=20,
            env=busenv.user_env())
        self.assertEqual(p.returncode, busenv.EXIT_DENIED,
                         busenv.describe(p))
        e = d.wait_for("authorization",
                       lambda e: e.get("CT_DECISION") == "denied")
        self.assertField(e, "CT_CALLER_UID", "65534")
        self.assertIn("polkit is unavailable", e["CT_REASON"])
        self.assertIn("denied", e["MESSAGE"])

        code, stderr = d.stop()
        self.assertEqual(code, 0, stderr)
        e = d.wait_for("stopped")
        self.assertField(e, "CT_EXIT_STATUS", "0")
        self.assertCount(e, "CT_OVERRUNS")
        self.assertCount(e, "CT_RESYNCS")
        self.assertCount(e, "CT_EVICTED")
        self.assertIn("stopped; counters: ", e["MESSAGE"])

        # Everything went to the journal, nothing to plain stderr; every
        # MESSAGE_ID is one of ours and every entry names its code.
        entries = d.entries()
        by_id = {name: len(d.with_id(name)) for name in IDS}
        print(f"\n{len(entries)} journal entries; with our ids: {by_id}",
              file=sys.stderr)
        self.assertFalse([e for e in entries if "PLAIN_STDERR" in e],
                         entries)
        for e in entries:
            self.assertIn("CODE_FUNC", e)
            if "MESSAGE_ID" in e:
                self.assertIn(e["MESSAGE_ID"], IDS.values(), e)

    def test_trace_control_is_journaled(self):
        """org.conntracker.trace decisions and the changes they allow."""
        d = JournaledDaemon(self.pair.server, self.workdir, [
            "--no-bus", "--listen", self.socket])
        self.addCleanup(d.kill)
        d.start()
        d.wait_for("started")

        def ctl(*args, uid=None):
            argv = [busenv.ctl_binary(), "--address", self.address, *args]
            if uid is not None:
                argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}",
                        "--clear-groups", "--", *argv]
            return subprocess.run(argv, capture_output=True, text=True,
                                  timeout=20, env=busenv.user_env())

        p = ctl("trace", "all")
        self.assertEqual(p.returncode, 0, busenv.describe(p))
        e = d.wait_for("authorization",
                       lambda e: e.get("CT_METHOD") == "SetTraceMode")
        self.assertField(e, "CT_POLKIT_ACTION", "org.conntracker.trace")
        self.assertField(e, "CT_DECISION", "allowed")
        self.assertField(e, "CT_REASON", "root")
        self.assertField(e, "CT_CALLER_UID", "0")
        self.assertField(e, "PRIORITY", "5")
        e = d.wait_for("trace-changed")
        self.assertField(e, "CT_METHOD", "SetTraceMode")
        self.assertField(e, "CT_TRACE_MODE", "all")
        self.assertTrue(e["CT_CALLER"].startswith("peer:"), e)
        self.assertField(e, "PRIORITY", "5")

        p = ctl("trace", f"to {SERVER4} proto udp port 53", "--for", "5s")
        self.assertEqual(p.returncode, 0, busenv.describe(p))
        e = d.wait_for("trace-changed",
                       lambda e: e.get("CT_METHOD") == "TraceFilter")
        self.assertField(e, "CT_TRACE_FILTER",
                         f"to {SERVER4} proto udp port 53")
        self.assertField(e, "CT_TRACE_SECONDS", "5")
        self.assertCount(e, "CT_TRACE_FILTER_ID")

        p = ctl("trace", "off", uid=65534)
        self.assertEqual(p.returncode, busenv.EXIT_DENIED, busenv.describe(p))
        e = d.wait_for("authorization",
                       lambda e: e.get("CT_DECISION") == "denied")
        self.assertField(e, "CT_POLKIT_ACTION", "org.conntracker.trace")
        self.assertField(e, "CT_METHOD", "SetTraceMode")
        self.assertField(e, "CT_CALLER_UID", "65534")
        self.assertIn("polkit is unavailable", e["CT_REASON"])
        self.assertEqual(len(d.with_id("trace-changed")), 2,
                         d.with_id("trace-changed"))

        code, stderr = d.stop()
        self.assertEqual(code, 0, stderr)
        self.assertFalse([e for e in d.entries() if "PLAIN_STDERR" in e],
                         d.entries())


if __name__ == "__main__":
    netns.main()
