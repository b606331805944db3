#!/usr/bin/python3
"""Fixtures for conntrackerd's integration tests: network namespaces joined by
veth, traffic between them, the daemon under test, and `conntrack` as oracle.

Python 3 standard library only. Everything here needs root. Traffic only ever
goes between namespaces created here; every wait is bounded in time.
"""

import atexit
import dataclasses
import itertools
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

IS_ROOT = os.geteuid() == 0
NOT_ROOT_REASON = ("integration tests need root (network namespaces, "
                   "nftables, conntrack): skipped because not running as root")
requires_root = unittest.skipUnless(IS_ROOT, NOT_ROOT_REASON)

# Namespace names carry our pid, so leftovers of a killed run can be told
# apart from live runs and removed (see _reap_stale).
PREFIX = "ctit"
_seq = itertools.count()
_namespaces = []  # live Namespace objects
_processes = []  # live Popen objects started in our namespaces

CLIENT4, SERVER4, SERVER4_ALT = "10.213.0.1", "10.213.0.2", "10.213.0.3"
CLIENT6, SERVER6 = "fd00:213::1", "fd00:213::2"

# Ports of the responder in the server namespace.
TCP_PORT = 80  # accepts, sends GREETING, closes
ECHO_PORT = 7  # UDP: answers every datagram
SINK_PORT = 9  # UDP: never answers (the unconfirmed case)
CLOSED_PORT = 81  # nothing listens: the kernel answers SYN with RST
GREETING = b"hello\n"


class CommandError(AssertionError):
    pass


def run(argv, *, input=None, timeout=15, check=True):
    """Runs argv and returns the CompletedProcess (text mode)."""
    p = subprocess.run(argv, input=input, capture_output=True, text=True,
                       timeout=timeout, check=False)
    if check and p.returncode != 0:
        raise CommandError(f"{' '.join(argv)} exited {p.returncode}\n"
                           f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def wait_until(predicate, timeout, interval=0.05):
    """Polls predicate() until it returns something true or timeout passes;
    returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def _kill(proc, sig=signal.SIGKILL):
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _cleanup_all():
    while _processes:
        _kill(_processes.pop())
    while _namespaces:
        _namespaces[-1].delete()


def _reap_stale():
    """Deletes namespaces left by earlier runs whose process is gone."""
    try:
        names = os.listdir("/run/netns")
    except OSError:
        return
    for name in names:
        m = re.fullmatch(PREFIX + r"-(\d+)-\d+-\w+", name)
        if m and int(m.group(1)) != os.getpid() and \
                not os.path.exists(f"/proc/{m.group(1)}"):
            run(["ip", "netns", "delete", name], check=False)


atexit.register(_cleanup_all)


def daemon_binary():
    """The daemon under test, from $CONNTRACKERD (meson passes it)."""
    path = os.environ.get("CONNTRACKERD")
    if not path:
        raise RuntimeError(
            "CONNTRACKERD is not set: run these tests with `meson test "
            "--suite integration`, or set CONNTRACKERD to the conntrackerd "
            "binary to test")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"CONNTRACKERD={path} is not an executable file")
    return path


class Namespace:
    """A network namespace with `lo` up, deleted by delete() or at exit."""

    def __init__(self, tag):
        if not _namespaces:
            _reap_stale()
        self.name = f"{PREFIX}-{os.getpid()}-{next(_seq)}-{tag}"
        self.procs = []
        run(["ip", "netns", "add", self.name])
        _namespaces.append(self)
        self.ip("link", "set", "lo", "up")

    def argv(self, argv):
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv, **kw):
        return run(self.argv(argv), **kw)

    def popen(self, argv, **kw):
        proc = subprocess.Popen(self.argv(argv), **kw)
        _processes.append(proc)
        self.procs.append(proc)
        return proc

    def forget(self, proc):
        for lst in (_processes, self.procs):
            if proc in lst:
                lst.remove(proc)

    def ip(self, *args):
        return run(["ip", "-n", self.name, *args])

    def python(self, code, *args, timeout=30):
        """Runs a Python snippet in the namespace (same interpreter)."""
        return self.run([sys.executable, "-c", code, *args], timeout=timeout)

    def nft(self, text):
        return self.run(["nft", "-f", "-"], input=text)

    def ruleset(self):
        return self.run(["nft", "list", "ruleset"]).stdout

    def delete(self):
        for proc in list(self.procs):
            _kill(proc)
            self.forget(proc)
        if self in _namespaces:
            _namespaces.remove(self)
            run(["ip", "netns", "delete", self.name], check=False)


def veth(a, a_addrs, b, b_addrs):
    """Joins namespaces a and b with a veth pair and sets addresses (IPv6
    with nodad, so they are usable at once). Returns the interface names."""
    base = f"ct{os.getpid():x}n{next(_seq)}"
    ifa, ifb = base + "a", base + "b"
    assert len(ifa) <= 15, ifa
    run(["ip", "link", "add", ifa, "netns", a.name, "type", "veth",
         "peer", "name", ifb, "netns", b.name])
    for ns, ifname, addrs in ((a, ifa, a_addrs), (b, ifb, b_addrs)):
        for addr in addrs:
            extra = ["nodad"] if ":" in addr else []
            ns.ip("addr", "add", addr, "dev", ifname, *extra)
        ns.ip("link", "set", ifname, "up")
    return ifa, ifb


def ping(ns, addr, count=1, timeout=3):
    """One ICMP (or ICMPv6) echo exchange; raises when no reply came."""
    cmd = ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "2"]
    if ":" in addr:
        cmd.append("-6")
    return ns.run(cmd + [addr], timeout=timeout + count)


# --- traffic -------------------------------------------------------------

# Runs in the server namespace: TCP_PORT accepts and greets, ECHO_PORT echoes,
# SINK_PORT swallows; all dual-stack. Exits when stdin closes or after argv[1]
# seconds, whichever comes first.
_RESPONDER = r"""
import os, select, socket, sys, time
deadline = time.monotonic() + float(sys.argv[1])
def bound(kind, port):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    return s
tcp = bound(socket.SOCK_STREAM, int(sys.argv[2])); tcp.listen(128)
echo = bound(socket.SOCK_DGRAM, int(sys.argv[3]))
sink = bound(socket.SOCK_DGRAM, int(sys.argv[4]))
greeting = sys.argv[5].encode() + b"\n"
print("READY", flush=True)
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    ready, _, _ = select.select([tcp, echo, sink, 0], [], [], left)
    if 0 in ready and not os.read(0, 1):
        break
    if tcp in ready:
        conn, _ = tcp.accept()
        conn.sendall(greeting)
        conn.close()
    if echo in ready:
        data, peer = echo.recvfrom(2048)
        echo.sendto(data, peer)
    if sink in ready:
        sink.recvfrom(2048)
"""


class Responder:
    """The server side of the traffic, running in a namespace."""

    def __init__(self, ns, lifetime=120):
        self.ns = ns
        self.proc = ns.popen(
            [sys.executable, "-c", _RESPONDER, str(lifetime), str(TCP_PORT),
             str(ECHO_PORT), str(SINK_PORT), GREETING.decode().strip()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        r, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline() if r else ""
        if line.strip() != "READY":
            self.close()
            raise AssertionError(f"responder did not start: {line!r}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        _kill(self.proc)
        self.proc.stdout.close()
        self.ns.forget(self.proc)


# Runs in the client namespace: performs the actions in argv[1] (JSON) in
# order and fails loudly when one does not behave as expected, so a test never
# compares flows of traffic that did not happen.
_CLIENT = r"""
import json, socket, sys
GREETING = sys.argv[2].encode() + b"\n"
def sock(addr, kind, sport):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, kind)
    s.settimeout(3)
    if sport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
    return s
for act in json.loads(sys.argv[1]):
    kind, addr, port = act[0], act[1], act[2]
    if kind == "tcp":
        s = sock(addr, socket.SOCK_STREAM, act[3])
        s.connect((addr, port))
        data = b""
        while len(data) < len(GREETING):
            chunk = s.recv(64)
            if not chunk:
                break
            data += chunk
        if data != GREETING:
            sys.exit(f"{act}: got {data!r}")
        s.close()
    elif kind == "tcp-refused":
        s = sock(addr, socket.SOCK_STREAM, None)
        try:
            s.connect((addr, port))
            sys.exit(f"{act}: connected, expected a refusal")
        except ConnectionRefusedError:
            pass
        s.close()
    elif kind == "udp":
        s = sock(addr, socket.SOCK_DGRAM, act[3])
        s.sendto(b"ping", (addr, port))
        if act[4] and s.recv(2048) != b"ping":
            sys.exit(f"{act}: wrong reply")
        s.close()
    elif kind == "udp-burst":
        s = sock(addr, socket.SOCK_DGRAM, None)
        for p in range(port, port + act[3]):
            s.sendto(b"x", (addr, p))
        s.close()
    else:
        sys.exit(f"unknown action {act}")
"""


def client_traffic(ns, actions, timeout=30):
    """Runs actions in one client process. Actions:
    ("tcp", addr, port, sport_or_None)      connect, read the greeting
    ("tcp-refused", addr, port)             connect, expect RST
    ("udp", addr, port, sport_or_None, expect_reply)
    ("udp-burst", addr, first_port, count)  one datagram per port, one socket
    """
    return ns.run([sys.executable, "-c", _CLIENT, json.dumps(actions),
                   GREETING.decode().strip()], timeout=timeout)


class Pair:
    """Client and server namespaces joined by veth, with IPv4 and IPv6
    addresses, a second server address (a DNAT target) and neighbours
    resolved (so first packets are not lost to neighbour discovery)."""

    def __init__(self):
        self.client = Namespace("cli")
        self.server = Namespace("srv")
        try:
            veth(self.client, [CLIENT4 + "/24", CLIENT6 + "/64"],
                 self.server, [SERVER4 + "/24", SERVER4_ALT + "/24",
                               SERVER6 + "/64"])
            for addr in (SERVER4, SERVER6):
                self._wait_reachable(addr)
        except BaseException:
            self.close()
            raise

    def _wait_reachable(self, addr):
        # The veth carrier comes up asynchronously: retry, bounded.
        deadline = time.monotonic() + 10
        while True:
            try:
                ping(self.client, addr)
                return
            except CommandError:
                if time.monotonic() > deadline:
                    raise

    def close(self):
        self.client.delete()
        self.server.delete()


# --- the daemon ------------------------------------------------------------

COUNTERS_RE = re.compile(
    r"counters: events=(\d+) overruns=(\d+) resyncs=(\d+) evicted=(\d+) "
    r"flows=(\d+)")


def parse_counters(stderr):
    """The daemon's exit counters line as a dict, or None."""
    found = COUNTERS_RE.findall(stderr)
    if not found:
        return None
    names = ("events", "overruns", "resyncs", "evicted", "flows")
    return dict(zip(names, map(int, found[-1])))


def _file_signature(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class Daemon:
    """conntrackerd in the foreground in a namespace, with a NOTIFY_SOCKET."""

    def __init__(self, ns, workdir, args=(), fmt="json", name="daemon"):
        self.ns = ns
        self.output = os.path.join(workdir, f"{name}.dump")
        fmt_args = ["--format", fmt] if fmt else []  # None: the default
        self.args = ["-f", "-o", self.output, *fmt_args, *args]
        self.notify_path = os.path.join(workdir, f"{name}.notify")
        self.stderr_path = os.path.join(workdir, f"{name}.stderr")
        self.proc = None
        self.status = []  # STATUS= values received, in order

    def start(self, timeout=10):
        """Starts the daemon and waits for READY=1."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(self.notify_path)
        self._notify = sock
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        with open(self.stderr_path, "wb") as err:
            self.proc = self.ns.popen([daemon_binary(), *self.args], env=env,
                                      stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._read_notify(0.1):
                self._start_drain()
                return self
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"conntrackerd exited {self.proc.returncode} before "
                    f"READY=1; stderr:\n{self.stderr()}")
        self.kill()
        raise AssertionError(f"conntrackerd sent no READY=1 within {timeout} "
                             f"s; stderr:\n{self.stderr()}")

    def _read_notify(self, wait):
        """Reads notify messages for up to `wait` s; True once READY=1."""
        ready = False
        r, _, _ = select.select([self._notify], [], [], wait)
        while r:
            msg = self._notify.recv(65536).decode(errors="replace")
            for line in msg.split("\n"):
                if line == "READY=1":
                    ready = True
                elif line.startswith("STATUS="):
                    self.status.append(line[len("STATUS="):])
            r, _, _ = select.select([self._notify], [], [], 0)
        return ready

    def _start_drain(self):
        """Keeps reading notify messages while the daemon runs. It sends
        STATUS= every few seconds, and sd_notify blocks once the socket's
        queue (net.unix.max_dgram_qlen, 10 datagrams) is full: unread, a
        daemon living longer than ~20 s would hang in sd_notify."""
        self._drain_stop = threading.Event()

        def drain():  # _done() stops it before closing the socket
            while not self._drain_stop.wait(0.2):
                self._read_notify(0)
        self._drain_thread = threading.Thread(target=drain, daemon=True)
        self._drain_thread.start()

    def _stop_drain(self):
        if getattr(self, "_drain_thread", None) is not None:
            self._drain_stop.set()
            self._drain_thread.join(5)
            self._drain_thread = None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def read_dump(self):
        with open(self.output, encoding="utf-8") as f:
            return f.read()

    def request_dump(self, timeout=5):
        """SIGUSR1, then waits until the dump file was replaced; returns it."""
        before = _file_signature(self.output)
        self.send_signal(signal.SIGUSR1)
        changed = wait_until(
            lambda: _file_signature(self.output) not in (None, before),
            timeout, 0.02)
        if not changed:
            raise AssertionError(
                f"dump file {self.output} not rewritten within {timeout} s of "
                f"SIGUSR1 (daemon {'running' if self.running() else 'gone'}); "
                f"stderr:\n{self.stderr()}")
        return self.read_dump()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Sends sig, waits for exit; returns (exit code, stderr)."""
        self.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"conntrackerd still running {timeout} s "
                                 f"after {sig.name}; stderr:\n"
                                 f"{self.stderr()}") from None
        self._done()
        return code, self.stderr()

    def kill(self):
        if self.proc is not None:
            _kill(self.proc)
            self._done()

    def _done(self):
        self.ns.forget(self.proc)
        self._stop_drain()
        if getattr(self, "_notify", None) is not None:
            self._read_notify(0)  # keep the last STATUS= for reports
            self._notify.close()
            self._notify = None
            os.unlink(self.notify_path)


# --- flows: the oracle and the daemon's dumps -------------------------------

FOLD_PORT = 1024
PORT_PROTOS = {6, 17, 33, 132, 136}  # TCP UDP DCCP SCTP UDPLITE
PROTO_NAMES = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMP", 132: "SCTP",
               33: "DCCP", 136: "UDPLITE", 47: "GRE", 50: "ESP", 51: "AH"}


def is_icmp(family, proto):
    return (family, proto) in (("ipv4", 1), ("ipv6", 58))


@dataclasses.dataclass(frozen=True, order=True)
class FlowKey:
    """A flow's identity as the daemon defines it. For ICMP, sport/dport
    hold type/code; for protocols without ports both are 0."""
    family: str  # "ipv4" | "ipv6"
    proto: int
    src: str
    dst: str
    sport: int
    dport: int

    def __str__(self):
        name = PROTO_NAMES.get(self.proto, str(self.proto))
        if is_icmp(self.family, self.proto):
            tail = f"type={self.sport} code={self.dport}"
        else:
            tail = f"sport={self.sport} dport={self.dport}"
        return f"{self.family} {name} {self.src} -> {self.dst} {tail}"

    def sort_key(self):
        """The legacy dump's order (src/common/flow.c)."""
        fam = socket.AF_INET6 if self.family == "ipv6" else socket.AF_INET
        rank = {6: 0, 17: 1, 1: 2, 58: 2}.get(self.proto, 3 + self.proto)
        return (self.family != "ipv4", rank, socket.inet_pton(fam, self.src),
                socket.inet_pton(fam, self.dst), self.sport, self.dport)


@dataclasses.dataclass
class CtEntry:
    """One conntrack entry as `conntrack -L/-E -o extended,id` prints it."""
    line: str
    event: str  # "" for -L, else NEW/UPDATE/DESTROY
    family: str
    proto: int
    orig: dict
    reply: dict
    unreplied: bool
    ct_id: str

    def key(self, fold=True):
        o = self.orig
        if is_icmp(self.family, self.proto):
            a, b = int(o["type"]), int(o["code"])
        elif self.proto in PORT_PROTOS:
            a, b = int(o["sport"]), int(o["dport"])
            if fold and a >= FOLD_PORT:
                a = FOLD_PORT
        else:
            a = b = 0
        return FlowKey(self.family, self.proto, o["src"], o["dst"], a, b)

    def dnat(self):
        """The real destination when the reply does not come from the
        original destination: (addr, port or None)."""
        o, r = self.orig, self.reply
        if r.get("src") != o.get("dst") or r.get("sport") != o.get("dport"):
            return (r["src"], int(r["sport"]) if "sport" in r else None)
        return None

    def snat(self):
        o, r = self.orig, self.reply
        if r.get("dst") != o.get("src") or r.get("dport") != o.get("sport"):
            return (r["dst"], int(r["dport"]) if "dport" in r else None)
        return None


_TUPLE_FIELDS = {"src", "dst", "sport", "dport", "type", "code", "id"}


def parse_ct_line(line):
    """Parses one line of `conntrack -L|-E -o extended,id`; None if it is not
    an entry (e.g. the summary line)."""
    tokens = line.split()
    event = ""
    if tokens and tokens[0].startswith("["):
        event = tokens.pop(0).strip("[]")
    if len(tokens) < 4 or tokens[0] not in ("ipv4", "ipv6"):
        return None
    family, proto = tokens[0], int(tokens[3])
    icmp = is_icmp(family, proto)
    tuples, flags, ct_id = [], set(), None
    for tok in tokens[4:]:
        if tok.startswith("[") and tok.endswith("]"):
            flags.add(tok.strip("[]"))
            continue
        if "=" not in tok:
            continue  # timeout, TCP state
        k, v = tok.split("=", 1)
        if k == "src" and len(tuples) < 2:
            tuples.append({})
        # With -o id the entry's id comes last; ICMP tuples have an id too.
        if (tuples and k in _TUPLE_FIELDS and k not in tuples[-1]
                and (k != "id" or icmp)):
            tuples[-1][k] = v
        elif k == "id":
            ct_id = v
    if len(tuples) != 2:
        raise ValueError(f"cannot parse conntrack line: {line!r}")
    return CtEntry(line.strip(), event, family, proto, tuples[0], tuples[1],
                   "UNREPLIED" in flags, ct_id)


def parse_ct_output(text):
    return [e for e in map(parse_ct_line, text.splitlines()) if e is not None]


def conntrack_list(ns):
    """The namespace's conntrack table now, both families."""
    entries = []
    for fam in ("ipv4", "ipv6"):
        out = ns.run(["conntrack", "-L", "-f", fam, "-o", "extended,id"])
        entries += parse_ct_output(out.stdout)
    return entries


class EventRecorder:
    """`conntrack -E` in a namespace, for entries `conntrack -L` cannot show:
    a SYN answered only by RST is deleted by the kernel at once."""

    def __init__(self, ns, workdir, name="events"):
        self.ns = ns
        self.path = os.path.join(workdir, f"{name}.txt")
        with open(self.path, "wb") as out:
            self.proc = ns.popen(["conntrack", "-E", "-o", "extended,id"],
                                 stdout=out, stderr=subprocess.DEVNULL,
                                 stdin=subprocess.DEVNULL)

    def entries(self):
        with open(self.path, errors="replace") as f:
            text = f.read()
        # Drop a partly written last line.
        return parse_ct_output(text[:text.rfind("\n") + 1])

    def wait_for(self, predicate, timeout=5):
        return wait_until(lambda: predicate(self.entries()), timeout)

    def wait_for_ids(self, ids, timeout=5):
        """Waits until every conntrack id in ids was seen; True if so."""
        ids = set(ids)
        return self.wait_for(lambda es: ids <= {e.ct_id for e in es}, timeout)

    def close(self):
        _kill(self.proc, signal.SIGTERM)
        self.ns.forget(self.proc)


@dataclasses.dataclass
class ExpectedFlow:
    key: FlowKey
    confirmed: bool = False
    dnat: tuple = None
    snat: tuple = None
    ids: set = dataclasses.field(default_factory=set)  # every entry seen
    active: int = 0  # entries in the table snapshot
    evidence: list = dataclasses.field(default_factory=list)


def expected_flows(snapshot, events=(), fold=True):
    """Folds conntrack entries into the flows the daemon must show: a table
    snapshot (gives `active`) plus recorded events (entries that are gone)."""
    flows = {}
    for entry, in_table in [(e, True) for e in snapshot] + \
                           [(e, False) for e in events]:
        key = entry.key(fold)
        f = flows.setdefault(key, ExpectedFlow(key))
        f.confirmed |= not entry.unreplied
        f.dnat = f.dnat or entry.dnat()
        f.snat = f.snat or entry.snat()
        if entry.ct_id:
            f.ids.add(entry.ct_id)
        if in_table:
            f.active += 1
        if len(f.evidence) < 4:
            f.evidence.append(entry.line)
    return flows


def json_flow_key(obj):
    family, proto = obj["family"], obj["protocol_number"]
    if is_icmp(family, proto):
        a, b = obj["icmp_type"], obj["icmp_code"]
    elif proto in PORT_PROTOS:
        a, b = obj["sport"], obj["dport"]
    else:
        a = b = 0
    return FlowKey(family, proto, obj["src"], obj["dst"], a, b)


def parse_json_dump(text):
    """The daemon's JSON dump as {FlowKey: object}; raises on a malformed line
    or two lines for one key."""
    flows = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            key = json_flow_key(obj)
        except (ValueError, KeyError, TypeError) as e:
            raise AssertionError(f"dump line {n} is not a flow ({e}): "
                                 f"{line!r}") from None
        if key in flows:
            raise AssertionError(f"dump has two lines for {key}:\n"
                                 f"{json.dumps(flows[key])}\n{line}")
        flows[key] = obj
    ids = [obj.get("id") for obj in flows.values()]
    if len(set(ids)) != len(ids):
        raise AssertionError(f"flow ids are not unique: {sorted(ids)}")
    return flows


def _nat_of(obj, name):
    nat = obj.get(name)
    if nat is None:
        return None
    return (nat.get("addr"), nat.get("port"))


def compare_flows(expected, dumped, counts=()):
    """Differences between oracle flows and the daemon's JSON flows, as
    readable lines (empty when they agree). counts names the counters to
    check too: "connections" (every entry seen) and "active" (entries in the
    table snapshot)."""
    problems = []
    for key in sorted(expected.keys() - dumped.keys()):
        problems.append(f"missing from the daemon: {key}; conntrack: "
                        f"{expected[key].evidence}")
    for key in sorted(dumped.keys() - expected.keys()):
        problems.append(f"not in conntrack: {key}; daemon: "
                        f"{json.dumps(dumped[key])}")
    for key in sorted(expected.keys() & dumped.keys()):
        exp, obj = expected[key], dumped[key]
        got = {"confirmed": obj.get("confirmed"),
               "dnat": _nat_of(obj, "dnat"), "snat": _nat_of(obj, "snat")}
        want = {"confirmed": exp.confirmed, "dnat": exp.dnat,
                "snat": exp.snat}
        if "connections" in counts:
            got["connections"] = obj.get("connections")
            want["connections"] = len(exp.ids)
        if "active" in counts:
            got["active"] = obj.get("active")
            want["active"] = exp.active
        for field in want:
            if got[field] != want[field]:
                problems.append(
                    f"{key}: {field} is {got[field]!r}, conntrack says "
                    f"{want[field]!r}; conntrack: {exp.evidence}; daemon: "
                    f"{json.dumps(obj)}")
        name = obj.get("protocol")
        if key.proto in (1, 6, 17) and name != PROTO_NAMES[key.proto]:
            problems.append(f"{key}: protocol is {name!r}")
        if key.proto == 58 and name not in ("ICMP", "ICMPv6"):
            problems.append(f"{key}: protocol is {name!r}")
    return problems


def legacy_line(key, index, confirmed):
    """A flow line of the legacy dump, as the 2021 tool printed it."""
    name = PROTO_NAMES.get(key.proto)
    fam = "v6" if key.family == "ipv6" else "v4"
    label = f"{name}{fam}" if name else f"IP{key.proto}{fam}"
    tail = " (confirmed)" if confirmed else ""
    if is_icmp(key.family, key.proto):
        return (f"{label:>6} [{index:>12}] src = {key.src} to dst = {key.dst} "
                f"(type={key.sport} | code={key.dport}){tail}")
    if key.proto in PORT_PROTOS:
        return (f"{label:>6} [{index:>12}] src = {key.src} (port={key.sport})"
                f" to dst = {key.dst} (port={key.dport}){tail}")
    return f"{label:>6} [{index:>12}] src = {key.src} to dst = {key.dst}{tail}"


def expected_legacy_lines(expected):
    """The flow lines a legacy dump of these flows must hold, in order:
    sorted as the daemon sorts, numbered from 0 per label."""
    lines, index, last = [], 0, None
    for key in sorted(expected, key=FlowKey.sort_key):
        group = (key.family, key.proto)
        index = 0 if group != last else index + 1
        last = group
        lines.append(legacy_line(key, index, expected[key].confirmed))
    return lines


HIT_LINE_RE = re.compile(r"\t\t\t\ttable: \S+, chain: \S+, "
                         r"type: (policy|rule|return), position: \d+")


def split_legacy_dump(text):
    """(flow lines, lines that are neither flows nor well-formed hit lines).
    Hit lines (indented, under a flow) are checked for format only."""
    flows, bad = [], []
    for line in text.splitlines():
        if line.startswith("\t"):
            if not HIT_LINE_RE.fullmatch(line) or not flows:
                bad.append(line)
        else:
            flows.append(line)
    return flows, bad


def main():
    """unittest.main with exit codes for meson: 0 passed, 1 failed, 77 all
    skipped for lack of root. A skip while root is a failure: CI is root and
    must not pass on tests that did not run."""
    # A meson timeout sends SIGTERM: leave through atexit, so namespaces
    # and daemons go away. KeyboardInterrupt, because unittest would record
    # SystemExit as one test's error and carry on.
    def terminated(sig, frame):
        raise KeyboardInterrupt(f"terminated by signal {sig}")
    signal.signal(signal.SIGTERM, terminated)
    prog = unittest.main(exit=False, verbosity=2)
    result = prog.result
    if not result.wasSuccessful():
        sys.exit(1)
    if result.testsRun == 0:
        print("no tests ran", file=sys.stderr)
        sys.exit(1)
    if result.skipped:
        if IS_ROOT:
            print("tests were skipped while running as root: failing",
                  file=sys.stderr)
            sys.exit(1)
        sys.exit(77)
    sys.exit(0)
