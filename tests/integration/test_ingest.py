#!/usr/bin/python3
"""conntrackerd against the real kernel: the flows it dumps are exactly the
flows `conntrack` shows in its network namespace, folded the way the daemon
folds them, with the right confirmed flags and NAT targets."""

import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import netns  # noqa: E402
from netns import (CLIENT4, CLIENT6, CLOSED_PORT, ECHO_PORT,  # noqa: E402
                   SERVER4, SERVER4_ALT, SERVER6, SINK_PORT, TCP_PORT,
                   FlowKey)

DNAT_PORT = 8080
NAT_TABLE = f"""
table ip ctit_nat {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr {SERVER4} tcp dport {DNAT_PORT} dnat to {SERVER4_ALT}:{TCP_PORT}
  }}
}}
"""

# What mixed_traffic() must produce in the server's table, folded: key ->
# confirmed. Checked against the oracle first, so that an empty table (no
# tracking) cannot make "daemon == oracle" pass.
SCENARIO = {
    FlowKey("ipv4", 6, CLIENT4, SERVER4, 1024, TCP_PORT): True,
    FlowKey("ipv4", 6, CLIENT4, SERVER4, 1024, CLOSED_PORT): False,
    FlowKey("ipv4", 17, CLIENT4, SERVER4, 1024, ECHO_PORT): True,
    FlowKey("ipv4", 17, CLIENT4, SERVER4, 1000, ECHO_PORT): True,
    FlowKey("ipv4", 17, CLIENT4, SERVER4, 1024, SINK_PORT): False,
    FlowKey("ipv4", 1, CLIENT4, SERVER4, 8, 0): True,
    FlowKey("ipv6", 6, CLIENT6, SERVER6, 1024, TCP_PORT): True,
    FlowKey("ipv6", 17, CLIENT6, SERVER6, 1024, ECHO_PORT): True,
    FlowKey("ipv6", 58, CLIENT6, SERVER6, 128, 0): True,
}
DNAT_KEY = FlowKey("ipv4", 6, CLIENT4, SERVER4, 1024, DNAT_PORT)
TCP4_KEY = FlowKey("ipv4", 6, CLIENT4, SERVER4, 1024, TCP_PORT)
TCP4_CONNECTIONS = 3


@netns.requires_root
class IngestTest(unittest.TestCase):
    maxDiff = None  # show whole dumps on a mismatch

    @classmethod
    def setUpClass(cls):
        cls.binary = netns.daemon_binary()

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="conntracker-it-")
        self.addCleanup(tmp.cleanup)
        self.workdir = tmp.name
        self.pair = netns.Pair()
        self.addCleanup(self.pair.close)
        self.client, self.server = self.pair.client, self.pair.server
        self.responder = netns.Responder(self.server)
        self.addCleanup(self.responder.close)

    def start_daemon(self, *args, fmt="json", name="daemon"):
        daemon = netns.Daemon(self.server, self.workdir, args, fmt, name)
        self.addCleanup(daemon.kill)
        return daemon.start()

    def start_recorder(self):
        recorder = netns.EventRecorder(self.server, self.workdir)
        self.addCleanup(recorder.close)
        return recorder

    def mixed_traffic(self, recorder=None, dnat=True):
        """Client -> server traffic of every kind the daemon must tell apart.
        The nat table comes last, so every other flow is tracked only
        because the daemon switched tracking on."""
        netns.ping(self.client, SERVER4)
        if recorder is not None:
            # conntrack -E is listening once it shows this echo.
            self.assertTrue(recorder.wait_for(
                lambda es: any(e.proto == 1 for e in es)),
                "conntrack -E saw no ICMP entry: is tracking on?")
        netns.ping(self.client, SERVER6)
        netns.client_traffic(self.client, [
            *[["tcp", SERVER4, TCP_PORT, None]] * TCP4_CONNECTIONS,
            ["tcp-refused", SERVER4, CLOSED_PORT],
            ["udp", SERVER4, ECHO_PORT, None, True],
            ["udp", SERVER4, ECHO_PORT, 1000, True],  # below 1024: kept
            ["udp", SERVER4, SINK_PORT, None, False],
            ["tcp", SERVER6, TCP_PORT, None],
            ["udp", SERVER6, ECHO_PORT, None, True],
        ])
        if dnat:
            self.server.nft(NAT_TABLE)
            netns.client_traffic(self.client,
                                 [["tcp", SERVER4, DNAT_PORT, None]])

    def oracle(self, recorder, dnat=True):
        """The flows the kernel tracked: the table now, plus what conntrack -E
        saw (the closed-port entry is deleted by the kernel on the RST, so
        conntrack -L never shows it)."""
        snapshot = netns.conntrack_list(self.server)
        # Events are in order: once the newest entries were printed, so was
        # everything before them.
        self.assertTrue(recorder.wait_for_ids(e.ct_id for e in snapshot),
                        "conntrack -E did not show entries conntrack -L has")
        expected = netns.expected_flows(snapshot, recorder.entries())
        scenario = dict(SCENARIO)
        if dnat:
            scenario[DNAT_KEY] = True
        tracked = {k: expected[k].confirmed for k in scenario if k in expected}
        shown = sorted(map(str, expected))
        self.assertEqual(tracked, scenario, "the kernel did not track the "
                         f"test traffic as planned; conntrack shows: {shown}")
        if dnat:
            self.assertEqual(expected[DNAT_KEY].dnat, (SERVER4_ALT, TCP_PORT))
        self.assertEqual(len(expected[TCP4_KEY].ids), TCP4_CONNECTIONS)
        return expected

    def wait_for_agreement(self, daemon, expected, counts=()):
        """Dumps (SIGUSR1) until the daemon shows the oracle's flows; events
        reach it asynchronously, so allow a few seconds. Returns the flows of
        the last dump, failing with every difference if they never agree."""
        problems = ["no dump"]
        deadline = time.monotonic() + 5
        while problems and time.monotonic() < deadline:
            dumped = netns.parse_json_dump(daemon.request_dump())
            problems = netns.compare_flows(expected, dumped, counts)
            if problems:
                time.sleep(0.2)
        if problems:
            self.fail("daemon and conntrack disagree:\n" +
                      "\n".join(problems) +
                      f"\ndaemon stderr:\n{daemon.stderr()[-3000:]}")
        return dumped

    def stop_daemon(self, daemon):
        code, stderr = daemon.stop()
        self.assertEqual(code, 0, f"SIGTERM exit code; stderr:\n{stderr}")
        counters = netns.parse_counters(stderr)
        self.assertIsNotNone(counters, f"no counters line in:\n{stderr}")
        return counters

    def test_json_dump_matches_conntrack(self):
        recorder = self.start_recorder()
        daemon = self.start_daemon()
        self.mixed_traffic(recorder)
        expected = self.oracle(recorder)
        counts = ("connections", "active")
        self.wait_for_agreement(daemon, expected, counts)

        counters = self.stop_daemon(daemon)
        # The dump written on SIGTERM is the same, and nothing was lost.
        final = netns.parse_json_dump(daemon.read_dump())
        problems = netns.compare_flows(expected, final, counts)
        self.assertFalse(problems, "final dump:\n" + "\n".join(problems))
        self.assertEqual(counters["overruns"], 0, counters)
        self.assertEqual(counters["flows"], len(expected), counters)
        # Every entry was created while the daemon ran: one event at least.
        entries = sum(len(f.ids) for f in expected.values())
        self.assertGreaterEqual(counters["events"], entries, counters)

    def test_legacy_dump_matches_conntrack(self):
        recorder = self.start_recorder()
        daemon = self.start_daemon(fmt=None)  # legacy is the default
        self.mixed_traffic(recorder)
        want = "\n".join(netns.expected_legacy_lines(self.oracle(recorder)))

        deadline = time.monotonic() + 5
        while True:
            got, bad = netns.split_legacy_dump(daemon.request_dump())
            if ("\n".join(got) == want and not bad) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual("\n".join(got), want)
        self.assertEqual(bad, [], "malformed trace-hit lines")

        self.stop_daemon(daemon)
        text = daemon.read_dump()
        self.assertTrue(text.endswith("\n"), repr(text[-80:]))
        got, bad = netns.split_legacy_dump(text)
        self.assertEqual("\n".join(got), want)
        self.assertEqual(bad, [])

    def test_flows_from_before_start(self):
        first = self.start_daemon(name="first")
        # No DNAT here: its nat table would keep tracking on by itself.
        self.mixed_traffic(dnat=False)
        self.stop_daemon(first)
        # The daemon's table went with it, yet the kernel keeps existing
        # entries until they time out: a restarted daemon must pick them up
        # from its initial dump.
        self.assertEqual(self.server.ruleset().strip(), "")
        expected = netns.expected_flows(netns.conntrack_list(self.server))
        still = set(SCENARIO) - {
            FlowKey("ipv4", 6, CLIENT4, SERVER4, 1024, CLOSED_PORT)}
        self.assertEqual(still - expected.keys(), set(),
                         "entries vanished with the daemon's table")

        second = self.start_daemon(name="second")
        self.wait_for_agreement(second, expected, counts=("active",))
        self.stop_daemon(second)

    def test_no_fold_keeps_source_ports(self):
        daemon = self.start_daemon("--no-fold")
        netns.client_traffic(self.client, [
            ["tcp", SERVER4, TCP_PORT, 40001],
            ["tcp", SERVER4, TCP_PORT, 40002],
            ["udp", SERVER6, ECHO_PORT, 50000, True],
        ])
        expected = netns.expected_flows(netns.conntrack_list(self.server),
                                        fold=False)
        self.assertEqual(set(expected), {
            FlowKey("ipv4", 6, CLIENT4, SERVER4, 40001, TCP_PORT),
            FlowKey("ipv4", 6, CLIENT4, SERVER4, 40002, TCP_PORT),
            FlowKey("ipv6", 17, CLIENT6, SERVER6, 50000, ECHO_PORT)})
        self.wait_for_agreement(daemon, expected, counts=("active",))
        self.stop_daemon(daemon)

    def test_tracking_table_lives_and_dies_with_daemon(self):
        icmp = FlowKey("ipv4", 1, CLIENT4, SERVER4, 8, 0)
        udp = FlowKey("ipv4", 17, CLIENT4, SERVER4, 1024, ECHO_PORT)
        # Control: a namespace without rules tracks nothing, so tracking
        # below is the daemon's doing.
        self.assertEqual(self.server.ruleset().strip(), "")
        netns.ping(self.client, SERVER4)
        self.assertEqual(netns.conntrack_list(self.server), [])

        daemon = self.start_daemon()
        self.assertIn("table inet conntracker", self.server.ruleset())
        netns.ping(self.client, SERVER4)
        self.assertIn(icmp, netns.expected_flows(
            netns.conntrack_list(self.server)))

        code, _ = daemon.stop(signal.SIGKILL)
        self.assertEqual(code, -signal.SIGKILL)
        # The kernel deletes an owned table when its owner's socket closes:
        # a crashed daemon leaves no firewall residue, and tracking stops.
        empty = netns.wait_until(lambda: not self.server.ruleset().strip(), 2)
        self.assertTrue(empty, self.server.ruleset())
        netns.client_traffic(self.client,
                             [["udp", SERVER4, ECHO_PORT, None, True]])
        self.assertNotIn(udp, netns.expected_flows(
            netns.conntrack_list(self.server)))

    def test_bad_options_exit_2(self):
        out = f"{self.workdir}/bad.dump"
        for args in (["--no-such-option"], ["--format", "xml"],
                     ["--rcvbuf", "lots"], ["--max-flows", "many"]):
            with self.subTest(args=args):
                # In the test namespace, so a daemon that wrongly starts
                # touches nothing outside it.
                try:
                    p = self.server.run([self.binary, "-f", "-o", out, *args],
                                        check=False, timeout=5)
                except subprocess.TimeoutExpired:
                    self.fail(f"{args}: the daemon ran instead of refusing")
                self.assertEqual(p.returncode, 2, f"{args}: {p.stderr}")
                self.assertTrue(p.stderr.strip(), f"{args}: no message")


if __name__ == "__main__":
    netns.main()
