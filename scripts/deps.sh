#!/usr/bin/env bash
# deps.sh GROUP... - make sure the Debian packages a build needs are present.
#   core   compilers, cmake, valgrind, hiredis and redis-server: the library,
#          conveyor_redis (distributed runs) and their tests
#   app    libcurl, libvips, SQLite, nginx (+ python3, curl for the test servers):
#          the photopipe tool and its tests
#   bench  the peers the benchmarks compare against
# Installs what is missing with apt-get when run as root; otherwise names the
# missing packages and exits 1.
set -euo pipefail

pkgs_core="build-essential gcc clang libclang-rt-14-dev cmake pkg-config valgrind libhiredis-dev redis-server"
pkgs_app="libcurl4-openssl-dev libvips-dev libvips-tools libsqlite3-dev libglib2.0-dev nginx python3 curl"
pkgs_bench="g++ libglib2.0-dev libtbb-dev libconcurrentqueue-dev libreaderwriterqueue-dev golang-go librust-crossbeam-channel-dev python3 parallel curl python3-pil valgrind"

want=()
for group in "$@"; do
  case "$group" in
    core) want+=($pkgs_core) ;;
    app) want+=($pkgs_app) ;;
    bench) want+=($pkgs_bench) ;;
    *) echo "deps.sh: unknown group '$group' (core, app, bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "conveyor needs these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
