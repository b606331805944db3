#!/usr/bin/python3
"""Rule tracing checks shared by the nftables and iptables-nft tests: the
scenario traffic, `nft monitor trace` as the oracle for each flow's path,
`nft -a list ruleset` for rule positions, and the comparison with the
daemon's JSON dump. Python 3 standard library only."""

import collections
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
import netns  # noqa: E402
from netns import (CLIENT4, CLIENT6, SERVER4, SERVER6,  # noqa: E402
                   FlowKey)

OWN_TABLE = "conntracker"

# The scenario's ports: what the firewall under test does with each.
TCP_OK = 80  # accepted (the responder greets)
UDP_OK = 7  # accepted, echoed (the reply is traced too)
TCP_REJECT = 81  # rejected by a rule
UDP_DROP = 9  # dropped by a rule
TCP_POLICY = 82  # dropped by the chain's policy


def flow_keys(family):
    c, s = (CLIENT4, SERVER4) if family == "ipv4" else (CLIENT6, SERVER6)
    icmp = (1, 8) if family == "ipv4" else (58, 128)
    return {
        "tcp-ok": FlowKey(family, 6, c, s, 1024, TCP_OK),
        "udp-ok": FlowKey(family, 17, c, s, 1024, UDP_OK),
        "ping": FlowKey(family, icmp[0], c, s, icmp[1], 0),
        "tcp-reject": FlowKey(family, 6, c, s, 1024, TCP_REJECT),
        "udp-drop": FlowKey(family, 17, c, s, 1024, UDP_DROP),
        "tcp-policy": FlowKey(family, 6, c, s, 1024, TCP_POLICY),
    }


# A SYN that nobody answers: the connect times out, as expected.
_SILENT_CONNECT = r"""
import socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(0.7)
try:
    s.connect((addr, port))
    sys.exit("connected: expected the SYN to be dropped")
except socket.timeout:
    pass
"""


def scenario_traffic(client):
    """Every flow of flow_keys(), both families, each once."""
    for server in (SERVER4, SERVER6):
        netns.client_traffic(client, [
            ["tcp", server, TCP_OK, None],
            ["udp", server, UDP_OK, None, True],
            ["tcp-refused", server, TCP_REJECT],
            ["udp", server, UDP_DROP, None, False],
        ])
        client.python(_SILENT_CONNECT, server, str(TCP_POLICY))
        netns.ping(client, server)


# --- the oracle: nft monitor trace ------------------------------------------

class Monitor:
    """`nft monitor trace` in a namespace, written to a file."""

    def __init__(self, ns, workdir):
        self.ns = ns
        self.path = os.path.join(workdir, "monitor-trace.txt")
        with open(self.path, "wb") as out:
            self.proc = ns.popen(["nft", "monitor", "trace"], stdout=out,
                                 stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        time.sleep(0.5)  # subscribed before the first packet

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.ns.forget(self.proc)
        with open(self.path, errors="replace") as f:
            return f.read()


Hit = collections.namedtuple("Hit", "family table chain type text handle "
                                    "verdict")

_ADDR_RE = re.compile(r"\bip6? saddr (\S+) ip6? daddr (\S+)")
_PORTS_RE = re.compile(r"\b(tcp|udp) sport (\d+) \1 dport (\d+)")
_ICMP_RE = re.compile(r"\b(icmp|icmpv6) type (\S+)")
_VERDICT_RE = re.compile(r"^(.*) \(verdict ([^)]*)\)$")
_UNKNOWN_RE = re.compile(r"^unknown rule handle (\d+)$")
_COUNTER_RE = re.compile(r"\bcounter packets \d+ bytes \d+")


def normalize_rule(text):
    """Rule text without counter values (nft monitor prints them; the
    daemon lists the ruleset stateless)."""
    return " ".join(_COUNTER_RE.sub("counter", text).split())


def _packet(rest):
    """(src, dst, proto, sport, dport, icmp_type) of a packet line."""
    addr = _ADDR_RE.search(rest)
    if addr is None:
        return None
    ports = _PORTS_RE.search(rest)
    icmp = _ICMP_RE.search(rest)
    if ports:
        return (addr.group(1), addr.group(2), ports.group(1),
                int(ports.group(2)), int(ports.group(3)), None)
    if icmp:
        return (addr.group(1), addr.group(2), icmp.group(1), 0, 0,
                icmp.group(2))
    return (addr.group(1), addr.group(2), None, 0, 0, None)


def parse_monitor(text):
    """[(packet, Hit)] in order: each rule or policy line of another table
    than ours, with the packet its trace id last announced."""
    current = {}
    out = []
    for line in text.splitlines():
        line = line.strip()
        parts = line.split(" ", 6)
        if len(parts) < 7 or parts[0] != "trace" or parts[1] != "id":
            continue
        tid, family, table, chain, rest = parts[2:]
        if rest.startswith("packet: "):
            current[tid] = _packet(rest)
            continue
        if table == OWN_TABLE and family == "inet":
            continue
        if rest.startswith("policy "):
            hit = Hit(family, table, chain, "policy", None, None,
                      rest.split()[1])
        elif rest.startswith("rule "):
            m = _VERDICT_RE.match(rest[len("rule "):])
            if not m:
                continue
            hit = Hit(family, table, chain, "rule",
                      normalize_rule(m.group(1)), None,
                      m.group(2).split()[0])
        elif rest.startswith("unknown rule handle"):
            m = _VERDICT_RE.match(rest)
            u = _UNKNOWN_RE.match(m.group(1)) if m else None
            if not u:
                continue
            hit = Hit(family, table, chain, "rule", None, int(u.group(1)),
                      m.group(2).split()[0])
        else:
            continue
        out.append((current.get(tid), hit))
    return out


_PROTO = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}
_ICMP_ERRORS = {"destination-unreachable", "time-exceeded",
                "parameter-problem", "packet-too-big"}


def _direction(key, packet):
    """"original", "reply" or None: how the packet relates to the flow."""
    if packet is None:
        return None
    src, dst, proto, sport, dport, icmp = packet
    if proto != _PROTO.get(key.proto):
        return None
    if proto in ("icmp", "icmpv6"):
        if icmp in _ICMP_ERRORS:
            return None
        if (src, dst) == (key.src, key.dst):
            return "original"
        if (src, dst) == (key.dst, key.src):
            return "reply"
        return None
    if (src, dst, dport) == (key.src, key.dst, key.dport):
        return "original"
    if (src, dst, sport) == (key.dst, key.src, key.dport):
        return "reply"
    return None


def oracle_hits(events, key):
    """{(Hit, direction)} the kernel reported for the flow's packets."""
    return {(hit, d) for packet, hit in events
            if (d := _direction(key, packet)) is not None}


def icmp_error_hits(events, key):
    """Hits of ICMP errors sent back to the flow's source (the answer of a
    reject): the daemon files them under the flow they are about."""
    return {hit for packet, hit in events
            if packet is not None and packet[5] in _ICMP_ERRORS
            and packet[1] == key.src}


# --- rule positions: nft -a list ruleset ------------------------------------

def rule_positions(ns):
    """{(family, table, chain, handle): (position, text)} and
    {(family, table, chain): number of rules}, from `nft -a -s list
    ruleset` read line by line (independently of the daemon's parser)."""
    text = ns.run(["nft", "-a", "-s", "list", "ruleset"]).stdout
    rules, counts = {}, {}
    family = table = chain = None
    for line in text.splitlines():
        s = line.strip()
        m = re.match(r"table (\S+) (\S+) \{", s)
        if m:
            family, table, chain = m.group(1), m.group(2), None
            continue
        m = re.match(r"chain (\S+) \{", s)
        if m and table:
            chain = m.group(1)
            counts[(family, table, chain)] = 0
            continue
        if s == "}":
            chain = None if chain else chain
            continue
        m = re.match(r"(.*\S)\s+# handle (\d+)$", s)
        if m and chain and not s.startswith(("type ", "set ", "map ")):
            counts[(family, table, chain)] += 1
            rules[(family, table, chain, int(m.group(2)))] = (
                counts[(family, table, chain)], m.group(1))
    return rules, counts


# --- the daemon's view ------------------------------------------------------

def verdict_matches(oracle_verdict, hit):
    """The daemon's verdict for a kernel one; a reject rule drops."""
    v = hit.get("verdict")
    if oracle_verdict == "drop":
        return v in ("drop", "reject")
    return v == oracle_verdict


def hit_matches(oracle, hit):
    if (hit.get("family"), hit["table"], hit["chain"], hit["type"]) != \
            (oracle.family, oracle.table, oracle.chain, oracle.type):
        return False
    if oracle.type == "rule":
        if oracle.handle is not None:
            if hit.get("handle") != oracle.handle:
                return False
        elif normalize_rule(hit.get("rule") or "") != oracle.text:
            return False
    return verdict_matches(oracle.verdict, hit)


def describe(obj):
    return json.dumps(obj, indent=1, sort_keys=True)


def compare_path(key, flow, events):
    """Problems between the oracle's hits for the flow and the daemon's."""
    problems = []
    hits = flow.get("hits", [])
    want = oracle_hits(events, key)
    if not want:
        problems.append(f"{key}: the oracle saw no hit for this flow")
    for oracle, direction in sorted(want, key=str):
        if not any(hit_matches(oracle, h) and direction in h["directions"]
                   for h in hits):
            problems.append(f"{key}: missing {direction} hit {oracle}")
    extra_ok = icmp_error_hits(events, key)
    for h in hits:
        if h["type"] == "return":
            continue  # nft monitor (1.0.6) does not print chain ends
        for direction in h["directions"]:
            if any(hit_matches(o, h) for o, d in want if d == direction):
                continue
            if direction == "reply" and any(hit_matches(o, h)
                                             for o in extra_ok):
                continue
            problems.append(f"{key}: {direction} hit the kernel did not "
                            f"report: {describe(h)}")
    return problems


def check_rule_text(hit, positions, counts):
    """Position and text of a hit against `nft -a list ruleset`."""
    chain = (hit.get("family"), hit["table"], hit["chain"])
    if hit["type"] in ("policy", "return"):
        want = counts.get(chain, -1) + 1
        if hit["position"] != want:
            return [f"{hit['type']} of {chain} at position "
                    f"{hit['position']}, expected {want}"]
        return []
    pos = positions.get(chain + (hit.get("handle"),))
    if pos is None:
        return [f"hit for an unknown rule: {describe(hit)}"]
    problems = []
    if hit["position"] != pos[0]:
        problems.append(f"{describe(hit)}: position {hit['position']}, "
                        f"nft lists it as rule {pos[0]} of {chain}")
    if hit.get("rule") != pos[1]:
        problems.append(f"{describe(hit)}: text {hit.get('rule')!r}, nft "
                        f"lists {pos[1]!r}")
    return problems


def check_scenario(flows, events, positions, counts, decided_by, table,
                   nft_family):
    """Problems with the scenario's flows: each path against the oracle,
    each hit's text and position against nft's listing, each flow's
    blame and denial against decided_by[name] = (chain, text, verdict,
    denied), where text is a substring of the deciding rule's text, or
    None for the chain's policy. nft_family(family) names the table's
    family ("inet"; "ip"/"ip6" for iptables-nft)."""
    problems = []
    for fam in ("ipv4", "ipv6"):
        for name, key in sorted(flow_keys(fam).items()):
            flow = flows.get(key)
            if flow is None:
                problems.append(f"{key} ({name}) missing from the dump")
                continue
            chain, text, verdict, denied = decided_by[name]
            problems += compare_path(key, flow, events)
            for hit in flow["hits"]:
                problems += check_rule_text(hit, positions, counts)
            if flow.get("denied") != denied:
                problems.append(f"{key} ({name}): denied is "
                                f"{flow.get('denied')}, expected {denied}")
            blame = flow.get("blame")
            if blame is None:
                problems.append(f"{key} ({name}): no blame")
                continue
            ok = (blame["chain"] == chain and blame["table"] == table
                  and blame.get("family") == nft_family(fam)
                  and blame["verdict"] == verdict
                  and (blame["type"] == "policy" if text is None
                       else blame["type"] == "rule"
                       and text in (blame.get("rule") or "")))
            if not ok:
                problems.append(f"{key} ({name}): blame should be {chain} "
                                f"{text or 'policy'} ({verdict}), is "
                                f"{describe(blame)}")
    return problems


def settled(flows, decided_by):
    """Every scenario flow is in the dump, the denied ones as denied."""
    for fam in ("ipv4", "ipv6"):
        for name, key in flow_keys(fam).items():
            if key not in flows:
                return False
            if decided_by[name][3] and not flows[key].get("denied"):
                return False
    return True


def dump_when(daemon, predicate, timeout=8):
    """Dumps until predicate(flows) holds (denied flows appear once their
    hits waited ~2 s for a conntrack entry); returns the last dump."""
    last = {}

    def attempt():
        nonlocal last
        last = netns.parse_json_dump(daemon.request_dump())
        return predicate(last)
    netns.wait_until(attempt, timeout, 0.5)
    return last
