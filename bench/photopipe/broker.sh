#!/usr/bin/env bash
# bench/photopipe/broker.sh - photopipe across processes against photopipe
# in one process, on the same input, in the same run.
#
#   flock /tmp/conveyor-bench.lock bench/photopipe/broker.sh [COUNT] [REPS]
#
# Both fit COUNT generated photos (default 120 of 4000x3000, BENCH_SIZE) from
# a local folder into 800x800 at JPEG quality 85, into a local album:
#   - "one process": photopipe FOLDER --to ALBUM (automatic workers);
#   - "--broker, 2 workers": a private redis-server on 127.0.0.1, two
#     `photopipe worker` processes (-w auto each) and the coordinator
#     `photopipe FOLDER --to ALBUM --broker URL`.
# Repetitions alternate the two (REPS, default 5).  Each row: median
# photos/s [min..max], CPU seconds per photo (user+sys of every process of
# the row, redis-server included for --broker), and the ratio to one
# process; the load average before and after.  NOISY marks a row whose
# fastest repetition was more than 1.2x its slowest (other load on the
# machine): compare CPU per photo then, which load does not move much.  Every repetition checks
# that the album holds COUNT photos.  Environment: PHOTOPIPE (a built
# binary; else a Release build in build/bench-photopipe), BENCH_SIZE,
# BENCH_WORK.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
count=${1:-${BENCH_COUNT:-120}}
reps=${2:-${BENCH_REPS:-5}}
size=${BENCH_SIZE:-4000x3000}
work=${BENCH_WORK:-$root/build/bench-photopipe}
mkdir -p "$work"
command -v redis-server >/dev/null ||
  { echo "broker bench: missing redis-server (scripts/deps.sh)" >&2; exit 2; }

source "$root/bench/photopipe/common.sh"
pp_binary "broker bench"
pp_corpus "broker bench"

run=$(mktemp -d "$work/broker.XXXXXX")
rpid=""
cleanup() {
  [ -z "$rpid" ] || { kill "$rpid" 2>/dev/null || true; wait "$rpid" 2>/dev/null || true; }
  rm -rf "$run"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
redis-server --port "$port" --bind 127.0.0.1 --dir "$run" --save '' --appendonly no \
  >"$run/redis.log" 2>&1 &
rpid=$!
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
url=redis://127.0.0.1:$port

# CPU seconds (user+sys) a process has used, from /proc.
proc_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

# one LABEL CMD...: runs CMD under GNU time (children included), checks
# the album, appends "label secs cpu" to the results.
results=$run/results.tsv
: >"$results"
one() {
  local label=$1
  shift
  rm -rf "$run/album"
  sync
  local r0 t0 t1 r1
  r0=$(proc_cpu "$rpid")
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$run/time" "$@" >"$run/out" 2>"$run/err" ||
    { echo "broker bench: '$label' failed:" >&2; tail -5 "$run/err" >&2; exit 1; }
  t1=$(date +%s.%N)
  r1=$(proc_cpu "$rpid")
  local stored
  stored=$(find "$run/album" -maxdepth 1 -type f -name '*.jpg' | wc -l)
  [ "$stored" = "$count" ] ||
    { echo "broker bench: '$label' stored $stored of $count" >&2; exit 1; }
  read -r u s <"$run/time"
  python3 -c "import sys; a=sys.argv; print(f'{a[1]}\t{float(a[3])-float(a[2]):.3f}\t{float(a[4])+float(a[5])+float(a[7])-float(a[6]):.2f}')" \
    "$label" "$t0" "$t1" "$u" "$s" "$r0" "$r1" >>"$results"
  tail -1 "$results" | awk -F'\t' -v n="$count" \
    '{printf "  %-24s %6.1f photos/s  cpu %6.2f s\n", $1, n / $2, $3}' >&2
}

# The distributed row: two workers and the coordinator, all waited for.
broker_run() {
  local name=$1
  "$pp" worker --broker "$url" --run "$name" --quiet &
  local w1=$!
  "$pp" worker --broker "$url" --run "$name" --quiet &
  local w2=$!
  local rc=0
  "$pp" "$corpus" --to "$run/album" -s 800x800 -q 85 --quiet --broker "$url" --run "$name" ||
    rc=$?
  wait "$w1" || rc=$?
  wait "$w2" || rc=$?
  return "$rc"
}
export -f broker_run
export pp url corpus run

load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "broker bench: $count photos ($size) folder -> folder, fit 800x800 q85, $(nproc) cores," \
     "$reps interleaved repetitions; load $load0" >&2
for i in $(seq "$reps"); do
  one "one process" "$pp" "$corpus" --to "$run/album" -s 800x800 -q 85 --quiet
  one "--broker, 2 workers" bash -c 'broker_run "bench-$1"' _ "$i"
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$results" "$count" "$load0" "$load1" >"$work/broker-results.md" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
by = {}
for label, secs, cpu in rows:
    by.setdefault(label, []).append((n / float(secs), float(cpu) / n))
med = {k: statistics.median(r for r, _ in v) for k, v in by.items()}
base = med.get("one process")
print(f"| photopipe, {n} photos | photos/s median [min..max] | CPU ms/photo median | x one process |")
print("|---|---:|---:|---:|")
for k, v in by.items():
    rates = [r for r, _ in v]
    cpu = statistics.median(c for _, c in v) * 1000
    noisy = " NOISY" if max(rates) > 1.2 * min(rates) else ""
    print(f"| {k} | {med[k]:.1f} [{min(rates):.1f}..{max(rates):.1f}]{noisy} | {cpu:.0f} | "
          f"{med[k] / base:.2f} |")
r = med["--broker, 2 workers"] / base
print(f"\nload average {sys.argv[3]} before, {sys.argv[4]} after; target: --broker within 10% "
      f"of one process: {'MET' if r >= 0.9 else 'MISSED'} ({r:.2f})")
PY
cat "$work/broker-results.md"
