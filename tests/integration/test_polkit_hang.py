#!/usr/bin/python3
"""conntrackerd asks polkit asynchronously: while an authorization hangs,
everyone else is still served, and the hanging call completes once polkit
answers. Also: no polkitd means deny for everyone but root.

polkit here is python3-dbusmock's polkitd template, ONLY because the real
polkitd cannot be made to hang on demand (SimulateHang). The mock ignores
who asks and never challenges, so real decisions are tested against the
real polkitd in test_dbus.py.

Needs root. Creates the users ct-test-member and ct-test-outsider and the
group conntracker when absent (see busenv.py).
"""

import os
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
import busenv  # noqa: E402
import netns  # noqa: E402
from busenv import MEMBER, OUTSIDER, ctl, describe, gcall  # noqa: E402
from netns import CLIENT4, ECHO_PORT, SERVER4  # noqa: E402

busenv.not_root_exit()

READ = "org.conntracker.read"
# A blocked main loop never answers while polkit hangs, so any bound shows
# it; this one is generous for slow CI machines. The time taken is printed.
ANSWER_BOUND = 5


@netns.requires_root
class PolkitHang(unittest.TestCase):

    def setUp(self):
        self.env = busenv.ServiceEnv(self.addCleanup, polkit="mock")
        self.mock = self.env.polkit
        netns.client_traffic(self.env.client,
                             [["udp", SERVER4, ECHO_PORT, None, True]])
        self.assertTrue(self.env.wait_flow_count(1),
                        f"FlowCount {self.env.flow_count()}")

    def start_hanging_list(self):
        """`conntrackerctl list --json` as the member, stuck in polkit."""
        self.mock.set_allowed([READ])
        self.mock.simulate_hang(True)
        proc = busenv.spawn(self, MEMBER,
                            [busenv.ctl_binary(), "list", "--json"])
        hanging = netns.wait_until(self.mock.have_hanging_calls, 10, 0.05)
        self.assertTrue(hanging, "the daemon never asked polkit; client "
                        f"exit {proc.poll()}")
        self.assertIsNone(proc.poll(), "the client did not wait for polkit")
        return proc

    def timed(self, what, fn):
        start = time.monotonic()
        try:
            result = fn()
        except subprocess.TimeoutExpired:
            self.fail(f"{what}: no answer within {ANSWER_BOUND} s while "
                      "polkit hangs: the daemon's main loop is blocked")
        took = time.monotonic() - start
        print(f"{what}: answered in {took:.3f} s while polkit hangs",
              file=sys.stderr)
        return result

    def test_others_are_served_while_polkit_hangs(self):
        proc = self.start_hanging_list()

        # A property needs no authorization.
        p = self.timed("FlowCount as the outsider", lambda: self.env.bus.busctl(
            "get-property", busenv.BUS_NAME, busenv.OBJECT_PATH,
            busenv.INTERFACE, "FlowCount", user=OUTSIDER,
            timeout=ANSWER_BOUND))
        self.assertEqual(p.returncode, 0, describe(p))
        self.assertEqual(p.stdout.strip(), "u 1")
        # root short-circuits polkit.
        p = self.timed("list as root", lambda: ctl(None, "list", "--json",
                                                   timeout=ANSWER_BOUND))
        self.assertEqual(p.returncode, 0, describe(p))
        self.assertIn(CLIENT4, p.stdout)
        # Introspection is served by GDBus on the same loop.
        p = self.timed("introspection", lambda: self.env.bus.busctl(
            "introspect", busenv.BUS_NAME, busenv.OBJECT_PATH,
            user=OUTSIDER, timeout=ANSWER_BOUND))
        self.assertEqual(p.returncode, 0, describe(p))

        # Still hanging: the answers above did not come from polkit.
        self.assertTrue(self.mock.have_hanging_calls())
        self.assertIsNone(proc.poll(), "the member's call ended early")

        # Stop hanging first: the client may need more than one call.
        self.mock.simulate_hang(False)
        self.mock.release_hanging_calls()
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("the member's call did not complete once polkit "
                      "answered")
        self.assertEqual(proc.returncode, 0, f"stdout: {out}\nstderr: {err}")
        flows = busenv.parse_json_output(out)
        self.assertEqual(len(flows), 1, out)
        self.assertEqual(flows[0]["src"], CLIENT4)

    def test_two_callers_hang_independently(self):
        first = self.start_hanging_list()
        # A second unprivileged caller also waits, and neither blocks a
        # root call.
        r2 = busenv.spawn(self, OUTSIDER, [busenv.ctl_binary(), "list"])
        time.sleep(0.3)
        p = self.timed("list as root", lambda: ctl(None, "list",
                                                   timeout=ANSWER_BOUND))
        self.assertEqual(p.returncode, 0, describe(p))
        self.assertIsNone(first.poll())
        self.assertIsNone(r2.poll())
        self.mock.simulate_hang(False)
        self.mock.release_hanging_calls()
        for proc in (first, r2):
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.fail("a call did not complete once polkit answered")
            # The mock allows read for anyone (it ignores the subject).
            self.assertEqual(proc.returncode, 0)

    def test_caller_gone_while_polkit_hangs(self):
        proc = self.start_hanging_list()
        netns._kill(proc)
        self.mock.simulate_hang(False)
        self.mock.release_hanging_calls()
        # Answering a caller that left must not hurt the daemon.
        time.sleep(0.5)
        self.env.assert_alive(self, "after answering a vanished caller")
        p = ctl(MEMBER, "list")
        self.assertEqual(p.returncode, 0, describe(p))

    def test_denied_by_polkit(self):
        self.mock.set_allowed([])
        p = ctl(MEMBER, "list")
        self.assertEqual(p.returncode, busenv.EXIT_DENIED, describe(p))
        r = gcall("ListFlows", "(a{sv})", "({},)", user=MEMBER)
        self.assertEqual(r.error, "org.conntracker.Error.NotAuthorized", r)

    def test_no_polkitd_denies_all_but_root(self):
        self.mock.close()
        self.assertFalse(self.env.bus.name_has_owner(
            "org.freedesktop.PolicyKit1"))
        for user in (MEMBER, OUTSIDER):
            with self.subTest(user=user):
                try:
                    p = ctl(user, "list", timeout=30)
                except subprocess.TimeoutExpired:
                    self.fail(f"list as {user} without polkitd: no answer")
                self.assertEqual(p.returncode, busenv.EXIT_DENIED,
                                 describe(p))
        p = ctl(None, "list")
        self.assertEqual(p.returncode, 0, describe(p))
        self.env.assert_alive(self, "without polkitd")

        # polkitd comes back (say, restarted by an upgrade): the daemon
        # asks the new one.
        mock = busenv.MockPolkitd(self.env.bus, self.env.workdir)
        self.addCleanup(mock.close)
        mock.set_allowed([READ])
        p = ctl(MEMBER, "list")
        self.assertEqual(p.returncode, 0, describe(p))


    def test_daemon_gone(self):
        """Not polkit, but the other half of "who answers": with no daemon
        on the bus, clients say so (exit status 3), the example too."""
        self.env.daemon.kill()
        self.assertTrue(netns.wait_until(
            lambda: not self.env.bus.name_has_owner(busenv.BUS_NAME), 5))
        p = ctl(MEMBER, "list")
        self.assertEqual(p.returncode, busenv.EXIT_UNREACHABLE, describe(p))
        self.assertTrue(p.stderr.strip(), describe(p))
        example = os.path.join(
            os.environ.get("CONNTRACKER_EXAMPLES",
                           os.path.join(busenv.SOURCE_ROOT, "examples")),
            "list_and_watch.py")
        p = busenv.run_as(MEMBER, [busenv.GI_PYTHON, example, "--seconds",
                                   "1"])
        self.assertEqual(p.returncode, busenv.EXIT_UNREACHABLE, describe(p))
        self.assertIn("not running", p.stderr, describe(p))


if __name__ == "__main__":
    netns.main()
