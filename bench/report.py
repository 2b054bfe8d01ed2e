"""bench/report.py - turns the drivers' result lines into the benchmark table.

Usage: report.py RAW OUTDIR [--meta key=value ...] [--strict]

RAW holds, one per line, the tab-separated key=value lines the drivers print
("result ...", with the repetition and the inter-CPU round trip measured
just before it that run.sh added as rep=N and rt_ns=NS) and the instruction
counts run.sh measured ("instr ...").  Writes OUTDIR/results.tsv (one row per
workload and implementation), OUTDIR/results.json (everything, plus every
repetition, the targets and the run's metadata), OUTDIR/results.txt (the
table as printed) and OUTDIR/ratios.svg (the chart).

Per row: wall items/s as median [min..max] over the repetitions, CPU ns per
item (user + system of the whole process over the timed interval) as median
[min..max], the load average range over the repetitions, the inter-CPU
round trips before them (bench/probe.c) as median [min..max], the largest peak
RSS, and conveyor's ratio to the peer (conveyor's median items/s / the
peer's: above 1 means conveyor is faster) with, in the chart, the range of
the per-repetition ratios (repetition r of conveyor against repetition r of
the peer: they ran next to each other).  A row whose max/min items/s exceeds
2 is marked noisy.  W5 shows latency p50/p99/max (medians over repetitions)
and the ratio peer p99 / conveyor p99.  Unbounded peers are listed apart
under each workload and count toward no "ahead of every bounded peer"
target.  The targets are checked on this one run only; beside each ratio
stands the same ratio over only the repetitions that ran within FAST_RT
(2x) of the run's fastest inter-CPU round trip, where both rows saw the
same machine.  Python standard library only.
"""
import json
import statistics
import sys

# Display order.
WORKLOADS = ["W1", "W2", "W2x16", "W3", "W4", "W5", "W6"]
IMPLS = ["conveyor-pipeline", "conveyor", "conveyor-spsc", "limit",
         "mutex+condvar", "glib-bounded", "tbb", "moodycamel-spsc",
         "crossbeam", "go", "python", "glib", "moodycamel", "moodycamel-tok",
         "python-seed"]
DESCRIPTION = {
    "W1": "1P1C, capacity 1024",
    "W2": "4P4C, capacity 1024",
    "W2x16": "16P16C, capacity 1024",
    "W3": "1P1C, capacity 1 (hand-off)",
    "W4": "the seed's pipeline, 3/4/5 workers (-auto: automatic workers), no-op stages",
    "W5": "wake-up latency, 1 item per ms",
    "W6": "batches of 64, 1P1C, capacity 1024",
}
UNBOUNDED = {"glib", "moodycamel", "moodycamel-tok", "python-seed"}
# Bounded peers of conveyor's default (multi-producer multi-consumer) queue.
BOUNDED_PEERS = ["mutex+condvar", "glib-bounded", "tbb", "moodycamel-spsc",
                 "crossbeam", "go"]
NOISY = 2.0  # max/min items/s above this marks a row noisy
FAST_RT = 2.0  # repetitions within this factor of the run's fastest round trip


def parse(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if not parts or parts[0] not in ("result", "instr"):
                continue
            d = {"kind": parts[0]}
            for kv in parts[1:]:
                k, _, v = kv.partition("=")
                d[k] = v
            rows.append(d)
    return rows


def si(x):
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return "%.3g%s" % (x / div, suf)
    return "%.3g" % x


def ns_per(rate):
    ns = 1e9 / rate if rate else 0.0
    return "%.0f ns" % ns if ns < 10000 else "%.1f us" % (ns / 1000.0)


def us(ns):
    return "%.1f" % (ns / 1000.0)


def conveyor_impl(groups, w):
    """The conveyor row a workload's ratios are taken against."""
    if w == "W4" and (w, "conveyor-pipeline") in groups:
        return "conveyor-pipeline"
    return "conveyor"


def fnum(r, k):
    v = r.get(k)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def notes_of(rs):
    """A row's notes, and for automatic workers the most workers each stage
    ran (peak=A/B/C), every distinct value the repetitions saw."""
    notes = rs[0].get("notes", "-")
    peaks = sorted({r["peak"] for r in rs if "peak" in r})
    return notes + " peak=" + ",".join(peaks) if peaks else notes


def aggregate(rows):
    groups = {}
    for r in rows:
        if r["kind"] == "result":
            groups.setdefault((r["workload"], r["impl"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        rates = [float(r["rate"]) for r in rs]
        cpus = [v for v in (fnum(r, "cpu_ns_per_item") for r in rs) if v is not None]
        loads = [v for v in (fnum(r, "load1") for r in rs) if v is not None and v >= 0]
        rts = [v for v in (fnum(r, "rt_ns") for r in rs) if v is not None and v > 0]
        a = {
            "workload": key[0], "impl": key[1], "runs": len(rs),
            "items": int(rs[0]["items"]),
            "rate_median": statistics.median(rates),
            "rate_min": min(rates), "rate_max": max(rates),
            "cpu_ns_median": statistics.median(cpus) if cpus else None,
            "cpu_ns_min": min(cpus) if cpus else None,
            "cpu_ns_max": max(cpus) if cpus else None,
            "load_min": min(loads) if loads else None,
            "load_max": max(loads) if loads else None,
            "rt_median": statistics.median(rts) if rts else None,
            "rt_min": min(rts) if rts else None,
            "rt_max": max(rts) if rts else None,
            "pinned": any(r.get("pinned") == "1" for r in rs),
            "noisy": min(rates) > 0 and max(rates) / min(rates) > NOISY,
            "rss_kb_max": max(int(r["rss_kb"]) for r in rs),
            "notes": notes_of(rs),
            "bounded": key[1] not in UNBOUNDED,
            "reps": [{"rep": r.get("rep"), "rate": float(r["rate"]),
                      "cpu_ns_per_item": fnum(r, "cpu_ns_per_item"),
                      "load1": fnum(r, "load1"),
                      "rt_ns": fnum(r, "rt_ns"),
                      "p99_ns": fnum(r, "p99_ns")} for r in rs],
        }
        if "p99_ns" in rs[0]:
            for k in ("p50_ns", "p99_ns", "max_ns"):
                a[k] = statistics.median(float(r[k]) for r in rs)
            a["p99_ns_min"] = min(float(r["p99_ns"]) for r in rs)
            a["p99_ns_max"] = max(float(r["p99_ns"]) for r in rs)
        out[key] = a
    # The same medians over the repetitions that ran near the run's fastest
    # inter-CPU round trip (within FAST_RT times it): a ratio of two rows is
    # only fair when both saw the same machine (see docs/benchmarks.md).
    all_rt = [x["rt_ns"] for a in out.values() for x in a["reps"]
              if x.get("rt_ns") is not None and x["rt_ns"] > 0]
    cut = FAST_RT * min(all_rt) if all_rt else None
    for a in out.values():
        fast = [x for x in a["reps"] if cut and x.get("rt_ns") and 0 < x["rt_ns"] <= cut]
        a["fast_reps"] = len(fast)
        a["rate_fast"] = statistics.median(x["rate"] for x in fast) if fast else None
        a["rate_fast_min"] = min(x["rate"] for x in fast) if fast else None
        a["rate_fast_max"] = max(x["rate"] for x in fast) if fast else None
        p99 = [x["p99_ns"] for x in fast if x.get("p99_ns")]
        a["p99_fast"] = statistics.median(p99) if p99 else None
        cpus = [x["cpu_ns_per_item"] for x in fast if x["cpu_ns_per_item"]]
        a["cpu_ns_fast"] = statistics.median(cpus) if cpus else None
    for (w, impl), a in out.items():
        for ref, suffix in ((conveyor_impl(out, w), ""), ("conveyor-spsc", "_spsc")):
            cv = out.get((w, ref))
            if cv is None or impl == cv["impl"] or is_variant(impl) or \
                    (suffix and impl == "conveyor"):
                a["ratio" + suffix] = None
                continue
            a["ratio" + suffix] = ratio_of(w, cv, a)
            a["cpu_ratio" + suffix] = (
                a["cpu_ns_median"] / cv["cpu_ns_median"]
                if a["cpu_ns_median"] and cv["cpu_ns_median"] else None)
            a["ratio_range" + suffix] = paired_range(w, cv, a)
        lim = out.get((w, "limit"))
        a["of_limit"] = (a["rate_median"] / lim["rate_median"]
                         if lim and impl != "limit" and w != "W5" else None)
    return out


def ratio_of(w, cv, a):
    """conveyor / peer: items/s, or for W5 the peer's p99 / conveyor's."""
    if w == "W5":
        return a["p99_ns"] / cv["p99_ns"] if cv.get("p99_ns") else None
    return cv["rate_median"] / a["rate_median"] if a["rate_median"] else None


def paired_range(w, cv, a):
    """min and max over repetitions of conveyor's rep r against the peer's
    rep r (they ran one after the other); None without pairs."""
    peer = {r["rep"]: r for r in a["reps"] if r["rep"] is not None}
    vals = []
    for r in cv["reps"]:
        p = peer.get(r["rep"])
        if p is None:
            continue
        if w == "W5":
            if r["p99_ns"] and p["p99_ns"]:
                vals.append(p["p99_ns"] / r["p99_ns"])
        elif p["rate"]:
            vals.append(r["rate"] / p["rate"])
    return [min(vals), max(vals)] if vals else None


def targets(agg):
    res = []

    def get(w, impl):
        return agg.get((w, impl))

    def add(name, value, need, strict_gt=False, note="", le=False, fast=None):
        if value is None:
            res.append({"target": name, "ratio": None, "need": need,
                        "status": "N/A", "note": note or "not measured"})
            return
        if le:
            ok = value <= need
        else:
            ok = value > need if strict_gt else value >= need
        res.append({"target": name, "ratio": value, "need": need,
                    "status": "MET" if ok else "MISSED", "note": note,
                    "ratio_fast": fast})

    def wall(w, ref, peer, key="rate_median"):
        c, p = get(w, ref), get(w, peer)
        return c[key] / p[key] if c and p and c.get(key) and p.get(key) else None

    def cpu(w, ref, peer, key="cpu_ns_median"):
        c, p = get(w, ref), get(w, peer)
        if c and p and c.get(key) and p.get(key):
            return p[key] / c[key]
        return None

    def wall_fast(w, ref, peer):
        return wall(w, ref, peer, "rate_fast")

    def cpu_fast(w, ref, peer):
        return cpu(w, ref, peer, "cpu_ns_fast")

    # The single-producer single-consumer fast path on W1.
    add("W1 conveyor-spsc/limit >= 0.5", wall("W1", "conveyor-spsc", "limit"), 0.5,
        fast=wall_fast("W1", "conveyor-spsc", "limit"))
    c, lim = get("W1", "conveyor-spsc"), get("W1", "limit")
    if c and lim:
        # Spinning collapses on a loaded machine (a spinner waits out whole
        # time slices of a descheduled peer), so the median of the limit
        # ring can fall below a queue that sleeps: the best repetition of
        # each is the fairer look at the hardware limit.
        res.append({"target": "W1 conveyor-spsc/limit, best rep of each",
                    "ratio": c["rate_max"] / lim["rate_max"], "need": None,
                    "status": "INFO", "note": "limit best %s items/s" % si(lim["rate_max"])})
    add("W1 conveyor-spsc/moodycamel-spsc >= 1.5",
        wall("W1", "conveyor-spsc", "moodycamel-spsc"), 1.5,
        fast=wall_fast("W1", "conveyor-spsc", "moodycamel-spsc"))
    # The default queue: ahead of every bounded peer, in CPU and in wall time.
    for w in ("W1", "W2", "W2x16"):
        for peer in BOUNDED_PEERS:
            if get(w, peer) is None:
                continue
            add("%s conveyor/%s cpu >= 1.5" % (w, peer), cpu(w, "conveyor", peer), 1.5,
                fast=cpu_fast(w, "conveyor", peer))
            add("%s conveyor/%s wall > 1" % (w, peer), wall(w, "conveyor", peer), 1.0, True,
                fast=wall_fast(w, "conveyor", peer))
    # The hand-off.
    for peer in ("tbb", "crossbeam", "moodycamel-spsc"):
        add("W3 conveyor/%s > 1" % peer, wall("W3", "conveyor", peer), 1.0, True,
            fast=wall_fast("W3", "conveyor", peer))
    add("W3 conveyor/go >= 0.8", wall("W3", "conveyor", "go"), 0.8,
        fast=wall_fast("W3", "conveyor", "go"))
    c3 = get("W3", "conveyor")
    add("W3 conveyor max/min <= %g (not bimodal)" % NOISY,
        c3["rate_max"] / c3["rate_min"] if c3 and c3["rate_min"] else None, NOISY, le=True,
        fast=c3["rate_fast_max"] / c3["rate_fast_min"]
        if c3 and c3.get("rate_fast_min") else None)
    # Wake-up latency.
    cv5 = get("W5", "conveyor")
    for peer in ("go", "mutex+condvar"):
        a = get("W5", peer)
        add("W5 p99 %s/conveyor >= 1" % peer, a and a.get("ratio"), 1.0,
            fast=a["p99_fast"] / cv5["p99_fast"]
            if a and cv5 and a.get("p99_fast") and cv5.get("p99_fast") else None)
    # Earlier targets, kept.
    for w in ("W1", "W2", "W3", "W6"):
        for peer, need in (("glib-bounded", 2.0), ("mutex+condvar", 2.0),
                           ("python", 100.0)):
            add("%s conveyor/%s >= %g" % (w, peer, need), wall(w, "conveyor", peer), need,
                fast=wall_fast(w, "conveyor", peer))
    a2, a16 = get("W2", "conveyor"), get("W2x16", "conveyor")
    add("W2x16 conveyor 16P16C / 4P4C >= 0.5",
        a16["rate_median"] / a2["rate_median"] if a2 and a16 else None, 0.5,
        fast=a16["rate_fast"] / a2["rate_fast"]
        if a2 and a16 and a2.get("rate_fast") and a16.get("rate_fast") else None)
    cv4 = conveyor_impl(agg, "W4")
    add("W4 %s/glib-bounded >= 1" % cv4, wall("W4", cv4, "glib-bounded"), 1.0,
        fast=wall_fast("W4", cv4, "glib-bounded"))
    # The pipeline against the seed's pipeline wired by hand: one item at a
    # time, ahead of Go and crossbeam and within 1.3x of conveyor's own
    # queues; with automatic batching, at least twice Go.  Each with the
    # seed's 3/4/5 workers and with automatic workers.
    for impl, how in (("conveyor-pipeline-b1", "one at a time, 3/4/5 workers"),
                      ("conveyor-pipeline-auto-b1", "one at a time, automatic workers")):
        if get("W4", impl) is None:
            continue
        for peer in ("go", "crossbeam"):
            add("W4 %s/%s > 1" % (impl, peer), wall("W4", impl, peer), 1.0, True, how,
                fast=wall_fast("W4", impl, peer))
        add("W4 %s/conveyor >= 1/1.3" % impl, wall("W4", impl, "conveyor"), 1 / 1.3,
            note=how + "; within 1.3x of the queues wired by hand",
            fast=wall_fast("W4", impl, "conveyor"))
    for impl, how in (("conveyor-pipeline", "automatic batching, 3/4/5 workers"),
                      ("conveyor-pipeline-auto", "automatic batching and workers")):
        if get("W4", impl) is not None:
            add("W4 %s/go >= 2" % impl, wall("W4", impl, "go"), 2.0, note=how,
                fast=wall_fast("W4", impl, "go"))
    # Unbounded peers: shown, not counted.
    for w in WORKLOADS:
        for peer in sorted(UNBOUNDED):
            v = wall(w, conveyor_impl(agg, w), peer)
            if v is not None and w not in ("W3", "W5"):
                res.append({"target": "%s %s/%s" % (w, conveyor_impl(agg, w), peer),
                            "ratio": v, "need": None, "status": "INFO",
                            "note": "unbounded peer, not counted"})
    # The pipeline's other configurations against glib: shown, not counted.
    for (w, impl), a in sorted(agg.items()):
        if w == "W4" and is_variant(impl):
            p = agg.get((w, "glib-bounded"))
            if p:
                res.append({"target": "W4 %s/glib-bounded >= 1" % impl,
                            "ratio": a["rate_median"] / p["rate_median"],
                            "need": 1.0, "status": "INFO",
                            "note": "another configuration, not counted"})
    return res


def instr_table(rows):
    got = {}
    for r in rows:
        if r["kind"] == "instr":
            got[(r["workload"], r["impl"])] = float(r["instr_per_item"])
    out = []
    for (w, impl), v in sorted(got.items(), key=lambda kv: (
            kv[0][0], impl_rank(kv[0][1]))):
        cv = got.get((w, "conveyor"))
        out.append({"workload": w, "impl": impl, "instr_per_item": v,
                    "ratio": (v / cv) if cv and impl != "conveyor" else None})
    return out


def impl_rank(impl):
    if impl in IMPLS:
        return IMPLS.index(impl)
    if impl.startswith("conveyor-pipeline-"):
        return 0.5
    return 99


def is_variant(impl):
    """A conveyor configuration other than the reference row."""
    return impl.startswith("conveyor-pipeline-")


def order_key(a):
    w, impl = a["workload"], a["impl"]
    return (WORKLOADS.index(w) if w in WORKLOADS else 99, impl_rank(impl), impl)


def fmt_ratio(v):
    return "-" if v is None else "%.2fx" % v


def round_trips(agg):
    """(median, min, max, count, count above FAST_RT x the min) of the inter-CPU
    round trips measured before the run's repetitions, or None."""
    rts = [x["rt_ns"] for a in agg.values() for x in a["reps"]
           if x.get("rt_ns") is not None and x["rt_ns"] > 0]
    if not rts:
        return None
    lo = min(rts)
    return (statistics.median(rts), lo, max(rts), len(rts),
            sum(v > FAST_RT * lo for v in rts))


def render(agg, tgts, instr, meta):
    lines = []
    lines.append("conveyor benchmark  %s" % "  ".join(
        "%s=%s" % kv for kv in meta.items()))
    lines.append("items/s and CPU ns/item (user+sys of the process / items): median "
                 "[min..max] of the repetitions; load: 1-min load average range")
    lines.append("ratio = conveyor median / peer median (spsc: conveyor-spsc's; "
                 "W5: peer p99 / conveyor p99); above 1 means conveyor is ahead;")
    lines.append("lim = fraction of the spin-only limit ring; NOISY = max/min "
                 "items/s above %g" % NOISY)
    lines.append("rt = inter-CPU round trip in ns measured just before each repetition "
                 "(bench/probe.c): median [min..max]")
    rt = round_trips(agg)
    if rt:
        lines.append("round trips of this run: median %.0f ns [%.0f..%.0f] over %d "
                     "repetitions, %d of them above %gx the fastest" % (rt + (FAST_RT,)))
    lines.append("")
    hdr = "%-6s %-25s %-26s %-22s %-10s %-15s %6s %7s %7s %5s %s" % (
        "work", "implementation", "items/s median [min..max]",
        "cpu ns/item [min..max]", "load", "rt", "RSS MB", "ratio", "spsc", "lim", "notes")
    lines.append(hdr)
    lines.append("-" * len(hdr))

    def row(a):
        w = a["workload"]
        if "p99_ns" in a:
            perf = "p50 %s p99 %s max %s us" % (us(a["p50_ns"]), us(a["p99_ns"]),
                                                us(a["max_ns"]))
        else:
            perf = "%s [%s..%s]" % (si(a["rate_median"]), si(a["rate_min"]),
                                    si(a["rate_max"]))
        if a["cpu_ns_median"] is not None:
            cpu = "%s [%s..%s]" % (si(a["cpu_ns_median"]), si(a["cpu_ns_min"]),
                                   si(a["cpu_ns_max"]))
        else:
            cpu = "-"
        load = ("%.1f-%.1f" % (a["load_min"], a["load_max"])
                if a["load_min"] is not None else "-")
        notes = a["notes"] if a["notes"] != "-" else ""
        notes = (notes + " " if notes else "") + "n=%s" % si(a["items"])
        if a["pinned"]:
            notes += " pinned"
        if a["noisy"]:
            notes = "NOISY " + notes
        lim = "-" if a.get("of_limit") is None else "%.2f" % a["of_limit"]
        rt = ("%.0f [%.0f..%.0f]" % (a["rt_median"], a["rt_min"], a["rt_max"])
              if a.get("rt_median") is not None else "-")
        return "%-6s %-25s %-26s %-22s %-10s %-15s %6.1f %7s %7s %5s %s" % (
            w, a["impl"], perf, cpu, load, rt, a["rss_kb_max"] / 1024.0,
            fmt_ratio(a.get("ratio")), fmt_ratio(a.get("ratio_spsc")), lim, notes)

    rows = sorted(agg.values(), key=order_key)
    for w in WORKLOADS + sorted({a["workload"] for a in rows} - set(WORKLOADS)):
        ws = [a for a in rows if a["workload"] == w]
        if not ws:
            continue
        lines.append("%s: %s" % (w, DESCRIPTION.get(w, "")))
        for a in ws:
            if a["bounded"]:
                lines.append(row(a))
        unb = [a for a in ws if not a["bounded"]]
        if unb:
            lines.append("       unbounded peers (not counted):")
            for a in unb:
                lines.append(row(a))
        lines.append("")
    w4 = [a for a in rows if a["workload"] == "W4"]
    if w4:
        lines.append("W4 per-item overhead (wall time / items): " + ", ".join(
            "%s %s" % (a["impl"], ns_per(a["rate_median"])) for a in w4))
    if instr:
        lines.append("")
        lines.append("instructions per item (valgrind callgrind, all threads, "
                     "difference of two item counts; ratio = peer / conveyor)")
        for r in instr:
            lines.append("%-6s %-21s %10.0f %9s" % (
                r["workload"], r["impl"], r["instr_per_item"],
                "-" if r["ratio"] is None else "%.2fx" % r["ratio"]))
    lines.append("")
    lines.append("targets (ratios from this run; the second figure: the same ratio of the "
                 "medians over the repetitions within %gx of the fastest round trip)" % FAST_RT)
    for t in tgts:
        val = "-" if t["ratio"] is None else "%.2f" % t["ratio"]
        fast = "" if t.get("ratio_fast") is None else "%.2f" % t["ratio_fast"]
        lines.append("  %-7s %-48s %8s %8s%s" % (
            t["status"], t["target"], val, fast,
            "  (" + t["note"] + ")" if t["note"] else ""))
    met = sum(t["status"] == "MET" for t in tgts)
    missed = sum(t["status"] == "MISSED" for t in tgts)
    na = sum(t["status"] == "N/A" for t in tgts)
    noisy = [a["workload"] + " " + a["impl"] for a in rows if a["noisy"]]
    lines.append("  %d MET, %d MISSED, %d N/A" % (met, missed, na))
    lines.append("  noisy rows (max/min > %g): %s" % (NOISY, ", ".join(noisy) or "none"))
    chart = text_chart(agg)
    if chart:
        lines.append("")
        lines.extend(chart)
    return "\n".join(lines) + "\n", missed


def chart_bars(agg):
    """The chart's bars: (workload, label, ratio, lo, hi, unbounded) for
    conveyor against each peer, and conveyor-spsc against its two peers."""
    bars = []
    rows = sorted(agg.values(), key=order_key)
    for w in WORKLOADS:
        for suffix, ref in (("", conveyor_impl(agg, w)), ("_spsc", "conveyor-spsc")):
            if (w, ref) not in agg:
                continue
            for a in rows:
                if a["workload"] != w or a.get("ratio" + suffix) is None:
                    continue
                # conveyor-spsc's own bars: against its two targets only.
                if suffix and a["impl"] not in ("limit", "moodycamel-spsc"):
                    continue
                rng = a.get("ratio_range" + suffix) or [a["ratio" + suffix]] * 2
                bars.append((w, "%s / %s" % (ref, a["impl"]), a["ratio" + suffix],
                             rng[0], rng[1], not a["bounded"]))
    return bars


CHART_LO, CHART_HI = 0.01, 1000.0  # the charts' ratio axis, log scale


def chart_pos(v):
    """Where ratio v falls on the charts' axis, from 0 (CHART_LO) to 1."""
    import math
    v = min(max(v, CHART_LO), CHART_HI)
    return (math.log10(v) - math.log10(CHART_LO)) / (
        math.log10(CHART_HI) - math.log10(CHART_LO))


def text_chart(agg):
    """The chart as text for results.txt (and a terminal): a log scale from
    0.01x to 1000x, `|` at 1x, the bar from 1x to the median ratio (`#`
    ahead, `=` behind, `:` an unbounded peer), then the ratio and the range
    of the per-repetition ratios."""
    bars = chart_bars(agg)
    if not bars:
        return []
    cols = 40

    def x(v):
        return int(round(chart_pos(v) * cols))

    one = x(1)
    scale = [" "] * (cols + 1)
    for v, t in ((0.01, "0.01x"), (1, "1x"), (100, "100x")):
        at = max(0, min(x(v) - len(t) // 2, cols + 1 - len(t)))
        scale[at:at + len(t)] = t
    width = max(len(b[1]) for b in bars) + 2
    lines = ["chart: conveyor / peer, items/s (W5: p99 latency), log scale; "
             "bar to the median ratio, then [min..max] of the per-repetition ratios",
             "%-*s %s" % (width + 2, "", "".join(scale))]
    last = None
    for w, label, r, lo, hi, unb in bars:
        if w != last:
            lines.append("%s: %s" % (w, DESCRIPTION.get(w, "")))
            last = w
        cells = [" "] * (cols + 1)
        xr = x(r)
        for i in range(min(xr, one), max(xr, one) + 1):
            cells[i] = ":" if unb else ("#" if r >= 1 else "=")
        cells[one] = "|"
        lines.append("  %-*s %s %7s [%s..%s]%s" % (
            width, label, "".join(cells), "%.2fx" % r, "%.2f" % lo, "%.2f" % hi,
            " unbounded" if unb else ""))
    return lines


def svg_chart(agg, meta):
    """conveyor's ratio to each peer per workload (log scale), the bar at the
    median ratio, the whisker over the per-repetition ratios."""
    bars = chart_bars(agg)
    if not bars:
        return None
    left, width, bar_h, gap = 300, 520, 14, 4
    x0, x1 = left, left + width

    def x(v):
        return x0 + chart_pos(v) * width

    out, y, last = [], 60, None
    for w, label, r, lo, hi, unb in bars:
        if w != last:
            y += 10
            out.append('<text x="8" y="%d" font-weight="bold">%s: %s</text>' % (
                y + 10, w, esc(DESCRIPTION.get(w, ""))))
            y += bar_h + gap
            last = w
        colour = "#9aa" if unb else ("#2a7" if r >= 1 else "#d54")
        out.append('<text x="%d" y="%d" text-anchor="end">%s%s</text>' % (
            left - 6, y + 11, esc(label), " (unbounded)" if unb else ""))
        xr = x(r)
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>' % (
            min(x(1), xr), y, abs(xr - x(1)), bar_h, colour))
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#222"/>' % (
            x(lo), x(hi), y + bar_h // 2, y + bar_h // 2))
        for v in (lo, hi):
            out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#222"/>' % (
                x(v), x(v), y + 3, y + bar_h - 3))
        out.append('<text x="%d" y="%d">%.2fx</text>' % (x1 + 6, y + 11, r))
        y += bar_h + gap
    height = y + 40
    grid = []
    for v in (0.01, 0.1, 0.5, 1, 2, 10, 100, 1000):
        grid.append('<line x1="%.1f" x2="%.1f" y1="50" y2="%d" stroke="%s"/>' % (
            x(v), x(v), y, "#000" if v == 1 else "#ddd"))
        grid.append('<text x="%.1f" y="%d" text-anchor="middle">%gx</text>' % (
            x(v), y + 16, v))
    title = ("conveyor / peer, items/s (W5: p99 latency), median of %s "
             "repetitions; whiskers: range of per-repetition ratios" % meta.get("reps", "?"))
    sub = "  ".join("%s=%s" % kv for kv in meta.items())
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
            'font-family="sans-serif" font-size="11">\n'
            '<rect width="100%%" height="100%%" fill="#fff"/>\n'
            '<text x="8" y="18" font-size="13" font-weight="bold">%s</text>\n'
            '<text x="8" y="36" fill="#555">%s</text>\n%s\n%s\n'
            '<text x="8" y="%d" fill="#555">green: conveyor ahead; red: behind; '
            'grey: unbounded peer (not counted)</text>\n</svg>\n' % (
                x1 + 70, height, esc(title), esc(sub), "\n".join(grid),
                "\n".join(out), height - 8))


def esc(t):
    return t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cell(a, c):
    v = a.get(c)
    if v is None:
        return ""
    if isinstance(v, float):
        return "%.4f" % v if "ratio" in c or c == "of_limit" else "%.1f" % v
    return str(v)


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    raw, outdir = args[0], args[1]
    strict = "--strict" in args
    meta = {}
    i = 2
    while i < len(args):
        if args[i] == "--meta" and i + 1 < len(args):
            k, _, v = args[i + 1].partition("=")
            meta[k] = v
            i += 2
        else:
            i += 1
    rows = parse(raw)
    agg = aggregate(rows)
    if not agg:
        print("report.py: no results in %s" % raw, file=sys.stderr)
        return 1
    tgts = targets(agg)
    instr = instr_table(rows)
    text, missed = render(agg, tgts, instr, meta)
    sys.stdout.write(text)
    with open(outdir + "/results.txt", "w") as f:
        f.write(text)
    cols = ["workload", "impl", "runs", "items", "rate_median", "rate_min",
            "rate_max", "cpu_ns_median", "cpu_ns_min", "cpu_ns_max", "load_min",
            "load_max", "rt_median", "rt_min", "rt_max", "fast_reps", "rate_fast",
            "cpu_ns_fast", "noisy", "rss_kb_max", "p50_ns", "p99_ns", "max_ns",
            "ratio", "cpu_ratio", "ratio_spsc", "of_limit", "notes"]
    with open(outdir + "/results.tsv", "w") as f:
        f.write("\t".join(cols) + "\n")
        for a in sorted(agg.values(), key=order_key):
            f.write("\t".join(cell(a, c) for c in cols) + "\n")
    with open(outdir + "/results.json", "w") as f:
        json.dump({"meta": meta,
                   "results": sorted(agg.values(), key=order_key),
                   "instructions": instr, "targets": tgts}, f, indent=1)
        f.write("\n")
    svg = svg_chart(agg, meta)
    if svg:
        with open(outdir + "/ratios.svg", "w") as f:
            f.write(svg)
    return 3 if strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
