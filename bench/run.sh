#!/usr/bin/env bash
# bench/run.sh - build the benchmark drivers and run every workload for
# conveyor and each peer in one run, then print the table of ratios.
#
#   bench/run.sh [--quick] [--reps N] [--only W1,W4,...] [--impls a,b,...]
#                [--pin] [--no-instr] [--strict] [--dry-run]
#
#   --quick     small sizes, 3 repetitions, no instruction counts: about a
#               minute, to see that everything works and roughly where
#               things stand
#   --reps N    repetitions (default 7); implementations alternate in each
#   --only      workloads to run (W1 W2 W2x16 W3 W4 W5 W6)
#   --impls     drivers to run (conveyor conveyor_spsc limit
#               conveyor_pipeline conveyor_pipeline_b1 conveyor_pipeline_b64
#               conveyor_pipeline_auto conveyor_pipeline_auto_b1
#               mutexcv glib glib_bounded tbb moodycamel moodycamel_tok moodycamel_spsc
#               crossbeam go python)
#   --pin       pin each C/C++ driver's threads to distinct CPUs (BENCH_PIN=1)
#   --no-instr  skip the instruction counts under valgrind callgrind
#   --strict    exit 3 when a target is missed
#   --dry-run   build, then print the commands a run would make, and stop
#
# Sizes can be overridden per workload: BENCH_ITEMS_W1=..., and for Python
# BENCH_PY_ITEMS_W1=... (W4's Python is the seed program).  The build goes to
# build/bench (BENCH_BUILD), results to build/bench/results.{txt,tsv,json}
# with every raw result line in build/bench/raw.tsv.  A driver that fails
# (wrong count or checksum, crash, timeout) makes the run exit 1.  The
# build is Release (-O3) with -g, so that bench/profile.sh can name lines.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD:-$root/build/bench}
python=${PYTHON:-python3}
quick=0 reps=7 only="" impls="" instr=1 strict="" dry=0 pin=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --reps) reps=$2; shift ;;
    --only) only=$2; shift ;;
    --impls) impls=$2; shift ;;
    --no-instr) instr=0 ;;
    --pin) pin=1 ;;
    --strict) strict=--strict ;;
    --dry-run) dry=1 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  [ "$reps" = 7 ] && reps=3
  instr=0
fi
if [ "$pin" = 1 ]; then export BENCH_PIN=1; else unset BENCH_PIN; fi

# ---- build ----
mkdir -p "$build"
exec 9>"$build/.run.lock"
if ! flock -n 9; then
  echo "run.sh: another benchmark is running in $build; never run two at once" >&2
  exit 2
fi
echo "bench: building in $build" >&2
if ! { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCV_BUILD_BENCH=ON \
         -DCV_BUILD_TESTS=OFF -DCV_BUILD_EXAMPLES=OFF -DCV_BUILD_PHOTOPIPE=OFF \
         -DCMAKE_C_FLAGS=-g -DCMAKE_CXX_FLAGS=-g &&
       cmake --build "$build" -j"${JOBS:-2}"; } >"$build/build.log" 2>&1; then
  tail -40 "$build/build.log" >&2
  echo "bench: the build failed (all of it in $build/build.log)" >&2
  exit 1
fi
bin=$build/bench
rm -f "$bin/bench_conveyor_pipeline"
if [ -f "$root/include/conveyor/pipeline.h" ] &&
   ! cmake --build "$build" -j"${JOBS:-2}" --target bench_conveyor_pipeline \
       >"$build/pipeline-build.log" 2>&1; then
  echo "bench: conveyor's pipeline does not build yet (see $build/pipeline-build.log):" \
       "W4 uses conveyor queues wired by hand only" >&2
fi

if command -v go >/dev/null; then
  GOCACHE=$build/gocache GOTOOLCHAIN=local GOFLAGS= \
    go build -o "$bin/bench_go" "$root/bench/go/chanbench.go" ||
    { echo "bench: the Go driver did not build" >&2; exit 1; }
else
  rm -f "$bin/bench_go"
  echo "bench: no Go toolchain (golang-go): Go channels left out" >&2
fi

rm -f "$bin/bench_crossbeam"
if command -v cargo >/dev/null && ls -d /usr/share/cargo/registry/crossbeam-channel-* >/dev/null 2>&1; then
  # Offline, from Debian's librust-crossbeam-channel-dev; built in a copy so
  # that Cargo.lock stays out of the source tree.
  mkdir -p "$build/rust-src"
  cp "$root/bench/rust/Cargo.toml" "$build/rust-src/"
  cp -r "$root/bench/rust/src" "$build/rust-src/"
  (cd "$build/rust-src" && cargo build --release --offline --quiet -j"${JOBS:-2}" \
     --config 'source.crates-io.replace-with="debian"' \
     --config 'source.debian.directory="/usr/share/cargo/registry"' \
     --target-dir "$build/rust-target") ||
    { echo "bench: the crossbeam driver did not build" >&2; exit 1; }
  cp "$build/rust-target/release/bench_crossbeam" "$bin/bench_crossbeam"
else
  echo "bench: no cargo or no librust-crossbeam-channel-dev: crossbeam left out" >&2
fi

# ---- workloads: label, driver arguments, items (full, quick), Python items ----
# Sized so that each run takes a fraction of a second to a few seconds on 2
# cores: 7 repetitions of everything then fit in about 12 minutes.  Python
# runs fewer items where the full count would take minutes (it reports
# items/s all the same).
declare -A args full quick_n pyfull pyquick
args[W1]="--workload W1 --capacity 1024";                        full[W1]=5000000;  quick_n[W1]=500000; pyfull[W1]=100000;  pyquick[W1]=20000
args[W2]="--workload W2 --capacity 1024 --producers 4 --consumers 4";   full[W2]=2000000;  quick_n[W2]=200000; pyfull[W2]=50000;   pyquick[W2]=20000
args[W2x16]="--workload W2 --capacity 1024 --producers 16 --consumers 16"; full[W2x16]=1000000; quick_n[W2x16]=200000; pyfull[W2x16]=50000; pyquick[W2x16]=20000
args[W3]="--workload W3 --capacity 1";                           full[W3]=200000;   quick_n[W3]=20000;  pyfull[W3]=20000;   pyquick[W3]=2000
args[W4]="--workload W4 --capacity 1024 --stages 3,4,5";         full[W4]=1000000;  quick_n[W4]=50000;  pyfull[W4]=200000;  pyquick[W4]=20000
args[W5]="--workload W5 --capacity 1024 --period-us 1000";       full[W5]=1000;     quick_n[W5]=200;    pyfull[W5]=1000;    pyquick[W5]=200
args[W6]="--workload W6 --capacity 1024 --batch 64";             full[W6]=5000000;  quick_n[W6]=500000; pyfull[W6]=100000;  pyquick[W6]=20000
workloads=(W1 W2 W2x16 W3 W4 W5 W6)
[ -n "$only" ] && IFS=, read -r -a workloads <<<"$only"

all_impls=(conveyor conveyor_spsc limit mutexcv glib glib_bounded tbb moodycamel moodycamel_tok
           moodycamel_spsc crossbeam go python)
[ -x "$bin/bench_conveyor_pipeline" ] &&
  all_impls=(conveyor_pipeline conveyor_pipeline_b1 conveyor_pipeline_b64
             conveyor_pipeline_auto conveyor_pipeline_auto_b1 "${all_impls[@]}")
if [ -n "$impls" ]; then IFS=, read -r -a sel <<<"$impls"; else sel=("${all_impls[@]}"); fi
drivers=()
for d in "${sel[@]}"; do
  exe=${d%_b[0-9]*}; exe=${exe%_auto}   # a pipeline configuration's driver
  if [ "$d" = python ] || [ -x "$bin/bench_$exe" ]; then drivers+=("$d")
  else echo "bench: no driver bench_$d (library missing?), left out" >&2; fi
done

items_for() { # label driver
  local w=$1 d=$2 var
  if [ "$d" = python ]; then
    var=BENCH_PY_ITEMS_$w
    if [ -n "${!var:-}" ]; then echo "${!var}"; elif [ "$quick" = 1 ]; then echo "${pyquick[$w]}"; else echo "${pyfull[$w]}"; fi
  else
    var=BENCH_ITEMS_$w
    if [ -n "${!var:-}" ]; then echo "${!var}"; elif [ "$quick" = 1 ]; then echo "${quick_n[$w]}"; else echo "${full[$w]}"; fi
  fi
}

cmd_for() { # label driver items -> prints the command, or nothing if n/a
  local w=$1 d=$2 n=$3
  # Single-producer single-consumer queues run the 1P1C workloads only; the
  # spin-only limit ring only the streams (it never sleeps: W5 would burn a
  # CPU for the whole run).
  case "$d:$w" in
    conveyor_spsc:W[1356] | moodycamel_spsc:W[1356] | limit:W[13]) ;;
    conveyor_spsc:* | moodycamel_spsc:* | limit:*) return 0 ;;
  esac
  case "$d" in
    python)
      if [ "$w" = W4 ]; then echo "$python $root/bench/seed_pipeline.py --items $n --label W4"
      else echo "$python $root/bench/py_queue.py ${args[$w]} --items $n --label $w"; fi ;;
    conveyor_pipeline)
      if [ "$w" = W4 ]; then echo "$bin/bench_conveyor_pipeline ${args[$w]} --items $n --label W4"; fi ;;
    conveyor_pipeline_b1)
      if [ "$w" = W4 ]; then echo "env BENCH_PIPELINE_BATCH=1 $bin/bench_conveyor_pipeline ${args[$w]} --items $n --label W4"; fi ;;
    conveyor_pipeline_b64)
      if [ "$w" = W4 ]; then echo "env BENCH_PIPELINE_BATCH=64 $bin/bench_conveyor_pipeline ${args[$w]} --items $n --label W4"; fi ;;
    conveyor_pipeline_auto)
      if [ "$w" = W4 ]; then echo "env BENCH_PIPELINE_WORKERS=auto $bin/bench_conveyor_pipeline ${args[$w]} --items $n --label W4"; fi ;;
    conveyor_pipeline_auto_b1)
      if [ "$w" = W4 ]; then echo "env BENCH_PIPELINE_WORKERS=auto BENCH_PIPELINE_BATCH=1 $bin/bench_conveyor_pipeline ${args[$w]} --items $n --label W4"; fi ;;
    *) echo "$bin/bench_$d ${args[$w]} --items $n --label $w" ;;
  esac
}

# The inter-CPU round trip right before each run (bench/probe.c): on a
# virtual machine it moves with the host's placement of the virtual CPUs,
# and every cross-CPU hand-off pays it.  -1: not measured.
round_trip() {
  local v=""
  if [ -x "$bin/bench_probe" ]; then
    v=$("$bin/bench_probe" 2>/dev/null | grep -o 'rt_ns=[-0-9]*' | cut -d= -f2) || v=""
  fi
  echo "${v:--1}"
}

out=$build
raw=$out/raw.tsv
: >"$raw"
rm -f "$out"/results.txt "$out"/results.tsv "$out"/results.json
failed=0
timeout_s=${BENCH_TIMEOUT:-300}
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: ${#workloads[@]} workloads x ${#drivers[@]} implementations x $reps repetitions" \
     "(load average at start: $load)" >&2

for ((r = 0; r < reps; r++)); do
  for w in "${workloads[@]}"; do
    [ -n "${args[$w]:-}" ] || { echo "bench: unknown workload $w" >&2; exit 2; }
    nd=${#drivers[@]}
    for ((k = 0; k < nd; k++)); do
      d=${drivers[$(((k + r) % nd))]}   # rotate the order in every repetition
      n=$(items_for "$w" "$d")
      cmd=$(cmd_for "$w" "$d" "$n")
      [ -n "$cmd" ] || continue
      if [ "$dry" = 1 ]; then
        [ "$r" = 0 ] && echo "$cmd"
        continue
      fi
      rt=$(round_trip)
      if line=$(timeout "$timeout_s" $cmd 2>"$out/stderr.last"); then
        printf '%s\n' "$line" | grep '^result' | sed "s/\$/\trep=$r\trt_ns=$rt/" >>"$raw" || {
          echo "bench: FAILED: $w $d printed no result line" >&2; failed=1; }
        rate=$(printf '%s\n' "$line" | grep -o 'rate=[0-9.]*' | cut -d= -f2)
        cpu=$(printf '%s\n' "$line" | grep -o 'cpu_ns_per_item=[0-9.]*' | cut -d= -f2)
        printf 'bench: [%d/%d] %-6s %-18s %14.0f items/s %10s cpu ns/item %6s ns round trip\n' $((r + 1)) "$reps" "$w" "$d" "$rate" "${cpu:--}" "$rt" >&2
      else
        rc=$?
        echo "bench: FAILED (exit $rc): $cmd" >&2
        sed 's/^/    /' "$out/stderr.last" >&2
        failed=1
      fi
    done
  done
done

[ "$dry" = 1 ] && exit 0

# ---- instructions per item: valgrind callgrind, W1 and W3 ----
# Counted at two item counts and differenced, so start-up and thread creation
# cancel out.  Callgrind runs one thread at a time, so these are the
# instructions of an uncontended run: stable where seconds are not, once
# --fair-sched=yes makes the threads take turns in a fixed order (without it
# W3's count moves by a quarter from run to run).
if [ "$instr" = 1 ] && command -v valgrind >/dev/null; then
  for w in W1 W3; do
    if [ "$w" = W1 ]; then n1=100000; [ "$quick" = 1 ] && n1=20000
    else n1=10000; [ "$quick" = 1 ] && n1=2000; fi
    n2=$((n1 * 2))
    for d in "${drivers[@]}"; do
      case "$d" in python|go|limit|conveyor_pipeline*) continue ;; esac
      ir=()
      name=""
      for n in $n1 $n2; do
        cmd=$(cmd_for "$w" "$d" "$n")
        if ! timeout "$timeout_s" valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file=/dev/null \
             $cmd >"$out/stdout.last" 2>"$out/stderr.last"; then
          echo "bench: FAILED under callgrind: $cmd" >&2
          sed 's/^/    /' "$out/stderr.last" >&2
          failed=1; continue 2
        fi
        ir+=("$(grep -o 'Collected : [0-9]*' "$out/stderr.last" | grep -o '[0-9]*$')")
        name=$(grep -o 'impl=[^	]*' "$out/stdout.last" | cut -d= -f2)
      done
      per=$(awk -v a="${ir[0]}" -v b="${ir[1]}" -v n="$((n2 - n1))" 'BEGIN { printf "%.1f", (b - a) / n }')
      printf 'instr\tworkload=%s\timpl=%s\tinstr_per_item=%s\titems=%s,%s\n' "$w" "$name" "$per" "$n1" "$n2" >>"$raw"
      printf 'bench: callgrind %-3s %-18s %10s instructions/item\n' "$w" "$name" "$per" >&2
    done
  done
fi

rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
set +e
$python "$root/bench/report.py" "$raw" "$out" $strict \
  --meta "date=$(date -u +%Y-%m-%dT%H:%MZ)" --meta "commit=$rev" \
  --meta "cpus=$(nproc)" --meta "reps=$reps" --meta "quick=$quick" --meta "pinned=$pin" \
  --meta "load_at_start=${load// /,}"
status=$?
set -e
echo "bench: results in $out/results.txt, results.tsv, results.json, ratios.svg (raw lines: raw.tsv)" >&2
if [ "$failed" != 0 ]; then
  echo "bench: SOME RUNS FAILED (see above): the table is incomplete" >&2
  exit 1
fi
exit $status
