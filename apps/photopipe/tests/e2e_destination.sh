#!/usr/bin/env bash
# e2e_destination.sh - an album that is read-only (the run stops at once:
# its manifest cannot be made), and one that fills up: every photo that
# cannot be stored fails with the system's reason, the rest are stored whole,
# and no temporary file is left behind.
# Needs a private mount namespace (root, or unprivileged user namespaces)
# for the tmpfs and the read-only bind mount; without one only the
# permission-based read-only case runs (as non-root).
source "$3/lib.sh" "$@"
corpus "$T/camera" 8 1600x1200
ran=0
export KIT T

# ns CMD...: runs CMD in a private mount namespace as root (or fake root).
ns() {
  if [ "$(id -u)" = 0 ]; then unshare -m -- "$@"; else unshare -rm -- "$@"; fi
}
if ns true 2>/dev/null; then
  # ---- read-only: bind-mount the album read-only ----
  mkdir -p "$T/ro"
  set +e
  ns bash -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift &&
              exec "$@"' _ "$T/ro" "$PP" "$T/camera" --to "$T/ro" -s 400x400 --json \
    >"$T/ro.json" 2>"$T/ro.err"
  rc=$?
  set -e
  # The album's manifest cannot be made: the run stops before any work.
  [ $rc = 1 ] || fail "read-only album: exit $rc $(cat "$T/ro.err")"
  grep -q "cannot create the album's manifest folder '$T/ro/.photopipe': Read-only file system" \
    "$T/ro.err" || fail "read-only reason: $(cat "$T/ro.err")"
  [ -z "$(ls -A "$T/ro")" ] || fail "read-only album is not empty"
  pass "read-only album"

  # ---- full: a 2 MiB tmpfs fits only some of the ~450 kB photos ----
  mkdir -p "$T/full"
  set +e
  ns bash -c 'mount -t tmpfs -o size=2m tmpfs "$1" && album=$1 && shift &&
              "$@" && exit 0; rc=$?; "$KIT" decode "$album" 1600 1600 >"$T/full.count" || rc=9;
              ls -A "$album" >"$T/full.ls"; exit $rc' _ "$T/full" \
    "$PP" "$T/camera" --to "$T/full" -s 1200x1200 -q 95 -w 2,2,1 --json \
    >"$T/full.json" 2>"$T/full.err"
  rc=$?
  set -e
  [ $rc = 1 ] || fail "full album: exit $rc $(cat "$T/full.err")"
  adds_up "$T/full.json"
  read -r stored failed < <(json_get "$T/full.json" '" ".join(str(j[k]) for k in ("stored","failed"))')
  [ "$failed" -ge 1 ] && [ "$stored" -ge 1 ] || fail "full: stored $stored failed $failed"
  grep -q 'No space left on device' "$T/full.err" || fail "full reason: $(cat "$T/full.err")"
  [ "$(cat "$T/full.count")" = "$stored" ] || fail "full: album has $(cat "$T/full.count"), stored $stored"
  ! grep -v '^\.photopipe$' "$T/full.ls" | grep -q '^\.' || fail "full: temporary files left: $(cat "$T/full.ls")"
  pass "full album: $stored stored whole, $failed failed with ENOSPC"
  ran=1
fi

if [ "$(id -u)" != 0 ]; then
  # Without root, plain permissions make a read-only album too.
  mkdir -p "$T/ro2"
  chmod 555 "$T/ro2"
  set +e
  "$PP" "$T/camera" --to "$T/ro2" -s 400x400 --quiet 2>"$T/ro2.err"
  rc=$?
  set -e
  [ $rc = 1 ] && grep -q 'Permission denied' "$T/ro2.err" || fail "chmod 555 album: $rc"
  [ -z "$(ls -A "$T/ro2")" ] || fail "read-only album is not empty"
  pass "read-only (permissions) album"
  ran=1
fi
[ $ran = 1 ] || { echo "no mount namespace and running as root: skip"; exit 77; }
