#!/usr/bin/python3
"""Rule tracing against a native nftables firewall (IPv4 and IPv6): every
accepted flow shows its path and the accepting rule, every dropped or
rejected flow appears as denied with the deciding rule's text and
position; `nft monitor trace` in the namespace is the oracle for the path.
After `kill -9` the daemon's table and chains are gone, the firewall is
untouched."""

import signal
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import netns  # noqa: E402
import tracecheck  # noqa: E402
from tracecheck import (TCP_OK, TCP_REJECT, UDP_DROP, UDP_OK,  # noqa: E402
                        flow_keys)

# The firewall under test. `noop` runs out of rules for every new packet
# (a return hit); `web` is reached by a jump; `out` sees the replies.
FIREWALL = f"""
table inet fw {{
  chain noop {{
    meta mark 0x63 drop
  }}
  chain web {{
    tcp dport {TCP_OK} accept
  }}
  chain in {{
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iif lo accept
    meta l4proto {{ icmp, ipv6-icmp }} accept
    jump noop
    tcp dport {TCP_OK} jump web
    udp dport {UDP_OK} accept
    tcp dport {TCP_REJECT} reject
    udp dport {UDP_DROP} drop
  }}
  chain out {{
    type filter hook output priority filter; policy accept;
    udp sport {UDP_OK} accept
  }}
}}
"""

# flow -> (chain, rule text or None for the policy, verdict, denied)
DECIDED_BY = {
    "tcp-ok": ("web", f"tcp dport {TCP_OK} accept", "accept", False),
    "udp-ok": ("in", f"udp dport {UDP_OK} accept", "accept", False),
    "ping": ("in", "meta l4proto { icmp, ipv6-icmp } accept", "accept",
             False),
    "tcp-reject": ("in", f"tcp dport {TCP_REJECT} reject", "reject", True),
    "udp-drop": ("in", f"udp dport {UDP_DROP} drop", "drop", True),
    "tcp-policy": ("in", None, "drop", True),
}


@netns.requires_root
class TraceNftTest(unittest.TestCase):
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

    def start_daemon(self, *args):
        daemon = netns.Daemon(self.server, self.workdir,
                              ("--no-bus",) + args)
        self.addCleanup(daemon.kill)
        return daemon.start()

    def run_scenario(self, firewall_first):
        """The scenario's traffic through FIREWALL, loaded before the
        daemon starts or just before the traffic (then the rule cache
        catches up while the first traces wait for it)."""
        if firewall_first:
            self.server.nft(FIREWALL)
        daemon = self.start_daemon()
        if not firewall_first:
            self.server.nft(FIREWALL)
        firewall = self.server.run(["nft", "list", "table", "inet",
                                    "fw"]).stdout
        monitor = tracecheck.Monitor(self.server, self.workdir)
        self.addCleanup(monitor.stop)

        tracecheck.scenario_traffic(self.client)
        flows = tracecheck.dump_when(
            daemon, lambda f: tracecheck.settled(f, DECIDED_BY))
        events = tracecheck.parse_monitor(monitor.stop())
        positions, counts = tracecheck.rule_positions(self.server)
        problems = tracecheck.check_scenario(flows, events, positions,
                                             counts, DECIDED_BY, "fw",
                                             lambda fam: "inet")
        self.assertEqual(problems, [], "\n".join(problems))
        return daemon, flows, firewall

    def test_paths_and_denials_match_the_kernel(self):
        daemon, flows, firewall = self.run_scenario(firewall_first=True)
        keys = {fam: flow_keys(fam) for fam in ("ipv4", "ipv6")}

        # The path of an accepted flow, in the kernel's order of chains:
        # the jump, the regular chain running out, the accepting rule.
        tcp = flows[keys["ipv4"]["tcp-ok"]]
        seen = {(h["chain"], h["type"], h.get("rule")) for h in tcp["hits"]}
        for want in (("in", "rule", "jump noop"), ("noop", "return", None),
                     ("in", "rule", f"tcp dport {TCP_OK} jump web"),
                     ("web", "rule", f"tcp dport {TCP_OK} accept"),
                     ("in", "rule", "ct state established,related accept"),
                     ("out", "policy", None)):
            self.assertIn(want, seen, tracecheck.describe(tcp))
        udp = flows[keys["ipv6"]["udp-ok"]]
        reply = [h for h in udp["hits"] if h["chain"] == "out"
                 and h["type"] == "rule"]
        self.assertTrue(reply and reply[0]["directions"] == ["reply"],
                        tracecheck.describe(udp))

        # A crash leaves nothing of the daemon and the firewall as it was.
        code, _ = daemon.stop(signal.SIGKILL)
        self.assertEqual(code, -signal.SIGKILL)
        gone = netns.wait_until(
            lambda: "conntracker" not in self.server.ruleset(), 2)
        self.assertTrue(gone, self.server.ruleset())
        self.assertEqual(self.server.run(["nft", "list", "table", "inet",
                                          "fw"]).stdout, firewall)

    def test_rules_loaded_while_running(self):
        daemon, _, _ = self.run_scenario(firewall_first=False)
        code, stderr = daemon.stop()
        self.assertEqual(code, 0, stderr)
        self.assertEqual(self.server.run(["nft", "list", "tables"]).stdout,
                         "table inet fw\n")

    def test_trace_mode_off_and_c_add_no_chains(self):
        daemon = self.start_daemon("--trace-mode", "off")
        ruleset = self.server.ruleset()
        self.assertIn("chain pre", ruleset)  # on-demand filters still work
        self.assertNotIn("@tracing4", ruleset)
        code, stderr = daemon.stop()
        self.assertEqual(code, 0, stderr)
        daemon = self.start_daemon("-c")
        ruleset = self.server.ruleset()
        self.assertIn("table inet conntracker", ruleset)
        self.assertNotIn("chain pre", ruleset)
        code, stderr = daemon.stop()
        self.assertEqual(code, 0, stderr)
        self.assertEqual(self.server.ruleset().strip(), "")


if __name__ == "__main__":
    netns.main()
