#!/usr/bin/python3
"""org.conntracker.Flows peer to peer, without a bus: conntrackerd's own
socket (--listen) and a socket passed by systemd's protocol
(systemd-socket-activate stands in for conntrackerd.socket), read with
`conntrackerctl --address unix:path=…`.

- Without polkitd, root lists, dumps, watches and resets what conntrack
  shows; an unprivileged user (nobody) reads the properties and
  introspects, and is denied everything else (exit status 4).
- The peer's identity is the kernel's (SO_PEERCRED): a sender field the
  peer writes into its messages is ignored.
- One user cannot take every connection slot, nor stall every worker
  thread with connections that never authenticate; root still gets in.
- With the real polkitd, a member of the `conntracker` group reads over
  the socket (polkit's unix-process subject), an outsider does not.
- The socket is 0666, replaced when stale, removed at stop (but not a
  socket systemd passed); a socket of the wrong kind from systemd is a
  clear error.

Needs root. The polkit class creates the users ct-test-member and
ct-test-outsider and the group conntracker when absent (see busenv.py).
"""

import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
import busenv  # noqa: E402
import netns  # noqa: E402
from busenv import EXIT_DENIED, EXIT_OK, MEMBER, OUTSIDER  # noqa: E402
from busenv import describe  # noqa: E402
from netns import ECHO_PORT, SERVER4, SERVER4_ALT, TCP_PORT  # noqa: E402

busenv.not_root_exit()

NOBODY = "nobody"  # uid 65534: no group, no polkit rule
NO_BUS = "unix:path=/nonexistent/conntracker-test-no-bus"

# Runs as some user with python3-gi: connects to the peer address in
# argv[1] and does what argv[2] says; prints one JSON object.
# - "introspect": the XML of /org/conntracker/Flows and of /.
# - "forged-reset": exports a fake org.freedesktop.DBus answering
#   GetConnectionUnixUser with 0 (root), then calls Reset with the sender
#   field set to a bus name, as a forger would; reports the reply or error
#   and whether the daemon ever asked the fake bus anything.
_PEER_CLIENT = r"""
import json, sys
from gi.repository import Gio, GLib
address, what = sys.argv[1], sys.argv[2]
conn = Gio.DBusConnection.new_for_address_sync(
    address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT, None, None)
out = {}
PATH, IFACE = "/org/conntracker/Flows", "org.conntracker.Flows"
def introspect(path):
    reply = conn.call_sync(None, path, "org.freedesktop.DBus.Introspectable",
                           "Introspect", None, GLib.VariantType("(s)"),
                           Gio.DBusCallFlags.NONE, 10000, None)
    return reply.unpack()[0]
if what == "introspect":
    out["flows"] = introspect(PATH)
    out["root"] = introspect("/")
elif what == "forged-reset":
    asked = []
    node = Gio.DBusNodeInfo.new_for_xml(
        "<node><interface name='org.freedesktop.DBus'>"
        "<method name='GetConnectionUnixUser'><arg type='s' direction='in'/>"
        "<arg type='u' direction='out'/></method></interface></node>")
    def on_call(c, sender, path, iface, method, params, invocation):
        asked.append(method)
        invocation.return_value(GLib.Variant("(u)", (0,)))
    conn.register_object("/org/freedesktop/DBus", node.interfaces[0],
                         on_call, None, None)
    msg = Gio.DBusMessage.new_method_call(None, PATH, IFACE, "Reset")
    msg.set_sender(":1.1")
    loop = GLib.MainLoop()
    def done(c, res):
        try:
            reply = c.send_message_with_reply_finish(res)
            if reply.get_message_type() == Gio.DBusMessageType.ERROR:
                out["error"] = reply.get_error_name()
                out["message"] = reply.get_body().unpack()[0]
            else:
                out["reply"] = "ok"
        except GLib.Error as e:
            out["error"] = "local: " + e.message
        loop.quit()
    conn.send_message_with_reply(msg, Gio.DBusSendMessageFlags.NONE, 10000,
                                 None, done)
    GLib.timeout_add_seconds(15, loop.quit)
    loop.run()
    out["asked"] = asked
print(json.dumps(out))
"""

# Runs as some user: opens argv[2] connections to the socket argv[1], either
# "silent" (connect, say nothing) or "auth" (authenticated D-Bus
# connections, one after the other); reports which of them the daemon
# refused, then holds the others until stdin closes.
_HOARDER = r"""
import json, select, socket, sys, time
path, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
held, closed = [], []
if mode == "silent":
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        held.append(s)
    time.sleep(0.5)
    for i, s in enumerate(held):
        r, _, _ = select.select([s], [], [], 0)
        if r and s.recv(1, socket.MSG_PEEK) == b"":
            closed.append(i)
else:
    from gi.repository import Gio, GLib
    for i in range(n):
        try:
            held.append(Gio.DBusConnection.new_for_address_sync(
                "unix:path=" + path,
                Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT, None, None))
        except GLib.Error:
            closed.append(i)
        time.sleep(0.05)
print(json.dumps({"closed": closed}), flush=True)
sys.stdin.read()
"""


def run_as(user, argv, timeout=20):
    """argv as user (nobody, or a bare uid: no groups) with the test's
    environment."""
    if user == NOBODY or isinstance(user, int):
        uid = 65534 if user == NOBODY else user
        argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}",
                "--clear-groups", "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=timeout, env=busenv.user_env(),
                              check=False)
    return busenv.run_as(user, argv, timeout=timeout)


def peer_client(user, address, what):
    p = run_as(user, [busenv.GI_PYTHON, "-c", _PEER_CLIENT, address, what])
    if p.returncode != 0:
        raise AssertionError("the GDBus peer client failed: " + describe(p))
    return json.loads(p.stdout)


def ctl_at(user, address, *args, timeout=30):
    return run_as(user, [busenv.ctl_binary(), "--address", address, *args],
                  timeout=timeout)


def make_workdir(cleanup):
    tmp = tempfile.TemporaryDirectory(prefix="conntracker-peer-")
    cleanup(tmp.cleanup)
    # Unprivileged users reach the socket through it.
    os.chmod(tmp.name, 0o755)
    return tmp.name


def no_polkit(cleanup):
    """No polkitd, whatever the host runs: the daemon finds no system bus."""
    saved = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = NO_BUS

    def restore():
        if saved is None:
            os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = saved
    cleanup(restore)


@netns.requires_root
class PeerSocketWithoutBus(unittest.TestCase):
    """conntrackerd --no-bus --listen PATH, no polkitd."""

    @classmethod
    def setUpClass(cls):
        no_polkit(cls.addClassCleanup)
        cls.workdir = make_workdir(cls.addClassCleanup)
        cls.pair = netns.Pair()
        cls.addClassCleanup(cls.pair.close)
        cls.responder = netns.Responder(cls.pair.server)
        cls.addClassCleanup(cls.responder.close)
        # The daemon makes the directory.
        cls.path = os.path.join(cls.workdir, "run", "conntracker", "socket")
        cls.address = f"unix:path={cls.path}"
        cls.daemon = netns.Daemon(cls.pair.server, cls.workdir,
                                  ["--no-bus", "--listen", cls.path, "-c"])
        cls.addClassCleanup(cls.daemon.kill)
        cls.daemon.start()
        netns.client_traffic(cls.pair.client, [
            ["tcp", SERVER4, TCP_PORT, None],
            ["udp", SERVER4, ECHO_PORT, None, True],
        ])

    def setUp(self):
        self.assertTrue(self.daemon.running(), "the daemon died earlier")

    def expected(self):
        return netns.expected_flows(netns.conntrack_list(self.pair.server))

    def listed(self, user="root"):
        p = ctl_at(user, self.address, "list", "--json")
        self.assertEqual(p.returncode, EXIT_OK, describe(p))
        return busenv.flows_by_key(busenv.parse_json_output(p.stdout),
                                   "list --json")

    def test_socket_is_0666(self):
        st = os.lstat(self.path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o666)
        self.assertIn(f"serving org.conntracker.Flows peer to peer at "
                      f"{self.address}", self.daemon.stderr())

    def test_root_lists_what_conntrack_shows(self):
        expected = self.expected()
        self.assertTrue(expected, "conntrack shows no flows")
        got = netns.wait_until(
            lambda: (lambda g: g if g.keys() == expected.keys() else None)(
                self.listed()), 5, 0.2)
        self.assertTrue(got, f"list over the socket: {sorted(self.listed())}"
                        f", conntrack: {sorted(expected)}")
        problems = netns.compare_flows(expected, got)
        self.assertFalse(problems, "\n".join(problems))

    def test_root_dumps_through_the_socket(self):
        """DumpFlows passes the caller's fd over the peer connection."""
        p = ctl_at("root", self.address, "dump", "--format", "json")
        self.assertEqual(p.returncode, EXIT_OK, describe(p))
        objs = busenv.json_lines(p.stdout, "dump")
        self.assertEqual(busenv.flows_by_key(objs).keys(),
                         self.expected().keys())

    def test_root_watches(self):
        proc = subprocess.Popen(
            [busenv.ctl_binary(), "--address", self.address, "watch"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=busenv.user_env())
        self.addCleanup(lambda: (netns._kill(proc), proc.stdout.close(),
                                 proc.stderr.close()))
        seen = ""
        for sport in range(910, 916):
            netns.client_traffic(self.pair.client,
                                 [["tcp", SERVER4_ALT, TCP_PORT, sport]])
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline and str(sport) not in seen:
                r, _, _ = select.select([proc.stdout], [], [], 0.1)
                if r:
                    seen += os.read(proc.stdout.fileno(), 65536).decode()
            if str(sport) in seen or proc.poll() is not None:
                break
        self.assertIn(SERVER4_ALT, seen, f"watch showed nothing; exit "
                      f"{proc.poll()}")
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(timeout=5), 0)

    def test_nobody_reads_properties_only(self):
        p = ctl_at(NOBODY, self.address, "status")
        self.assertEqual(p.returncode, EXIT_OK, describe(p))
        self.assertIn("Version:", p.stdout)
        for args in (["list"], ["dump"], ["show", "1"], ["reset"]):
            p = ctl_at(NOBODY, self.address, *args)
            self.assertEqual(p.returncode, EXIT_DENIED, describe(p))
            self.assertIn("not authorized", p.stderr)
            self.assertIn("polkit is unavailable", p.stderr)
        self.assertTrue(self.expected())
        self.assertTrue(self.listed(), "nobody's reset must not reset")

    def test_nobody_introspects(self):
        out = peer_client(NOBODY, self.address, "introspect")
        self.assertIn('<interface name="org.conntracker.Flows">',
                      out["flows"])
        for member in ("ListFlows", "DumpFlows", "Subscribe", "FlowsAdded",
                       "FlowCount"):
            self.assertIn(f'name="{member}"', out["flows"])
        self.assertIn('<node name="org"/>', out["root"])

    def test_forged_sender_is_ignored(self):
        """Before peer connections were told apart by the connection, a
        sender field made the daemon ask the peer itself for its uid."""
        before = len(self.listed())
        out = peer_client(NOBODY, self.address, "forged-reset")
        self.assertEqual(out.get("error"),
                         "org.conntracker.Error.NotAuthorized", out)
        self.assertEqual(out["asked"], [], "the daemon asked the peer who "
                         "it is")
        self.assertEqual(len(self.listed()), before)
        self.assertIn("authorization: Reset from a peer (uid 65534, pid ",
                      self.daemon.stderr())

    def hoard(self, uid, n, mode):
        """The hoarder as uid; returns the indexes of refused connections.
        It holds the rest until the test ends."""
        proc = subprocess.Popen(
            ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
             "--", busenv.GI_PYTHON, "-c", _HOARDER, self.path, str(n),
             mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=busenv.user_env())
        self.addCleanup(lambda: (netns._kill(proc), proc.stdin.close(),
                                 proc.stdout.close()))
        r, _, _ = select.select([proc.stdout], [], [], 10)
        line = proc.stdout.readline() if r else ""
        self.assertTrue(line, f"the hoarder said nothing (exit {proc.poll()})")
        return json.loads(line)["closed"]

    def assertRootGetsIn(self):
        start = time.monotonic()
        p = ctl_at("root", self.address, "status", timeout=10)
        self.assertEqual(p.returncode, EXIT_OK, describe(p))
        self.assertLess(time.monotonic() - start, 2)

    def test_silent_clients_cannot_take_every_slot(self):
        """Each authenticating connection holds a worker thread: four per
        user, eight in all (the silent ones are dropped after 5 s)."""
        self.assertEqual(self.hoard(65534, 5, "silent"), [4])
        self.assertEqual(self.hoard(65533, 5, "silent"), [4])
        self.assertEqual(self.hoard(65532, 1, "silent"), [0])
        self.assertRootGetsIn()
        self.assertIn("refused 1 connection(s)", self.daemon.stderr())

    def test_one_user_cannot_take_every_connection(self):
        self.assertEqual(self.hoard(65534, 17, "auth"), [16])
        self.assertRootGetsIn()
        p = ctl_at(NOBODY, self.address, "status")
        self.assertNotEqual(p.returncode, EXIT_OK, describe(p))
        p = ctl_at(65533, self.address, "status")
        self.assertEqual(p.returncode, EXIT_OK, describe(p))

    def test_zz_stop_removes_the_socket(self):
        code, stderr = self.daemon.stop()
        self.assertEqual(code, 0, stderr)
        self.assertFalse(os.path.lexists(self.path),
                         "the socket outlived the daemon")


@netns.requires_root
class PeerSocketFile(unittest.TestCase):
    """What is at the path before the daemon starts."""

    def setUp(self):
        no_polkit(self.addCleanup)
        self.workdir = make_workdir(self.addCleanup)
        self.ns = netns.Namespace("sock")
        self.addCleanup(self.ns.delete)
        self.path = os.path.join(self.workdir, "socket")

    def start(self, name="daemon"):
        d = netns.Daemon(self.ns, self.workdir,
                         ["--no-bus", "--listen", self.path, "-c"], name=name)
        self.addCleanup(d.kill)
        return d

    def test_stale_socket_is_replaced(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.path)  # bound, never listening: what kill -9 leaves
        s.close()
        self.start().start()
        p = ctl_at("root", f"unix:path={self.path}", "status")
        self.assertEqual(p.returncode, EXIT_OK, describe(p))

    def test_other_files_are_kept(self):
        with open(self.path, "w") as f:
            f.write("not a socket")
        d = self.start()
        with self.assertRaises(AssertionError):
            d.start(timeout=5)
        self.assertIn("exists and is not a socket; not replacing it",
                      d.stderr())
        self.assertEqual(d.proc.returncode, 1)
        with open(self.path) as f:
            self.assertEqual(f.read(), "not a socket")

    def test_live_socket_is_kept(self):
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(other.close)
        other.bind(self.path)
        other.listen(1)
        d = self.start()
        with self.assertRaises(AssertionError):
            d.start(timeout=5)
        self.assertIn("another process listens on", d.stderr())
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.path).st_mode))


class Activated:
    """conntrackerd started by systemd-socket-activate on its first
    connection, with the listening socket as fd 3 (LISTEN_FDS=1), as
    conntrackerd.socket does. systemd-socket-activate passes no
    environment but what -E names."""

    def __init__(self, test, ns, workdir, extra=()):
        self.path = os.path.join(workdir, "activated")
        self.stderr_path = os.path.join(workdir, "activated.stderr")
        argv = ["systemd-socket-activate", *extra, "-l", self.path,
                "-E", "DBUS_SYSTEM_BUS_ADDRESS",
                netns.daemon_binary(), "-f", "-o",
                os.path.join(workdir, "activated.dump"), "--no-bus", "-c"]
        with open(self.stderr_path, "wb") as err:
            self.proc = ns.popen(argv, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=err)
        test.addCleanup(netns._kill, self.proc)
        if not netns.wait_until(lambda: os.path.exists(self.path), 5):
            raise AssertionError("systemd-socket-activate made no socket: "
                                 + self.stderr())
        # SocketMode=0666 in conntrackerd.socket.
        os.chmod(self.path, 0o666)

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()


@netns.requires_root
class SocketActivation(unittest.TestCase):

    def setUp(self):
        no_polkit(self.addCleanup)
        self.workdir = make_workdir(self.addCleanup)
        self.ns = netns.Namespace("act")
        self.addCleanup(self.ns.delete)

    def test_adopts_the_socket_systemd_passes(self):
        a = Activated(self, self.ns, self.workdir)
        address = f"unix:path={a.path}"
        # The first connection starts the daemon; it waits in the backlog.
        p = ctl_at("root", address, "status")
        self.assertEqual(p.returncode, EXIT_OK, describe(p) + a.stderr())
        self.assertIn(f"peer to peer at {address} (socket from systemd)",
                      a.stderr())
        netns.ping(self.ns, "127.0.0.1")
        p = ctl_at("root", address, "list")
        self.assertEqual(p.returncode, EXIT_OK, describe(p))
        self.assertIn("127.0.0.1", p.stdout)
        p = ctl_at(NOBODY, address, "list")
        self.assertEqual(p.returncode, EXIT_DENIED, describe(p))
        a.proc.send_signal(signal.SIGTERM)
        self.assertEqual(a.proc.wait(timeout=10), 0, a.stderr())
        # The socket is systemd's: it stays for the next activation.
        self.assertTrue(stat.S_ISSOCK(os.lstat(a.path).st_mode))

    def test_refuses_a_datagram_socket(self):
        a = Activated(self, self.ns, self.workdir, extra=["--datagram"])
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(b"x", a.path)  # what starts the daemon
        s.close()
        try:
            code = a.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("the daemon runs on a datagram socket: " + a.stderr())
        self.assertEqual(code, 1, a.stderr())
        self.assertIn("of the sockets systemd passed (conntrackerd.socket), "
                      "file descriptor 3 is not a listening Unix stream "
                      "socket", a.stderr())


@netns.requires_root
class PeerSocketWithPolkit(unittest.TestCase):
    """The daemon on the (private) system bus and on its own socket, with
    the real polkitd and the project's rules: the same decisions both
    ways, made on the peer's pid (unix-process subject)."""

    @classmethod
    def setUpClass(cls):
        cls.env = busenv.ServiceEnv(cls.addClassCleanup, polkit="real",
                                    start_daemon=False)
        cls.path = os.path.join(cls.env.workdir, "run", "socket")
        cls.address = f"unix:path={cls.path}"
        cls.env.start_daemon("--listen", cls.path)
        netns.client_traffic(cls.env.client,
                             [["tcp", SERVER4, TCP_PORT, None]])
        # FlowCount is refreshed once a second.
        if not netns.wait_until(lambda: cls.env.flow_count() > 0, 5):
            raise AssertionError("the daemon shows no flow")

    def test_member_reads(self):
        p = ctl_at(MEMBER, self.address, "list", "--json")
        self.assertEqual(p.returncode, EXIT_OK, describe(p))
        over_socket = busenv.flows_by_key(busenv.parse_json_output(p.stdout))
        p = busenv.ctl(MEMBER, "list", "--json")
        self.assertEqual(p.returncode, EXIT_OK, describe(p))
        over_bus = busenv.flows_by_key(busenv.parse_json_output(p.stdout))
        self.assertTrue(over_socket)
        self.assertEqual(over_socket.keys(), over_bus.keys())

    def test_outsider_is_denied(self):
        p = ctl_at(OUTSIDER, self.address, "list")
        self.assertEqual(p.returncode, EXIT_DENIED, describe(p))
        self.assertIn("not authorized", p.stderr)

    def test_member_may_not_reset(self):
        before = self.env.flow_count()
        p = ctl_at(MEMBER, self.address, "reset")
        self.assertEqual(p.returncode, EXIT_DENIED, describe(p))
        self.assertIn("org.conntracker.reset", p.stderr)
        time.sleep(1.2)
        self.assertEqual(self.env.flow_count(), before)


if __name__ == "__main__":
    netns.main()
