#!/usr/bin/env bash
# e2e_robust.sh - a FIFO is refused, never waited on; a slow but steady
# download is not cut by --timeout while a stalled one is, and a download cut
# off is resumed with a range request; a summary that cannot be written makes
# the exit status non-zero; a pipeline that cannot start says why; a low
# descriptor limit slows a WebDAV run down instead of failing it.
source "$3/lib.sh" "$@"
corpus "$T/www" 3 1600x1200
start_faults "$T/www"
h=127.0.0.1:$FAULT_PORT
size=$(stat -c %s "$T/www/IMG_0001.jpg")

# A FIFO (and a directory) named on the command line, or as a file:// URL.
mkfifo "$T/pipe.jpg"
set +e
timeout 30 "$PP" "$T/pipe.jpg" "file://$T/pipe.jpg" "$T/www/IMG_0001.jpg" --to "$T/album" \
  -s 200x200 --quiet 2>"$T/fifo.err"
rc=$?
set -e
[ $rc = 1 ] || fail "FIFO run exited $rc (124 = it hung)"
grep -q "FAILED $T/pipe.jpg (download): not a regular file (a FIFO)" "$T/fifo.err" &&
  grep -q "FAILED file://$T/pipe.jpg (download): not a regular file (a FIFO)" "$T/fifo.err" ||
  fail "FIFO: $(cat "$T/fifo.err")"
[ -f "$T/album/IMG_0001.jpg" ] || fail "the good photo was not stored"
pass "FIFOs refused with a line, nothing hangs"

# Slow but steady: 16 KiB every 80 ms takes longer than --timeout 2 in
# all, but never stalls for two seconds: stored.  A server that sends
# nothing for a second is stalled.
t0=$(date +%s%N)
"$PP" "http://$h/trickle/80/IMG_0001.jpg" --to "$T/album2" -s 200x200 --timeout 2 \
  --retries 0 --quiet || fail "steady download cut: exit $?"
took=$((($(date +%s%N) - t0) / 1000000))
[ "$took" -gt 2000 ] || fail "the trickle took only $took ms: not a test of --timeout"
set +e
"$PP" "http://$h/hang/x.jpg" --to "$T/album2" --timeout 1 --retries 0 --quiet 2>"$T/stall.err"
rc=$?
set -e
[ $rc = 1 ] && grep -q 'timed out: stalled, under 1024 bytes/s for 1 s' "$T/stall.err" ||
  fail "stall: $rc $(cat "$T/stall.err")"
pass "--timeout is a stall limit: ${took} ms of steady transfer kept, a stall cut"

# Cut off after 100000 bytes: the retry asks for the rest only (If-Range with
# the ETag), and the photo comes out whole.
"$PP" "http://$h/cut/100000/IMG_0002.jpg" --to "$T/album3" -s 200x200 --retries 2 \
  --backoff 10 --json >"$T/cut.json" || fail "cut download: exit $?"
curl -s "http://$h/log" >"$T/log.json"
[ "$(json_get "$T/log.json" '[(r["range"], r["if_range"]) for r in j if r["path"]=="/cut/100000/IMG_0002.jpg"]')" = \
  "[(None, None), ('bytes=100000-', '\"v1-$(stat -c %s "$T/www/IMG_0002.jpg")\"')]" ] ||
  fail "requests: $(cat "$T/log.json")"
"$PP" "$T/www/IMG_0002.jpg" --to "$T/album3b" -s 200x200 --quiet
cmp -s "$T/album3/IMG_0002.jpg" "$T/album3b/IMG_0002.jpg" || fail "resumed photo differs"
[ "$(json_get "$T/cut.json" 'j["bytes_in"]')" = "$(stat -c %s "$T/www/IMG_0002.jpg")" ] ||
  fail "bytes_in: $(json_get "$T/cut.json" 'j["bytes_in"]')"
pass "a cut download resumed from byte 100000 (206), photo identical"

# The manifest remembers the whole photo's validator, not the 206's part: a
# --skip-existing rerun skips it after one HEAD, with no GET.
"$PP" "http://$h/cut/100000/IMG_0002.jpg" --to "$T/album3" -s 200x200 --skip-existing \
  --json >"$T/cut2.json" || fail "cut rerun: exit $?"
[ "$(json_get "$T/cut2.json" 'j["skipped"]')" = 1 ] || fail "cut rerun: $(cat "$T/cut2.json")"
curl -s "http://$h/log" >"$T/log.json"
[ "$(json_get "$T/log.json" '[r["method"] for r in j if r["path"]=="/cut/100000/IMG_0002.jpg"]')" = \
  "['GET', 'GET', 'HEAD']" ] || fail "rerun requests: $(cat "$T/log.json")"
pass "a resumed download's validator is the whole photo's: the rerun skips after a HEAD"

# stdout at /dev/full: the summary and --json are lost, and the run says so.
for args in "--json" "" "--help"; do
  set +e
  if [ "$args" = --help ]; then
    "$PP" --help >/dev/full 2>"$T/full.err"
  else
    "$PP" "$T/www/IMG_0003.jpg" --to "$T/album4" -s 200x200 --no-progress $args >/dev/full 2>"$T/full.err"
  fi
  rc=$?
  set -e
  [ $rc = 1 ] && grep -q 'cannot write to standard output: No space left on device' "$T/full.err" ||
    fail "/dev/full ${args:-text}: exit $rc $(cat "$T/full.err")"
done
pass "stdout at /dev/full: exit 1 with a message"

# Under a small address space the threads cannot be created: the reason is
# printed.  (Sanitizers reserve terabytes of address space: not there.  grep
# reads all of nm's output, so pipefail sees no SIGPIPE.)
if nm "$PP" 2>/dev/null | grep -e __asan_init -e __tsan_init >/dev/null; then
  echo "skip: ulimit -v under a sanitizer"
else
  set +e
  (ulimit -v 300000; "$PP" "$T/www" --to "$T/album5" -w 64,64,64 --quiet 2>"$T/ulimit.err")
  rc=$?
  set -e
  [ $rc = 1 ] && grep -q 'cannot start the pipeline: .*cannot create a thread: Resource temporarily unavailable' "$T/ulimit.err" ||
    fail "ulimit -v: exit $rc $(cat "$T/ulimit.err")"
  pass "thread creation failure printed: $(cat "$T/ulimit.err")"
fi

# ulimit -n 16 with 8 download and 8 upload workers against a WebDAV album:
# fewer workers, every photo stored.  (At 16, a run with one network worker
# per stage has two descriptors to spare: stdio, the stop and wake pipes,
# the manifest's three, and the upload's connection with libcurl's socket
# pair take the rest.  ThreadSanitizer keeps two more open for itself.)
corpus "$T/many" 30 320x240
fds=16
if nm "$PP" 2>/dev/null | grep -e __tsan_init >/dev/null; then fds=18; fi
set +e
(ulimit -n $fds; "$PP" "$T/many" --to "http://$h/flaky/0/" -s 100x100 -w 8,2,8 --json \
   >"$T/emfile.json" 2>"$T/emfile.err")
rc=$?
set -e
[ $rc = 0 ] && [ "$(json_get "$T/emfile.json" 'j["stored"]')" = 30 ] ||
  fail "ulimit -n $fds: exit $rc $(cat "$T/emfile.err")"
grep -q "warning: only $fds file descriptors" "$T/emfile.err" || fail "no warning: $(cat "$T/emfile.err")"
pass "ulimit -n $fds: workers fitted, 30/30 stored"
