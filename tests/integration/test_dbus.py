#!/usr/bin/python3
"""conntrackerd on a (private) system bus with the real polkitd: what an
unprivileged user, a GUI and a D-Bus tool see.

- A member of the `conntracker` group (granted org.conntracker.read by the
  project's own rules file) lists, dumps, shows and watches the flows that
  `conntrack` shows in the daemon's namespace, through conntrackerctl and
  through the example in examples/.
- Someone outside the group is denied (exit status 4, NotAuthorized).
- Reset needs org.conntracker.reset, which the group gets only from an extra
  test rules file.
- Introspection shows the documented contract; bad input gets a clear error
  and leaves the daemon serving.

Needs root. Creates the users ct-test-member and ct-test-outsider and the
group conntracker when absent (see busenv.py).
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
import busenv  # noqa: E402
import netns  # noqa: E402
from busenv import MEMBER, OUTSIDER, ctl, describe, gcall  # noqa: E402
from netns import (CLIENT4, CLIENT6, CLOSED_PORT, ECHO_PORT,  # noqa: E402
                   SERVER4, SERVER4_ALT, SERVER6, SINK_PORT, TCP_PORT)

busenv.not_root_exit()

CONTRACT = os.path.join(busenv.SOURCE_ROOT, "introspection",
                        "org.conntracker.Flows.xml")
EXAMPLE = os.path.join(
    os.environ.get("CONNTRACKER_EXAMPLES",
                   os.path.join(busenv.SOURCE_ROOT, "examples")),
    "list_and_watch.py")
GRANT_RESET = os.path.join(busenv.DATA, "60-test-grant-reset.rules")
ERR = "org.conntracker.Error."
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"


def example_env():
    return busenv.user_env({"PYTHONDONTWRITEBYTECODE": "1"})


def mixed_traffic(env):
    """TCP, UDP (replied and not), ICMP, both families, a refused TCP."""
    netns.ping(env.client, SERVER4)
    # conntrack -E is listening once it shows this echo.
    if not env.recorder.wait_for(lambda es: any(e.proto == 1 for e in es)):
        raise AssertionError("conntrack -E saw no ICMP: is tracking on?")
    netns.ping(env.client, SERVER6)
    netns.client_traffic(env.client, [
        ["tcp", SERVER4, TCP_PORT, None],
        ["tcp", SERVER4, TCP_PORT, None],
        ["tcp-refused", SERVER4, CLOSED_PORT],
        ["udp", SERVER4, ECHO_PORT, None, True],
        ["udp", SERVER4, ECHO_PORT, 1000, True],  # below 1024: not folded
        ["udp", SERVER4, SINK_PORT, None, False],
        ["tcp", SERVER6, TCP_PORT, None],
        ["udp", SERVER6, ECHO_PORT, None, True],
    ])


def oracle(env):
    """The flows the kernel tracked in the daemon's namespace: the table
    now plus the entries conntrack -E saw go."""
    snapshot = netns.conntrack_list(env.server)
    if not env.recorder.wait_for_ids(e.ct_id for e in snapshot):
        raise AssertionError("conntrack -E did not show entries that "
                             "conntrack -L has")
    return netns.expected_flows(snapshot, env.recorder.entries())


def list_all(user=None):
    """ListFlows with the largest page, unpacked: (flows, total)."""
    r = gcall("ListFlows", "(a{sv})", "({'limit': <uint32 10000>},)",
              user=user)
    if r.error:
        raise AssertionError(f"ListFlows as {user or 'root'}: {r!r}")
    return r.reply


def lines_with(text, *needles):
    return [line for line in text.splitlines()
            if all(n in line for n in needles)]


def read_contract():
    """{kind: {name: signature info}} of the documented interface."""
    return interface_members(ET.parse(CONTRACT).getroot())


def interface_members(root):
    iface = root.find(f"interface[@name='{busenv.INTERFACE}']")
    if iface is None:
        raise AssertionError(f"no interface {busenv.INTERFACE} in the XML")
    members = {"method": {}, "signal": {}, "property": {}}
    for m in iface.findall("method"):
        members["method"][m.get("name")] = tuple(
            (a.get("direction", "in"), a.get("type"))
            for a in m.findall("arg"))
    for s in iface.findall("signal"):
        members["signal"][s.get("name")] = tuple(
            a.get("type") for a in s.findall("arg"))
    for p in iface.findall("property"):
        members["property"][p.get("name")] = (p.get("type"), p.get("access"))
    return members


class OutputReader:
    """Collects a process's stdout in a thread, for waiting on lines."""

    def __init__(self, proc):
        self.proc = proc
        self.chunks = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for line in self.proc.stdout:
            self.chunks.append(line)

    def text(self):
        return "".join(self.chunks)

    def wait_for(self, predicate, timeout):
        return netns.wait_until(lambda: predicate(self.text()), timeout, 0.05)


@netns.requires_root
class FlowsOverTheBus(unittest.TestCase):
    """One daemon with real traffic, read by the test users."""

    @classmethod
    def setUpClass(cls):
        cls.env = busenv.ServiceEnv(cls.addClassCleanup, polkit="real",
                                    recorder=True)
        mixed_traffic(cls.env)
        expected = oracle(cls.env)
        if not cls.env.wait_flow_count(len(expected)):
            raise AssertionError(
                f"FlowCount is {cls.env.flow_count()}, conntrack shows "
                f"{len(expected)} flows: {sorted(map(str, expected))}\n"
                f"daemon stderr:\n{cls.env.daemon.stderr()[-3000:]}")

    def setUp(self):
        self.env = type(self).env
        self.assertTrue(self.env.daemon.running(), "the daemon died earlier")

    def oracle(self):
        return oracle(self.env)

    def assertSameFlows(self, expected, got, what, counts=()):
        problems = netns.compare_flows(expected, got, counts)
        if problems:
            self.fail(f"{what} and conntrack disagree:\n" +
                      "\n".join(problems))

    def flow_id(self, key):
        """The daemon's id of the flow with this key (ListFlows as root)."""
        flows, _ = list_all()
        ids = [f["id"] for k, f in busenv.flows_by_key(flows).items()
               if k == key]
        self.assertEqual(len(ids), 1, f"no single flow {key} in {flows}")
        return ids[0]

    # --- polkit itself ---------------------------------------------------

    def test_polkitd_has_the_project_actions(self):
        ids = self.env.polkit.action_ids()
        in_file = {a.get("id") for a in ET.parse(
            busenv.polkit_policy()).getroot().iter("action")}
        self.assertTrue(set(busenv.ACTIONS) <= in_file, in_file)
        self.assertEqual(ids, in_file, "polkitd should see exactly the "
                         "actions of the built policy file")
        implicit = {}
        for action in ids:
            text = self.env.polkit.action_details(action)
            implicit[action] = dict(re.findall(
                r"^\s*implicit (any|inactive|active):\s*(\S+)", text, re.M))
        # DESIGN.md §6: reading is for active local sessions, else an
        # administrator; resetting is for administrators.
        self.assertEqual(implicit, {
            "org.conntracker.read": {"any": "auth_admin_keep",
                                     "inactive": "auth_admin_keep",
                                     "active": "yes"},
            "org.conntracker.reset": {"any": "auth_admin_keep",
                                      "inactive": "auth_admin_keep",
                                      "active": "auth_admin_keep"},
            **({"org.conntracker.trace": {"any": "auth_admin_keep",
                                          "inactive": "auth_admin_keep",
                                          "active": "auth_admin_keep"}}
               if "org.conntracker.trace" in ids else {})})
        # The decisions the tests below rely on, from polkitd itself.
        self.assertTrue(self.env.polkit.check("org.conntracker.read", MEMBER))
        self.assertFalse(self.env.polkit.check("org.conntracker.read",
                                               OUTSIDER))

    # --- a member reads ----------------------------------------------------

    def test_list_json_as_member(self):
        p = ctl(MEMBER, "list", "--json")
        self.assertEqual(p.returncode, 0, describe(p))
        got = busenv.flows_by_key(busenv.parse_json_output(p.stdout),
                                  "list --json")
        self.assertSameFlows(self.oracle(), got, "list --json")

    def test_list_as_member(self):
        expected = self.oracle()
        p = ctl(MEMBER, "list")
        self.assertEqual(p.returncode, 0, describe(p))
        missing = []
        for key in expected:
            # Ports appear as ":PORT" after the address (text-table.c);
            # ICMP flows have no ports.
            if netns.is_icmp(key.family, key.proto):
                needles = (key.src, key.dst)
            else:
                needles = (key.src, key.dst, str(key.dport))
            if not lines_with(p.stdout, *needles):
                missing.append(str(key))
        self.assertEqual(missing, [], f"flows missing from `list`:\n"
                         f"{p.stdout}")
        flow_lines = [line for line in p.stdout.splitlines()
                      if CLIENT4 in line or CLIENT6 in line]
        self.assertEqual(len(flow_lines), len(expected), p.stdout)

    def test_dump_legacy_as_member(self):
        want = "\n".join(netns.expected_legacy_lines(self.oracle()))
        p = ctl(MEMBER, "dump")
        self.assertEqual(p.returncode, 0, describe(p))
        got, bad = netns.split_legacy_dump(p.stdout)
        self.assertEqual("\n".join(got), want)
        self.assertEqual(bad, [], "malformed trace-hit lines")

    def test_dump_json_as_member(self):
        p = ctl(MEMBER, "dump", "--format", "json")
        self.assertEqual(p.returncode, 0, describe(p))
        objs = busenv.json_lines(p.stdout, "dump --format json")
        self.assertSameFlows(self.oracle(),
                             busenv.flows_by_key(objs, "dump --format json"),
                             "dump --format json")
        # The contract: "the keys of the flow dictionary with _ for -".
        flows, _ = list_all()
        dict_keys = {k.replace("-", "_") for f in flows for k in f}
        json_keys = {k for o in objs for k in o}
        # "hits" is a key of GetFlow's dictionary.
        self.assertEqual(json_keys - dict_keys - {"hits"}, set(),
                         "JSON dump keys that the flow dictionary lacks")
        self.assertEqual(dict_keys - json_keys, set(),
                         "flow dictionary keys missing from the JSON dump")
        for o in objs:
            self.assertEqual(o["protocol"], o["protocol"].lower(), o)

    def test_show_as_member(self):
        key = netns.FlowKey("ipv4", 6, CLIENT4, SERVER4, 1024, TCP_PORT)
        flow_id = self.flow_id(key)
        p = ctl(MEMBER, "show", str(flow_id))
        self.assertEqual(p.returncode, 0, describe(p))
        for needle in (CLIENT4, SERVER4, str(TCP_PORT)):
            self.assertIn(needle, p.stdout, describe(p))
        p = ctl(MEMBER, "show", str(2**64 - 1))
        self.assertEqual(p.returncode, busenv.EXIT_NO_SUCH_FLOW, describe(p))
        self.assertTrue(p.stderr.strip(), describe(p))
        p = ctl(MEMBER, "show", "not-a-number")
        self.assertEqual(p.returncode, busenv.EXIT_USAGE, describe(p))

    def test_get_flow_as_member(self):
        key = netns.FlowKey("ipv4", 17, CLIENT4, SERVER4, 1000, ECHO_PORT)
        flow_id = self.flow_id(key)
        r = gcall("GetFlow", "(t)", f"({flow_id},)", user=MEMBER)
        self.assertIsNone(r.error, r)
        flow = r.reply[0]
        self.assertEqual(busenv.flows_by_key([flow]).keys(), {key})
        self.assertEqual(flow["id"], flow_id)
        self.assertTrue(flow["confirmed"], flow)
        self.assertIn("hits", flow, "GetFlow adds \"hits\"")
        self.assertIsInstance(flow["hits"], list)

    def test_watch_as_member(self):
        proc = busenv.spawn(self, MEMBER, [busenv.ctl_binary(), "watch"])
        out = OutputReader(proc)
        # The subscription is in place some time after the start: create
        # new flows (distinct source ports below 1024: not folded) until one
        # shows up, a bounded number of times.
        seen = False
        for sport in range(900, 906):
            netns.client_traffic(self.env.client, [
                ["tcp", SERVER4_ALT, TCP_PORT, sport]])
            seen = out.wait_for(
                lambda t: lines_with(t, SERVER4_ALT, str(sport)), 1.5)
            if seen or proc.poll() is not None:
                break
        self.assertTrue(seen, f"watch did not show the new flow; exit "
                        f"{proc.poll()}; stdout:\n{out.text()}")
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.fail("watch still runs 5 s after SIGINT")
        out.thread.join(5)
        stderr = proc.stderr.read()
        self.assertIn(code, (0, 130, -signal.SIGINT),
                      f"watch exit status after SIGINT; stderr: {stderr}")
        self.assertEqual(code, 0, f"watch should exit 0 on SIGINT; stderr:"
                         f" {stderr}")

    def test_signals_go_only_to_the_subscriber(self):
        """Flows are private: an outsider listening for the service's
        signals must not receive a subscriber's FlowsAdded."""
        monitor = busenv.spawn(self, OUTSIDER, [
            "gdbus", "monitor", "--system", "--dest", busenv.BUS_NAME])
        mon = OutputReader(monitor)
        self.assertTrue(mon.wait_for(lambda t: "owned by" in t, 10),
                        f"gdbus monitor did not start: {mon.text()}")
        watch = busenv.spawn(self, MEMBER, [busenv.ctl_binary(), "watch"])
        out = OutputReader(watch)
        seen = False
        for sport in range(910, 916):
            netns.client_traffic(self.env.client, [
                ["tcp", SERVER4_ALT, TCP_PORT, sport]])
            seen = out.wait_for(
                lambda t: lines_with(t, SERVER4_ALT, str(sport)), 1.5)
            if seen or watch.poll() is not None:
                break
        self.assertTrue(seen, f"watch showed nothing: {out.text()}")
        # The monitor does hear the service's broadcasts: FlowCount changed.
        self.assertTrue(mon.wait_for(lambda t: "PropertiesChanged" in t, 5),
                        f"the monitor heard nothing at all:\n{mon.text()}")
        for signal_name in ("FlowsAdded", "FlowsChanged", "FlowsRemoved"):
            self.assertNotIn(signal_name, mon.text(),
                             "a flow signal reached a non-subscriber")
        self.assertNotIn(SERVER4_ALT, mon.text())

    def test_subscription_limit(self):
        r = gcall("Subscribe", "(a{sv})", "({},)", user=MEMBER, repeat=9)
        results = r["results"]
        for n, one in enumerate(results[:8], 1):
            self.assertIsNone(one.get("error"), f"subscription {n}: {one}")
        ids = [one["reply"][0] for one in results[:8]]
        self.assertEqual(len(set(ids)), 8, ids)
        self.assertEqual(results[8].get("error"), ERR + "LimitExceeded",
                         results[8])
        # The limit is per connection: a new one may subscribe again.
        r = gcall("Subscribe", "(a{sv})", "({},)", user=MEMBER)
        self.assertIsNone(r.error, r)
        self.env.assert_alive(self, "after the subscription limit")

    def test_properties_are_read_only(self):
        for user in (OUTSIDER, MEMBER, None):
            with self.subTest(user=user):
                r = gcall("Set", "(ssv)",
                          f"('{busenv.INTERFACE}', 'MaxFlows', <uint32 1>)",
                          user=user, iface="org.freedesktop.DBus.Properties")
                self.assertIn(r.error, (
                    "org.freedesktop.DBus.Error.AccessDenied",
                    "org.freedesktop.DBus.Error.PropertyReadOnly",
                    INVALID_ARGS), r)
        sig, value = busenv.get_property(self.env.bus, "MaxFlows")
        self.assertNotEqual(value, "1")

    # --- an outsider is denied --------------------------------------------

    def test_outsider_is_denied(self):
        flow_id = self.flow_id(
            netns.FlowKey("ipv4", 6, CLIENT4, SERVER4, 1024, TCP_PORT))
        for args in (["list"], ["list", "--json"], ["dump"],
                     ["dump", "--format", "json"], ["show", str(flow_id)],
                     ["watch"]):
            with self.subTest(args=args):
                try:
                    p = ctl(OUTSIDER, *args, timeout=15)
                except subprocess.TimeoutExpired as e:
                    self.fail(f"{args} as {OUTSIDER} still runs after 15 s: "
                              f"{e.output!r}")
                self.assertEqual(p.returncode, busenv.EXIT_DENIED,
                                 describe(p))
                self.assertTrue(p.stderr.strip(), "no message: " +
                                describe(p))
                self.assertNotIn(SERVER4, p.stdout, describe(p))

    def test_outsider_gets_not_authorized(self):
        calls = [("ListFlows", "(a{sv})", "({},)", None),
                 ("GetFlow", "(t)", "(1,)", None),
                 ("DumpFlows", "(a{sv}h)", "({}, 0)", "pipe"),
                 ("Subscribe", "(a{sv})", "({},)", None)]
        for method, sig, args, fd in calls:
            for interactive in (False, True):
                with self.subTest(method=method, interactive=interactive):
                    r = gcall(method, sig, args, user=OUTSIDER, fd=fd,
                              interactive=interactive)
                    self.assertEqual(r.error, ERR + "NotAuthorized", r)
                    if fd:
                        self.assertEqual(r.get("data"), "", r)

    def test_properties_need_no_authorization(self):
        r = gcall("GetAll", "(s)", f"('{busenv.INTERFACE}',)", user=OUTSIDER,
                  iface="org.freedesktop.DBus.Properties")
        self.assertIsNone(r.error, r)
        props = r.reply[0]
        self.assertEqual(set(props), set(read_contract()["property"]))
        version = subprocess.run([netns.daemon_binary(), "--version"],
                                 capture_output=True, text=True, timeout=10)
        self.assertIn(props["Version"], version.stdout + version.stderr)
        self.assertEqual(props["ApiVersion"], 1)
        flows, total = list_all()
        self.assertEqual(total, len(flows))
        # Properties are refreshed every second.
        self.assertTrue(self.env.wait_flow_count(total, 3),
                        f"FlowCount {self.env.flow_count()}, {total} flows")
        self.assertGreater(props["MaxFlows"], 0)
        self.assertGreater(props["Events"], 0)
        now_us = time.time() * 1e6
        self.assertLess(now_us - props["StartTime"], 3600e6, props)
        self.assertGreaterEqual(now_us - props["StartTime"], 0, props)
        self.assertEqual(props["TracingMode"], "new")  # the default
        self.assertEqual(props["TraceWindow"], 30)
        self.assertEqual(props["TraceSetSize"], 65536)
        for user in (OUTSIDER, MEMBER, None):
            sig, value = busenv.get_property(self.env.bus, "ApiVersion",
                                             user=user)
            self.assertEqual((sig, value), ("u", "1"))

    # --- introspection shows the contract --------------------------------

    def test_gdbus_introspect_shows_the_contract(self):
        contract = read_contract()
        base = ["gdbus", "introspect", "--system", "--dest", busenv.BUS_NAME,
                "--object-path", busenv.OBJECT_PATH]
        p = busenv.run_as(OUTSIDER, base + ["--xml"])
        self.assertEqual(p.returncode, 0, describe(p))
        self.assertEqual(interface_members(ET.fromstring(p.stdout)),
                         contract)
        p = busenv.run_as(OUTSIDER, base)
        self.assertEqual(p.returncode, 0, describe(p))
        for kind, members in contract.items():
            for name in members:
                self.assertRegex(p.stdout, rf"\b{name}\b", f"{kind} {name}")

    def test_busctl_introspect_shows_the_contract(self):
        contract = read_contract()
        p = self.env.bus.busctl("introspect", busenv.BUS_NAME,
                                busenv.OBJECT_PATH, busenv.INTERFACE,
                                user=OUTSIDER)
        self.assertEqual(p.returncode, 0, describe(p))
        shown = {}
        for line in p.stdout.splitlines():
            cols = line.split()
            if len(cols) >= 3 and cols[0].startswith("."):
                shown[(cols[1], cols[0][1:])] = cols[2:]
        for name, args in contract["method"].items():
            ins = "".join(t for d, t in args if d == "in") or "-"
            outs = "".join(t for d, t in args if d == "out") or "-"
            self.assertEqual(shown.get(("method", name), [])[:2],
                             [ins, outs], f"method {name}:\n{p.stdout}")
        for name, types in contract["signal"].items():
            self.assertEqual(shown.get(("signal", name), [])[:1],
                             ["".join(types)], f"signal {name}")
        for name, (sig, _) in contract["property"].items():
            self.assertEqual(shown.get(("property", name), [])[:1], [sig],
                             f"property {name}")

    # --- bad input: a clear error, and the daemon keeps serving ----------

    def assertError(self, result, names, pattern=None):
        if isinstance(names, str):
            names = (names,)
        self.assertIn(result.error, names, result)
        self.assertTrue(result.get("message", "").strip(), result)
        if pattern:
            self.assertRegex(result["message"], pattern)

    def test_bad_queries(self):
        cases = [
            # (what, method, signature, args, fd, error names, message re)
            ("malformed filter", "ListFlows", "(a{sv})",
             "({'filter': <'tcp and dport 70000'>},)", None,
             ERR + "InvalidQuery", r"column \d+"),
            ("unfinished filter", "ListFlows", "(a{sv})",
             "({'filter': <'tcp and'>},)", None,
             ERR + "InvalidQuery", r"column \d+"),
            ("unknown sort key", "ListFlows", "(a{sv})",
             "({'sort': <'-colour'>},)", None, ERR + "InvalidQuery",
             "colour"),
            ("limit of the wrong type", "ListFlows", "(a{sv})",
             "({'limit': <'foo'>},)", None, ERR + "InvalidQuery", "limit"),
            ("unknown query key", "ListFlows", "(a{sv})",
             "({'colour': <'blue'>},)", None, ERR + "InvalidQuery",
             "colour"),
            ("limit above the maximum", "ListFlows", "(a{sv})",
             "({'limit': <uint32 10001>},)", None, ERR + "LimitExceeded",
             None),
            ("wrong signature", "ListFlows", "(s)", "('tcp',)", None,
             INVALID_ARGS, None),
            ("no arguments", "ListFlows", "", "", None, INVALID_ARGS, None),
            ("GetFlow with a string", "GetFlow", "(s)", "('1',)", None,
             INVALID_ARGS, None),
            ("unknown flow id", "GetFlow", "(t)", f"({2**64 - 1},)", None,
             ERR + "NoSuchFlow", None),
            ("unknown dump format", "DumpFlows", "(a{sv}h)",
             "({'format': <'xml'>}, 0)", "pipe", ERR + "InvalidQuery",
             "xml"),
            ("bad filter in a dump", "DumpFlows", "(a{sv}h)",
             "({'filter': <'dport'>}, 0)", "pipe", ERR + "InvalidQuery",
             r"column \d+"),
            ("handle without a file descriptor", "DumpFlows", "(a{sv}h)",
             "({}, 0)", None, (INVALID_ARGS, ERR + "Failed",
                               ERR + "InvalidQuery"), None),
            ("dump into a pipe nobody reads", "DumpFlows", "(a{sv}h)",
             "({}, 0)", "pipe-closed", ERR + "Failed", None),
            ("dump into a socket nobody reads", "DumpFlows", "(a{sv}h)",
             "({'format': <'json'>}, 0)", "socket-closed", ERR + "Failed",
             None),
            # The contract names no error for this; Failed ("anything
            # else") fits best, InvalidArgs would too.
            ("dump into a read-only file", "DumpFlows", "(a{sv}h)",
             "({'format': <'json'>}, 0)", "readonly",
             (ERR + "Failed", INVALID_ARGS, ERR + "InvalidQuery"), "writ"),
            ("interval of the wrong type", "Subscribe", "(a{sv})",
             "({'interval-ms': <'fast'>},)", None, ERR + "InvalidQuery",
             "interval-ms"),
            ("bad filter in a subscription", "Subscribe", "(a{sv})",
             "({'filter': <'port 99999'>},)", None, ERR + "InvalidQuery",
             r"column \d+"),
            ("interval below the minimum", "Subscribe", "(a{sv})",
             "({'interval-ms': <uint32 10>},)", None, ERR + "InvalidQuery",
             "interval-ms"),
            ("a 1 MB filter", "ListFlows", "(a{sv})",
             "({'filter': <'%s'>},)" % ("tcp or " * 150000 + "udp"), None,
             ERR + "InvalidQuery", None),
            ("deeply nested filter", "ListFlows", "(a{sv})",
             "({'filter': <'%s'>},)" % ("(" * 5000 + "tcp" + ")" * 5000),
             None, ERR + "InvalidQuery", None),
        ]
        for what, method, sig, args, fd, names, pattern in cases:
            with self.subTest(what):
                r = gcall(method, sig, args, user=MEMBER, fd=fd)
                self.assertError(r, names, pattern)
                self.env.assert_alive(self, f"after {what}")

    def test_busctl_wrong_value_type(self):
        p = busenv.call(self.env.bus, "ListFlows", "a{sv}", 1, "limit", "s",
                        "foo", user=MEMBER)
        self.assertNotEqual(p.returncode, 0, describe(p))
        self.assertRegex(p.stderr, "limit", describe(p))
        p = busenv.call(self.env.bus, "ListFlows", "s", "foo", user=MEMBER)
        self.assertNotEqual(p.returncode, 0, describe(p))
        self.assertTrue(p.stderr.strip(), describe(p))
        self.env.assert_alive(self, "after busctl calls with wrong types",
                              user=MEMBER)

    def test_unsubscribe_unknown_id(self):
        r = gcall("Unsubscribe", "(u)", "(4242,)", user=MEMBER)
        # The contract does not name the error; it must not be success
        # for an id this caller never got, and must not hurt the daemon.
        self.assertIsNotNone(r.error, r)
        self.env.assert_alive(self, "after Unsubscribe of an unknown id")

    def test_bad_client_usage(self):
        for args in (["list", "--filter", "tcp and dport 70000"],
                     ["list", "--sort", "colour"],
                     ["no-such-command"]):
            with self.subTest(args=args):
                p = ctl(MEMBER, *args)
                self.assertEqual(p.returncode, busenv.EXIT_USAGE,
                                 describe(p))
                self.assertTrue(p.stderr.strip(), describe(p))
        self.env.assert_alive(self, "after bad client usage")

    # --- DumpFlows straight through the fd --------------------------------

    def test_dump_flows_count_matches_lines(self):
        for fmt, query, fd in (
                ("legacy", "{}", "pipe"),
                ("json", "{'format': <'json'>}", "pipe"),
                ("legacy", "{}", "socket"),
                ("json", "{'format': <'json'>}", "socket")):
            with self.subTest(fmt=fmt, fd=fd):
                r = gcall("DumpFlows", "(a{sv}h)", f"({query}, 0)",
                          user=MEMBER, fd=fd)
                self.assertIsNone(r.error, r)
                self.assertNotIn("data_error", r)
                if fmt == "json":
                    lines = busenv.json_lines(r["data"])
                else:
                    lines, bad = netns.split_legacy_dump(r["data"])
                    self.assertEqual(bad, [])
                self.assertEqual(r.reply[0], len(lines), r)
                self.assertEqual(len(lines), list_all()[1])

    def test_dump_leaves_the_callers_fd_flags_alone(self):
        """The fd's open file description is shared with the caller (and,
        when a caller passes its stdout, with its shell and terminal): the
        daemon must not switch it to O_NONBLOCK under them."""
        for mode in ("pipe", "socket",
                     "file:" + os.path.join(self.env.workdir, "flags.dump")):
            with self.subTest(fd=mode.split(":")[0]):
                r = gcall("DumpFlows", "(a{sv}h)", "({}, 0)", user=None,
                          fd=mode)
                self.assertIsNone(r.error, r)
                self.assertFalse(r["fd_flags_before"] & os.O_NONBLOCK, r)
                self.assertFalse(
                    r["fd_flags_after"] & os.O_NONBLOCK,
                    "DumpFlows set O_NONBLOCK on the caller's open file "
                    "description")

    # --- the GUI author's example -----------------------------------------

    def test_example_as_member(self):
        proc = busenv.spawn(self, MEMBER, [busenv.GI_PYTHON, EXAMPLE,
                                           "--seconds", "6"],
                            env=example_env())
        out = OutputReader(proc)
        subscribed = out.wait_for(lambda t: "subscription" in t, 10)
        self.assertTrue(subscribed, f"no subscription; exit {proc.poll()}; "
                        f"stdout:\n{out.text()}\nstderr:\n"
                        f"{proc.stderr.read() if proc.poll() is not None else ''}")
        # TCP: the responder answers UDP from its primary address, which
        # would make a second flow.
        netns.client_traffic(self.env.client, [
            ["tcp", SERVER4_ALT, TCP_PORT, 950]])
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.fail(f"the example did not stop after --seconds 6:\n"
                      f"{out.text()}")
        out.thread.join(5)
        stdout, stderr = out.text(), proc.stderr.read()
        self.assertEqual(code, 0, f"stdout:\n{stdout}\nstderr:\n{stderr}")
        head, _, live = stdout.partition("-- subscription")
        self.assertRegex(head, r"^ID\s+PROTO\s+SOURCE", stdout)
        # The table: every flow there was when it started (the daemon's
        # default page holds them all).
        m = re.search(r"^-- (\d+) of (\d+) matching flows$", head, re.M)
        self.assertTrue(m, stdout)
        self.assertEqual(m.group(1), m.group(2), stdout)
        rows = [line for line in head.splitlines()[1:]
                if not line.startswith("--")]
        self.assertEqual(len(rows), int(m.group(1)), stdout)
        self.assertTrue(lines_with(head, CLIENT4, SERVER4), stdout)
        self.assertRegex(live, r"(?m)^FlowsAdded: \d+ flow\(s\)$", stdout)
        self.assertTrue(lines_with(live, CLIENT4, "950", SERVER4_ALT),
                        f"the new flow is not among the signals:\n{stdout}")

    def test_example_as_outsider(self):
        p = busenv.run_as(OUTSIDER, [busenv.GI_PYTHON, EXAMPLE, "--seconds",
                                     "1"], env=example_env())
        self.assertEqual(p.returncode, busenv.EXIT_DENIED, describe(p))
        self.assertIn("not authorized", p.stderr, describe(p))
        self.assertNotIn("Traceback", p.stderr, describe(p))


@netns.requires_root
class ResetNeedsItsOwnAction(unittest.TestCase):

    def setUp(self):
        self.env = busenv.ServiceEnv(self.addCleanup, polkit="real",
                                     recorder=True)
        mixed_traffic(self.env)
        self.assertTrue(self.env.wait_flow_count(len(oracle(self.env))),
                        f"FlowCount {self.env.flow_count()}")

    def test_reset(self):
        env, polkit = self.env, self.env.polkit
        before = list_all()[1]
        self.assertGreater(before, 0)
        # The project's rules grant reading only.
        self.assertFalse(polkit.check("org.conntracker.reset", MEMBER))
        for user in (MEMBER, OUTSIDER):
            with self.subTest(user=user, rule="project rules only"):
                p = ctl(user, "reset")
                self.assertEqual(p.returncode, busenv.EXIT_DENIED,
                                 describe(p))
                self.assertTrue(p.stderr.strip(), describe(p))
                r = gcall("Reset", user=user)
                self.assertEqual(r.error, ERR + "NotAuthorized", r)
                # Allowing a password prompt changes nothing without an
                # authentication agent: still denied, and at once.
                p = ctl(user, "reset", "--interactive", timeout=20)
                self.assertEqual(p.returncode, busenv.EXIT_DENIED,
                                 describe(p))
        self.assertEqual(list_all()[1], before, "a denied reset reset")

        polkit.add_rules(GRANT_RESET)
        polkit.wait_decision("org.conntracker.reset", MEMBER, True)
        self.assertFalse(polkit.check("org.conntracker.reset", OUTSIDER))
        # A subscriber sees the flows go with reason "reset".
        watcher = busenv.spawn(self, MEMBER, [busenv.GI_PYTHON, EXAMPLE,
                                              "--seconds", "3"],
                               env=example_env())
        out = OutputReader(watcher)
        self.assertTrue(out.wait_for(lambda t: "subscription" in t, 10),
                        out.text())

        p = ctl(OUTSIDER, "reset")
        self.assertEqual(p.returncode, busenv.EXIT_DENIED, describe(p))
        p = ctl(MEMBER, "reset")
        self.assertEqual(p.returncode, 0, describe(p))
        p = ctl(MEMBER, "list", "--json")
        self.assertEqual(p.returncode, 0, describe(p))
        self.assertEqual(busenv.parse_json_output(p.stdout), [], p.stdout)
        self.assertEqual(list_all(MEMBER), [[], 0])
        # The properties follow within their update interval (1 s).
        self.assertTrue(env.wait_flow_count(0, 5), env.flow_count())
        try:
            watcher.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("the example did not stop")
        out.thread.join(5)
        removed = re.findall(r"^FlowsRemoved \(reset\): ([\d, ]+)$",
                             out.text(), re.M)
        self.assertTrue(removed, out.text())
        self.assertEqual(sum(len(ids.split(",")) for ids in removed), before,
                         out.text())

        # Counters keep counting; new traffic makes new flows.
        events = int(busenv.get_property(env.bus, "Events")[1])
        self.assertGreater(events, 0)
        netns.client_traffic(env.client,
                             [["udp", SERVER4, ECHO_PORT, 777, True]])
        self.assertTrue(env.wait_flow_count(1), env.flow_count())
        self.assertGreater(int(busenv.get_property(env.bus, "Events")[1]),
                           events)

        # Without the rule, the member is denied again; root never is.
        polkit.remove_rules(os.path.basename(GRANT_RESET))
        polkit.wait_decision("org.conntracker.reset", MEMBER, False)
        p = ctl(MEMBER, "reset")
        self.assertEqual(p.returncode, busenv.EXIT_DENIED, describe(p))
        self.assertEqual(list_all()[1], 1)
        p = ctl(None, "reset")
        self.assertEqual(p.returncode, 0, describe(p))
        self.assertEqual(list_all(), [[], 0])


if __name__ == "__main__":
    netns.main()
