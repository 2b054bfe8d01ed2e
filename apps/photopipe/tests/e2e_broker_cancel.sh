# e2e_broker_cancel.sh - Ctrl-C twice on a coordinator cancels the whole
# distributed run: the worker leaves by itself within a second, photos in
# flight on it stop, the album holds exactly what the manifest says was
# stored and no temporary file, the summary adds up, exit 1; then a rerun
# on the same album and run name finishes every photo, each once.
source "$3/lib.sh" "$@"
need_broker

N=16
corpus "$T/cam" "$N" 800x600
start_faults "$T/cam"
slow_urls "$T/cam" 700 >"$T/urls.txt"
start_redis
U=redis://127.0.0.1:$RPORT

"$PP" worker --broker "$U" --run c --lease 1 -w 2 2>"$T/w.log" &
W=$!
PIDS+=("$W")
"$PP" --urls "$T/urls.txt" --to "$T/album" --broker "$U" --run c --lease 1 --json \
  >"$T/c.json" 2>"$T/c.err" &
C=$!
PIDS+=("$C")
# Once two photos are stored and the worker holds more, Ctrl-C twice.
for _ in $(seq 600); do
  [ "$(ls "$T/album" 2>/dev/null | grep -c '\.jpg$')" -ge 2 ] && break
  sleep 0.05
done
for _ in $(seq 100); do
  [ -n "$(redis_cli XPENDING "cv:{c}:s:0" g - + 10 2>/dev/null)" ] && break
  sleep 0.05
done
kill -INT "$C"
sleep 0.2
kill -INT "$C"
t0=$(date +%s%N)
crc=0
wait "$C" || crc=$?
[ "$crc" -eq 1 ] || fail "coordinator exit $crc, want 1: $(cat "$T/c.err")"
wrc=0
wait "$W" || wrc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 1500 ] || fail "the worker took $ms ms to leave after the cancel"
[ "$wrc" -eq 1 ] || fail "worker exit $wrc, want 1: $(cat "$T/w.log")"
grep -q "the run was canceled" "$T/w.log" || fail "worker did not say why: $(cat "$T/w.log")"
adds_up "$T/c.json"
stored=$(json_get "$T/c.json" 'j["stored"]')
canceled=$(json_get "$T/c.json" 'j["canceled"]')
[ "$canceled" -gt 0 ] && [ "$stored" -ge 2 ] ||
  fail "want some stored and some canceled: $(cat "$T/c.json")"
[ "$(json_get "$T/c.json" 'j["interrupted"]')" = 2 ] || fail "not reported as canceled"
rows=$(manifest_sql "$T/album" "select count(*) from photos where state='stored'")
files=$(ls "$T/album" | wc -l)
[ "$rows" = "$stored" ] && [ "$files" = "$stored" ] ||
  fail "stored $stored, manifest $rows, album $files"
no_temp_files "$T/album"
pass "canceled: $stored stored, $canceled canceled; worker left in $ms ms; album = manifest"

# The same run name again, once the cancelled run's marker is gone.
sleep 1.5
"$PP" worker --broker "$U" --run c --lease 1 -w 4 2>"$T/w2.log" &
W=$!
PIDS+=("$W")
rc=0
"$PP" --urls "$T/urls.txt" --to "$T/album" --broker "$U" --run c --lease 1 --skip-existing \
  --json >"$T/c2.json" 2>"$T/c2.err" || rc=$?
[ "$rc" -eq 0 ] || fail "rerun exit $rc: $(cat "$T/c2.err")"
wait "$W" || fail "rerun worker: $(cat "$T/w2.log")"
adds_up "$T/c2.json"
[ "$(json_get "$T/c2.json" 'j["skipped"]')" = "$stored" ] || fail "rerun did not skip the stored"
[ "$(json_get "$T/c2.json" 'sum(w["photos"] for w in j["broker"]["workers"]) == j["listed"]')" = True ] ||
  fail "the workers' results do not add up to the photos: $(cat "$T/c2.json")"
"$KIT" check "$T/cam" "$T/album" 1600 1600 "$N" || fail "album after the rerun"
sleep 1.5
keys=$(redis_cli --scan | head -5)
[ -z "$keys" ] || fail "keys left on the server: $keys"
stop_redis
pass "rerun: every photo once; no keys left"
