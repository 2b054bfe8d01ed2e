# lib.sh - shared helpers for photopipe's end-to-end tests (sourced).
# Usage in a test:  source "$3/lib.sh" "$@"
# Sets PP (photopipe), KIT (pp_testkit), HERE (this directory), T (a fresh
# temporary directory removed at exit, with every server we started).
set -euo pipefail
PP=$(realpath "$1")
KIT=$(realpath "$2")
HERE=$3
T=$(mktemp -d "${TMPDIR:-/tmp}/pp-e2e.XXXXXX")
PIDS=()
# WebDAV albums keep their manifest under $XDG_STATE_HOME: the test's own.
export XDG_STATE_HOME=$T/state

# Under ThreadSanitizer, third-party frames (GLib, libvips) are suppressed
# with reasons in tsan.supp; our own code never is.
if [ -n "${PP_TSAN_SUPP:-}" ]; then
  export TSAN_OPTIONS="${TSAN_OPTIONS:-}${TSAN_OPTIONS:+:}suppressions=$PP_TSAN_SUPP"
fi

cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  # A read-only test may leave directories without write permission.
  chmod -R u+w "$T" 2>/dev/null || true
  if [ "$rc" -ne 0 ] && [ -n "${PP_KEEP_TMP:-}" ]; then
    echo "kept $T" >&2
  else
    rm -rf "$T"
  fi
  exit "$rc"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

pass() { echo "ok: $*"; }

# corpus DIR COUNT: sample photos IMG_0001.jpg... of 1600x1200.
corpus() {
  mkdir -p "$1"
  "$PP" corpus "$1" --count "$2" --photo-size "${3:-1600x1200}" --quiet ||
    fail "corpus generation failed"
}

# json_get FILE EXPR: evaluates a Python expression on the JSON object `j`.
json_get() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# adds_up FILE: the summary accounts for every listed photo exactly once.
adds_up() {
  local ok
  ok=$(json_get "$1" 'j["listed"] == j["stored"] + j["skipped"] + j["failed"] + j["canceled"] + j["not_started"] and j["pipeline"]["summary"]["balanced"]')
  [ "$ok" = True ] || fail "summary does not add up: $(cat "$1")"
}

# no_temp_files DIR: nothing hidden (our temporary files start with '.')
# but the album's manifest folder.
no_temp_files() {
  local left
  left=$(find "$1" -path "$1/.photopipe" -prune -o -name '.*' ! -name . -print | head -5)
  [ -z "$left" ] || fail "temporary files left in $1: $left"
}

# manifest_sql ALBUM SQL: runs a query on a local album's manifest, one row
# a line, columns separated by '|'.
manifest_sql() {
  python3 -c 'import sqlite3,sys
db=sqlite3.connect("file:"+sys.argv[1]+"/.photopipe/manifest.db?mode=ro", uri=True)
for r in db.execute(sys.argv[2]): print("|".join("" if v is None else str(v) for v in r))' "$1" "$2"
}

# free_port: a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL: until it answers (any status), at most ~10 s.
wait_http() {
  for _ in $(seq 100); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.1
  done
  fail "server at $1 did not come up"
}

# start_nginx ROOT: nginx on 127.0.0.1:$NGINX_PORT serving ROOT, accepting
# WebDAV PUT (whole-file, atomic: written to a temp file, then renamed) under
# /album/.  Runs in the foreground of a background job, as the current user,
# with its own prefix, so the system's nginx is never touched.
start_nginx() {
  local root=$1
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx missing: skip"; exit 77; }
  local nginx_bin
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
  NGINX_PORT=$(free_port)
  local n=$T/nginx
  mkdir -p "$n/logs" "$n/tmp" "$root/album"
  # A second server with a self-signed certificate, for the TLS checks.
  local tls=""
  NGINX_TLS_PORT=""
  if command -v openssl >/dev/null &&
     openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
       -addext subjectAltName=IP:127.0.0.1 -keyout "$n/key.pem" -out "$n/cert.pem" \
       >/dev/null 2>&1; then
    NGINX_TLS_PORT=$(free_port)
    tls="server { listen 127.0.0.1:$NGINX_TLS_PORT ssl; root $root;
                  ssl_certificate $n/cert.pem; ssl_certificate_key $n/key.pem; }"
  fi
  cat >"$n/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $n/nginx.pid;
error_log $n/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log $n/logs/access.log;
  client_body_temp_path $n/tmp;
  client_max_body_size 64m;
  keepalive_requests 10000;
  types { image/jpeg jpg jpeg; image/png png; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $root;
    location /album/ {
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
  $tls
}
EOF
  # The request body temp dir is under $T like the album, so nginx's final
  # rename stays on one file system.
  "$nginx_bin" -p "$n" -c "$n/nginx.conf" -e "$n/logs/error.log" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$NGINX_PORT/"
}

# start_faults ROOT: the fault-injecting server (faultsrv.py) on
# 127.0.0.1:$FAULT_PORT, serving ROOT; it exits by itself after 100 s.
start_faults() {
  rm -f "$T/fault.port"
  python3 "$HERE/faultsrv.py" --root "$1" --port-file "$T/fault.port" --lifetime 100 \
    2>"$T/faultsrv.log" &
  PIDS+=($!)
  for _ in $(seq 100); do
    [ -s "$T/fault.port" ] && break
    sleep 0.1
  done
  FAULT_PORT=$(cat "$T/fault.port" 2>/dev/null) || fail "fault server did not start"
  wait_http "http://127.0.0.1:$FAULT_PORT/stats"
}

# fault_count PATH: how many requests the fault server saw for PATH.
fault_count() {
  curl -s "http://127.0.0.1:$FAULT_PORT/stats" |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], 0))' "$1"
}

# start_redis [ARGS...]: a private redis-server on 127.0.0.1:$RPORT (PID
# $RPID, stopped at exit like the other servers; a test that checks its keys
# stops it itself), no persistence, in $T/redis.  Skips (77) without
# redis-server.
start_redis() {
  command -v redis-server >/dev/null || { echo "redis-server missing: skip"; exit 77; }
  RPORT=$(free_port)
  mkdir -p "$T/redis"
  redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$T/redis" --save '' --appendonly no \
    "$@" >"$T/redis/log" 2>&1 &
  RPID=$!
  PIDS+=("$RPID")
  for _ in $(seq 100); do
    [ "$(redis_cli ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  fail "redis-server did not start: $(tail -3 "$T/redis/log")"
}

# redis_cli ARGS...: redis-cli on the private server ($REDIS_PASSWORD if set).
redis_cli() {
  if [ -n "${REDIS_PASSWORD:-}" ]; then
    REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -p "$RPORT" "$@"
  else
    redis-cli -p "$RPORT" "$@"
  fi
}

# stop_redis: stops the private server by its PID and waits for it.
stop_redis() {
  kill "$RPID"
  wait "$RPID" 2>/dev/null || true
}

# need_broker: skips (77) unless redis-server is there and photopipe was
# built with Redis support.
need_broker() {
  command -v redis-server >/dev/null || { echo "redis-server missing: skip"; exit 77; }
  if "$PP" worker --broker redis://127.0.0.1:1 2>&1 | grep -q "built without Redis"; then
    echo "photopipe built without Redis support: skip"
    exit 77
  fi
}

# slow_urls DIR MS: one URL a line for each file of DIR, served by the fault
# server after MS milliseconds each.
slow_urls() {
  local f
  for f in $(cd "$1" && ls); do
    echo "http://127.0.0.1:$FAULT_PORT/slow/$2/$f"
  done
}
