#!/usr/bin/env python3
"""report.py META RESULTS — turns bench/run's per-run key=value lines into
markdown tables: medians per offered rate, then every run (for the spread).
d_* = conntrackerd, c_* = conntrack -E; ratios are conntrackerd / conntrack -E."""
import statistics
import sys


def parse(line):
    out = {}
    for field in line.split():
        if "=" in field:
            k, v = field.split("=", 1)
            out[k] = v
    return out


def num(run, key):
    v = run.get(key, "NA")
    try:
        return float(v)
    except ValueError:
        return None


def other_load(run):
    w, busy = num(run, "window_s"), num(run, "busy_s")
    if not w or busy is None:
        return None
    ours = (num(run, "cpu") or 0) + (num(run, "d_cpu_ns") + num(run, "c_cpu_ns")) / 1e9
    ours += num(run, "irq_s") or 0  # mostly our datagrams' receive path
    return max(0.0, 100.0 * (busy - ours) / w)


def derive(run):
    """Per-run figures, all as floats or None."""
    created = num(run, "created")
    d_ev, c_ev = num(run, "d_events"), num(run, "c_seen")
    d_dr, c_dr = num(run, "d_drops"), num(run, "c_drops")
    f = {
        "offered": num(run, "offered"),
        "achieved": num(run, "seconds") and num(run, "sent") / num(run, "seconds"),
        "created": created,
        "d_seen": d_ev,
        "c_seen": c_ev,
        "d_loss": 100.0 * d_dr / created if created else None,
        "c_loss": 100.0 * c_dr / created if created else None,
        "d_cpu": num(run, "d_cpu_ns") / 1000 / d_ev if d_ev else None,
        "c_cpu": num(run, "c_cpu_ns") / 1000 / c_ev if c_ev else None,
        # /proc ticks are 10 ms: coarse, but they split user from kernel.
        "d_user": num(run, "d_utick") * 1e4 / d_ev if d_ev else None,
        "c_user": num(run, "c_utick") * 1e4 / c_ev if c_ev else None,
        "d_batch": d_ev / num(run, "d_wakeups") if num(run, "d_wakeups") else None,
        "c_batch": c_ev / num(run, "c_wakeups") if num(run, "c_wakeups") else None,
        "d_instr": num(run, "d_instr") / d_ev if num(run, "d_instr") and d_ev else None,
        "c_instr": num(run, "c_instr") / c_ev if num(run, "c_instr") and c_ev else None,
        "d_overruns": num(run, "d_overruns"),
        "d_resyncs": num(run, "d_resyncs"),
        "d_flows": num(run, "d_flows"),
        "d_hwm": num(run, "d_hwm_kb") / 1024,
        "c_hwm": num(run, "c_hwm_kb") / 1024,
        # CPU that neither the generator nor a listener nor interrupts used
        # during the run, as % of one CPU: other load on the machine (noise).
        "others": other_load(run),
        # Every entry is either counted by the listener or dropped by the
        # kernel at its socket; a resync re-reads entries, so the daemon may
        # count more than were delivered.
        "d_gap": created - d_ev - d_dr if created is not None else None,
        "c_gap": created - c_ev - c_dr if created is not None else None,
    }
    for k in ("seen", "cpu", "instr", "user"):
        a, b = f["d_" + k], f["c_" + k]
        f["r_" + k] = a / b if a is not None and b else None
    return f


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def rate_label(offered):
    return "max" if not offered else f"{offered / 1000:g}k/s"


EVENTS = [
    ("offered", "offered", None),
    ("achieved", "achieved /s", ",.0f"),
    ("created", "entries created", ",.0f"),
    ("d_seen", "events ctd", ",.0f"),
    ("c_seen", "events -E", ",.0f"),
    ("r_seen", "ratio", ".2f"),
    ("d_loss", "loss % ctd", ".2f"),
    ("c_loss", "loss % -E", ".2f"),
    ("d_overruns", "overruns ctd", ".0f"),
    ("d_resyncs", "resyncs ctd", ".0f"),
    ("d_flows", "flows stored ctd", ",.0f"),
    ("others", "other load %CPU", ".0f"),
]
COST = [
    ("offered", "offered", None),
    ("d_cpu", "CPU µs/ev ctd", ".2f"),
    ("c_cpu", "CPU µs/ev -E", ".2f"),
    ("r_cpu", "ratio", ".2f"),
    ("d_user", "user µs/ev ctd", ".2f"),
    ("c_user", "user µs/ev -E", ".2f"),
    ("d_instr", "instr/ev ctd", ",.0f"),
    ("c_instr", "instr/ev -E", ",.0f"),
    ("r_instr", "ratio", ".3f"),
    ("d_batch", "ev/wakeup ctd", ".1f"),
    ("c_batch", "ev/wakeup -E", ".1f"),
    ("d_hwm", "max RSS MiB ctd", ".1f"),
    ("c_hwm", "max RSS MiB -E", ".1f"),
]


def row(f, columns):
    cells = []
    for key, _, spec in columns:
        if key == "offered":
            cells.append(rate_label(f[key]))
        else:
            cells.append(fmt(f[key], spec))
    return "| " + " | ".join(cells) + " |"


def header(columns, extra=""):
    return ("| " + extra + " | ".join(h for _, h, _ in columns) + " |\n"
            + "|" + "|".join("---" for _ in columns) + ("|---|" if extra else "|"))


def main():
    meta = open(sys.argv[1]).read().strip()
    runs = [parse(l) for l in open(sys.argv[2]) if l.startswith("run=")]
    derived = [derive(r) for r in runs]
    order = []
    for f in derived:
        if f["offered"] not in order:
            order.append(f["offered"])
    medians = []
    for offered in order:
        group = [f for f in derived if f["offered"] == offered]
        m = {k: med([f[k] for f in group]) for k in group[0]}
        m["offered"] = offered
        m["n"] = len(group)
        medians.append(m)

    print(f"conntrackerd (ctd) vs conntrack -E (-E), side by side: {meta}")
    print(f"ratio = ctd / -E; medians of {', '.join(str(m['n']) for m in medians)} run(s) per rate")
    for title, columns in (("Events", EVENTS), ("Cost", COST)):
        print()
        print(f"{title} (medians):")
        print()
        print(header(columns))
        for m in medians:
            print(row(m, columns))
    for title, columns in (("Events", EVENTS), ("Cost", COST)):
        print()
        print(f"{title}, every run:")
        print()
        print(header(columns, "run | "))
        for r, f in zip(runs, derived):
            print(f"| {r['run']} " + row(f, columns))

    gaps = [(r["run"], f["d_gap"], f["c_gap"]) for r, f in zip(runs, derived)
            if f["d_gap"] or f["c_gap"]]
    print()
    if gaps:
        print("Accounting gaps (created - counted - kernel drops; nonzero means")
        print("entries counted twice (resync) or events neither counted nor dropped):")
        for run, dg, cg in gaps:
            print(f"  run {run}: conntrackerd {dg:+.0f}, conntrack -E {cg:+.0f}")
    else:
        print("Accounting: in every run, entries created = events counted + "
              "kernel socket drops, for both listeners.")


if __name__ == "__main__":
    main()
