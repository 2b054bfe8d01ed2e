#!/usr/bin/env bash
# bench/profile.sh DRIVER [DRIVER ARGS...] - where a driver's instructions go.
#
#   bench/profile.sh conveyor --workload W3 --capacity 1 --items 20000
#   bench/profile.sh conveyor_pipeline --workload W4 --items 20000
#
# Runs build/bench/bench/bench_DRIVER once under valgrind callgrind (threads
# taking turns, as in run.sh's instruction counts), keeps the profile in
# build/bench/profile/callgrind.out.DRIVER for kcachegrind, and prints the
# functions with the most instructions (self and inclusive).  Run
# bench/run.sh --quick (or --dry-run) first so that the drivers are built.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD:-$root/build/bench}
driver=${1:?usage: bench/profile.sh DRIVER [DRIVER ARGS...]}
shift
exe=$build/bench/bench_$driver
[ -x "$exe" ] || { echo "profile.sh: no $exe (run bench/run.sh --dry-run first)" >&2; exit 2; }
mkdir -p "$build/profile"
out=$build/profile/callgrind.out.$driver
valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$out" "$exe" "$@" \
  2> >(grep -E 'Collected|bench:' >&2)
echo "--- self instructions (top 15) ---"
callgrind_annotate "$out" 2>/dev/null | sed -n '/^Ir/,$p' | sed -n '1,17p'
echo "--- inclusive instructions (top 15) ---"
callgrind_annotate --inclusive=yes "$out" 2>/dev/null | sed -n '/^Ir/,$p' | sed -n '1,17p'
echo "profile: $out"
