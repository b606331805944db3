#!/usr/bin/python3
"""List the flows conntrackerd has recorded, then print live changes.

A starting point for GUI authors: everything goes through the documented
D-Bus interface org.conntracker.Flows (see ../introspection/
org.conntracker.Flows.xml) with plain GLib/Gio, as a GTK application would
use it. No conntracker code is imported.

  python3 list_and_watch.py [--seconds N] [--filter EXPR] [--limit N]

Calls are asynchronous (a GUI must never block its main loop on D-Bus) and
carry ALLOW_INTERACTIVE_AUTHORIZATION, so on a desktop polkit may ask for a
password; elsewhere an unauthorized caller gets NotAuthorized at once.

Exit codes follow conntrackerctl: 0 ok, 1 other failure, 3 the service is
not running, 4 not authorized.
"""

import argparse
import datetime
import sys

from gi.repository import Gio, GLib

BUS_NAME = "org.conntracker"
OBJECT_PATH = "/org/conntracker/Flows"
INTERFACE = "org.conntracker.Flows"

# Columns of the table: (title, width, function of a flow dictionary).
# Keys can be absent (e.g. ports for ICMP): always use .get().


def _port(flow, key):
    value = flow.get(key)
    return "-" if value is None else str(value)


def _when(flow):
    us = flow.get("last-seen")
    if us is None:
        return "-"
    return datetime.datetime.fromtimestamp(us / 1e6).strftime("%H:%M:%S")


COLUMNS = [
    ("ID", 8, lambda f: str(f.get("id", "?"))),
    ("PROTO", 6, lambda f: f.get("protocol", "?")),
    ("SOURCE", 26, lambda f: f.get("src", "?")),
    ("SPORT", 5, lambda f: _port(f, "sport")),
    ("DESTINATION", 26, lambda f: f.get("dst", "?")),
    ("DPORT", 5, lambda f: _port(f, "dport")),
    ("CONF", 4, lambda f: "yes" if f.get("confirmed") else "no"),
    ("CONNS", 6, lambda f: str(f.get("connections", 0))),
    ("SEEN", 8, _when),
]


def row(cells):
    return "  ".join(f"{c:<{w}}" for (_, w, _), c in zip(COLUMNS, cells))


def format_flow(flow):
    return row([fn(flow) for _, _, fn in COLUMNS])


EXIT_FAILURE, EXIT_UNREACHABLE, EXIT_DENIED = 1, 3, 4


class Client:
    def __init__(self, bus, args, loop):
        self.bus = bus
        self.args = args
        self.loop = loop
        self.exit_code = 0
        self.subscription = None
        self.signal_ids = []

    # --- errors: map D-Bus error names to messages a user understands ---
    def fail(self, what, error):
        name = Gio.DBusError.get_remote_error(error) or ""
        # error.message reads "GDBus.Error:NAME: text"; keep the text.
        message = error.message.split(f"{name}: ", 1)[-1]
        if name == "org.conntracker.Error.NotAuthorized":
            print(f"{what}: not authorized to read connection flows.\n"
                  "Flows show every user's connections, so reading them needs "
                  "the polkit action org.conntracker.read (ask your "
                  "administrator, e.g. to add you to the 'conntracker' "
                  "group).", file=sys.stderr)
            self.exit_code = EXIT_DENIED
        elif name in ("org.freedesktop.DBus.Error.ServiceUnknown",
                      "org.freedesktop.DBus.Error.NameHasNoOwner"):
            print(f"{what}: conntrackerd is not running "
                  f"({BUS_NAME} is not on the system bus).", file=sys.stderr)
            self.exit_code = EXIT_UNREACHABLE
        else:
            print(f"{what} failed: {name or 'error'}: {message}",
                  file=sys.stderr)
            self.exit_code = EXIT_FAILURE
        self.loop.quit()

    def call(self, method, params, reply_type, callback):
        self.bus.call(BUS_NAME, OBJECT_PATH, INTERFACE, method, params,
                      GLib.VariantType.new(reply_type),
                      Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION,
                      -1,  # default timeout; polkit may be asking a human
                      None, callback)

    # --- 1. ListFlows: a snapshot ---
    def start(self):
        query = {"limit": GLib.Variant("u", self.args.limit)}
        if self.args.filter:
            query["filter"] = GLib.Variant("s", self.args.filter)
        self.call("ListFlows", GLib.Variant("(a{sv})", (query,)),
                  "(aa{sv}u)", self.on_listed)

    def on_listed(self, bus, result):
        try:
            flows, total = bus.call_finish(result).unpack()
        except GLib.Error as e:
            self.fail("ListFlows", e)
            return
        print(row([title for title, _, _ in COLUMNS]))
        for flow in flows:
            print(format_flow(flow))
        print(f"-- {len(flows)} of {total} matching flows", flush=True)
        if self.args.seconds <= 0:
            self.loop.quit()
            return
        self.subscribe()

    # --- 2. Subscribe: signals come to this connection only ---
    def subscribe(self):
        # Listen before subscribing, so no signal is missed. Signals are
        # unicast to us; the sender filter is the well-known name (GDBus
        # resolves it to the daemon's unique name).
        for name in ("FlowsAdded", "FlowsChanged", "FlowsRemoved",
                     "EventsLost"):
            self.signal_ids.append(self.bus.signal_subscribe(
                BUS_NAME, INTERFACE, name, OBJECT_PATH, None,
                Gio.DBusSignalFlags.NONE, self.on_signal))
        query = {"interval-ms": GLib.Variant("u", 500)}
        if self.args.filter:
            query["filter"] = GLib.Variant("s", self.args.filter)
        self.call("Subscribe", GLib.Variant("(a{sv})", (query,)), "(u)",
                  self.on_subscribed)

    def on_subscribed(self, bus, result):
        try:
            (self.subscription,) = bus.call_finish(result).unpack()
        except GLib.Error as e:
            self.fail("Subscribe", e)
            return
        print(f"-- subscription {self.subscription}: watching for "
              f"{self.args.seconds} s", flush=True)
        GLib.timeout_add(int(self.args.seconds * 1000), self.stop)

    def on_signal(self, bus, sender, path, iface, name, params):
        args = params.unpack()
        if args[0] != self.subscription:
            return  # another subscription of this connection
        if name in ("FlowsAdded", "FlowsChanged"):
            print(f"{name}: {len(args[1])} flow(s)")
            for flow in args[1]:
                print("  " + format_flow(flow))
        elif name == "FlowsRemoved":
            ids = ", ".join(map(str, args[1]))
            print(f"FlowsRemoved ({args[2]}): {ids}")
        elif name == "EventsLost":
            print(f"EventsLost ({args[1]}): {args[2]}; call ListFlows to "
                  "catch up")
        sys.stdout.flush()

    # --- 3. Unsubscribe (closing the connection would do too) ---
    def stop(self):
        def done(bus, result):
            try:
                bus.call_finish(result)
            except GLib.Error as e:
                self.fail("Unsubscribe", e)
                return
            self.loop.quit()
        self.bus.call(BUS_NAME, OBJECT_PATH, INTERFACE, "Unsubscribe",
                      GLib.Variant("(u)", (self.subscription,)), None,
                      Gio.DBusCallFlags.NONE, 5000, None, done)
        return GLib.SOURCE_REMOVE


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10,
                    help="how long to print live changes (0: list only)")
    ap.add_argument("--filter", default="",
                    help="a filter expression, e.g. 'tcp and dport 443'")
    ap.add_argument("--limit", type=int, default=50,
                    help="at most this many flows in the table")
    args = ap.parse_args()

    try:
        bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    except GLib.Error as e:
        print(f"cannot connect to the system bus: {e.message}",
              file=sys.stderr)
        return EXIT_UNREACHABLE
    loop = GLib.MainLoop()
    client = Client(bus, args, loop)
    client.start()
    loop.run()
    return client.exit_code


if __name__ == "__main__":
    sys.exit(main())
