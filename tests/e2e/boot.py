"""boot.py — boots the e2e rootfs with systemd as PID 1 in systemd-nspawn,
inside a network namespace joined by veth to a peer namespace.

    with Container(rootfs, binds={"/srv/e2e": dir}) as ct:
        ct.run(["systemctl", "is-active", "dbus"])      # nsenter -a
        ct.run_unit(["nft", "list", "ruleset"])         # systemd-run --pipe
        ct.peer(["ping", "-c1", CONTAINER4])            # in the peer netns

The host is not PID 1 here (no machined, no transient scopes), so the
container gets a cgroup we make ourselves in each hierarchy nspawn looks at
(the v1 name=systemd one and the unified one), nspawn is started inside it,
and at the end anything still in it is killed through it: nothing we start
outlives the fixture, also when a test fails. Every wait is bounded.

Run as a script it boots, prints what is failed or degraded, and stops:
    python3 boot.py ROOTFS
"""

import os
import re
import signal
import stat
import subprocess
import sys
import time

PEER4, CONTAINER4 = "10.215.0.1", "10.215.0.2"
PEER6, CONTAINER6 = "fd00:215::1", "fd00:215::2"
PREFIX4, PREFIX6 = 24, 64

CGROUP_ROOTS = ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/sys/fs/cgroup")
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BootError(RuntimeError):
    pass


def log(msg):
    print(f"[e2e {time.monotonic():9.3f}] {msg}", file=sys.stderr, flush=True)


def _become_subreaper():
    """Orphans of our children (what nsenter forked into the container,
    once nsenter is killed) come to us, so sh() can reap them; left to the
    host's init they stay zombies in the container's pid namespace, and its
    shutdown waits for them."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _pgrp_members(pgid):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def _reap(pids, timeout=3):
    pending = set(pids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    pending.discard(pid)
            except ChildProcessError:  # not ours (yet), or gone
                if not os.path.exists(f"/proc/{pid}"):
                    pending.discard(pid)
        time.sleep(0.02)


def sh(argv, check=True, timeout=30, input=None):
    """Runs argv, bounded. On timeout the whole process group goes, and is
    reaped: what nsenter forked into the container would otherwise live on
    there."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        members = _pgrp_members(p.pid)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.communicate()
        _reap([pid for pid in members if pid != p.pid])
        raise
    r = subprocess.CompletedProcess(argv, p.returncode, out, err)
    if check and r.returncode != 0:
        raise BootError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
    return r


def _cgroup_dirs(name):
    """Where our cgroup goes: every mounted hierarchy nspawn consults.
    On a unified-only host that is /sys/fs/cgroup itself; on a hybrid one
    the name=systemd v1 tree and the unified tree."""
    dirs = []
    for root in CGROUP_ROOTS:
        if root == "/sys/fs/cgroup" and dirs:
            break
        if os.path.exists(os.path.join(root, "cgroup.procs")):
            dirs.append(os.path.join(root, name))
    if not dirs:
        raise BootError("no cgroup hierarchy found under /sys/fs/cgroup")
    return dirs


def _cgroup_pids(path):
    pids = set()
    for dirpath, _dirs, files in os.walk(path):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids.update(int(x) for x in f.read().split())
            except OSError:
                pass
    return pids


def _rmdir_tree(path):
    for dirpath, dirs, _files in os.walk(path, topdown=False):
        try:
            os.rmdir(dirpath)
        except FileNotFoundError:
            pass


LIVE = set()  # containers started and not yet stopped, for stop_all()


def stop_all():
    """Stops every container this process started (signal handlers, exit)."""
    for ct in list(LIVE):
        try:
            ct.stop()
        except Exception as e:  # keep going: the others must go too
            log(f"stopping {ct.name}: {e}")


def sweep_stale():
    """Removes what a run killed with SIGKILL left behind: netns and cgroups
    named by this module whose creating process is gone."""
    def dead(tag):
        m = re.match(r"(\d+)-", tag)
        return m is not None and not os.path.exists(f"/proc/{m.group(1)}")

    for root in CGROUP_ROOTS:
        try:
            names = os.listdir(root)
        except OSError:
            continue
        for name in names:
            path = os.path.join(root, name)
            if name.startswith("conntracker-e2e-") and os.path.isdir(path) \
                    and dead(name[len("conntracker-e2e-"):]):
                log(f"removing stale cgroup {path}")
                for pid in _cgroup_pids(path):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.2)
                _rmdir_tree(path)
    try:
        names = os.listdir("/run/netns")
    except OSError:
        names = []
    for name in names:
        if name.startswith("cte2e-") and dead(name[len("cte2e-"):]):
            log(f"removing stale netns {name}")
            sh(["ip", "netns", "del", name], check=False)


class Container:
    def __init__(self, rootfs, binds=None, name=None, boot_timeout=60):
        self.rootfs = rootfs
        self.binds = binds or {}
        tag = f"{os.getpid()}-{int(time.time()) % 100000}"
        self.name = name or f"cte2e-{tag}"
        self.netns = f"cte2e-{tag}-ct"
        self.peerns = f"cte2e-{tag}-peer"
        self.cgroups = _cgroup_dirs(f"conntracker-e2e-{tag}")
        self.boot_timeout = boot_timeout
        self.nspawn = None
        self.leader = None
        self.console = None
        self.boot_seconds = None

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        _become_subreaper()
        # nspawn copies the host's /dev/null into the container and refuses
        # to start without it; say so plainly rather than "exited 1".
        st = os.stat("/dev/null")
        if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
            raise BootError("the host's /dev/null is not the null device (something "
                            "renamed a file over it); restore it with "
                            "`rm /dev/null && mknod -m 666 /dev/null c 1 3`")
        sweep_stale()
        LIVE.add(self)
        self._make_netns()
        for d in self.cgroups:
            os.makedirs(d)
        argv = [
            "systemd-nspawn", "-q",
            "-D", self.rootfs, "-M", self.name,
            "--boot", "--register=no", "--keep-unit",
            "--console=passive", "--volatile=overlay",
            f"--network-namespace-path=/run/netns/{self.netns}",
            "--capability=CAP_NET_ADMIN",
        ]
        for dest, src in self.binds.items():
            argv.append(f"--bind-ro={src}:{dest}")
        procs = " ".join(f'"{d}/cgroup.procs"' for d in self.cgroups)
        # Join our cgroups first, then become nspawn.
        wrapper = f'for f in {procs}; do echo $$ > "$f"; done && exec "$@"'
        self.console = open(self.console_log, "wb")
        t0 = time.monotonic()
        log(f"booting {self.name} in netns {self.netns}")
        self.nspawn = subprocess.Popen(
            ["sh", "-c", wrapper, "sh"] + argv,
            stdin=subprocess.DEVNULL, stdout=self.console, stderr=subprocess.STDOUT,
            env={"PATH": CLEAN_PATH, "LANG": "C.UTF-8"})
        self.leader = self._find_leader()
        self._wait_booted()
        self.boot_seconds = time.monotonic() - t0
        log(f"{self.name} is up in {self.boot_seconds:.2f} s (leader pid {self.leader})")

    def stop(self):
        """Powers the container off (SIGRTMIN+4 to its systemd), then removes
        whatever is left: processes in our cgroup, the cgroup, the netns."""
        if self.nspawn is not None and self.nspawn.poll() is None:
            if self.leader is not None:
                try:
                    os.kill(self.leader, signal.SIGRTMIN + 4)
                except ProcessLookupError:
                    pass
            try:
                self.nspawn.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log(f"{self.name}: no clean poweroff in 30 s, killing its cgroup")
        if self.nspawn is not None:
            self._kill_cgroup()
            try:
                self.nspawn.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nspawn.kill()
                self.nspawn.wait(timeout=10)
        else:
            self._kill_cgroup()
        for d in self.cgroups:
            _rmdir_tree(d)
        for ns in (self.netns, self.peerns):
            if os.path.exists(f"/run/netns/{ns}"):
                sh(["ip", "netns", "del", ns], check=False)
        if self.console is not None:
            self.console.close()
            self.console = None
        self.nspawn = None
        self.leader = None
        LIVE.discard(self)

    def _kill_cgroup(self):
        for _ in range(50):
            pids = set()
            for d in self.cgroups:
                pids |= _cgroup_pids(d)
            if not pids:
                return
            for d in self.cgroups:
                kill = os.path.join(d, "cgroup.kill")
                if os.path.exists(kill):
                    try:
                        with open(kill, "w") as f:
                            f.write("1")
                    except OSError:
                        pass
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        raise BootError(f"processes survive in {self.cgroups}")

    def _scratch(self):
        d = os.path.join(os.environ.get("CONNTRACKER_E2E_CACHE", "/var/tmp/conntracker-e2e"),
                         "logs")
        os.makedirs(d, exist_ok=True)
        return d

    @property
    def console_log(self):
        return os.path.join(self._scratch(), f"{self.name}.console.log")

    # -- network -----------------------------------------------------------

    def _make_netns(self):
        sh(["ip", "netns", "add", self.netns])
        sh(["ip", "netns", "add", self.peerns])
        sh(["ip", "link", "add", "ve-ct", "netns", self.netns, "type", "veth",
            "peer", "name", "ve-peer", "netns", self.peerns])
        for ns, dev, a4, a6 in ((self.netns, "ve-ct", CONTAINER4, CONTAINER6),
                                (self.peerns, "ve-peer", PEER4, PEER6)):
            ip = ["ip", "-n", ns]
            sh(ip + ["link", "set", "lo", "up"])
            sh(ip + ["addr", "add", f"{a4}/{PREFIX4}", "dev", dev])
            sh(ip + ["addr", "add", f"{a6}/{PREFIX6}", "dev", dev, "nodad"])
            sh(ip + ["link", "set", dev, "up"])

    def peer(self, argv, timeout=15, check=True):
        """Runs a host command in the peer namespace."""
        return sh(["ip", "netns", "exec", self.peerns] + argv,
                  timeout=timeout, check=check)

    def in_netns(self, argv, timeout=15, check=True, **kw):
        """Runs a host command in the container's network namespace only."""
        return sh(["ip", "netns", "exec", self.netns] + argv,
                  timeout=timeout, check=check, **kw)

    def popen_in_netns(self, argv):
        return subprocess.Popen(["ip", "netns", "exec", self.netns] + argv,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    # -- inside ------------------------------------------------------------

    def _find_leader(self, timeout=15):
        """The container's PID 1: a child of nspawn whose pid in its own
        namespace is 1."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.nspawn.poll() is not None:
                raise BootError(f"systemd-nspawn exited {self.nspawn.returncode}:\n"
                                + self._console_tail())
            for pid in _cgroup_pids(self.cgroups[0]):
                try:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith("NSpid:"):
                                ids = line.split()[1:]
                                if len(ids) > 1 and ids[-1] == "1":
                                    return pid
                except OSError:
                    pass
            time.sleep(0.05)
        raise BootError("no container PID 1 appeared:\n" + self._console_tail())

    def _console_tail(self, n=40):
        try:
            with open(self.console_log, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return "(no console log)"

    def _wait_booted(self):
        deadline = time.monotonic() + self.boot_timeout
        state = ""
        while time.monotonic() < deadline:
            if self.nspawn.poll() is not None:
                raise BootError(f"container exited {self.nspawn.returncode} while booting:\n"
                                + self._console_tail())
            r = self.run(["systemctl", "is-system-running"], check=False, timeout=10)
            state = r.stdout.strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.1)
        raise BootError(f"not booted after {self.boot_timeout} s (state {state!r}):\n"
                        + self._console_tail())

    def _nsenter(self):
        return ["nsenter", "-t", str(self.leader), "-a",
                "env", "-i", f"PATH={CLEAN_PATH}", "LANG=C.UTF-8"]

    def run(self, argv, check=True, timeout=30, user=None, input=None):
        """Runs argv inside (all namespaces of PID 1, host's full capability
        set). With user=, as that user with its groups (runuser)."""
        if user is not None:
            argv = ["runuser", "-u", user, "--"] + argv
        return sh(self._nsenter() + argv, check=check, timeout=timeout, input=input)

    def run_unit(self, argv, check=True, timeout=30):
        """Runs argv as a transient service of the container's systemd: the
        container's own capability set and cgroup."""
        return sh(self._nsenter() + ["systemd-run", "--quiet", "--wait", "--pipe",
                                     "--collect", "--"] + argv,
                  check=check, timeout=timeout)

    def state(self):
        return self.run(["systemctl", "is-system-running"], check=False).stdout.strip()

    def failed_units(self):
        r = self.run(["systemctl", "list-units", "--failed", "--plain",
                      "--no-legend", "--all"], check=False)
        return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]

    def journal(self, unit=None, lines=60):
        argv = ["journalctl", "--no-pager", "-n", str(lines), "-o", "short-monotonic"]
        if unit:
            argv += ["-u", unit]
        return self.run(argv, check=False).stdout


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    t0 = time.monotonic()
    with Container(sys.argv[1]) as ct:
        print("state:", ct.state())
        print("failed:", ct.failed_units())
        print("peer ping:", ct.peer(["ping", "-c1", "-W2", CONTAINER4], check=False).returncode)
        print("caps in a unit:", ct.run_unit(["sh", "-c", "grep Cap /proc/self/status"]).stdout)
    print(f"whole: {time.monotonic() - t0:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
