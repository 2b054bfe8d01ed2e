#!/usr/bin/env bash
# bench/distributed.sh [items] - a 2-stage no-op distributed pipeline (2 worker
# processes) against raw Redis streams, one at a time and pipelined 64, in
# one run on a private redis-server (bench/distributed_redis.c).  Release
# build in build/bench-dist (BENCH_BUILD); BENCH_REPS=3 repetitions.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD:-$root/build/bench-dist}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCV_BUILD_BENCH=ON \
      -DCV_BUILD_TESTS=OFF -DCV_BUILD_EXAMPLES=OFF -DCV_BUILD_PHOTOPIPE=OFF >/dev/null
cmake --build "$build" --target bench_distributed -j"$(nproc)" >/dev/null
"$build/bench/bench_distributed" "$@"
