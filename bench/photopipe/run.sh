#!/usr/bin/env bash
# bench/photopipe/run.sh - photopipe against the seed's Python design and
# `parallel` + `curl` + `vipsthumbnail`, measured in the same run.
#
#   bench/photopipe/run.sh [COUNT]        (default 200 photos of 4000x3000)
#
# Every contestant downloads COUNT generated photos over HTTP from a private
# nginx on 127.0.0.1, fits them inside 800x800 at JPEG quality 85 with EXIF
# orientation honoured, and PUTs them into a WebDAV album on the same nginx;
# once directly (no added latency) and once through a loopback proxy that
# adds 20 ms to every request (bench/photopipe/delayproxy.py).  Without
# latency there are also local-file rows: photopipe folder -> folder, and
# vipsthumbnail alone, as one process and as one process per core (the CPU
# ceiling: no network, no pipeline, no fsync).  The Python design runs with
# Pillow's JPEG draft mode (shrink-on-load, as fast as it gets) and without.
#
# Reports photos/s, CPU seconds (user+sys of the whole process tree), peak
# RSS (of the largest single process: for `parallel` that is one child), and
# photopipe's ratio to each.  Environment: BENCH_LATENCIES ("0 20"),
# BENCH_JOBS ("2 4 8": parallel -j values), PHOTOPIPE (a built binary; else
# a Release build in build/bench-photopipe), BENCH_SIZE (4000x3000).
# The corpus is generated once and kept in build/bench-photopipe/corpus-*.
# Shares bench/run.sh's lock: two benchmarks never run at once.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/bench/photopipe
count=${1:-${BENCH_COUNT:-200}}
size=${BENCH_SIZE:-4000x3000}
latencies=${BENCH_LATENCIES:-0 20}
jobs_list=${BENCH_JOBS:-2 4 8}
work=${BENCH_WORK:-$root/build/bench-photopipe}
cores=$(nproc)
mkdir -p "$work" "$root/build/bench"

exec 9>"$root/build/bench/.run.lock"
if ! flock -n 9; then
  echo "photopipe bench: another benchmark is running; never run two at once" >&2
  exit 2
fi

for tool in nginx curl parallel vipsthumbnail /usr/bin/python3 python3; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    { echo "photopipe bench: missing $tool (scripts/deps.sh app bench)" >&2; exit 2; }
done
/usr/bin/python3 -c 'import PIL' 2>/dev/null ||
  { echo "photopipe bench: /usr/bin/python3 lacks Pillow (python3-pil)" >&2; exit 2; }

# ---- photopipe binary, corpus (kept between runs) ----
source "$here/common.sh"
pp_binary "photopipe bench"
pp_corpus "photopipe bench"
names=$(cd "$corpus" && ls)
corpus_mb=$(du -sm "$corpus" | cut -f1)

# ---- servers ----
run=$(mktemp -d "$work/run.XXXXXX")
# The WebDAV album's manifest goes with the run, not into ~/.local/state.
export XDG_STATE_HOME=$run/state
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$run"
}
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_http() {
  for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "photopipe bench: $1 did not come up" >&2
  exit 1
}
www=$run/www
mkdir -p "$www/album" "$run/nginx/logs" "$run/nginx/tmp"
ln -s "$corpus" "$www/photos"
port=$(free_port)
cat >"$run/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $run/nginx/nginx.pid;
error_log $run/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $run/nginx/tmp;
  client_max_body_size 64m;
  keepalive_requests 100000;
  types { image/jpeg jpg; }
  server {
    listen 127.0.0.1:$port;
    root $www;
    location /album/ { dav_methods PUT; create_full_put_path on; }
  }
}
EOF
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
"$nginx_bin" -p "$run/nginx" -c "$run/nginx/nginx.conf" -e "$run/nginx/logs/error.log" &
pids+=($!)
wait_http "http://127.0.0.1:$port/"

declare -A proxy_port
for lat in $latencies; do
  [ "$lat" = 0 ] && continue
  python3 "$here/delayproxy.py" --upstream "127.0.0.1:$port" --delay-ms "$lat" \
    --port-file "$run/proxy-$lat.port" &
  pids+=($!)
  for _ in $(seq 50); do [ -s "$run/proxy-$lat.port" ] && break; sleep 0.1; done
  proxy_port[$lat]=$(cat "$run/proxy-$lat.port")
  wait_http "http://127.0.0.1:${proxy_port[$lat]}/"
done

# ---- measuring ----
results=$run/results.tsv
: >"$results"
# measure LABEL LATENCY ALBUM_DIR CMD...: runs CMD under GNU time, checks the
# album holds COUNT photos, appends "label lat secs cpu rss_kb" to results.
measure() {
  local label=$1 lat=$2 album=$3
  shift 3
  rm -rf "$album"
  mkdir -p "$album"
  sync
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S %M" -o "$run/time" "$@" >"$run/out" 2>"$run/err" || {
    echo "photopipe bench: '$label' failed:" >&2
    tail -5 "$run/err" >&2
    return 1
  }
  t1=$(date +%s.%N)
  local stored
  stored=$(find "$album" -type f -name '*.jpg' | wc -l)
  if [ "$stored" != "$count" ]; then
    echo "photopipe bench: '$label' stored $stored of $count" >&2
    return 1
  fi
  read -r u s m <"$run/time"
  local secs cpu
  secs=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
  cpu=$(python3 -c "print(f'{$u + $s:.2f}')")
  printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$lat" "$secs" "$cpu" "$m" >>"$results"
  [ -z "${BENCH_PP_RESULTS:-}" ] ||
    printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$lat" "$secs" "$cpu" "$m" >>"$BENCH_PP_RESULTS"
  printf '  %-34s %6.1f photos/s  cpu %6.2f s  rss %6.1f MB\n' "$label" \
    "$(python3 -c "print($count / $secs)")" "$cpu" "$(python3 -c "print($m / 1024)")" >&2
}

echo "photopipe bench: $count photos ($size, $corpus_mb MB), fit 800x800 q85, $cores cores" >&2
for lat in $latencies; do
  if [ "$lat" = 0 ]; then base=http://127.0.0.1:$port; else base=http://127.0.0.1:${proxy_port[$lat]}; fi
  echo "latency +$lat ms per request:" >&2
  # shellcheck disable=SC2086
  measure "photopipe" "$lat" "$www/album/pp" \
    "$pp" --prefix "$base/photos/" $names --to "$base/album/pp/" -s 800x800 -q 85 --quiet
  # Worker layouts to compare with the default (automatic workers); see
  # bench/photopipe/layouts.sh, which also sets BENCH_PP_ONLY to skip the peers.
  for l in ${BENCH_PP_LAYOUTS:-}; do
    # shellcheck disable=SC2086
    measure "photopipe -w $l" "$lat" "$www/album/pp-$l" \
      "$pp" --prefix "$base/photos/" $names --to "$base/album/pp-$l/" -s 800x800 -q 85 --quiet \
      -w "$l"
  done
  [ -n "${BENCH_PP_ONLY:-}" ] && continue
  # shellcheck disable=SC2086
  measure "seed design (Python 3/4/5)" "$lat" "$www/album/py" \
    /usr/bin/python3 "$here/seed_design.py" --base "$base/photos/" --album "$base/album/py/" \
    --size 800 --quality 85 $names
  # shellcheck disable=SC2086
  measure "seed design, full-size decode" "$lat" "$www/album/pyfull" \
    /usr/bin/python3 "$here/seed_design.py" --base "$base/photos/" --album "$base/album/pyfull/" \
    --size 800 --quality 85 --no-draft $names
  for j in $jobs_list; do
    measure "parallel -j$j curl+vipsthumbnail" "$lat" "$www/album/par$j" \
      bash -c 'mkdir -p "$1" && cd "$1" && printf "%s\n" $2 | parallel -j"$3" --halt now,fail=1 \
        "curl -sfS -o {}.in $4/photos/{} && vipsthumbnail {}.in -s 800x800 -o {.}.jpg[Q=85] &&
         curl -sfS -T {.}.jpg $4/album/par$3/{} && rm -f {}.in {.}.jpg"' \
      _ "$run/scratch-$j" "$names" "$j" "$base"
  done
  if [ "$lat" = 0 ]; then
    measure "photopipe local files" 0 "$run/local-pp" \
      "$pp" "$corpus" --to "$run/local-pp" -s 800x800 -q 85 --quiet
    # One vipsthumbnail process for all files: libvips' own thread pool, no
    # network, no pipeline, no fsync: the CPU ceiling.
    measure "vipsthumbnail alone, local files" 0 "$run/local-vt" \
      bash -c 'cd "$1" && vipsthumbnail -s 800x800 -o "$2/%s.jpg[Q=85]" *.jpg' _ "$corpus" "$run/local-vt"
    # One vipsthumbnail process per core, each with a share of the files.
    measure "parallel -j$cores vipsthumbnail, local" 0 "$run/local-pvt" \
      bash -c 'cd "$1" && ls | parallel -X -j"$3" vipsthumbnail -s 800x800 -o "$2/%s.jpg[Q=85]" {}' \
      _ "$corpus" "$run/local-pvt" "$cores"
  fi
done

# ---- the table ----
python3 - "$results" "$count" >"$work/results.md" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
pp = {r[1]: r for r in rows if r[0] == "photopipe"}
pp_local = next((r for r in rows if r[0] == "photopipe local files"), None)
print("| latency | tool | photos/s | CPU s | CPU s/photo | peak RSS MB | photopipe x |")
print("|---|---|---:|---:|---:|---:|---:|")
for label, lat, secs, cpu, rss in rows:
    rate = n / float(secs)
    ref = pp_local if "local" in label else pp.get(lat)
    ratio = (n / float(ref[2])) / rate if ref else float("nan")
    print(f"| +{lat} ms | {label} | {rate:.1f} | {float(cpu):.1f} | {float(cpu)/n*1000:.0f} ms "
          f"| {int(rss)/1024:.0f} | {ratio:.2f} |")
PY
cat "$work/results.md"
echo "(table saved in $work/results.md; 'photopipe x' = photopipe's photos/s over the row's" \
     "at the same latency; for the local rows, photopipe on local files over the row's)" >&2
