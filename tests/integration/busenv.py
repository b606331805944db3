#!/usr/bin/python3
"""Fixtures for the D-Bus side of conntrackerd's integration tests: a private
system bus, a real polkitd (or python3-dbusmock's polkitd template) on it, and
unprivileged users to call the service as.

Everything here needs root, and nothing touches the host's bus or polkit:

- The bus is a dbus-daemon of type "system" with a configuration generated
  from data/system-bus.conf.in: Debian's default policy (method calls denied
  unless a service's configuration allows them) plus the project's own
  data/dbus/org.conntracker.conf and polkit's bus configuration. It listens
  on a socket in the test's directory; DBUS_SYSTEM_BUS_ADDRESS points every
  process of the test (daemon, polkitd, clients) at it.
- polkitd starts as root and switches to user polkitd by itself (as on a
  host), in a private mount namespace
  (unshare --mount --propagation private) where temporary directories are
  bind-mounted over /usr/share/polkit-1/actions, /etc/polkit-1/rules.d and
  /usr/share/polkit-1/rules.d: it sees the project's built .policy file and
  the rules the test gives it, and nothing of the host's.

HOST CHANGES: ensure_test_users() creates, when absent, the group
`conntracker` and the system users `ct-test-member` (in that group) and
`ct-test-outsider` (not in it), without home directories or login shells.
They are left in place (idempotent; other runs reuse them).

Python 3 standard library only (helpers that need GLib run `python3 -c`
snippets with python3-gi). Every wait is bounded in time.
"""

import grp
import json
import os
import pwd
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
import netns  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(HERE, "data")

GROUP = "conntracker"
MEMBER = "ct-test-member"
OUTSIDER = "ct-test-outsider"

BUS_NAME = "org.conntracker"
OBJECT_PATH = "/org/conntracker/Flows"
INTERFACE = "org.conntracker.Flows"
ACTIONS = ("org.conntracker.read", "org.conntracker.reset",
           "org.conntracker.trace")

POLKITD = "/usr/lib/polkit-1/polkitd"
POLKIT_BUS_CONF = "/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf"
# polkitd's compiled-in search paths, which we hide behind bind mounts.
POLKIT_ACTIONS_DIR = "/usr/share/polkit-1/actions"
POLKIT_RULES_DIRS = ("/etc/polkit-1/rules.d", "/usr/share/polkit-1/rules.d")

# conntrackerctl's exit codes (conntrackerctl(1)).
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_DENIED, \
    EXIT_NO_SUCH_FLOW = range(6)


def not_root_exit():
    """Call at module start: meson counts exit 77 as SKIP."""
    if os.geteuid() != 0:
        print("skipped: these tests need root (network namespaces, a "
              "private system bus, polkitd in a private mount namespace, "
              "test users)", file=sys.stderr)
        sys.exit(77)


# --- paths of the things under test -----------------------------------------

def _from_env(var, *candidates, what):
    """$var if set, else the first existing candidate; fails clearly."""
    value = os.environ.get(var)
    if value:
        if not os.path.exists(value):
            raise RuntimeError(f"{var}={value} does not exist")
        return value
    for path in candidates:
        if os.path.exists(path):
            return path
    raise RuntimeError(f"{what} not found: set {var} (meson test does); "
                       f"looked at {', '.join(candidates)}")


def ctl_binary():
    """The client under test, from $CONNTRACKERCTL (meson passes it)."""
    path = _from_env("CONNTRACKERCTL",
                     os.path.join(SOURCE_ROOT, "build", "src", "client",
                                  "conntrackerctl"),
                     what="conntrackerctl")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is not executable")
    return path


def dbus_conf():
    """The project's bus policy (the installed file, as built or as is)."""
    return _from_env("CONNTRACKER_DBUS_CONF",
                     os.path.join(SOURCE_ROOT, "build", "data", "dbus",
                                  "org.conntracker.conf"),
                     os.path.join(SOURCE_ROOT, "data", "dbus",
                                  "org.conntracker.conf"),
                     what="org.conntracker.conf")


def polkit_policy():
    """The project's polkit actions, as built (messages merged from po/)."""
    return _from_env("CONNTRACKER_POLKIT_POLICY",
                     os.path.join(SOURCE_ROOT, "build", "data",
                                  "org.conntracker.policy"),
                     os.path.join(SOURCE_ROOT, "build", "data", "polkit",
                                  "org.conntracker.policy"),
                     what="the built org.conntracker.policy")


def polkit_rules():
    """The project's rules file: reading for the conntracker group."""
    return _from_env("CONNTRACKER_POLKIT_RULES",
                     os.path.join(SOURCE_ROOT, "data", "polkit",
                                  "50-conntracker-group.rules"),
                     what="50-conntracker-group.rules")


# --- users ------------------------------------------------------------------

def _exists(getter, name):
    try:
        getter(name)
        return True
    except KeyError:
        return False


def ensure_test_users():
    """Creates the group and the two test users when absent (see the module
    docstring); checks the membership either way."""
    if not _exists(grp.getgrnam, GROUP):
        netns.run(["groupadd", "--system", GROUP])
    for user, groups in ((MEMBER, [GROUP]), (OUTSIDER, [])):
        if not _exists(pwd.getpwnam, user):
            argv = ["useradd", "--system", "--no-create-home",
                    "--home-dir", "/nonexistent",
                    "--shell", "/usr/sbin/nologin", "--user-group"]
            if groups:
                argv += ["--groups", ",".join(groups)]
            netns.run(argv + [user])
    members = grp.getgrnam(GROUP).gr_mem
    if MEMBER not in members:
        netns.run(["usermod", "--append", "--groups", GROUP, MEMBER])
    if OUTSIDER in members:
        raise RuntimeError(f"{OUTSIDER} is in group {GROUP}: remove it "
                           f"(gpasswd -d {OUTSIDER} {GROUP})")


def as_user(user, argv):
    """argv run as user (uid, primary gid, supplementary groups), keeping the
    environment (DBUS_SYSTEM_BUS_ADDRESS)."""
    if user in (None, "root"):
        return list(argv)
    gid = pwd.getpwnam(user).pw_gid
    return ["setpriv", f"--reuid={user}", f"--regid={gid}", "--init-groups",
            "--", *argv]


def user_env(extra=None):
    """The environment for client commands: the private bus only."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DBUS_SESSION", "XDG_RUNTIME"))}
    env["HOME"] = "/nonexistent"
    env["LC_ALL"] = "C.UTF-8"
    env.pop("LANGUAGE", None)
    if extra:
        env.update(extra)
    return env


def run_as(user, argv, *, timeout=15, input=None, env=None):
    """Runs argv as user; returns the CompletedProcess (never raises on the
    exit code, raises subprocess.TimeoutExpired with the output so far)."""
    return subprocess.run(as_user(user, argv), input=input,
                          capture_output=True, text=True, timeout=timeout,
                          env=env or user_env(), check=False)


def ctl(user, *args, timeout=30, env=None):
    """conntrackerctl ARGS as user."""
    return run_as(user, [ctl_binary(), *args], timeout=timeout, env=env)


def spawn(test, user, argv, env=None, stdin=subprocess.DEVNULL):
    """Starts argv as user with stdout and stderr piped (text); killed and
    its pipes closed at test cleanup."""
    proc = subprocess.Popen(as_user(user, argv), stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env or user_env())

    def reap():
        _kill(proc, signal.SIGKILL)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    test.addCleanup(reap)
    return proc


def describe(p):
    """A CompletedProcess, for assertion messages."""
    argv = p.args if isinstance(p.args, list) else [p.args]
    return (f"`{shlex.join(map(str, argv))}` exited {p.returncode}\n"
            f"stdout: {p.stdout[-3000:]!s}\nstderr: {p.stderr[-3000:]!s}")


def _kill(proc, sig=signal.SIGTERM):
    netns._kill(proc, sig)


def _make_dir(path, mode=0o755):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)
    return path


# --- the private system bus -------------------------------------------------

class SystemBus:
    """dbus-daemon --system-like on a socket in workdir. While it runs,
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] is its address, so every child
    process (the daemon in its namespace, polkitd, clients) uses it."""

    def __init__(self, workdir, includes=None):
        # Unprivileged test users and polkitd must reach the socket.
        os.chmod(workdir, 0o755)
        self.dir = _make_dir(os.path.join(workdir, "bus"))
        self.socket = os.path.join(self.dir, "system_bus_socket")
        if includes is None:
            includes = [POLKIT_BUS_CONF, dbus_conf()]
        with open(os.path.join(DATA, "system-bus.conf.in")) as f:
            template = f.read()
        lines = "\n".join(f"  <include>{p}</include>" for p in includes)
        self.config = os.path.join(self.dir, "system-bus.conf")
        with open(self.config, "w") as f:
            f.write(template.replace("@SOCKET@", self.socket)
                    .replace("@INCLUDES@", lines))
        self.log_path = os.path.join(self.dir, "dbus-daemon.log")
        self._saved_env = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                ["dbus-daemon", f"--config-file={self.config}", "--nofork",
                 "--print-address=1"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=log, text=True)
        r, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline().strip() if r else ""
        if not line.startswith("unix:"):
            self.close()
            raise AssertionError(f"dbus-daemon did not start ({line!r}); "
                                 f"log:\n{self.log()}")
        self.address = line
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self.address

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def busctl(self, *args, user=None, timeout=15):
        return run_as(user, ["busctl", f"--address={self.address}",
                             *args], timeout=timeout)

    def name_has_owner(self, name):
        p = self.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                        "org.freedesktop.DBus", "NameHasOwner", "s", name)
        return p.returncode == 0 and p.stdout.strip() == "b true"

    def wait_for_name(self, name, proc=None, timeout=10):
        """Waits until name is owned; fails early when proc exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.name_has_owner(name):
                return
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{name} did not appear on the private bus "
                             f"within {timeout} s; bus log:\n{self.log()}")

    def close(self):
        if getattr(self, "proc", None) is not None:
            _kill(self.proc)
            self.proc.stdout.close()
            self.proc = None
        if os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") == getattr(
                self, "address", None):
            if self._saved_env is None:
                os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
            else:
                os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self._saved_env


# --- real polkitd -----------------------------------------------------------

# Runs as root in the new mount namespace: hides the host's polkit
# configuration behind ours, then execs polkitd, so the Popen's pid is
# polkitd's.
_POLKITD_WRAPPER = r"""
set -e
mount --bind "$1" "$4"
mount --bind "$2" "$5"
mount --bind "$3" "$6"
shift 6
exec "$@"
"""


class Polkitd:
    """The real polkitd on bus, with the given .policy files as its only
    actions and the given rules files as its only rules. Rules can be added
    and removed while it runs (polkitd watches its rules directories)."""

    def __init__(self, bus, workdir, policies=None, rules=None):
        self.bus = bus
        base = _make_dir(os.path.join(workdir, "polkit"))
        self.actions_dir = _make_dir(os.path.join(base, "actions"))
        self.rules_dir = _make_dir(os.path.join(base, "rules.d"))
        self.empty_dir = _make_dir(os.path.join(base, "empty"))
        for path in policies if policies is not None else [polkit_policy()]:
            shutil.copy(path, self.actions_dir)
        for path in rules if rules is not None else [polkit_rules()]:
            shutil.copy(path, self.rules_dir)
        for d in (self.actions_dir, self.rules_dir):
            for name in os.listdir(d):
                os.chmod(os.path.join(d, name), 0o644)
        self.log_path = os.path.join(base, "polkitd.log")
        argv = [POLKITD, "--no-debug"]  # becomes user polkitd by itself
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--",
                 "sh", "-c", _POLKITD_WRAPPER, "polkitd-wrapper",
                 self.actions_dir, self.rules_dir, self.empty_dir,
                 POLKIT_ACTIONS_DIR, *POLKIT_RULES_DIRS, *argv],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            bus.wait_for_name("org.freedesktop.PolicyKit1", self.proc)
            # It really loaded the given actions (and no host's).
            want = set()
            for name in os.listdir(self.actions_dir):
                with open(os.path.join(self.actions_dir, name)) as f:
                    want |= set(re.findall(r'<action id="([^"]+)"', f.read()))
            got = netns.wait_until(lambda: self.action_ids() == want and want,
                                   10, 0.1)
            if not got:
                raise AssertionError(f"polkitd knows {self.action_ids()}, "
                                     f"not the actions {want}")
        except AssertionError as e:
            self.close()
            raise AssertionError(f"{e}\npolkitd log:\n{self.log()}") from None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def action_ids(self):
        """The actions polkitd knows (pkaction on the private bus)."""
        p = run_as(None, ["pkaction"])
        if p.returncode != 0:
            raise AssertionError(describe(p) + "\npolkitd log:\n" + self.log())
        return set(p.stdout.split())

    def action_details(self, action_id):
        p = run_as(None, ["pkaction", "--verbose", "--action-id", action_id])
        if p.returncode != 0:
            raise AssertionError(describe(p))
        return p.stdout

    def check(self, action_id, user):
        """polkit's decision for a process of user (pkcheck, as root, for a
        process running as user): True when authorized without a challenge.
        """
        # Wait until the process runs as user (setpriv has switched) before
        # asking: a process that is still root is authorized.
        sleeper = subprocess.Popen(
            as_user(user, ["sh", "-c", "echo up; exec sleep 30"]),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        try:
            r, _, _ = select.select([sleeper.stdout], [], [], 10)
            if not r or sleeper.stdout.readline().strip() != "up":
                raise AssertionError(f"a process as {user} did not start")
            p = run_as(None, ["pkcheck", "--action-id", action_id,
                              "--process", str(sleeper.pid)])
        finally:
            _kill(sleeper, signal.SIGKILL)
            sleeper.stdout.close()
        if p.returncode not in (0, 1, 2):
            raise AssertionError(describe(p) + "\npolkitd log:\n" + self.log())
        return p.returncode == 0

    def wait_decision(self, action_id, user, allowed, timeout=10):
        """Waits until polkitd decides as expected (after a rules change it
        reloads asynchronously); fails otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.check(action_id, user)
            if got == allowed:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"polkitd still says {'yes' if got else 'no'} to "
                    f"{action_id} for {user} after {timeout} s; log:\n"
                    f"{self.log()}")
            time.sleep(0.2)

    def add_rules(self, path, name=None):
        """Adds a rules file (atomically: polkitd never reads half of it)."""
        name = name or os.path.basename(path)
        tmp = os.path.join(self.rules_dir, f".{name}.tmp")
        shutil.copy(path, tmp)
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(self.rules_dir, name))

    def remove_rules(self, name):
        try:
            os.unlink(os.path.join(self.rules_dir, name))
        except FileNotFoundError:
            pass

    def close(self):
        if getattr(self, "proc", None) is not None:
            _kill(self.proc)
            self.proc = None


# --- python3-dbusmock's polkitd ---------------------------------------------

MOCK_IFACE = "org.freedesktop.DBus.Mock"
POLKIT_PATH = "/org/freedesktop/PolicyKit1/Authority"


class MockPolkitd:
    """python3-dbusmock's polkitd template on bus (as user polkitd, whose
    bus policy allows owning org.freedesktop.PolicyKit1). Its decisions
    ignore the subject; use it only where real polkitd cannot serve (it
    cannot be made to hang)."""

    def __init__(self, bus, workdir, user="polkitd"):
        self.bus = bus
        self.log_path = os.path.join(workdir, "dbusmock-polkitd.log")
        argv = ["/usr/bin/python3", "-m", "dbusmock", "--template",
                "polkitd", "--system"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                as_user(user, argv), stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, env=user_env({"PYTHONDONTWRITEBYTECODE": "1"}))
        try:
            bus.wait_for_name("org.freedesktop.PolicyKit1", self.proc)
        except AssertionError as e:
            self.close()
            raise AssertionError(f"{e}\ndbusmock log:\n{self.log()}") from None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def mock_call(self, method, signature="", *args):
        p = self.bus.busctl("call", "org.freedesktop.PolicyKit1", POLKIT_PATH,
                            MOCK_IFACE, method, *([signature] if signature
                                                  else []), *map(str, args))
        if p.returncode != 0:
            raise AssertionError(describe(p) + "\ndbusmock log:\n" +
                                 self.log())
        return p.stdout.strip()

    def set_allowed(self, actions):
        self.mock_call("SetAllowed", "as", len(actions), *actions)

    def simulate_hang(self, hang):
        self.mock_call("SimulateHang", "b", "true" if hang else "false")

    def have_hanging_calls(self):
        return self.mock_call("HaveHangingCalls") == "b true"

    def release_hanging_calls(self):
        self.mock_call("ReleaseHangingCalls")

    def close(self):
        if getattr(self, "proc", None) is not None:
            _kill(self.proc)
            self.proc = None


# --- the daemon on the bus --------------------------------------------------

def start_daemon(test, ns, workdir, bus, args=(), name="daemon"):
    """conntrackerd in ns (netns.Daemon: waits for READY=1), then waits for
    it to own org.conntracker on the private bus. Killed at test cleanup."""
    daemon = netns.Daemon(ns, workdir, args, "json", name)
    test.addCleanup(daemon.kill)
    daemon.start()
    try:
        bus.wait_for_name(BUS_NAME, daemon.proc)
    except AssertionError as e:
        raise AssertionError(f"{e}\nconntrackerd stderr:\n"
                             f"{daemon.stderr()}") from None
    return daemon


def get_property(bus, name, user=None):
    """A property of the service through busctl, as (signature, text)."""
    p = bus.busctl("get-property", BUS_NAME, OBJECT_PATH, INTERFACE, name,
                   user=user)
    if p.returncode != 0:
        raise AssertionError(describe(p))
    sig, _, value = p.stdout.strip().partition(" ")
    return sig, value


def call(bus, method, signature="", *args, user=None, timeout=15):
    """busctl call on the service (JSON output); the CompletedProcess."""
    return bus.busctl("--json=short", "call", BUS_NAME, OBJECT_PATH,
                      INTERFACE, method,
                      *([signature] if signature else []), *map(str, args),
                      user=user, timeout=timeout)


# --- raw calls through GDBus, with error names and fd passing ---------------

# The interpreter with python3-gi (and python3-dbusmock) for helper snippets
# and the example; the tests themselves need only the standard library.
GI_PYTHON = os.environ.get("CONNTRACKER_GI_PYTHON", "/usr/bin/python3")

# Calls one method on the service and prints a JSON object: "reply" (the
# out arguments, unpacked) or "error" (the D-Bus error name) and "message";
# with an fd, "data" (what was read from the pipe) or "data_error", and the
# fd's file status flags before and after the call. The fd modes: "pipe" (we
# read it while the call runs), "pipe-closed" (our read end is closed before
# the call), "socket" and "socket-closed" (the same with a socketpair),
# "readonly" (a read-only file), "file:PATH" (opened for writing,
# truncated).
_GCALL = r"""
import json, os, sys, threading, time
from gi.repository import Gio, GLib
req = json.load(sys.stdin)
bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
params = None
if req["signature"]:
    params = GLib.Variant.parse(GLib.VariantType.new(req["signature"]),
                                req["args"], None, None)
fd_list, reader, chunks, result = None, None, [], {}
mode = req.get("fd")
if mode:
    fd_list = Gio.UnixFDList.new()
    if mode in ("pipe", "pipe-closed", "socket", "socket-closed"):
        if mode.startswith("socket"):
            import socket
            a, b = socket.socketpair()
            r, w = b.detach(), a.detach()
        else:
            r, w = os.pipe()
        if mode.endswith("-closed"):
            os.close(r)
        else:
            def read():
                while True:
                    b = os.read(r, 1 << 16)
                    if not b:
                        break
                    chunks.append(b)
                os.close(r)
            reader = threading.Thread(target=read, daemon=True)
            reader.start()
        fd = w
    elif mode == "readonly":
        fd = os.open(req["readonly_path"], os.O_RDONLY)
    elif mode.startswith("file:"):
        fd = os.open(mode[5:], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    import fcntl
    result["fd_flags_before"] = fcntl.fcntl(fd, fcntl.F_GETFL)
    fd_list.append(fd)
    os.close(fd)  # the list holds a duplicate; keep no write end ourselves
flags = Gio.DBusCallFlags.NONE
if req.get("interactive"):
    flags = Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION
def call():
    result = {}
    start = time.monotonic()
    try:
        reply, _ = bus.call_with_unix_fd_list_sync(
            req["dest"], req["path"], req["iface"], req["method"], params,
            None, flags, int(req["timeout"] * 1000), fd_list, None)
        result["reply"] = reply.unpack() if reply is not None else None
    except GLib.Error as e:
        name = Gio.DBusError.get_remote_error(e)
        result["error"] = name
        prefix = f"GDBus.Error:{name}: "
        result["message"] = e.message[len(prefix):] if name and \
            e.message.startswith(prefix) else e.message
    result["seconds"] = time.monotonic() - start
    return result
before = result
if req["repeat"] > 1:  # on one connection
    result = {"results": [call() for _ in range(req["repeat"])]}
else:
    result = call()
result.update(before)
if fd_list is not None:
    import fcntl
    fds = fd_list.steal_fds()  # our last copy of what we passed
    # The file status flags we see now on the open file description we
    # shared (the daemon must not have changed them under us).
    result["fd_flags_after"] = fcntl.fcntl(fds[0], fcntl.F_GETFL)
    for f in fds:
        os.close(f)
if reader is not None:
    reader.join(10)
    if reader.is_alive():
        result["data_error"] = "the pipe was not closed within 10 s"
    result["data"] = b"".join(chunks).decode("utf-8", "replace")
print(json.dumps(result, default=str))
"""


class GCallResult(dict):
    @property
    def error(self):
        return self.get("error")

    @property
    def reply(self):
        return self.get("reply")


def gcall(method, signature="", args="", *, user=None, fd=None,
          interactive=False, timeout=20, dest=BUS_NAME, path=OBJECT_PATH,
          iface=INTERFACE, readonly_path="/etc/hostname", repeat=1):
    """One method call through GDBus as user; args in GVariant text format
    for signature (e.g. "({'limit': <uint32 5>},)" for "(a{sv})"). Returns
    a GCallResult; raises when the helper itself failed. With repeat > 1
    (and no fd), the same call that many times on one connection: the
    results are in result["results"]."""
    req = {"dest": dest, "path": path, "iface": iface, "method": method,
           "signature": signature, "args": args, "fd": fd,
           "interactive": interactive, "timeout": timeout,
           "readonly_path": readonly_path, "repeat": repeat}
    p = run_as(user, [GI_PYTHON, "-c", _GCALL], input=json.dumps(req),
               timeout=timeout + 15)
    if p.returncode != 0:
        raise AssertionError(f"the GDBus helper failed calling {method}: "
                             + describe(p))
    try:
        return GCallResult(json.loads(p.stdout))
    except ValueError:
        raise AssertionError(f"the GDBus helper printed no JSON: "
                             f"{describe(p)}") from None


# --- flows as the service shows them ----------------------------------------

def normalize_flow(d):
    """A flow dictionary (ListFlows/GetFlow unpacked, or a JSON line of
    DumpFlows/conntrackerctl) as the object netns.compare_flows() takes:
    "_" for "-" in keys, NAT as {"addr", "port"}, the protocol in upper
    case as the file dump writes it."""
    o = {k.replace("-", "_"): v for k, v in d.items()}
    for nat in ("dnat", "snat"):
        if f"{nat}_addr" in o:
            o[nat] = {"addr": o[f"{nat}_addr"], "port": o.get(f"{nat}_port")}
    if isinstance(o.get("protocol"), str):
        o["protocol"] = o["protocol"].upper()
    return o


def flows_by_key(dicts, what="flows"):
    """{FlowKey: normalized flow}; fails on a flow without a key or two
    flows with one key."""
    flows = {}
    for d in dicts:
        o = normalize_flow(d)
        try:
            key = netns.json_flow_key(o)
        except (KeyError, TypeError) as e:
            raise AssertionError(f"{what}: a flow without {e}: {d!r}") \
                from None
        if key in flows:
            raise AssertionError(f"{what}: two flows for {key}:\n"
                                 f"{flows[key]!r}\n{d!r}")
        flows[key] = o
    return flows


def json_lines(text, what="output"):
    """Every non-empty line parsed as JSON; fails naming the bad line."""
    objs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            objs.append(json.loads(line))
        except ValueError as e:
            raise AssertionError(f"{what}: line {n} is not JSON ({e}): "
                                 f"{line[:300]!r}") from None
    return objs


def parse_json_output(text, what="output"):
    """conntrackerctl --json output: one JSON document (an array of flows,
    or an object holding one), or JSON lines. Returns the list of flows."""
    try:
        doc = json.loads(text)
    except ValueError:
        return json_lines(text, what)
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        if isinstance(doc.get("flows"), list):
            return doc["flows"]
        if "id" in doc:
            return [doc]
    raise AssertionError(f"{what}: unexpected JSON shape: {text[:300]!r}")


# --- everything together ----------------------------------------------------

class ServiceEnv:
    """A test's world: a work directory, the private bus, polkit ("real"
    polkitd with the project's policy and rules, "mock" dbusmock, or None),
    a client/server namespace pair with a responder, and conntrackerd in the
    server namespace on the bus. cleanup is addCleanup/addClassCleanup:
    everything started is registered there at once, so a failing setup
    still tears down what it started."""

    def __init__(self, cleanup, polkit="real", daemon_args=(),
                 recorder=False, start_daemon=True):
        ensure_test_users()
        tmp = tempfile.TemporaryDirectory(prefix="conntracker-bus-")
        cleanup(tmp.cleanup)
        self.workdir = tmp.name
        self.bus = SystemBus(self.workdir)
        cleanup(self.bus.close)
        self.polkit = None
        if polkit == "real":
            self.polkit = Polkitd(self.bus, self.workdir)
            cleanup(self.polkit.close)
        elif polkit == "mock":
            self.polkit = MockPolkitd(self.bus, self.workdir)
            cleanup(self.polkit.close)
        self.pair = netns.Pair()
        cleanup(self.pair.close)
        self.client, self.server = self.pair.client, self.pair.server
        self.responder = netns.Responder(self.server)
        cleanup(self.responder.close)
        self.recorder = None
        if recorder:
            self.recorder = netns.EventRecorder(self.server, self.workdir)
            cleanup(self.recorder.close)
        self._cleanup = cleanup
        self.daemon = None
        if start_daemon:
            self.start_daemon(*daemon_args)

    def start_daemon(self, *args, name="daemon"):
        daemon = netns.Daemon(self.server, self.workdir, args, "json", name)
        self._cleanup(daemon.kill)
        daemon.start()
        try:
            self.bus.wait_for_name(BUS_NAME, daemon.proc)
        except AssertionError as e:
            raise AssertionError(f"{e}\nconntrackerd stderr:\n"
                                 f"{daemon.stderr()}") from None
        self.daemon = daemon
        return daemon

    def flow_count(self):
        sig, value = get_property(self.bus, "FlowCount")
        assert sig == "u", (sig, value)
        return int(value)

    def wait_flow_count(self, want, timeout=10):
        """Waits until FlowCount == want; True if it came."""
        return netns.wait_until(lambda: self.flow_count() == want, timeout,
                                0.1)

    def assert_alive(self, test, context="", user=None):
        """The daemon still runs and answers ListFlows (as root by default:
        no polkit involved)."""
        test.assertTrue(self.daemon.running(),
                        f"conntrackerd died {context}; stderr:\n"
                        f"{self.daemon.stderr()[-3000:]}")
        r = gcall("ListFlows", "(a{sv})", "({'limit': <uint32 1>},)",
                  user=user)
        test.assertIsNone(r.error, f"conntrackerd does not answer {context}:"
                          f" {r!r}")
