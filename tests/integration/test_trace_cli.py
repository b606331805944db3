#!/usr/bin/python3
"""Trace control through conntrackerctl, on a private system bus with the
real polkitd, against a native nftables firewall in the server namespace
that drops one UDP port:

- as root, `trace off` and traffic: the flows get no hits, and a dropped
  packet leaves no denied flow;
- `trace on`: new flows get their path; the dropped flow is listed by
  `list --filter 'verdict drop'` (STATE "denied") and `show ID` names the
  dropping rule's text and position (checked against `nft -a list
  ruleset`);
- `trace 'to ADDR proto tcp port N' --for 5s` with the mode off traces
  that flow, not another, and only for those 5 s;
- a member of the group conntracker (allowed to read, not to trace) is
  refused `trace on` with exit status 4, and the mode stays;
- with -c the trace commands fail with "tracing is disabled (-c)".

Needs root. Creates the users ct-test-member and ct-test-outsider and the
group conntracker when absent (see busenv.py).
"""

import re
import sys
import time
import unittest

sys.dont_write_bytecode = True
import busenv  # noqa: E402
import netns  # noqa: E402
import tracecheck  # noqa: E402
from busenv import MEMBER, OUTSIDER, ctl, describe  # noqa: E402
from netns import (CLIENT4, CLIENT6, CLOSED_PORT, ECHO_PORT,  # noqa: E402
                   SERVER4, SERVER6, SINK_PORT, TCP_PORT, FlowKey)

busenv.not_root_exit()

# The server's firewall: everything is accepted except UDP to the sink
# port; TCP to the closed port is accepted by a rule of its own (the
# kernel then answers with a reset).
FIREWALL = f"""
table inet fw {{
  chain input {{
    type filter hook input priority filter; policy accept;
    ct state established,related accept
    iif lo accept
    tcp dport {CLOSED_PORT} counter accept
    udp dport {SINK_PORT} drop
  }}
}}
"""
DROP_RULE = f"udp dport {SINK_PORT} drop"

TCP4 = FlowKey("ipv4", 6, CLIENT4, SERVER4, 1024, TCP_PORT)
UDP4_ECHO = FlowKey("ipv4", 17, CLIENT4, SERVER4, 1024, ECHO_PORT)
UDP4_DROP = FlowKey("ipv4", 17, CLIENT4, SERVER4, 1024, SINK_PORT)
CLOSED4 = FlowKey("ipv4", 6, CLIENT4, SERVER4, 1024, CLOSED_PORT)
CLOSED6 = FlowKey("ipv6", 6, CLIENT6, SERVER6, 1024, CLOSED_PORT)

FILTER_SECONDS = 5


def root_ctl(*args):
    return ctl(None, *args)


@netns.requires_root
class TraceCliTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.env = busenv.ServiceEnv(self.addCleanup, polkit="real",
                                     start_daemon=False)
        self.env.server.nft(FIREWALL)
        self.env.start_daemon()

    # --- helpers ----------------------------------------------------------

    def ok(self, *args, user=None):
        p = ctl(user, *args)
        self.assertEqual(p.returncode, busenv.EXIT_OK, describe(p))
        return p

    def flows(self, *args):
        """`list --json` as root: {FlowKey: flow dictionary}."""
        p = self.ok("list", "--json", *args)
        return busenv.flows_by_key(busenv.parse_json_output(p.stdout),
                                   "list --json")

    def show(self, key):
        """`show ID --json` of the flow with this key (hits included)."""
        flow = self.wait_flow(key)
        p = self.ok("show", str(flow["id"]), "--json")
        return busenv.normalize_flow(busenv.parse_json_output(p.stdout)[0])

    def wait_flow(self, key, predicate=lambda f: True, timeout=10):
        found = netns.wait_until(
            lambda: (f := self.flows().get(key)) is not None
            and predicate(f) and f, timeout, 0.2)
        if not found:
            self.fail(f"no flow {key} as expected within {timeout} s; "
                      f"flows: {sorted(map(str, self.flows()))}\n"
                      f"daemon stderr:\n"
                      f"{self.env.daemon.stderr()[-3000:]}")
        return found

    def mode(self):
        sig, value = busenv.get_property(self.env.bus, "TracingMode")
        self.assertEqual(sig, "s")
        return value.strip('"')

    def traffic(self, actions):
        netns.client_traffic(self.env.client, actions)

    # --- the test ---------------------------------------------------------

    def test_modes_filters_and_denials(self):
        env = self.env
        self.assertEqual(self.mode(), "new")
        self.assertIn("Trace mode: new", self.ok("trace").stdout)

        # Off: flows are recorded, but no rule they pass.
        p = self.ok("trace", "off")
        self.assertIn("Trace mode: off", p.stdout)
        self.assertEqual(self.mode(), "off")
        self.traffic([["tcp", SERVER4, TCP_PORT, None],
                      ["udp", SERVER4, SINK_PORT, None, False]])
        self.wait_flow(TCP4)
        time.sleep(3)  # a denied flow would show up after ~2 s
        flow = self.show(TCP4)
        self.assertEqual(flow.get("hits"), [], tracecheck.describe(flow))
        self.assertNotIn("blame", flow)
        self.assertNotIn(UDP4_DROP, self.flows())
        p = self.ok("list", "--filter", "verdict drop")
        self.assertIn("No flows match the filter.", p.stdout, describe(p))

        # On (= new): new flows, and the dropped one, are traced.
        p = self.ok("trace", "on")
        self.assertIn("Trace mode: new", p.stdout)
        self.assertEqual(self.mode(), "new")
        self.traffic([["tcp", SERVER4, TCP_PORT, None],
                      ["udp", SERVER4, ECHO_PORT, None, True],
                      ["udp", SERVER4, SINK_PORT, None, False]])
        self.wait_flow(TCP4, lambda f: "blame" in f)
        tcp = self.show(TCP4)
        self.assertTrue(tcp["hits"], tracecheck.describe(tcp))
        self.assertTrue(any(h["chain"] == "input" and h["type"] == "policy"
                            and h["verdict"] == "accept"
                            for h in tcp["hits"]), tracecheck.describe(tcp))
        self.assertEqual(self.show(UDP4_ECHO)["blame"]["verdict"], "accept")

        self.wait_flow(UDP4_DROP, lambda f: f.get("verdict") == "drop")
        denied = self.flows("--filter", "verdict drop")
        self.assertEqual(list(denied), [UDP4_DROP], denied)
        drop = denied[UDP4_DROP]
        p = self.ok("list", "--filter", "verdict drop")
        row = [line for line in p.stdout.splitlines()
               if re.match(rf"\s*{drop['id']}\s", line)]
        self.assertEqual(len(row), 1, p.stdout)
        self.assertIn(" denied ", row[0] + " ", p.stdout)
        self.assertNotIn(UDP4_DROP, self.flows("--filter", "verdict accept"))

        # show: the path, the dropping rule's text and position.
        rules, _ = tracecheck.rule_positions(env.server)
        position = [pos for (fam, table, chain, _), (pos, text)
                    in rules.items() if (fam, table, chain, text)
                    == ("inet", "fw", "input", DROP_RULE)]
        self.assertEqual(len(position), 1, rules)
        position = position[0]
        flow = self.show(UDP4_DROP)
        blame = flow["blame"]
        self.assertEqual((blame.get("family"), blame["table"], blame["chain"],
                          blame["type"], blame["position"], blame["verdict"],
                          blame.get("rule"), blame["directions"]),
                         ("inet", "fw", "input", "rule", position, "drop",
                          DROP_RULE, "original"), tracecheck.describe(flow))
        self.assertIn(blame["handle"], [h for (_, _, _, h) in rules])
        self.assertIn({k: blame[k] for k in ("table", "chain", "position",
                                             "rule")},
                      [{k: h.get(k) for k in ("table", "chain", "position",
                                              "rule")}
                       for h in flow["hits"]])
        p = self.ok("show", str(drop["id"]))
        self.assertIn(f"Denied by: inet fw input, rule {position} (drop): "
                      f"{DROP_RULE}", p.stdout, describe(p))
        hit_rows = [line.split() for line in p.stdout.splitlines()
                    if line.endswith(DROP_RULE) and "Denied" not in line]
        self.assertEqual(len(hit_rows), 1, p.stdout)
        self.assertEqual(hit_rows[0][:6], ["inet", "fw", "input", "rule",
                                           str(position), "drop"], p.stdout)
        self.assertIn("State:", p.stdout)
        self.assertRegex(p.stdout, r"State:\s+denied")
        p = self.ok("show", str(self.flows()[TCP4]["id"]))
        self.assertIn("Decided by: inet fw input, policy (accept)", p.stdout,
                      describe(p))

        # A filter for 5 s traces its flow with the mode off, no other.
        self.ok("trace", "off")
        self.assertEqual(self.mode(), "off")
        p = self.ok("trace", f"to {SERVER4} proto tcp port {CLOSED_PORT}",
                    "--for", f"{FILTER_SECONDS}s")
        started = time.monotonic()
        m = re.search(r"\(filter (\d+)\)", p.stdout)
        self.assertTrue(m, describe(p))
        self.traffic([["tcp-refused", SERVER4, CLOSED_PORT],
                      ["tcp-refused", SERVER6, CLOSED_PORT]])
        self.wait_flow(CLOSED4, lambda f: "blame" in f)
        closed4 = self.show(CLOSED4)
        self.assertIn(f"tcp dport {CLOSED_PORT} counter accept",
                      [h.get("rule") for h in closed4["hits"]],
                      tracecheck.describe(closed4))
        self.assertEqual(self.show(CLOSED6).get("hits"), [])
        counts = sum(h["count"] for h in closed4["hits"])
        # ... and the kernel ends it.
        time.sleep(max(0, started + FILTER_SECONDS + 1 - time.monotonic()))
        self.traffic([["tcp-refused", SERVER4, CLOSED_PORT]])
        time.sleep(2.5)
        self.assertEqual(sum(h["count"] for h in self.show(CLOSED4)["hits"]),
                         counts, "traced after the filter's end")

        # Bad input: usage errors, before or from the daemon.
        for args in (["trace", "frob", "1"], ["trace", "tcp", "--for", "2x"],
                     ["trace", "on", "--for", "5s"],
                     ["trace", "udp", "--for", "2d"]):
            p = root_ctl(*args)
            self.assertEqual(p.returncode, busenv.EXIT_USAGE, describe(p))
        p = root_ctl("trace", "--stop", "4242")
        self.assertEqual(p.returncode, busenv.EXIT_FAILURE, describe(p))
        self.assertIn("no trace filter has id 4242", p.stderr)

        # Reading is not tracing: the group may read, not change.
        self.assertTrue(env.polkit.check("org.conntracker.read", MEMBER))
        self.assertFalse(env.polkit.check("org.conntracker.trace", MEMBER))
        for user in (MEMBER, OUTSIDER):
            for args in (["trace", "on"], ["trace", "all"],
                         ["trace", f"to {SERVER4}", "--for", "5s"]):
                with self.subTest(user=user, args=args):
                    p = ctl(user, *args)
                    self.assertEqual(p.returncode, busenv.EXIT_DENIED,
                                     describe(p))
                    self.assertIn("not authorized", p.stderr, describe(p))
            # Showing the mode needs no authorization.
            self.assertIn("Trace mode: off", self.ok("trace", user=user).stdout)
        self.assertEqual(self.mode(), "off")
        self.assertTrue(env.daemon.running())


@netns.requires_root
class TraceDisabledTest(unittest.TestCase):

    def test_c_disables_trace_control(self):
        env = busenv.ServiceEnv(self.addCleanup, polkit="real",
                                daemon_args=("-c",))
        sig, value = busenv.get_property(env.bus, "TracingMode")
        self.assertEqual((sig, value), ("s", '"disabled"'))
        p = root_ctl("trace")
        self.assertEqual(p.returncode, 0, describe(p))
        self.assertIn("disabled", p.stdout)
        for args in (["trace", "on"], ["trace", "off"],
                     ["trace", f"to {SERVER4}", "--for", "5s"],
                     ["trace", "--stop", "1"]):
            with self.subTest(args=args):
                p = root_ctl(*args)
                self.assertEqual(p.returncode, busenv.EXIT_FAILURE,
                                 describe(p))
                self.assertIn("tracing is disabled (-c)", p.stderr)
        self.assertNotIn("chain pre", env.server.ruleset())


if __name__ == "__main__":
    netns.main()
