#!/usr/bin/python3
"""conntrackerctl without a daemon: what a user sees for bad usage, a bad
filter and an unreachable daemon, with the documented exit statuses, in
English and (from the build tree's catalogue) in German.

Python 3 standard library only; prints TAP. Needs $CONNTRACKERCTL (the
built binary) and $CONNTRACKERCTL_LOCALEDIR (the build tree's po/ dir).
"""

import os
import socket
import subprocess
import sys
import tempfile

CTL = os.environ["CONNTRACKERCTL"]
LOCALEDIR = os.environ.get("CONNTRACKERCTL_LOCALEDIR", "")

EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

# No address or bus of the machine may leak in: every test that gets past
# its local checks talks to --address, never to a real system bus.
BASE_ENV = {k: v for k, v in os.environ.items()
            if not k.startswith(("LC_", "LANG")) and k not in (
                "DBUS_SYSTEM_BUS_ADDRESS", "DBUS_SESSION_BUS_ADDRESS")}
BASE_ENV["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent/system_bus"


def english_env():
    env = dict(BASE_ENV)
    env["LC_ALL"] = "C.UTF-8"
    env.pop("CONNTRACKERCTL_LOCALEDIR", None)
    return env


def german_env():
    env = dict(BASE_ENV)
    env["LANG"] = "de_DE.UTF-8"
    env["LC_ALL"] = "de_DE.UTF-8"
    env["LANGUAGE"] = "de"
    env["CONNTRACKERCTL_LOCALEDIR"] = LOCALEDIR
    return env


def run(args, env):
    return subprocess.run([CTL] + args, env=env, capture_output=True,
                          text=True, timeout=20, stdin=subprocess.DEVNULL)


def german_locale_missing():
    out = subprocess.run(["locale", "-a"], capture_output=True,
                         text=True).stdout.split()
    if not any(l.lower() in ("de_de.utf8", "de_de.utf-8") for l in out):
        return "locale de_DE.UTF-8 is not installed (tools/install-deps)"
    if not os.path.exists(os.path.join(LOCALEDIR, "de", "LC_MESSAGES",
                                       "conntracker.mo")):
        return "no German catalogue in " + LOCALEDIR
    return None


class Failure(Exception):
    pass


def expect(p, status, *fragments, stream="stderr"):
    text = getattr(p, stream)
    problems = []
    if p.returncode != status:
        problems.append(f"exit status {p.returncode}, expected {status}")
    for f in fragments:
        if f not in text:
            problems.append(f"{stream} lacks {f!r}")
    if problems:
        raise Failure("; ".join(problems) +
                      f"\n--- stdout:\n{p.stdout}--- stderr:\n{p.stderr}")


# ---- the cases: each returns nothing or raises Failure ----------------

def t_no_command():
    expect(run([], english_env()), EXIT_USAGE,
           "conntrackerctl: no command given", "conntrackerctl --help")


def t_unknown_command():
    expect(run(["frobnicate"], english_env()), EXIT_USAGE,
           "conntrackerctl: unknown command “frobnicate”")


def t_unknown_option():
    expect(run(["list", "--bogus"], english_env()), EXIT_USAGE,
           "conntrackerctl: ", "--bogus", "conntrackerctl list --help")


def t_global_option_conflict():
    expect(run(["--system", "--address", "unix:path=/x", "status"],
               english_env()), EXIT_USAGE,
           "--system and --address cannot be used together")


def t_bad_limit():
    expect(run(["list", "--limit", "20000"], english_env()), EXIT_USAGE,
           "--limit expects a number from 0 to 10000, not “20000”")


def t_bad_format():
    expect(run(["dump", "--format", "xml"], english_env()), EXIT_USAGE,
           "unknown format “xml”")


def t_show_needs_id():
    expect(run(["show"], english_env()), EXIT_USAGE, "missing flow ID")
    expect(run(["show", "seventeen"], english_env()), EXIT_USAGE,
           "“seventeen” is not a flow ID")
    expect(run(["show", "1", "2"], english_env()), EXIT_USAGE,
           "unexpected argument “2”")


def t_bad_filter_list():
    p = run(["list", "--filter", "tcp and dport 99999"], english_env())
    expect(p, EXIT_USAGE, "conntrackerctl: invalid filter: at column 15: ",
           "99999")


def t_bad_filter_watch_and_dump():
    # Checked before connecting: no daemon is needed to see the column.
    for cmd in (["watch", "-f", "tcp and"], ["dump", "--filter", "tcp and"]):
        expect(run(["--address", "unix:path=/nonexistent"] + cmd,
                   english_env()), EXIT_USAGE,
               "invalid filter: at column 8: ")


def t_good_filter_goes_on_to_connect():
    p = run(["--address", "unix:path=/nonexistent", "list", "-f",
             "tcp and dport 22"], english_env())
    expect(p, EXIT_UNREACHABLE)


def t_unreachable_address():
    for cmd in (["status"], ["list"], ["show", "1"], ["reset"], ["dump"],
                ["watch"]):
        p = run(["--address", "unix:path=/nonexistent"] + cmd, english_env())
        expect(p, EXIT_UNREACHABLE,
               "conntrackerctl: cannot connect to conntrackerd at "
               "unix:path=/nonexistent: ")


def t_connection_refused():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "socket")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)  # bound, never listening: connect() is refused
        try:
            p = run(["--address", f"unix:path={path}", "status"],
                    english_env())
        finally:
            s.close()
    expect(p, EXIT_UNREACHABLE, "cannot connect to conntrackerd at")


def t_no_system_bus():
    expect(run(["status"], english_env()), EXIT_UNREACHABLE,
           "conntrackerctl: cannot connect to the system bus: ")


def t_malformed_address():
    expect(run(["--address", "nonsense", "status"], english_env()),
           EXIT_USAGE, "invalid D-Bus address “nonsense”")


def t_version_and_help():
    expect(run(["--version"], english_env()), 0, "conntrackerctl ",
           stream="stdout")
    p = run(["list", "--help"], english_env())
    expect(p, 0, "conntrackerctl list", "--filter=EXPR", "--sort=KEYS",
           stream="stdout")
    expect(run(["--help"], english_env()), 0, "status", "watch", "reset",
           stream="stdout")


def t_trace_usage():
    # All checked before connecting.
    env = english_env()
    expect(run(["trace", "on", "--for", "5s"], env), EXIT_USAGE,
           "--for applies to a filter, not to the mode “on”")
    for bad in ("2x", "0", "25h", "2d", "s", ""):
        expect(run(["trace", "tcp", "--for", bad], env), EXIT_USAGE,
               f"“{bad}” is not a duration from 1s to 1d")
    expect(run(["trace", "--for", "5s"], env), EXIT_USAGE,
           "--for needs a filter to trace")
    expect(run(["trace", "--stop", "x"], env), EXIT_USAGE,
           "“x” is not a filter ID")
    expect(run(["trace", "--stop", "1", "tcp"], env), EXIT_USAGE,
           "unexpected argument “tcp”")
    expect(run(["trace", "--stop", "1", "--for", "5s"], env), EXIT_USAGE,
           "--for and --stop cannot be used together")
    # Good ones go on to connect.
    for args in (["trace"], ["trace", "OFF"], ["trace", "all"],
                 ["trace", "to", "10.0.0.1", "port", "80", "--for", "5m"],
                 ["trace", "udp", "--for", "90"], ["trace", "--stop", "3"]):
        expect(run(["--address", "unix:path=/nonexistent"] + args, env),
               EXIT_UNREACHABLE, "cannot connect to conntrackerd")
    expect(run(["trace", "--help"], env), 0, "conntrackerctl trace",
           "--for=DURATION", "--stop=ID", stream="stdout")


def t_german_usage():
    env = german_env()
    expect(run([], env), EXIT_USAGE, "conntrackerctl: kein Befehl angegeben",
           "Mehr dazu mit „conntrackerctl --help“.")
    expect(run(["frobnicate"], env), EXIT_USAGE,
           "conntrackerctl: unbekannter Befehl „frobnicate“")
    expect(run(["list", "--limit", "20000"], env), EXIT_USAGE,
           "--limit erwartet eine Zahl von 0 bis 10000, nicht „20000“")
    expect(run(["show"], env), EXIT_USAGE, "Flow-ID fehlt")


def t_german_filter():
    p = run(["list", "--filter", "tcp and dport 99999"], german_env())
    # The column comes from the filter parser, the words around it from us.
    expect(p, EXIT_USAGE, "conntrackerctl: ungültiger Filter: at column 15: ",
           "Siehe „FILTERS“ in conntrackerctl(1).")


def t_german_unreachable():
    p = run(["--address", "unix:path=/nonexistent", "status"], german_env())
    expect(p, EXIT_UNREACHABLE,
           "conntrackerctl: keine Verbindung zu conntrackerd unter "
           "unix:path=/nonexistent: ")


def t_german_help():
    p = run(["list", "--help"], german_env())
    expect(p, 0, "Nur Flows, auf die AUSDRUCK passt",
           "Flows als Tabelle oder JSON-Zeilen auflisten", stream="stdout")


def t_german_trace():
    env = german_env()
    expect(run(["trace", "tcp", "--for", "2x"], env), EXIT_USAGE,
           "„2x“ ist keine Dauer von 1s bis 1d")
    expect(run(["trace", "on", "--for", "5s"], env), EXIT_USAGE,
           "--for gilt für einen Filter, nicht für den Modus „on“")
    expect(run(["--help"], env), 0, "trace", "für welche Flows die "
           "Firewall-Regeln verfolgt werden", stream="stdout")


CASES = [
    (t_no_command, None),
    (t_unknown_command, None),
    (t_unknown_option, None),
    (t_global_option_conflict, None),
    (t_bad_limit, None),
    (t_bad_format, None),
    (t_show_needs_id, None),
    (t_bad_filter_list, None),
    (t_bad_filter_watch_and_dump, None),
    (t_good_filter_goes_on_to_connect, None),
    (t_unreachable_address, None),
    (t_connection_refused, None),
    (t_no_system_bus, None),
    (t_malformed_address, None),
    (t_version_and_help, None),
    (t_trace_usage, None),
    (t_german_usage, german_locale_missing),
    (t_german_filter, german_locale_missing),
    (t_german_unreachable, german_locale_missing),
    (t_german_help, german_locale_missing),
    (t_german_trace, german_locale_missing),
]


def main():
    failed = 0
    print(f"1..{len(CASES)}")
    for n, (case, precondition) in enumerate(CASES, 1):
        name = case.__name__[2:]
        reason = precondition() if precondition else None
        if reason and os.geteuid() == 0:
            # As root tools/install-deps provides everything: a missing
            # locale is a broken setup, not a reason to skip.
            print(f"not ok {n} - {name}: {reason}")
            failed += 1
            continue
        if reason:
            print(f"ok {n} - {name} # SKIP {reason}")
            continue
        try:
            case()
            print(f"ok {n} - {name}")
        except (Failure, subprocess.TimeoutExpired) as e:
            failed += 1
            print(f"not ok {n} - {name}")
            for line in str(e).splitlines():
                print(f"# {line}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
