#!/usr/bin/python3
"""Rule tracing against an iptables-nft firewall (iptables-nft and
ip6tables-nft): the tables and chains iptables creates in nf_tables are
traced like any other, raw table included (the tracer's chains run before
it). Every accepted flow shows its path and the accepting rule, every
dropped or rejected flow appears as denied with the rule's text and its
position, the number `iptables -L --line-numbers` shows; `nft monitor
trace` is the oracle. After `kill -9` only iptables' tables remain."""

import re
import signal
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import netns  # noqa: E402
import tracecheck  # noqa: E402
from tracecheck import (TCP_OK, TCP_REJECT, UDP_DROP, UDP_OK,  # noqa: E402
                        flow_keys)


def firewall(tool, icmp):
    """The same policy as test_trace_nft's, in iptables terms."""
    return [
        [tool, "-t", "raw", "-A", "PREROUTING", "-p", "udp", "--dport",
         str(UDP_OK), "-j", "ACCEPT"],
        [tool, "-N", "noop"],
        [tool, "-A", "noop", "-m", "mark", "--mark", "0x63", "-j", "DROP"],
        [tool, "-N", "web"],
        [tool, "-A", "web", "-p", "tcp", "--dport", str(TCP_OK), "-j",
         "ACCEPT"],
        [tool, "-P", "INPUT", "DROP"],
        [tool, "-A", "INPUT", "-m", "conntrack", "--ctstate",
         "ESTABLISHED,RELATED", "-j", "ACCEPT"],
        [tool, "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
        [tool, "-A", "INPUT", "-p", icmp, "-j", "ACCEPT"],
        [tool, "-A", "INPUT", "-j", "noop"],
        [tool, "-A", "INPUT", "-p", "tcp", "--dport", str(TCP_OK), "-j",
         "web"],
        [tool, "-A", "INPUT", "-p", "udp", "--dport", str(UDP_OK), "-j",
         "ACCEPT"],
        [tool, "-A", "INPUT", "-p", "tcp", "--dport", str(TCP_REJECT), "-j",
         "REJECT"],
        [tool, "-A", "INPUT", "-p", "udp", "--dport", str(UDP_DROP), "-j",
         "DROP"],
        [tool, "-A", "OUTPUT", "-p", "udp", "--sport", str(UDP_OK), "-j",
         "ACCEPT"],
    ]


# flow -> (chain, part of the rule's text or None for the policy,
#          verdict, denied)
DECIDED_BY = {
    "tcp-ok": ("web", f"tcp dport {TCP_OK} counter accept", "accept", False),
    "udp-ok": ("INPUT", f"udp dport {UDP_OK} counter accept", "accept",
               False),
    "ping": ("INPUT", "icmp", "accept", False),
    "tcp-reject": ("INPUT", f"tcp dport {TCP_REJECT} counter reject",
                   "reject", True),
    "udp-drop": ("INPUT", f"udp dport {UDP_DROP} counter drop", "drop",
                 True),
    "tcp-policy": ("INPUT", None, "drop", True),
}


def nft_family(family):
    return "ip" if family == "ipv4" else "ip6"


@netns.requires_root
class TraceIptablesNftTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="conntracker-trace-")
        self.addCleanup(tmp.cleanup)
        self.workdir = tmp.name
        self.pair = netns.Pair()
        self.addCleanup(self.pair.close)
        self.client, self.server = self.pair.client, self.pair.server
        self.responder = netns.Responder(self.server)
        self.addCleanup(self.responder.close)

    def iptables(self):
        for argv in (firewall("iptables-nft", "icmp")
                     + firewall("ip6tables-nft", "ipv6-icmp")):
            self.server.run(argv)

    def save(self):
        """Both rulesets, without comments (timestamps) and counters."""
        out = []
        for tool in ("iptables-nft-save", "ip6tables-nft-save"):
            text = self.server.run([tool]).stdout
            out.append([re.sub(r" \[\d+:\d+\]$", "", ln)
                        for ln in text.splitlines()
                        if not ln.startswith("#")])
        return out

    def test_paths_and_denials_match_the_kernel(self):
        self.iptables()
        saved = self.save()
        daemon = netns.Daemon(self.server, self.workdir, ("--no-bus",))
        self.addCleanup(daemon.kill)
        daemon.start()
        monitor = tracecheck.Monitor(self.server, self.workdir)
        self.addCleanup(monitor.stop)

        tracecheck.scenario_traffic(self.client)
        flows = tracecheck.dump_when(
            daemon, lambda f: tracecheck.settled(f, DECIDED_BY))
        events = tracecheck.parse_monitor(monitor.stop())
        positions, counts = tracecheck.rule_positions(self.server)
        problems = tracecheck.check_scenario(flows, events, positions,
                                             counts, DECIDED_BY, "filter",
                                             nft_family)
        self.assertEqual(problems, [], "\n".join(problems))

        # The raw table is traced too: the tracer's chains come first.
        udp = flows[flow_keys("ipv4")["udp-ok"]]
        raw = [h for h in udp["hits"] if h["table"] == "raw"]
        self.assertTrue(raw and raw[0]["chain"] == "PREROUTING"
                        and raw[0]["verdict"] == "accept",
                        tracecheck.describe(udp))
        # Positions are iptables' rule numbers.
        reject = flows[flow_keys("ipv6")["tcp-reject"]]["blame"]
        listing = self.server.run(["ip6tables-nft", "-L", "INPUT", "-n",
                                   "--line-numbers"]).stdout
        line = [ln for ln in listing.splitlines()
                if ln.startswith(f"{reject['position']} ")]
        self.assertTrue(line and "REJECT" in line[0],
                        f"{tracecheck.describe(reject)}\n{listing}")

        code, _ = daemon.stop(signal.SIGKILL)
        self.assertEqual(code, -signal.SIGKILL)
        gone = netns.wait_until(
            lambda: "conntracker" not in self.server.ruleset(), 2)
        self.assertTrue(gone, self.server.ruleset())
        self.assertEqual(self.save(), saved)


if __name__ == "__main__":
    netns.main()
