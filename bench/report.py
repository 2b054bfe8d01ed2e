"""bench/report.py - turns the drivers' result lines into the benchmark table.

Usage: report.py RAW OUTDIR [--meta key=value ...] [--strict]

RAW holds, one per line, the tab-separated key=value lines the drivers print
("result ...") and the instruction counts run.sh measured ("instr ...").
Writes OUTDIR/results.tsv (one row per workload and implementation),
OUTDIR/results.json (everything, plus the targets) and OUTDIR/results.txt (the
table as printed).  The table gives items/s as median [min..max] over the
repetitions, the largest peak RSS of any repetition, and conveyor's ratio to
each peer (conveyor's median / the peer's median: above 1 means conveyor is
faster); for W5, latency p50/p99/max (medians over repetitions) and the ratio
peer p99 / conveyor p99 (above 1 means conveyor wakes faster).  The targets
are checked on these ratios only, all from this one run.  Python standard
library only.
"""
import json
import statistics
import sys

# Display order.
WORKLOADS = ["W1", "W2", "W2x16", "W3", "W4", "W5", "W6"]
IMPLS = ["conveyor-pipeline", "conveyor", "mutex+condvar", "glib",
         "glib-bounded", "tbb", "moodycamel", "crossbeam", "go", "python",
         "python-seed"]
DESCRIPTION = {
    "W1": "1P1C, capacity 1024",
    "W2": "4P4C, capacity 1024",
    "W2x16": "16P16C, capacity 1024",
    "W3": "1P1C, capacity 1 (hand-off)",
    "W4": "pipeline 3/4/5 workers, no-op stages",
    "W5": "wake-up latency, 1 item per ms",
    "W6": "batches of 64, 1P1C, capacity 1024",
}
UNBOUNDED = {"glib", "moodycamel"}


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


def aggregate(rows):
    groups = {}
    for r in rows:
        if r["kind"] == "result":
            groups.setdefault((r["workload"], r["impl"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        rates = [float(r["rate"]) for r in rs]
        a = {
            "workload": key[0], "impl": key[1], "runs": len(rs),
            "items": int(rs[0]["items"]),
            "rate_median": statistics.median(rates),
            "rate_min": min(rates), "rate_max": max(rates),
            "rss_kb_max": max(int(r["rss_kb"]) for r in rs),
            "notes": rs[0].get("notes", "-"),
        }
        if "p99_ns" in rs[0]:
            for k in ("p50_ns", "p99_ns", "max_ns"):
                a[k] = statistics.median(float(r[k]) for r in rs)
            a["p99_ns_min"] = min(float(r["p99_ns"]) for r in rs)
            a["p99_ns_max"] = max(float(r["p99_ns"]) for r in rs)
        out[key] = a
    for (w, impl), a in out.items():
        cv = out.get((w, conveyor_impl(out, w)))
        if cv is None or impl == cv["impl"] or is_variant(impl):
            a["ratio"] = None
        elif w == "W5":
            a["ratio"] = a["p99_ns"] / cv["p99_ns"] if cv["p99_ns"] else None
        else:
            a["ratio"] = cv["rate_median"] / a["rate_median"]
    return out


def targets(agg):
    res = []

    def ratio(w, peer):
        a = agg.get((w, peer))
        return None if a is None else a.get("ratio")

    def add(name, value, need, strict_gt=False, note=""):
        if value is None:
            res.append({"target": name, "ratio": None, "need": need,
                        "status": "N/A", "note": note or "not measured"})
            return
        ok = value > need if strict_gt else value >= need
        res.append({"target": name, "ratio": value, "need": need,
                    "status": "MET" if ok else "MISSED", "note": note})

    for w in ("W1", "W2", "W3", "W6"):
        for peer, need, gt in (("glib", 2.0, False), ("glib-bounded", 2.0, False),
                               ("mutex+condvar", 2.0, False), ("tbb", 1.0, True),
                               ("moodycamel", 1.0, True), ("python", 100.0, False)):
            name = "%s conveyor/%s %s %g" % (w, peer, ">" if gt else ">=", need)
            if w == "W3" and peer in UNBOUNDED:
                add(name, None, need, gt,
                    "unbounded: capacity 1 does not apply, no hand-off to compare")
            else:
                add(name, ratio(w, peer), need, gt)
    a2, a16 = agg.get(("W2", "conveyor")), agg.get(("W2x16", "conveyor"))
    add("W2x16 conveyor 16P16C / 4P4C >= 0.5",
        a16["rate_median"] / a2["rate_median"] if a2 and a16 else None, 0.5)
    cv4 = conveyor_impl(agg, "W4")
    add("W4 %s/python-seed >= 50" % cv4, ratio("W4", "python-seed"), 50.0)
    add("W4 %s/glib >= 1" % cv4, ratio("W4", "glib"), 1.0)
    add("W4 %s/glib-bounded >= 1" % cv4, ratio("W4", "glib-bounded"), 1.0)
    add("W5 p99 mutex+condvar/conveyor >= 1", ratio("W5", "mutex+condvar"), 1.0)
    # Batched pipeline configurations: shown, not counted.
    for (w, impl), a in sorted(agg.items()):
        if w == "W4" and is_variant(impl):
            for peer, need in (("python-seed", 50.0), ("glib", 1.0)):
                p = agg.get((w, peer))
                if p:
                    res.append({"target": "W4 %s/%s >= %g" % (impl, peer, need),
                                "ratio": a["rate_median"] / p["rate_median"],
                                "need": need, "status": "INFO",
                                "note": "batched configuration, not counted"})
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


def render(agg, tgts, instr, meta):
    lines = []
    lines.append("conveyor benchmark  %s" % "  ".join(
        "%s=%s" % kv for kv in meta.items()))
    lines.append("ratio = conveyor median / peer median (W5: peer p99 / "
                 "conveyor p99); above 1 means conveyor is ahead")
    lines.append("")
    hdr = "%-6s %-21s %-34s %-30s %10s %8s" % (
        "work", "implementation", "notes", "items/s median [min..max]",
        "peak RSS", "ratio")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    last = None
    for a in sorted(agg.values(), key=order_key):
        w = a["workload"]
        if w != last:
            if last is not None:
                lines.append("")
            lines.append("%s: %s" % (w, DESCRIPTION.get(w, "")))
            last = w
        if "p99_ns" in a:
            perf = "p50 %s p99 %s max %s us" % (us(a["p50_ns"]), us(a["p99_ns"]),
                                                us(a["max_ns"]))
        else:
            perf = "%s [%s..%s]" % (si(a["rate_median"]), si(a["rate_min"]),
                                    si(a["rate_max"]))
        ratio = "-" if a["ratio"] is None else "%.2fx" % a["ratio"]
        notes = a["notes"] if a["notes"] != "-" else ""
        notes = (notes + " " if notes else "") + "n=%s" % si(a["items"])
        lines.append("%-6s %-21s %-34s %-30s %7.1f MB %8s" % (
            w, a["impl"], notes[:34], perf, a["rss_kb_max"] / 1024.0, ratio))
    w4 = [a for a in sorted(agg.values(), key=order_key) if a["workload"] == "W4"]
    if w4:
        lines.append("")
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
    lines.append("targets (ratios from this run)")
    for t in tgts:
        val = "-" if t["ratio"] is None else "%.2f" % t["ratio"]
        lines.append("  %-7s %-44s %8s%s" % (
            t["status"], t["target"], val,
            "  (" + t["note"] + ")" if t["note"] else ""))
    met = sum(t["status"] == "MET" for t in tgts)
    missed = sum(t["status"] == "MISSED" for t in tgts)
    na = sum(t["status"] == "N/A" for t in tgts)
    lines.append("  %d MET, %d MISSED, %d N/A" % (met, missed, na))
    return "\n".join(lines) + "\n", missed


def cell(a, c):
    v = a.get(c)
    if v is None:
        return ""
    if isinstance(v, float):
        return "%.4f" % v if c == "ratio" else "%.1f" % v
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
            "rate_max", "rss_kb_max", "p50_ns", "p99_ns", "max_ns", "ratio",
            "notes"]
    with open(outdir + "/results.tsv", "w") as f:
        f.write("\t".join(cols) + "\n")
        for a in sorted(agg.values(), key=order_key):
            f.write("\t".join(cell(a, c) for c in cols) + "\n")
    with open(outdir + "/results.json", "w") as f:
        json.dump({"meta": meta,
                   "results": sorted(agg.values(), key=order_key),
                   "instructions": instr, "targets": tgts}, f, indent=1)
        f.write("\n")
    return 3 if strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
