#!/usr/bin/env bash
# e2e_sigint.sh - Ctrl-C during a run (SIGINT sent by the test).  Once: no
# new photos are taken, those in flight finish, the rest are "not started".
# Twice: in-flight photos are canceled at once.  Either way the album holds
# only whole, decodable photos, no temporary files, and the summary adds up.
source "$3/lib.sh" "$@"
N=24
corpus "$T/www" $N 800x600
start_faults "$T/www"
b=http://127.0.0.1:$FAULT_PORT
# Each download takes 300 ms: with 2 download workers the run needs ~3.6 s.
for i in $(seq -f %04g 1 $N); do echo "$b/slow/300/IMG_$i.jpg"; done >"$T/urls"

# wait_exit PID TENTHS: sets rc to its exit code; fails if it outlives the
# limit.  (Not in $(...): only this shell can wait for its child.)
wait_exit() {
  for _ in $(seq "$2"); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$1" 2>/dev/null; then
    kill -9 "$1"
    fail "photopipe did not stop in time"
  fi
  rc=0
  wait "$1" || rc=$?
}

# ---- one Ctrl-C: drain ----
"$PP" --urls "$T/urls" --to "$T/album1" -s 400x400 -w 2,1,2 -c 2,2,2 --json \
  >"$T/one.json" 2>"$T/one.err" &
pid=$!
sleep 1.2
kill -INT $pid
wait_exit $pid 100
[ "$rc" = 1 ] || fail "one Ctrl-C: exit $rc (want 1: not every photo made it)"
adds_up "$T/one.json"
read -r listed stored failed canceled notstarted intr < <(json_get "$T/one.json" \
  '" ".join(str(j[k]) for k in ("listed","stored","failed","canceled","not_started","interrupted"))')
[ "$intr" = 1 ] && [ "$failed" = 0 ] && [ "$canceled" = 0 ] || fail "one Ctrl-C: $(cat "$T/one.json")"
[ "$stored" -ge 1 ] && [ "$notstarted" -ge 1 ] && [ "$listed" = $N ] ||
  fail "one Ctrl-C: stored $stored, not started $notstarted, listed $listed"
files=$("$KIT" decode "$T/album1" 400 400) || fail "album after one Ctrl-C"
[ "$files" = "$stored" ] || fail "album has $files files, summary says $stored stored"
grep -q 'stopping: finishing the photos in flight' "$T/one.err" || fail "no stop message"
pass "one Ctrl-C: $stored stored, $notstarted not started, in-flight finished"

# ---- two Ctrl-C: cancel ----
"$PP" --urls "$T/urls" --to "$T/album2" -s 400x400 -w 2,1,2 -c 2,2,2 --json \
  >"$T/two.json" 2>"$T/two.err" &
pid=$!
sleep 1.2
kill -INT $pid
sleep 0.1
t0=$(date +%s%N)
kill -INT $pid
wait_exit $pid 100
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" = 1 ] || fail "two Ctrl-C: exit $rc"
adds_up "$T/two.json"
read -r listed stored failed canceled notstarted intr < <(json_get "$T/two.json" \
  '" ".join(str(j[k]) for k in ("listed","stored","failed","canceled","not_started","interrupted"))')
[ "$intr" = 2 ] && [ "$failed" = 0 ] && [ $((stored + canceled + notstarted)) = "$listed" ] ||
  fail "two Ctrl-C: $(cat "$T/two.json")"
[ "$canceled" -ge 1 ] || fail "two Ctrl-C: nothing was canceled in flight: $(cat "$T/two.json")"
files=$("$KIT" decode "$T/album2" 400 400) || fail "album after two Ctrl-C"
[ "$files" = "$stored" ] || fail "album has $files files, summary says $stored stored"
# "At once": well under the 300 ms a download takes plus curl's abort check.
[ "$ms" -lt 3000 ] || fail "cancel took $ms ms"
pass "two Ctrl-C: $stored stored, $canceled canceled, $notstarted not started, exit after ${ms} ms"
