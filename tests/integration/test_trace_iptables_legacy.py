#!/usr/bin/python3
"""Rule tracing against an iptables-legacy firewall (iptables-legacy and
ip6tables-legacy): the kernel's TRACE lines reach the daemon over
nfnetlink_log. Every accepted flow shows its path and the accepting rule,
every dropped or rejected flow appears as denied with the rule's text and
its position (the Nth `-A CHAIN` line of iptables-legacy-save); a LOG/NFLOG
prefix that forges a TRACE line is not taken for one; nfnetlink_log is bound
only while legacy tables exist, and after a clean stop each family's
previous nf_log binding is back.

The oracle: the same firewall and traffic in a second pair of namespaces,
with the kernel's TRACE lines recorded by a listener of our own on NFLOG
group 0 (only one program can hold group 0, so the two cannot share a
run). Packets are traced there by an nft chain at priority raw - 10, as the
daemon's tracer does; with a daemon that has no tracer (`--trace-mode`
missing from --help) both runs use `-j TRACE` rules in the raw table."""

import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import netns  # noqa: E402
import tracecheck  # noqa: E402
from tracecheck import (TCP_OK, TCP_POLICY, TCP_REJECT, UDP_DROP,  # noqa: E402
                        UDP_OK, flow_keys)

PF = {"ipv4": 2, "ipv6": 10}
TOOLS = {"ipv4": ("iptables-legacy", "icmp"),
         "ipv6": ("ip6tables-legacy", "ipv6-icmp")}
# An NFLOG rule (group 0, the TRACE lines' group) whose prefix is a
# kernel-shaped TRACE line for rule 2 of INPUT, which no test packet
# matches: the daemon must not believe it.
FORGED = "TRACE: filter:INPUT:rule:2 "


def firewall(family, trace_rules):
    tool, icmp = TOOLS[family]
    rules = []
    if trace_rules:
        rules += [[tool, "-t", "raw", "-A", "PREROUTING", "-j", "TRACE"],
                  [tool, "-t", "raw", "-A", "OUTPUT", "-j", "TRACE"]]
    return rules + [
        [tool, "-t", "mangle", "-A", "PREROUTING", "-p", "udp", "--dport",
         str(UDP_OK), "-j", "MARK", "--set-mark", "7"],
        [tool, "-N", "noop"],
        [tool, "-A", "noop", "-m", "mark", "--mark", "0x63", "-j", "DROP"],
        [tool, "-N", "web:in"],
        [tool, "-A", "web:in", "-p", "tcp", "--dport", str(TCP_OK), "-j",
         "ACCEPT"],
        [tool, "-P", "INPUT", "DROP"],
        [tool, "-A", "INPUT", "-m", "conntrack", "--ctstate",
         "ESTABLISHED,RELATED", "-j", "ACCEPT"],
        [tool, "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
        [tool, "-A", "INPUT", "-p", icmp, "-j", "ACCEPT"],
        [tool, "-A", "INPUT", "-j", "noop"],
        [tool, "-A", "INPUT", "-p", "tcp", "--dport", str(TCP_OK), "-j",
         "web:in"],
        [tool, "-A", "INPUT", "-p", "udp", "--dport", str(UDP_OK), "-j",
         "ACCEPT"],
        [tool, "-A", "INPUT", "-p", "tcp", "--dport", str(TCP_REJECT), "-j",
         "REJECT"],
        [tool, "-A", "INPUT", "-p", "udp", "--dport", str(UDP_DROP), "-j",
         "DROP"],
        [tool, "-A", "INPUT", "-p", "tcp", "--dport", str(TCP_POLICY), "-j",
         "NFLOG", "--nflog-prefix", FORGED],
        [tool, "-A", "OUTPUT", "-p", "udp", "--sport", str(UDP_OK), "-j",
         "ACCEPT"],
    ]


# flow -> (chain, part of the deciding rule's text, verdict, denied)
DECIDED_BY = {
    "tcp-ok": ("web:in", f"--dport {TCP_OK} -j ACCEPT", "accept", False),
    "udp-ok": ("INPUT", f"--dport {UDP_OK} -j ACCEPT", "accept", False),
    "ping": ("INPUT", "icmp -j ACCEPT", "accept", False),
    "tcp-reject": ("INPUT", f"--dport {TCP_REJECT} -j REJECT", "reject",
                   True),
    "udp-drop": ("INPUT", f"--dport {UDP_DROP} -j DROP", "drop", True),
    "tcp-policy": ("INPUT", "-P INPUT DROP", "drop", True),
}

# The tracer's equivalent for the oracle run: every packet, before raw.
ORACLE_TRACER = """
table inet ctit_oracle {
  chain pre { type filter hook prerouting priority raw - 10;
              meta nftrace set 1; }
  chain out { type filter hook output priority raw - 10;
              meta nftrace set 1; }
}
"""

# Runs in a namespace: binds nfnetlink_log for IPv4 and IPv6 and holds NFLOG
# group 0 (as the daemon does), writes every packet message as a JSON line
# to stdout until stdin closes or argv[1] seconds pass, then restores the
# bindings it found.
_RECORDER = r"""
import json, os, select, socket, struct, sys, time
deadline = time.monotonic() + float(sys.argv[1])
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
s.bind((0, 0))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
seq = 0
out = []
def attr(t, data):
    n = 4 + len(data)
    return struct.pack("HH", n, t) + data + b"\0" * (-n % 4)
def messages(data):
    off = 0
    while off + 16 <= len(data):
        n, t, _, sq, _ = struct.unpack_from("IHHII", data, off)
        if n < 16:
            break
        yield t, sq, data[off:off + n]
        off += (n + 3) & ~3
def record(msg):
    fam = msg[16]
    a, attrs = 20, {}
    while a + 4 <= len(msg):
        n, t = struct.unpack_from("HH", msg, a)
        if n < 4:
            break
        attrs[t & 0x7fff] = msg[a + 4:a + n]
        a += (n + 3) & ~3
    if 10 not in attrs:
        return
    hdr = attrs.get(1, b"\0\0\xff\0")
    print(json.dumps({"family": fam, "hook": hdr[2],
                      "prefix": attrs[10].rstrip(b"\0").decode(),
                      "payload": attrs.get(9, b"").hex()}), flush=True)
def config(pf, *attrs):
    global seq
    seq += 1
    body = struct.pack("BBH", pf, 0, 0) + b"".join(attrs)
    s.send(struct.pack("IHHII", 16 + len(body), (4 << 8) | 1, 1 | 4, seq, 0)
           + body)
    while True:
        for t, sq, msg in messages(s.recv(65536)):
            if t == 2 and sq == seq:
                err = struct.unpack_from("i", msg, 16)[0]
                if err:
                    sys.exit(f"config {pf} {attrs}: {os.strerror(-err)}")
                return
            if t == (4 << 8):
                record(msg)
def cmd(c):
    return attr(1, struct.pack("B", c))
def binding(pf):
    for line in open("/proc/net/netfilter/nf_log"):
        f = line.split()
        if f[0] == str(pf):
            return f[1]
previous = {pf: binding(pf) for pf in (2, 10)}
config(0, cmd(1))                                         # BIND group 0
config(0, attr(2, struct.pack(">IBB", 256, 2, 0)))        # COPY_PACKET 256
for pf in (2, 10):
    config(pf, cmd(3))                                    # PF_BIND
print(json.dumps({"ready": previous}), flush=True)
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    ready, _, _ = select.select([s, 0], [], [], left)
    if 0 in ready and not os.read(0, 1):
        break
    if s in ready:
        for t, sq, msg in messages(s.recv(65536)):
            if t == (4 << 8):
                record(msg)
for pf in (2, 10):
    config(pf, cmd(4))                                    # PF_UNBIND
    if previous[pf] != "NONE":
        with open(f"/proc/sys/net/netfilter/nf_log/{pf}", "w") as f:
            f.write(previous[pf])
config(0, cmd(2))                                         # UNBIND group 0
"""


class Recorder:
    """_RECORDER running in a namespace, writing to a file."""

    def __init__(self, ns, workdir, lifetime=120):
        self.ns = ns
        self.path = os.path.join(workdir, "nflog-oracle.jsonl")
        self.out = open(self.path, "w+")
        self.proc = ns.popen([sys.executable, "-c", _RECORDER, str(lifetime)],
                             stdin=subprocess.PIPE, stdout=self.out,
                             stderr=subprocess.PIPE, text=True)
        if not netns.wait_until(self._ready, 10):
            self.proc.kill()
            raise AssertionError("the NFLOG recorder did not start: "
                                 f"{self.proc.stderr.read()}")

    def _ready(self):
        if self.proc.poll() is not None:
            return True
        with open(self.path) as f:
            return '"ready"' in f.read()

    def stop(self):
        """Ends the recorder (it restores the bindings); returns messages."""
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        self.ns.forget(self.proc)
        self.out.close()
        if self.proc.returncode != 0:
            raise AssertionError(f"NFLOG recorder failed: {err}")
        with open(self.path) as f:
            return [json.loads(ln) for ln in f if ln.strip()]


# --- the oracle's packets ---------------------------------------------------

_ICMP_NAMES = {("ipv4", 0): "echo-reply", ("ipv4", 8): "echo-request",
               ("ipv4", 3): "destination-unreachable",
               ("ipv6", 128): "echo-request", ("ipv6", 129): "echo-reply",
               ("ipv6", 1): "destination-unreachable"}
_ICMP_ERRORS = {"destination-unreachable"}


def packet_of(family, payload):
    """(src, dst, proto, sport, dport, icmp name) of a logged packet (no
    IPv6 extension headers in this test's traffic), or None."""
    b = bytes.fromhex(payload)
    if family == "ipv4" and len(b) >= 20:
        ihl, proto = (b[0] & 15) * 4, b[9]
        src, dst = (socket.inet_ntop(socket.AF_INET, b[12:16]),
                    socket.inet_ntop(socket.AF_INET, b[16:20]))
    elif family == "ipv6" and len(b) >= 40:
        ihl, proto = 40, b[6]
        src, dst = (socket.inet_ntop(socket.AF_INET6, b[8:24]),
                    socket.inet_ntop(socket.AF_INET6, b[24:40]))
    else:
        return None
    l4 = b[ihl:]
    if proto in (6, 17) and len(l4) >= 4:
        sport, dport = struct.unpack("!HH", l4[:4])
        return (src, dst, "tcp" if proto == 6 else "udp", sport, dport, None)
    if proto in (1, 58) and l4:
        return (src, dst, "icmp" if proto == 1 else "icmpv6", 0, 0,
                _ICMP_NAMES.get((family, l4[0]), str(l4[0])))
    return (src, dst, str(proto), 0, 0, None)


def direction(key, packet):
    """"original", "reply" or None: how a packet relates to a flow."""
    if packet is None:
        return None
    src, dst, proto, sport, dport, icmp = packet
    if proto != {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}[key.proto]:
        return None
    if icmp in _ICMP_ERRORS:
        return None
    if proto in ("icmp", "icmpv6"):
        return ("original" if (src, dst) == (key.src, key.dst) else
                "reply" if (src, dst) == (key.dst, key.src) else None)
    if (src, dst, dport) == (key.src, key.dst, key.dport):
        return "original"
    if (src, dst, sport) == (key.dst, key.src, key.dport):
        return "reply"
    return None


_PREFIX_RE = re.compile(r"^TRACE: ([^:]+):(.+):(rule|return|policy):(\d+) $")


def oracle_events(messages):
    """[(family, packet, (table, chain, type, position))] of the kernel's
    TRACE lines, forged ones left out (the test knows their prefix)."""
    out = []
    for m in messages:
        if "prefix" not in m or m["prefix"] == FORGED:
            continue
        p = _PREFIX_RE.match(m["prefix"])
        if not p:
            continue
        family = "ipv4" if m["family"] == socket.AF_INET else "ipv6"
        out.append((family, packet_of(family, m["payload"]),
                    (p.group(1), p.group(2), p.group(3), int(p.group(4)))))
    return out


def oracle_hits(events, key):
    """{(table, chain, type, position): {directions}} for the flow."""
    hits = {}
    for family, packet, hit in events:
        if family != key.family:
            continue
        d = direction(key, packet)
        if d is not None:
            hits.setdefault(hit, set()).add(d)
    return hits


def icmp_error_hits(events, key):
    """Hits of ICMP errors sent back to the flow's source (a reject's
    answer): the daemon files them under the flow they are about."""
    return {hit for family, packet, hit in events
            if family == key.family and packet is not None
            and packet[5] in _ICMP_ERRORS and packet[1] == key.src}


# --- rule texts: iptables-legacy-save, read independently --------------------

def parse_save(text):
    """{(table, chain): (policy or None, [rule lines])}."""
    chains, table = {}, None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            name, policy = line[1:].split(" ")[:2]
            chains[(table, name)] = (None if policy == "-" else policy, [])
        elif line.startswith("-A "):
            chains[(table, line.split(" ")[1])][1].append(line)
    return chains


def expected_verdict(text, table, chains):
    m = re.search(r" -j (\S+)", text)
    if not m:
        return "none"
    target = m.group(1)
    if target in ("ACCEPT", "DROP", "REJECT", "RETURN"):
        return target.lower()
    return "jump" if (table, target) in chains else "none"


def check_hit(hit, chains):
    """Position, text and verdict of a daemon hit against the save text."""
    chain = chains.get((hit["table"], hit["chain"]))
    if chain is None:
        return [f"hit in an unknown chain: {tracecheck.describe(hit)}"]
    policy, rules = chain
    n = len(rules)
    want = None
    if hit["type"] == "rule" and 1 <= hit["position"] <= n:
        text = rules[hit["position"] - 1]
        want = (text, expected_verdict(text, hit["table"], chains))
    elif hit["type"] == "policy" and policy and hit["position"] == n + 1:
        want = (f"-P {hit['chain']} {policy}", policy.lower())
    elif hit["type"] == "return" and not policy and hit["position"] == n + 1:
        want = (None, "return")
    if want is None:
        return [f"{tracecheck.describe(hit)}: no such {hit['type']} in "
                f"{hit['table']} {hit['chain']} ({n} rules)"]
    got = (hit.get("rule"), hit.get("verdict"))
    if got != want:
        return [f"{tracecheck.describe(hit)}: expected text and verdict "
                f"{want}"]
    return []


def check_flows(flows, events, saves):
    problems = []
    for fam in ("ipv4", "ipv6"):
        chains = saves[fam]
        for name, key in sorted(flow_keys(fam).items()):
            flow = flows.get(key)
            if flow is None:
                problems.append(f"{key} ({name}) missing from the dump")
                continue
            want = oracle_hits(events, key)
            if not want:
                problems.append(f"{key} ({name}): the oracle saw no hit")
            got = {}
            for h in flow.get("hits", []):
                if h.get("family") is not None:
                    continue  # an nft hit (the tracer's own table)
                problems += check_hit(h, chains)
                k = (h["table"], h["chain"], h["type"], h["position"])
                got.setdefault(k, set()).update(h["directions"])
            extra_ok = icmp_error_hits(events, key)
            for k in sorted(set(want) | set(got)):
                w, g = want.get(k, set()), got.get(k, set())
                if w - g:
                    problems.append(f"{key} ({name}): missing {sorted(w - g)}"
                                    f" hit {k}")
                if g - w and not (g - w == {"reply"} and k in extra_ok):
                    problems.append(f"{key} ({name}): {sorted(g - w)} hit "
                                    f"{k} the kernel did not report")
            chain, text, verdict, denied = DECIDED_BY[name]
            if flow.get("denied") != denied:
                problems.append(f"{key} ({name}): denied is "
                                f"{flow.get('denied')}, expected {denied}")
            blame = flow.get("blame") or {}
            if not (blame.get("table") == "filter"
                    and blame.get("chain") == chain
                    and blame.get("verdict") == verdict
                    and text in (blame.get("rule") or "")):
                problems.append(f"{key} ({name}): blame should be {chain} "
                                f"{text!r} ({verdict}), is "
                                f"{tracecheck.describe(blame)}")
    return problems


def bindings(ns):
    """{pf: logger} from /proc/net/netfilter/nf_log in the namespace."""
    text = ns.run(["cat", "/proc/net/netfilter/nf_log"]).stdout
    out = {}
    for line in text.splitlines():
        f = line.split()
        if f and f[0] in ("2", "10"):
            out[int(f[0])] = f[1]
    return out


def daemon_has_tracer():
    help_text = subprocess.run([netns.daemon_binary(), "--help"],
                               capture_output=True, text=True,
                               timeout=10).stdout
    return "--trace-mode" in help_text


@netns.requires_root
class TraceIptablesLegacyTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.tracer = daemon_has_tracer()

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="conntracker-legacy-")
        self.addCleanup(tmp.cleanup)
        self.workdir = tmp.name

    def pair(self):
        pair = netns.Pair()
        self.addCleanup(pair.close)
        responder = netns.Responder(pair.server)
        self.addCleanup(responder.close)
        return pair

    def install(self, ns, trace_rules):
        for fam in ("ipv4", "ipv6"):
            for argv in firewall(fam, trace_rules):
                ns.run(argv)

    def saves(self, ns):
        return {fam: parse_save(ns.run([TOOLS[fam][0] + "-save"]).stdout)
                for fam in ("ipv4", "ipv6")}

    def oracle(self, trace_rules):
        """The kernel's TRACE lines for the scenario, in a pair of its own."""
        pair = self.pair()
        self.install(pair.server, trace_rules)
        if not trace_rules:
            pair.server.nft(ORACLE_TRACER)
        before = bindings(pair.server)
        recorder = Recorder(pair.server, self.workdir)
        tracecheck.scenario_traffic(pair.client)
        time.sleep(0.5)
        messages = recorder.stop()
        self.assertEqual(bindings(pair.server), before)
        events = oracle_events(messages)
        self.assertTrue(any(m.get("prefix") == FORGED for m in messages),
                        "the forging NFLOG rule wrote nothing")
        return events

    def start_daemon(self, ns, *args, name="daemon"):
        daemon = netns.Daemon(ns, self.workdir, ("--no-bus", *args),
                              name=name)
        self.addCleanup(daemon.kill)
        return daemon.start()

    def scenario(self, trace_rules, daemon_args=()):
        """Oracle run, then the daemon's run; compares them."""
        events = self.oracle(trace_rules)

        pair = self.pair()
        server = pair.server
        self.install(server, trace_rules)
        saves = self.saves(server)
        # IPv6 starts with no logger at all: unbinding must leave it so.
        server.run(["sh", "-c", "echo NONE > /proc/sys/net/netfilter/"
                                "nf_log/10"])
        before = bindings(server)
        self.assertEqual(before, {2: "nf_log_ipv4", 10: "NONE"})

        daemon = self.start_daemon(server, *daemon_args)
        bound = netns.wait_until(
            lambda: bindings(server) == {2: "nfnetlink_log",
                                         10: "nfnetlink_log"}, 5)
        self.assertTrue(bound, f"{bindings(server)}\n{daemon.stderr()}")

        tracecheck.scenario_traffic(pair.client)
        flows = tracecheck.dump_when(
            daemon, lambda f: tracecheck.settled(f, DECIDED_BY))
        problems = check_flows(flows, events, saves)
        self.assertEqual(problems, [], "\n".join(problems) +
                         f"\ndaemon stderr:\n{daemon.stderr()[-3000:]}")

        # The forged line was seen and ignored, not recorded.
        for fam in ("ipv4", "ipv6"):
            policy = flows[flow_keys(fam)["tcp-policy"]]
            self.assertFalse(
                [h for h in policy["hits"] if h["table"] == "filter"
                 and h["chain"] == "INPUT" and h["position"] == 2],
                tracecheck.describe(policy))
        # Positions are iptables' rule numbers.
        reject = flows[flow_keys("ipv6")["tcp-reject"]]["blame"]
        listing = server.run(["ip6tables-legacy", "-L", "INPUT", "-n",
                              "--line-numbers"]).stdout
        line = [ln for ln in listing.splitlines()
                if ln.startswith(f"{reject['position']} ")]
        self.assertTrue(line and "REJECT" in line[0],
                        f"{tracecheck.describe(reject)}\n{listing}")

        code, stderr = daemon.stop()
        self.assertEqual(code, 0, stderr)
        self.assertIn("writes the same prefix", stderr)
        self.assertEqual(bindings(server), before, stderr)
        # Group 0 numbers its messages (NFULNL_CFG_F_SEQ): none was lost.
        summary = re.search(r"legacy TRACE lines: .* (\d+) lost by the "
                            r"kernel \(kernel sequence numbers up to \d+\)",
                            stderr)
        self.assertTrue(summary and summary.group(1) == "0", stderr)
        return flows

    def test_paths_and_denials_match_the_kernel(self):
        """What users run: the daemon's tracer decides what is traced (a
        daemon without one needs TRACE rules in the raw table)."""
        self.scenario(trace_rules=not self.tracer)

    def test_users_own_trace_rules(self):
        """Legacy users' own `-j TRACE` rules, the tracer off. The packet
        that meets a TRACE rule is traced from the next hit on (the kernel
        logs a rule before running its target): raw's policies, after the
        TRACE rule, are the first hits, in both directions."""
        flows = self.scenario(trace_rules=True,
                              daemon_args=("--trace-mode", "off")
                              if self.tracer else ())
        for fam in ("ipv4", "ipv6"):
            flow = flows[flow_keys(fam)["udp-ok"]]
            raw = sorted((h["chain"], h["type"], h["position"], h["rule"],
                          tuple(h["directions"]))
                         for h in flow["hits"] if h["table"] == "raw")
            self.assertEqual(raw, [
                ("OUTPUT", "policy", 2, "-P OUTPUT ACCEPT", ("reply",)),
                ("PREROUTING", "policy", 2, "-P PREROUTING ACCEPT",
                 ("original",))], tracecheck.describe(flow))

    def test_rule_inserted_after_a_snapshot(self):
        """Legacy rules send no change notice: a rule inserted right after
        the rules were read shifts every position below it. The kernel's
        entry count tells the daemon to read them again."""
        pair = self.pair()
        server = pair.server
        self.install(server, trace_rules=not self.tracer)
        daemon = self.start_daemon(server)
        bound = netns.wait_until(
            lambda: bindings(server).get(2) == "nfnetlink_log", 5)
        self.assertTrue(bound, daemon.stderr())
        time.sleep(0.5)  # the first rules snapshot is in

        server.run(["iptables-legacy", "-I", "INPUT", "1", "-p", "udp",
                    "--dport", "10", "-j", "DROP"])
        netns.client_traffic(pair.client,
                             [["udp", netns.SERVER4, 10, None, False]])
        key = netns.FlowKey("ipv4", 17, netns.CLIENT4, netns.SERVER4, 1024,
                            10)
        flows = tracecheck.dump_when(
            daemon, lambda f: key in f and f[key].get("denied"))
        flow = flows.get(key)
        self.assertIsNotNone(flow, f"{sorted(map(str, flows))}\n"
                             f"{daemon.stderr()}")
        blame = flow.get("blame") or {}
        self.assertEqual((blame.get("chain"), blame.get("position"),
                          blame.get("rule"), blame.get("verdict")),
                         ("INPUT", 1, "-A INPUT -p udp -m udp --dport 10 "
                          "-j DROP", "drop"), tracecheck.describe(flow))
        code, stderr = daemon.stop()
        self.assertEqual(code, 0, stderr)

    def test_binds_only_while_legacy_tables_exist(self):
        pair = self.pair()
        server = pair.server
        before = bindings(server)
        daemon = self.start_daemon(server)
        # No legacy table: no TRACE line can come, nothing is taken over.
        time.sleep(2.5)
        self.assertEqual(bindings(server), before, daemon.stderr())

        server.run(["iptables-legacy", "-A", "INPUT", "-j", "ACCEPT"])
        bound = netns.wait_until(
            lambda: bindings(server).get(2) == "nfnetlink_log", 5)
        self.assertTrue(bound, f"{bindings(server)}\n{daemon.stderr()}")
        self.assertEqual(bindings(server)[10], before[10])

        code, stderr = daemon.stop()
        self.assertEqual(code, 0, stderr)
        self.assertEqual(bindings(server), before, stderr)

    def test_leaves_a_binding_it_found(self):
        pair = self.pair()
        server = pair.server
        server.run(["iptables-legacy", "-A", "INPUT", "-j", "ACCEPT"])
        server.run(["sh", "-c", "echo nfnetlink_log > /proc/sys/net/"
                                "netfilter/nf_log/2"])
        daemon = self.start_daemon(server)
        time.sleep(1)
        code, stderr = daemon.stop()
        self.assertEqual(code, 0, stderr)
        self.assertIn("nfnetlink_log already is the IPv4 logger", stderr)
        self.assertEqual(bindings(server)[2], "nfnetlink_log", stderr)


if __name__ == "__main__":
    netns.main()
