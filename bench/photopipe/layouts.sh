#!/usr/bin/env bash
# bench/photopipe/layouts.sh - photopipe with automatic workers (its default,
# -w auto) against hand-picked worker layouts, at each latency of
# bench/photopipe/run.sh (+0 and +20 ms per request).
#
#   bench/photopipe/layouts.sh [--reps N] [COUNT]
#
# Runs bench/photopipe/run.sh N times (default 3) with BENCH_PP_LAYOUTS (the
# layouts; default below: today's fixed default 4,2,4 on 2 cores, the
# seed's 3,4,5, and others of 10 threads) and BENCH_PP_ONLY (no peers), the
# order of the layouts rotating between repetitions, and prints medians:
# photos/s, CPU seconds, the largest peak RSS, and auto's time over the
# best layout's.  Other settings as run.sh (BENCH_SIZE, BENCH_LATENCIES...).
#
# Run it under the benchmark lock:
#   flock /tmp/conveyor-bench.lock bench/photopipe/layouts.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
reps=3
if [ "${1:-}" = --reps ]; then reps=$2; shift 2; fi
count=${1:-${BENCH_COUNT:-200}}
read -r -a layouts <<<"${BENCH_PP_LAYOUTS:-4,2,4 3,4,5 2,2,6 6,2,2 3,2,5 5,2,3 3,3,4 4,3,3}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((r = 0; r < reps; r++)); do
  n=${#layouts[@]} rot=()
  for ((i = 0; i < n; i++)); do rot+=("${layouts[$(((i + r) % n))]}"); done
  echo "layouts: repetition $((r + 1))/$reps" >&2
  BENCH_PP_RESULTS=$out BENCH_PP_ONLY=1 BENCH_PP_LAYOUTS="${rot[*]}" \
    "$here/run.sh" "$count" >/dev/null
done
python3 - "$out" "$count" "$reps" <<'EOF'
import statistics, sys
n, reps = int(sys.argv[2]), int(sys.argv[3])
rows = {}
for line in open(sys.argv[1]):
    label, lat, secs, cpu, rss = line.rstrip("\n").split("\t")
    rows.setdefault(lat, {}).setdefault(label, []).append((float(secs), float(cpu), int(rss)))
for lat, labels in rows.items():
    med = {l: statistics.median(x[0] for x in v) for l, v in labels.items()}
    print(f"\nphotopipe, +{lat} ms per request, {n} photos, {reps} reps (medians)")
    print(f"{'workers':<22} {'photos/s':>8} {'[min..max]':>13} {'CPU s':>6} {'peak RSS MB':>11} {'auto/x':>6}")
    auto = med["photopipe"]
    for l in sorted(labels, key=lambda l: med[l]):
        v = labels[l]
        rates = [n / x[0] for x in v]
        name = "auto (default)" if l == "photopipe" else l.replace("photopipe ", "")
        print(f"{name:<22} {n / med[l]:8.1f} {'[%.1f..%.1f]' % (min(rates), max(rates)):>13} "
              f"{statistics.median(x[1] for x in v):6.1f} {max(x[2] for x in v) / 1024:11.0f} "
              f"{auto / med[l]:6.2f}")
    fixed = {l: s for l, s in med.items() if l != "photopipe"}
    best = min(fixed, key=fixed.get)
    r = auto / fixed[best]
    rss_auto = max(x[2] for x in labels["photopipe"])
    rss_default = max(x[2] for x in labels.get("photopipe -w 4,2,4", [(0, 0, 0)]))
    print(f"auto vs the best layout ({best.replace('photopipe ', '')}): {r:.2f}x its time "
          f"(target <= 1.10: {'MET' if r <= 1.10 else 'MISSED'}); peak RSS {rss_auto / 1024:.0f} MB "
          f"vs {rss_default / 1024:.0f} MB for the old fixed default 4,2,4")
EOF
