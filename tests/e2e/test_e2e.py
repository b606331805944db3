#!/usr/bin/env python3
"""End-to-end tests: the conntracker .deb under real systemd as PID 1.

Each test boots a fresh Debian bookworm container (systemd-nspawn, see
boot.py) whose network namespace is joined by veth to a peer namespace,
installs the package with dpkg -i, and checks what an administrator and a
user would: the service starts and stays up, an ordinary user in the
`conntracker` group sees the flows the peer's traffic made and one outside
it is denied, bus and socket activation, restart without losing a flow,
SIGKILL leaving no nft table behind, and the unit's security exposure.

Environment:
  CONNTRACKER_DEB         the package to test (tests/e2e/build-deb.sh makes one)
  CONNTRACKER_E2E_ROOTFS  a ready tree to boot (default: rootfs.sh builds or
                          reuses the cached one)
  CONNTRACKER_E2E_CACHE   where rootfs.sh caches (default /var/tmp/conntracker-e2e)

Needs root; exits 77 (skip) otherwise. As root nothing is skipped: a feature
that is not there yet fails with a message saying what is missing.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from boot import (CONTAINER4, CONTAINER6, PEER4, PEER6, BootError,  # noqa: E402
                  Container, log, stop_all)

BIND = "/srv/conntracker-e2e"
SOCKET_ADDRESS = "unix:path=/run/conntracker/socket"
TCP_PORT = 8080
MEMBER, OUTSIDER = "ctmember", "ctoutsider"
UNIT = "conntrackerd.service"
OURS = re.compile(r"^(conntracker|dbus-org\.conntracker)")

EXIT_DENIED = 4

ROOTFS = None
DEB = None


def tail(text, n=30):
    return "\n".join(text.splitlines()[-n:])


LISTENER = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(8)
s.settimeout(1.0)
print("ready", flush=True)
deadline = time.monotonic() + float(sys.argv[2])
served = 0
while served < int(sys.argv[3]) and time.monotonic() < deadline:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.sendall(b"hello\n")
    c.close()
    served += 1
"""

CONNECT = r"""
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
with socket.socket(fam, socket.SOCK_STREAM) as s:
    s.settimeout(3)
    s.connect((sys.argv[1], int(sys.argv[2])))
    assert s.recv(16) == b"hello\n"
"""


def flow_key(f):
    return tuple(f.get(k) for k in ("family", "protocol_number", "src", "dst", "sport",
                                     "dport", "icmp_type", "icmp_code"))


class E2E(unittest.TestCase):
    maxDiff = None

    # -- fixture -------------------------------------------------------------

    def setUp(self):
        self.t0 = time.monotonic()
        self.ct = Container(ROOTFS, binds={BIND: os.path.dirname(DEB)})
        self.addCleanup(self.ct.stop)
        self.ct.start()
        self.baseline_failed = set(self.ct.failed_units())

    def tearDown(self):
        log(f"{self.id().split('.')[-1]}: {time.monotonic() - self.t0:.2f} s")

    def run_in(self, argv, **kw):
        return self.ct.run(argv, check=False, **kw)

    def diagnose(self, unit=UNIT):
        st = self.run_in(["systemctl", "status", "--no-pager", "-l", unit]).stdout
        return f"\n--- systemctl status {unit}\n{tail(st, 15)}\n--- journal\n" \
               f"{tail(self.ct.journal(unit), 25)}"

    # -- steps ---------------------------------------------------------------

    def install(self):
        deb = os.path.join(BIND, os.path.basename(DEB))
        r = self.ct.run(["env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "-i", deb],
                        check=False, timeout=120)
        self.assertEqual(r.returncode, 0,
                         f"dpkg -i {os.path.basename(DEB)} failed:\n{tail(r.stdout + r.stderr)}")
        for path in ("/usr/sbin/conntrackerd", "/usr/bin/conntrackerctl"):
            self.assertEqual(self.run_in(["test", "-x", path]).returncode, 0,
                             f"the package installs no {path}")
        r = self.run_in(["systemctl", "cat", UNIT])
        self.assertEqual(r.returncode, 0,
                         f"the package ships no {UNIT} (data/systemd is not installed "
                         f"by meson/debian yet?): {r.stderr.strip()}")

    def wait_state(self, unit, want, timeout=15):
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.run_in(["systemctl", "is-active", unit]).stdout.strip()
            if state == want:
                return
            time.sleep(0.1)
        self.fail(f"{unit} is {state!r}, not {want!r} after {timeout} s"
                  + self.diagnose(unit))

    def enable_now(self):
        r = self.run_in(["systemctl", "enable", "--now", "conntrackerd"], timeout=60)
        self.assertEqual(r.returncode, 0,
                         f"systemctl enable --now conntrackerd: {r.stderr.strip()}"
                         + self.diagnose())
        self.wait_state(UNIT, "active")

    def prop(self, unit, name):
        return self.run_in(["systemctl", "show", "-P", name, unit]).stdout.strip()

    def add_users(self):
        r = self.run_in(["getent", "group", "conntracker"])
        self.assertEqual(r.returncode, 0,
                         "no group 'conntracker' after installing the package "
                         "(debian/conntracker.postinst should create it)")
        for argv in (["useradd", "-M", "-G", "conntracker", MEMBER],
                     ["useradd", "-M", OUTSIDER]):
            r = self.run_in(argv)
            self.assertEqual(r.returncode, 0, f"{' '.join(argv)}: {r.stderr}")

    def ctl(self, args, user=None, address=None, timeout=10):
        argv = ["conntrackerctl"]
        if address:
            argv.append(f"--address={address}")
        try:
            return self.ct.run(argv + args, user=user, check=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            pass  # fail outside the handler: one traceback, not two
        hint = ""
        if address == SOCKET_ADDRESS:
            hint = (" (nothing accepts on the socket: does conntrackerd adopt it with "
                    "sd_listen_fds(), and was conntrackerd.socket started before the "
                    "service?)")
        self.fail(f"`{' '.join(argv + args)}` as {user or 'root'} got no answer in "
                  f"{timeout} s{hint}" + self.diagnose())

    def flows(self, user=None, address=None):
        r = self.ctl(["list", "--json", "--limit", "10000"], user=user, address=address)
        self.assertEqual(r.returncode, 0,
                         f"conntrackerctl list as {user or 'root'} exited {r.returncode}: "
                         f"{r.stderr.strip()}")
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def peer_traffic(self):
        """From the peer into the container: ping over IPv4 and IPv6 and one
        TCP connection over each to a listener in the container's netns.
        Returns predicates for the flows that must appear."""
        listener = self.ct.popen_in_netns([sys.executable, "-c", LISTENER,
                                           str(TCP_PORT), "15", "2"])
        try:
            self.assertEqual(listener.stdout.readline().strip(), "ready",
                             "TCP listener in the container's netns did not start")
            for argv in (["ping", "-c", "2", "-i", "0.2", "-W", "2", CONTAINER4],
                         ["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", CONTAINER6],
                         [sys.executable, "-c", CONNECT, CONTAINER4, str(TCP_PORT)],
                         [sys.executable, "-c", CONNECT, CONTAINER6, str(TCP_PORT)]):
                r = self.ct.peer(argv, check=False)
                self.assertEqual(r.returncode, 0,
                                 f"peer traffic failed: {' '.join(argv)}: {r.stderr}")
        finally:
            try:
                listener.wait(timeout=15)
            except subprocess.TimeoutExpired:
                listener.kill()
                listener.wait()
        return {
            "icmp ipv4": lambda f: f.get("protocol") == "icmp" and
            f.get("src") == PEER4 and f.get("dst") == CONTAINER4,
            "icmpv6": lambda f: f.get("family") == "ipv6" and f.get("protocol_number") == 58 and
            f.get("src") == PEER6 and f.get("dst") == CONTAINER6,
            f"tcp ipv4 :{TCP_PORT}": lambda f: f.get("protocol") == "tcp" and
            f.get("src") == PEER4 and f.get("dst") == CONTAINER4 and f.get("dport") == TCP_PORT,
            f"tcp ipv6 :{TCP_PORT}": lambda f: f.get("protocol") == "tcp" and
            f.get("src") == PEER6 and f.get("dst") == CONTAINER6 and f.get("dport") == TCP_PORT,
        }

    def wait_flows(self, expected, user=None, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            flows = self.flows(user=user)
            missing = [name for name, match in expected.items()
                       if not any(match(f) for f in flows)]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(missing, [],
                         f"flows missing from `conntrackerctl list` as {user or 'root'}; "
                         f"it shows:\n" + "\n".join(json.dumps(f) for f in flows))
        return flows

    def assert_not_degraded_by_us(self):
        state = self.ct.state()
        failed = set(self.ct.failed_units())
        ours = sorted(u for u in failed if OURS.match(u))
        self.assertEqual(ours, [], f"system is {state}: our units failed"
                         + "".join(self.diagnose(u) for u in ours))
        if state != "running":
            log(f"system is {state}; failed units not ours: {sorted(failed)} "
                f"(at boot: {sorted(self.baseline_failed)})")

    def has_our_table(self):
        """Whether `nft list ruleset`, run as a unit of the container's
        systemd (its own capability set), shows table inet conntracker."""
        r = self.ct.run_unit(["nft", "list", "ruleset"], check=False)
        self.assertEqual(r.returncode, 0, f"nft list ruleset: {r.stderr}")
        return re.search(r"^table inet conntracker\b", r.stdout, re.M) is not None

    # -- tests ---------------------------------------------------------------

    def test_01_install_enable_active(self):
        """dpkg -i, then systemctl enable --now: active, and the system is
        not degraded by anything of ours."""
        self.install()
        # The Debian way: the package enables and starts its units itself.
        for unit in (UNIT, "conntrackerd.socket"):
            enabled = self.run_in(["systemctl", "is-enabled", unit]).stdout.strip()
            self.assertEqual(enabled, "enabled",
                             f"dpkg -i left {unit} {enabled!r} (dh_installsystemd enables it)")
        self.wait_state(UNIT, "active")
        self.enable_now()
        self.assertEqual(self.prop(UNIT, "Type"), "notify",
                         "the unit should report readiness (Type=notify, READY=1)")
        time.sleep(1)  # a daemon that dies right after READY=1 shows up here
        self.wait_state(UNIT, "active", timeout=1)
        self.assertEqual(self.prop(UNIT, "NRestarts"), "0", self.diagnose())
        self.assert_not_degraded_by_us()

    def test_02_member_sees_peer_flows(self):
        """An ordinary user in group conntracker lists the flows the peer's
        traffic made."""
        self.install()
        self.enable_now()
        self.add_users()
        expected = self.peer_traffic()
        self.wait_flows(expected, user=MEMBER)
        self.assert_not_degraded_by_us()

    def test_03_outsider_denied(self):
        """A user outside the group is refused (exit 4) and sees nothing."""
        self.install()
        self.enable_now()
        self.add_users()
        self.peer_traffic()
        r = self.ctl(["list", "--json"], user=OUTSIDER)
        self.assertEqual(r.returncode, EXIT_DENIED,
                         f"conntrackerctl list as {OUTSIDER} exited {r.returncode}, "
                         f"not {EXIT_DENIED}: {r.stderr.strip()}")
        self.assertNotIn(PEER4, r.stdout)
        self.assertNotIn(PEER6, r.stdout)

    def test_04_bus_activation(self):
        """With the service stopped, a `conntrackerctl status` call over the
        system bus starts it (D-Bus activation through SystemdService=)."""
        self.install()
        self.add_users()
        r = self.run_in(["systemctl", "stop", UNIT], timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_state(UNIT, "inactive")
        r = self.ctl(["status"], user=OUTSIDER)
        self.assertEqual(r.returncode, 0,
                         f"conntrackerctl status with the service stopped exited "
                         f"{r.returncode}: {r.stderr.strip()}" + self.diagnose())
        self.assertRegex(r.stdout, r"Version:\s+\S")
        self.wait_state(UNIT, "active")
        self.assert_not_degraded_by_us()

    def test_05_socket_unit(self):
        """conntrackerd.socket serves the same interface peer-to-peer, with
        the same polkit decisions, and starts the service when it is down."""
        self.install()
        self.enable_now()
        self.add_users()
        r = self.run_in(["systemctl", "cat", "conntrackerd.socket"])
        self.assertEqual(r.returncode, 0,
                         f"the package ships no conntrackerd.socket: {r.stderr.strip()}")
        if self.run_in(["systemctl", "is-active", "conntrackerd.socket"]).stdout.strip() \
                != "active":
            self.fail("conntrackerd.socket is not active after install and enable --now "
                      "(systemd refuses to start a socket whose service already runs: "
                      "conntrackerd.service needs Wants=/After=conntrackerd.socket so the "
                      "socket comes first)" + self.diagnose("conntrackerd.socket"))
        r = self.ctl(["status"], user=OUTSIDER, address=SOCKET_ADDRESS)
        self.assertEqual(r.returncode, 0,
                         f"status over {SOCKET_ADDRESS} exited {r.returncode}: "
                         f"{r.stderr.strip()}" + self.diagnose())
        self.assertRegex(r.stdout, r"Version:\s+\S")
        r = self.ctl(["list", "--json"], user=OUTSIDER, address=SOCKET_ADDRESS)
        self.assertEqual(r.returncode, EXIT_DENIED,
                         f"list over the socket as {OUTSIDER} exited {r.returncode}, "
                         f"not {EXIT_DENIED}: {r.stderr.strip()}")
        self.flows(address=SOCKET_ADDRESS)  # root: allowed
        # Socket activation: stop the service, keep the socket.
        r = self.run_in(["systemctl", "stop", UNIT], timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_state(UNIT, "inactive")
        r = self.ctl(["status"], user=OUTSIDER, address=SOCKET_ADDRESS)
        self.assertEqual(r.returncode, 0,
                         f"status over the socket with the service stopped exited "
                         f"{r.returncode}: {r.stderr.strip()}" + self.diagnose())
        self.wait_state(UNIT, "active")
        self.assert_not_degraded_by_us()

    def test_06_restart_keeps_flows(self):
        """systemctl restart keeps every flow, also those the kernel no
        longer tracks (so they cannot come back from the initial dump)."""
        self.install()
        self.enable_now()
        expected = self.peer_traffic()
        self.wait_flows(expected)
        # Empty the kernel's table: what survives the restart must come
        # from the saved state.
        r = self.run_in(["conntrack", "-F"])
        self.assertEqual(r.returncode, 0, f"conntrack -F: {r.stderr}")
        time.sleep(0.3)
        before = self.wait_flows(expected)
        r = self.run_in(["systemctl", "restart", UNIT], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr + self.diagnose())
        self.wait_state(UNIT, "active")
        after = {flow_key(f): f for f in self.flows()}
        lost = [f for f in before if flow_key(f) not in after]
        if lost:
            self.fail(f"{len(lost)} of {len(before)} flows lost by `systemctl "
                      f"restart` (is the store saved under $STATE_DIRECTORY on stop "
                      f"and loaded on start?):\n"
                      + "\n".join(json.dumps(f) for f in lost) + self.diagnose())
        changed = [f"{json.dumps(f)}\n  now {json.dumps(after[flow_key(f)])}" for f in before
                   if after[flow_key(f)].get("first_seen") != f.get("first_seen")]
        if changed:
            self.fail("flows came back as new ones (first_seen changed):\n" + "\n".join(changed))
        self.assert_not_degraded_by_us()

    def test_07_kill9_leaves_no_table_and_restarts(self):
        """kill -9 of the daemon: the kernel drops its owned nft table, and
        systemd restarts it (Restart=on-failure)."""
        self.install()
        self.enable_now()
        self.assertEqual(self.prop(UNIT, "Restart"), "on-failure")
        self.assertTrue(self.has_our_table(),
                        "no nft table inet conntracker while the daemon runs")
        # Widen the window between death and restart so the check cannot
        # race the new daemon; Restart= itself stays the shipped unit's.
        dropin = "/run/systemd/system/conntrackerd.service.d"
        self.ct.run(["mkdir", "-p", dropin])
        self.ct.run(["sh", "-c", f"printf '[Service]\\nRestartSec=3s\\n' > {dropin}/e2e.conf"])
        self.ct.run(["systemctl", "daemon-reload"])
        pid = self.prop(UNIT, "MainPID")
        restarts = int(self.prop(UNIT, "NRestarts") or 0)
        self.assertNotEqual(pid, "0")
        self.ct.run(["kill", "-KILL", pid])
        deadline = time.monotonic() + 2
        while self.has_our_table():
            self.assertLess(time.monotonic(), deadline,
                            "nft table inet conntracker still there 2 s after kill -9")
            time.sleep(0.05)
        sub = self.prop(UNIT, "SubState")
        self.assertEqual(sub, "auto-restart",
                         f"after kill -9 the unit is {sub!r}, not waiting to restart"
                         + self.diagnose())
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.prop(UNIT, "ActiveState") == "active" and \
                    self.prop(UNIT, "MainPID") not in ("0", pid):
                break
            time.sleep(0.1)
        self.wait_state(UNIT, "active", timeout=1)
        self.assertEqual(int(self.prop(UNIT, "NRestarts")), restarts + 1)
        self.assertTrue(self.has_our_table(), "the restarted daemon has no nft table")
        self.assert_not_degraded_by_us()

    def test_08_security_exposure(self):
        """systemd-analyze security rates the unit no worse than the score
        the docs give (tests/e2e/expected-security-score)."""
        with open(os.path.join(HERE, "expected-security-score")) as f:
            expected = float(next(line for line in f
                                  if line.strip() and not line.startswith("#")).split()[0])
        self.install()
        self.enable_now()
        r = self.run_in(["systemd-analyze", "security", "--no-pager", UNIT])
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
        self.assertIsNotNone(m, f"no exposure level in systemd-analyze output:\n"
                             f"{tail(r.stdout + r.stderr)}")
        score = float(m.group(1))
        log(f"systemd-analyze security {UNIT}: {score} (documented: {expected})")
        self.assertLessEqual(score, expected,
                             f"exposure {score} is worse than the documented {expected}:\n"
                             + "\n".join(line for line in r.stdout.splitlines()
                                         if line.startswith("✗")))


def prepare():
    global ROOTFS, DEB
    DEB = os.environ.get("CONNTRACKER_DEB")
    if not DEB or not os.path.isfile(DEB):
        sys.exit(f"test_e2e: CONNTRACKER_DEB={DEB!r} is not a file; build the package "
                 f"with tests/e2e/build-deb.sh and pass its path")
    DEB = os.path.abspath(DEB)
    ROOTFS = os.environ.get("CONNTRACKER_E2E_ROOTFS")
    if not ROOTFS:
        t0 = time.monotonic()
        r = subprocess.run([os.path.join(HERE, "rootfs.sh"), "--install-prereqs"],
                           stdout=subprocess.PIPE, text=True, timeout=900)
        if r.returncode != 0:
            sys.exit(f"test_e2e: rootfs.sh failed ({r.returncode})")
        ROOTFS = r.stdout.strip().splitlines()[-1]
        log(f"rootfs {ROOTFS} ready in {time.monotonic() - t0:.1f} s")


def main():
    if os.geteuid() != 0:
        print("test_e2e: SKIP: needs root (systemd-nspawn, network namespaces)",
              file=sys.stderr)
        return 77
    prepare()

    def on_term(signum, _frame):
        # meson's timeout: take the containers down before going.
        print(f"test_e2e: signal {signum}: stopping containers", file=sys.stderr)
        stop_all()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    t0 = time.monotonic()
    try:
        prog = unittest.main(argv=[sys.argv[0]] + sys.argv[1:], exit=False, verbosity=2)
    finally:
        stop_all()
    res = prog.result
    failed = len(res.failures) + len(res.errors)
    print(f"e2e: whole run {time.monotonic() - t0:.1f} s", file=sys.stderr)
    print(f"e2e: {res.testsRun - failed - len(res.skipped)} passed, {failed} failed")
    if res.skipped:
        print("e2e: tests were skipped as root: that is a failure", file=sys.stderr)
        return 1
    return 0 if res.wasSuccessful() else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BootError as e:
        print(f"test_e2e: {e}", file=sys.stderr)
        sys.exit(1)
