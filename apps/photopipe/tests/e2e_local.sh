#!/usr/bin/env bash
# e2e_local.sh - local folder -> local album, the same through file:// URLs
# (list on stdin, and --prefix + names), --skip-existing, --json, and demo.
# Every stored photo decodes, fits the box, is the right way up; counts match.
source "$3/lib.sh" "$@"
N=12
corpus "$T/camera" $N

"$PP" "$T/camera" --to "$T/album" -s 800x800 --json >"$T/run1.json" 2>"$T/run1.err" ||
  fail "local run exited $? : $(cat "$T/run1.err")"
adds_up "$T/run1.json"
[ "$(json_get "$T/run1.json" 'j["stored"]')" = $N ] || fail "stored: $(cat "$T/run1.json")"
"$KIT" check "$T/camera" "$T/album" 800 800 $N || fail "album check (local)"
pass "local folder -> local album"

# file:// URLs, one per line on stdin; seed's 3/4/5 workers.
ls "$T/camera" | sed "s|^|file://$T/camera/|" >"$T/urls.txt"
"$PP" --urls - --protocols http,https,file --to "$T/album2" -s 640x480 -w 3,4,5 --quiet \
  <"$T/urls.txt" ||
  fail "file:// run exited $?"
"$KIT" check "$T/camera" "$T/album2" 640 480 $N || fail "album check (file URLs)"
pass "file:// URLs from stdin"

# --prefix + names as arguments.
(cd "$T/camera" && "$PP" --prefix "file://$T/camera/" IMG_*.jpg --to "$T/album3" \
   -s 500x500 --quiet) || fail "prefix run exited $?"
"$KIT" check "$T/camera" "$T/album3" 500 500 $N || fail "album check (prefix)"
pass "--prefix + names"

# A rerun with --skip-existing stores nothing and skips everything.
before=$(stat -c %Y.%i "$T/album/IMG_0001.jpg")
"$PP" "$T/camera" --to "$T/album" -s 800x800 --skip-existing --json >"$T/run2.json" ||
  fail "skip-existing run exited $?"
[ "$(json_get "$T/run2.json" 'j["skipped"], j["stored"]')" = "($N, 0)" ] ||
  fail "skip-existing: $(cat "$T/run2.json")"
[ "$(stat -c %Y.%i "$T/album/IMG_0001.jpg")" = "$before" ] || fail "skip-existing rewrote a photo"
adds_up "$T/run2.json"
pass "--skip-existing"

# Human summary: the per-stage table with bottleneck and totals.
"$PP" "$T/camera" --to "$T/album4" -s 300x300 >"$T/run4.out" 2>&1 || fail "text run"
grep -q '^download ' "$T/run4.out" && grep -q '^resize ' "$T/run4.out" &&
  grep -q '^upload ' "$T/run4.out" && grep -q '^bottleneck: ' "$T/run4.out" &&
  grep -q "^photos: $N listed, $N stored, 0 skipped, 0 failed" "$T/run4.out" ||
  fail "summary text: $(cat "$T/run4.out")"
pass "summary table"

# Usage errors exit 2.
set +e
"$PP" "$T/camera" 2>/dev/null; rc1=$?
"$PP" -q 0 "$T/camera" --to "$T/x" 2>/dev/null; rc2=$?
set -e
[ $rc1 = 2 ] && [ $rc2 = 2 ] || fail "usage errors exited $rc1 $rc2"
pass "usage errors exit 2"

# The demo runs with no setup and cleans up after itself.
TMPDIR=$T "$PP" demo --count 4 --photo-size 800x600 >"$T/demo.out" 2>&1 || fail "demo: $(cat "$T/demo.out")"
grep -q "^photos: 4 listed, 4 stored" "$T/demo.out" || fail "demo output: $(cat "$T/demo.out")"
[ -z "$(ls -d "$T"/photopipe-demo-* 2>/dev/null)" ] || fail "demo left its temp dir"
pass "demo"
