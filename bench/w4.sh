#!/usr/bin/env bash
# bench/w4.sh - W4 (the seed's 3/4/5 pipeline of no-op stages, three queues
# of capacity 1024, 1,000,000 items) for conveyor's pipeline, one item at a
# time and with automatic batching, each with the seed's 3/4/5 workers and
# with automatic workers, against the 3/4/5 pipeline wired by hand from
# conveyor's queues, Go channels and crossbeam channels; with each
# process's CPU time and context switches per item, and the most workers
# each automatic stage ran (peak).
#
#   bench/w4.sh [--reps N] [--items N]
#
# The drivers and their commands are bench/run.sh's (built by its --dry-run
# into build/bench-w4).  The implementations run interleaved, the order
# rotating in every repetition; the table shows medians.  CPU time (user +
# system) and context switches (voluntary + involuntary) come from each
# process's rusage (wait4), so they cover every thread of the run.
#
# Before every run it measures the inter-CPU round trip (bench/probe.c):
# each cross-CPU hand-off pays it, and on a virtual machine it moves with
# the host's placement of the virtual CPUs.  The table shows its median per
# implementation, and a second table splits the repetitions by it: those
# within twice the run's fastest round trip, and the others.
#
# Run it under the benchmark lock:  flock /tmp/conveyor-bench.lock bench/w4.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reps=5 items=1000000
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=$2; shift ;;
    --items) items=$2; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "w4.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
export BENCH_BUILD=${BENCH_BUILD:-$root/build/bench-w4} BENCH_ITEMS_W4=$items
cmds=$("$root/bench/run.sh" --dry-run --only W4 --no-instr \
         --impls conveyor_pipeline_b1,conveyor_pipeline,conveyor_pipeline_auto_b1,conveyor_pipeline_auto,conveyor,go,crossbeam)
python3 - "$reps" "$BENCH_BUILD/bench/bench_probe" <<EOF
import os, shlex, statistics, subprocess, sys
reps = int(sys.argv[1])
probe = sys.argv[2]
def round_trip():
    try:
        out = subprocess.run([probe], capture_output=True, text=True).stdout
        return float(out.split("rt_ns=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return -1.0
cmds = [l for l in """$cmds""".splitlines() if l.strip()]
runs = {}
for r in range(reps):
    for i in range(len(cmds)):
        cmd = cmds[(i + r) % len(cmds)]
        rt = round_trip()
        p = subprocess.Popen(shlex.split(cmd), stdout=subprocess.PIPE, text=True)
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        if status != 0:
            sys.exit("w4: failed (%d): %s" % (status, cmd))
        line = next(l for l in out.splitlines() if l.startswith("result"))
        kv = dict(f.split("=", 1) for f in line.split("\t")[1:])
        n = float(kv["items"])
        runs.setdefault(kv["impl"], []).append({
            "rate": float(kv["rate"]),
            "cpu_ns": (ru.ru_utime + ru.ru_stime) * 1e9 / n,
            "csw": (ru.ru_nvcsw + ru.ru_nivcsw) / n,
            "rt": rt,
            "notes": kv.get("notes", "-") + (" peak=" + kv["peak"] if "peak" in kv else "")})
        print("w4: rep %d/%d %-24s %12.0f items/s %6.0f ns round trip" % (
              r + 1, reps, kv["impl"], float(kv["rate"]), rt), file=sys.stderr)
med = lambda rs, k: statistics.median(x[k] for x in rs)
print("W4: 3/4/5 workers, no-op stages, 3 queues of capacity 1024, %d items, %d reps "
      "(medians; CPU and context switches per item)" % (int(n), reps))
print("%-24s %12s %17s %9s %9s %8s %8s  %s" % ("impl", "items/s", "[min..max] M/s", "CPU/item",
                                                "csw/item", "wall/item", "rt", "notes"))
for impl, rs in sorted(runs.items(), key=lambda kv: -med(kv[1], "rate")):
    rates = [x["rate"] for x in rs]
    print("%-24s %12.0f %17s %7.0fns %9.4f %7.0fns %6.0fns  %s" % (
        impl, med(rs, "rate"), "[%.2f..%.2f]" % (min(rates) / 1e6, max(rates) / 1e6),
        med(rs, "cpu_ns"), med(rs, "csw"), 1e9 / med(rs, "rate"), med(rs, "rt"),
        rs[0]["notes"]))
rts = [x["rt"] for rs in runs.values() for x in rs if x["rt"] > 0]
if rts:
    cut = 2 * min(rts)
    print("by round trip: repetitions within twice the fastest (<= %.0f ns) and above it; "
          "median items/s (count)" % cut)
    for impl, rs in sorted(runs.items(), key=lambda kv: -med(kv[1], "rate")):
        cells = []
        for sel in ([x for x in rs if 0 < x["rt"] <= cut], [x for x in rs if x["rt"] > cut]):
            cells.append("%8.2fM (%d)" % (med(sel, "rate") / 1e6, len(sel)) if sel
                         else "%8s (0)" % "-")
        print("%-24s %s   %s" % (impl, cells[0], cells[1]))
def ratio(a, b, what):
    if a in runs and b in runs:
        print("%-52s %6.2f" % ("%s / %s %s" % (a, b, what),
              med(runs[a], "rate") / med(runs[b], "rate") if what == "items/s"
              else med(runs[a], "csw") / max(med(runs[b], "csw"), 1e-9)))
pipes = ("conveyor-pipeline-b1", "conveyor-pipeline",
         "conveyor-pipeline-auto-b1", "conveyor-pipeline-auto")
for a in pipes:
    for b in ("go", "crossbeam", "conveyor"):
        ratio(a, b, "items/s")
for a in pipes:
    ratio(a, "conveyor", "csw/item")
EOF
