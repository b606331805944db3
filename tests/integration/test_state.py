#!/usr/bin/python3
"""Flows survive a restart through the state file; a damaged state file is
set aside and the daemon starts anyway; the configuration file is applied,
and a bad value in it stops the start with a message naming the key."""

import glob
import os
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import netns  # noqa: E402
from netns import CLIENT4, SERVER4, TCP_PORT, FlowKey  # noqa: E402

PING = FlowKey("ipv4", 1, CLIENT4, SERVER4, 8, 0)
TCP = FlowKey("ipv4", 6, CLIENT4, SERVER4, 1024, TCP_PORT)


@netns.requires_root
class StateTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        netns.daemon_binary()

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="conntracker-it-")
        self.addCleanup(tmp.cleanup)
        self.workdir = tmp.name
        self.state = os.path.join(self.workdir, "flows.state")
        self.pair = netns.Pair()
        self.addCleanup(self.pair.close)
        self.responder = netns.Responder(self.pair.server)
        self.addCleanup(self.responder.close)

    def daemon(self, *args, name="daemon"):
        d = netns.Daemon(self.pair.server, self.workdir,
                         ["--no-bus", *args], name=name)
        self.addCleanup(d.kill)
        return d.start()

    def test_flows_survive_restart(self):
        first = self.daemon("--state-file", self.state, name="first")
        netns.ping(self.pair.client, SERVER4)
        netns.client_traffic(self.pair.client,
                             [["tcp", SERVER4, TCP_PORT, None]])
        before = netns.parse_json_dump(first.request_dump())
        self.assertLessEqual({PING, TCP}, before.keys())
        code, err = first.stop()
        self.assertEqual(code, 0, err)
        self.assertTrue(os.path.exists(self.state), err)

        # Forget the kernel's entries: only the state file can bring the
        # flows back now.
        self.pair.server.run(["conntrack", "-F"], check=False)
        second = self.daemon("--state-file", self.state, name="second")
        after = netns.parse_json_dump(second.request_dump())
        for key in (PING, TCP):
            self.assertIn(key, after, second.stderr())
            for field in ("id", "first_seen_us", "connections", "confirmed"):
                self.assertEqual(after[key][field], before[key][field],
                                 f"{key} {field}")
            # The entry left the kernel while we were down.
            self.assertEqual(after[key]["active"], 0, key)
        self.assertIn("restored", second.stderr())

    def test_damaged_state_is_set_aside(self):
        with open(self.state, "wb") as f:
            f.write(b"conntrackerd-state-file\n" + os.urandom(300))
        d = self.daemon("--state-file", self.state)
        netns.ping(self.pair.client, SERVER4)
        flows = netns.parse_json_dump(d.request_dump())
        self.assertIn(PING, flows, "the daemon did not record new flows")
        self.assertIn("set it aside", d.stderr())
        aside = glob.glob(self.state + ".bad-*")
        self.assertEqual(len(aside), 1, os.listdir(self.workdir))
        with open(aside[0], "rb") as f:
            self.assertTrue(f.read().startswith(b"conntrackerd-state-file"))
        code, err = d.stop()
        self.assertEqual(code, 0, err)
        # The new state replaces nothing it should not: a fresh, valid file.
        with open(self.state, "rb") as f:
            self.assertTrue(f.read().startswith(b"conntrackerd-state-file"))

    def test_config_file(self):
        conf = os.path.join(self.workdir, "conntrackerd.conf")
        with open(conf, "w") as f:
            f.write("[daemon]\nfold-ports = false\nmax-flows = 50\n")
        d = self.daemon("--config", conf, "--no-state")
        netns.client_traffic(self.pair.client,
                             [["tcp", SERVER4, TCP_PORT, 40123]])
        flows = netns.parse_json_dump(d.request_dump())
        self.assertIn(FlowKey("ipv4", 6, CLIENT4, SERVER4, 40123, TCP_PORT),
                      flows, "fold-ports = false from the file was ignored")

        # The command line wins over the file.
        d.stop()
        d2 = self.daemon("--config", conf, "--no-state", "--no-fold",
                         name="second")
        d2.stop()

        for text, needle in [
                ("[daemon]\nmax-flows = lots\n", "[daemon] max-flows = 'lots'"),
                ("[daemon]\nmax-flow = 5\n", "unknown key 'max-flow'"),
                ("[trace]\nmode = sometimes\n", "off, new or all"),
                ("[nope]\n", "unknown group [nope]"),
                ("not a key file", conf)]:
            with open(conf, "w") as f:
                f.write(text)
            proc = self.pair.server.run(
                [netns.daemon_binary(), "--no-bus", "--config", conf],
                check=False, timeout=10)
            self.assertEqual(proc.returncode, 2, (text, proc.stderr))
            self.assertIn(needle, proc.stderr, text)
            self.assertIn(conf, proc.stderr)


if __name__ == "__main__":
    netns.main()
