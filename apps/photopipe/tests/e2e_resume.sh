#!/usr/bin/env bash
# e2e_resume.sh - runs killed with SIGKILL again and again, each rerun with
# --skip-existing, until one finishes: every photo ends in the album exactly
# once, whole, with one 'stored' manifest row each, and no temporary file
# is left.  Temporary files of dead runs are removed at start, those of a
# live process are not.  SIGTERM and SIGHUP end a run like Ctrl-C: a
# summary, exit 1, no temporary file.
source "$3/lib.sh" "$@"
N=24
corpus "$T/www" $N 800x600
start_faults "$T/www"
b=http://127.0.0.1:$FAULT_PORT
for i in $(seq -f %04g 1 $N); do echo "$b/slow/150/IMG_$i.jpg"; done >"$T/urls"
A=$T/album

# ---- kill -9 loop ----
kills=0
for delay in 0.7 1.1 0.5 1.4 0.9; do
  "$PP" --urls "$T/urls" --to "$A" -s 300x300 -w 2,1,2 -c 2,2,2 --skip-existing --quiet \
    2>>"$T/k.err" &
  pid=$!
  sleep "$delay"
  if kill -9 $pid 2>/dev/null; then kills=$((kills + 1)); fi
  wait $pid 2>/dev/null || true
done
[ $kills -ge 3 ] || fail "only $kills runs were killed (they ran too fast to test anything)"
# A temporary file of a dead process, and one of a live one.
sleep 30 &
live=$!
PIDS+=($live)
( exit 0 ) & dead=$!
wait $dead
echo partial >"$A/.IMG_0001.jpg.pp$dead-7.tmp"
echo partial >"$A/.IMG_0002.jpg.pp$live-3.tmp"
"$PP" --urls "$T/urls" --to "$A" -s 300x300 -w 2,1,2 --skip-existing --json >"$T/final.json" \
  2>"$T/final.err" || fail "the final run: $(cat "$T/final.err")"
adds_up "$T/final.json"
read -r stored skipped < <(json_get "$T/final.json" '" ".join(str(j[k]) for k in ("stored","skipped"))')
[ $((stored + skipped)) = $N ] && [ "$skipped" -ge 1 ] ||
  fail "final run: stored $stored skipped $skipped (nothing resumed?)"
grep -Eq 'removed [0-9]+ temporary files? left by runs that died' "$T/final.err" ||
  fail "stale temporary file: $(cat "$T/final.err")"
[ ! -e "$A/.IMG_0001.jpg.pp$dead-7.tmp" ] || fail "the dead run's temporary file is still there"
[ -e "$A/.IMG_0002.jpg.pp$live-3.tmp" ] || fail "a live process's temporary file was removed"
rm "$A/.IMG_0002.jpg.pp$live-3.tmp"
"$KIT" check "$T/www" "$A" 300 300 $N || fail "album after the kill -9 loop"
[ "$(manifest_sql "$A" "SELECT count(*), count(DISTINCT name) FROM photos WHERE state='stored'")" = \
  "$N|$N" ] || fail "manifest: $(manifest_sql "$A" 'SELECT name, state FROM photos')"
pass "$kills runs killed with SIGKILL, then resumed: $N photos once each ($skipped skipped at the end)"

# ---- SIGTERM and SIGHUP: like Ctrl-C ----
for sig in TERM HUP; do
  "$PP" --urls "$T/urls" --to "$T/album-$sig" -s 300x300 -w 2,1,2 -c 2,2,2 --json \
    >"$T/$sig.json" 2>"$T/$sig.err" &
  pid=$!
  sleep 1
  kill -$sig $pid
  rc=0
  for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  kill -0 $pid 2>/dev/null && { kill -9 $pid; fail "SIG$sig: still running"; }
  wait $pid || rc=$?
  [ $rc = 1 ] || fail "SIG$sig: exit $rc"
  adds_up "$T/$sig.json"
  [ "$(json_get "$T/$sig.json" 'j["interrupted"]')" = 1 ] || fail "SIG$sig: $(cat "$T/$sig.json")"
  grep -q 'stopping: finishing the photos in flight' "$T/$sig.err" || fail "SIG$sig: no line"
  no_temp_files "$T/album-$sig"
  stored=$(json_get "$T/$sig.json" 'j["stored"]')
  [ "$("$KIT" decode "$T/album-$sig" 300 300)" = "$stored" ] || fail "SIG$sig: album"
  pass "SIG$sig: summary, exit 1, $stored whole photos, no temporary file"
done
