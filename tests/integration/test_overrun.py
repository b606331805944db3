#!/usr/bin/python3
"""conntrackerd loses no flow when its event socket overruns: with a tiny
receive buffer and the daemon stopped during a burst, the kernel drops
events; the daemon must notice (overrun), resync from a full dump, and end
up with every flow the kernel still tracks."""

import signal
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import netns  # noqa: E402
from netns import CLIENT4, SERVER4, FlowKey  # noqa: E402

BURST = 3000  # distinct UDP flows; unreplied entries live 30 s
FIRST_PORT = 20000


@netns.requires_root
class OverrunTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        netns.daemon_binary()

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="conntracker-it-")
        self.addCleanup(tmp.cleanup)
        self.workdir = tmp.name
        self.pair = netns.Pair()
        self.addCleanup(self.pair.close)

    def test_no_flow_lost_after_overrun(self):
        server = self.pair.server
        # --rcvbuf fixes the buffer (no growth): a few events fit.
        daemon = netns.Daemon(server, self.workdir, ["--rcvbuf", "4096"])
        self.addCleanup(daemon.kill)
        daemon.start()

        daemon.send_signal(signal.SIGSTOP)
        try:
            netns.client_traffic(self.pair.client,
                                 [["udp-burst", SERVER4, FIRST_PORT, BURST]])
            expected = netns.expected_flows(netns.conntrack_list(server))
        finally:
            daemon.send_signal(signal.SIGCONT)
        want = {FlowKey("ipv4", 17, CLIENT4, SERVER4, 1024, p)
                for p in range(FIRST_PORT, FIRST_PORT + BURST)}
        self.assertEqual(set(expected), want,
                         "the kernel did not track the burst as planned")

        # Give the daemon time to notice the overrun and resync.
        deadline = time.monotonic() + 15
        while True:
            dumped = netns.parse_json_dump(daemon.request_dump())
            if expected.keys() <= dumped.keys() or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.25)
        code, stderr = daemon.stop()
        counters = netns.parse_counters(stderr)
        final = netns.parse_json_dump(daemon.read_dump())
        missing = expected.keys() - final.keys()
        print(f"\noverrun: sent {BURST} flows, conntrack -L shows "
              f"{len(expected)}, daemon dumped {len(final)}, missing "
              f"{len(missing)}; counters: {counters}; last STATUS: "
              f"{daemon.status[-1:]}", file=sys.stderr)

        self.assertEqual(code, 0, stderr)
        self.assertIsNotNone(counters, f"no counters line in:\n{stderr}")
        self.assertGreaterEqual(counters["overruns"], 1,
                                "the burst did not overrun the event socket")
        self.assertGreaterEqual(counters["resyncs"], 1,
                                "an overrun must be followed by a resync")
        problems = netns.compare_flows(expected, final)
        self.assertFalse(problems, f"{len(problems)} differences, first:\n"
                         + "\n".join(problems[:10]))


if __name__ == "__main__":
    netns.main()
