#!/usr/bin/env bash
# bench/moving.sh - the moving bottleneck: automatic workers against every
# fixed layout of the same thread count, and against the seed's 3/4/5.
#
#   bench/moving.sh [--reps N] [--kinds cpu,sleep] [--quick]
#
# Three stages; stage 1 is slow for the first half of the items, stage 3
# for the second half (bench/pipeline_autotune.c).  `cpu`: the stages
# compute (a fixed loop, calibrated once per run; slow 200 us, fast 20 us,
# 16,000 items), every layout of 6 threads, automatic workers with
# max_workers 6.  `sleep`: the stages sleep as if waiting on I/O (slow 2 ms,
# fast 200 us, 4,000 items), every layout of 8 threads, automatic workers
# with max_workers 8 and with the default budget.  Every configuration runs
# once per repetition, in an order that rotates, and the table shows the
# median wall time with [min..max], the median CPU time (user + system) and
# context switches per item.  auto/x is automatic workers' median time over
# the row's: below 1 means automatic workers finished first.
#
# Run it under the benchmark lock:  flock /tmp/conveyor-bench.lock bench/moving.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD:-$root/build/bench-moving}
reps=3 kinds=cpu,sleep quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=$2; shift ;;
    --kinds) kinds=$2; shift ;;
    --quick) quick=1 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "moving.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

{ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCV_BUILD_BENCH=ON \
    -DCV_BUILD_TESTS=OFF -DCV_BUILD_EXAMPLES=OFF -DCV_BUILD_PHOTOPIPE=OFF &&
  cmake --build "$build" -j"${JOBS:-2}" --target bench_pipeline_autotune; } \
  >"$build.log" 2>&1 || { tail -30 "$build.log" >&2; exit 1; }
drv=$build/bench/bench_pipeline_autotune
raw=$build/moving-raw.tsv
: >"$raw"

layouts() { # every a,b,c >= 1 with a+b+c = $1
  for ((a = 1; a < $1 - 1; a++)); do
    for ((b = 1; a + b < $1; b++)); do echo "$a,$b,$(($1 - a - b))"; done
  done
}

IFS=, read -r -a kind_list <<<"$kinds"
for kind in "${kind_list[@]}"; do
  case "$kind" in
    cpu) total=6; items=16000; args="--slow-us 200 --fast-us 20"
         [ "$quick" = 1 ] && items=2000
         k=$("$drv" --calibrate); args="$args --spin-per-us $k"
         echo "moving: cpu: $k loop iterations per us" >&2
         configs=("auto:--layout auto --max-workers $total") ;;
    sleep) total=8; items=4000; args="--slow-us 2000 --fast-us 200"
           [ "$quick" = 1 ] && items=800
           configs=("auto:--layout auto --max-workers $total"
                    "auto-default:--layout auto") ;;
    *) echo "moving.sh: unknown kind $kind" >&2; exit 2 ;;
  esac
  for l in $(layouts $total) 3,4,5; do configs+=("$l:--layout $l"); done
  n=${#configs[@]}
  for ((r = 0; r < reps; r++)); do
    for ((i = 0; i < n; i++)); do
      c=${configs[$(((i + r * 7) % n))]}
      name=${c%%:*}
      line=$("$drv" --kind "$kind" --items "$items" $args ${c#*:}) ||
        { echo "moving: $kind $name failed" >&2; exit 1; }
      printf '%s\t%s\t%s\n' "$kind" "$name" "$line" >>"$raw"
      echo "moving: $kind rep $((r + 1))/$reps $name: $(grep -o 'secs=[0-9.]*' <<<"$line" | head -1)" >&2
    done
  done
done

python3 - "$raw" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    kind, name, *fields = line.rstrip("\n").split("\t")
    kv = dict(f.split("=", 1) for f in fields if "=" in f)
    rows.setdefault(kind, {}).setdefault(name, []).append(kv)
for kind, configs in rows.items():
    med = {n: statistics.median(float(r["secs"]) for r in rs) for n, rs in configs.items()}
    auto = med["auto"]
    print(f"\nmoving bottleneck, {kind} stages ({configs['auto'][0]['items']} items, "
          f"{len(configs['auto'])} reps; times are medians)")
    print(f"{'layout':<13} {'threads':>7} {'wall s':>7} {'[min..max]':>15} {'CPU s':>6} "
          f"{'csw/item':>8} {'peak':>7} {'auto/x':>6}")
    order = sorted(configs, key=lambda n: (not n.startswith("auto"), n == "3,4,5", med[n]))
    for n in order:
        rs = configs[n]
        secs = [float(r["secs"]) for r in rs]
        cpu = statistics.median(float(r["cpu_secs"]) for r in rs)
        csw = statistics.median(float(r["csw"]) / float(r["items"]) for r in rs)
        peak = "/".join(str(max(int(r["peak"].split("/")[i]) for r in rs)) for i in range(3))
        print(f"{n:<13} {rs[0]['threads']:>7} {med[n]:7.3f} {'[%.2f..%.2f]' % (min(secs), max(secs)):>15} "
              f"{cpu:6.2f} {csw:8.2f} {peak:>7} {auto / med[n]:6.2f}")
    static = {n: s for n, s in med.items() if not n.startswith("auto") and n != "3,4,5"}
    best = min(static, key=static.get)
    r1 = auto / static[best]
    r2 = med["3,4,5"] / auto
    print(f"auto vs the best static layout ({best}): {r1:.2f}x its time "
          f"(target <= 1.15: {'MET' if r1 <= 1.15 else 'MISSED'})")
    print(f"auto vs the seed's 3/4/5: {r2:.2f}x faster "
          f"(target >= 1.5: {'MET' if r2 >= 1.5 else 'MISSED'})")
    if "auto-default" in med:
        print(f"auto with the default budget vs 3/4/5: {med['3,4,5'] / med['auto-default']:.2f}x faster")
EOF
