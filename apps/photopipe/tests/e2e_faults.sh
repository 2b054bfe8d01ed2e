#!/usr/bin/env bash
# e2e_faults.sh - network faults from a misbehaving server on 127.0.0.1:
# a photo whose first two requests fail (retried, then stored), 404 (not
# retried), 500 (retried, then given up), a server that never answers
# (per-request timeout, bounded), an upload refused with 507 (full), an
# upload that fails twice and is retried.
source "$3/lib.sh" "$@"
corpus "$T/www" 4
start_faults "$T/www"
b=http://127.0.0.1:$FAULT_PORT

# Fails the first two requests for each photo: three attempts, all stored.
"$PP" "$b/flaky/2/IMG_0001.jpg" "$b/flaky/2/IMG_0002.jpg" --to "$T/album" -s 300x300 \
  --retries 3 --backoff 50 --json >"$T/flaky.json" 2>"$T/flaky.err" ||
  fail "flaky run exited $?: $(cat "$T/flaky.err")"
[ "$(json_get "$T/flaky.json" 'j["stored"]')" = 2 ] || fail "flaky: $(cat "$T/flaky.json")"
for i in 1 2; do
  n=$(fault_count /flaky/2/IMG_000$i.jpg)
  [ "$n" = 3 ] || fail "IMG_000$i: $n requests, want 3 (2 failures + 1 success)"
done
[ -f "$T/album/IMG_0001.jpg" ] && [ -f "$T/album/IMG_0002.jpg" ] || fail "flaky photos missing"
pass "retries: 2 transient failures, then stored"

# With too few retries it gives up, saying why and after how many attempts.
set +e
"$PP" "$b/flaky/5/IMG_0003.jpg" --to "$T/album2" --retries 1 --backoff 10 --quiet 2>"$T/few.err"
rc=$?
set -e
[ $rc = 1 ] && grep -q 'HTTP 503 (after 2 attempts)' "$T/few.err" || fail "few retries: $rc $(cat "$T/few.err")"
pass "gives up after --retries"

# 404: permanent, one request only.  500: transient, 1 + retries requests.
set +e
start=$(date +%s)
"$PP" "$b/status/404/a.jpg" "$b/status/500/b.jpg" "$b/hang/c.jpg" "$b/ok/IMG_0004.jpg" \
  --to "$T/album3" --retries 2 --backoff 20 --timeout 1 --json >"$T/bad.json" 2>/dev/null
rc=$?
took=$(($(date +%s) - start))
set -e
[ $rc = 1 ] || fail "bad statuses exited $rc"
adds_up "$T/bad.json"
[ "$(json_get "$T/bad.json" 'j["stored"], j["failed"]')" = "(1, 3)" ] || fail "$(cat "$T/bad.json")"
[ "$(fault_count /status/404/a.jpg)" = 1 ] || fail "404 was retried"
[ "$(fault_count /status/500/b.jpg)" = 3 ] || fail "500 was not retried twice"
[ "$(fault_count /hang/c.jpg)" = 3 ] || fail "timeout was not retried twice"
json_get "$T/bad.json" '"\n".join(p["source"]+" | "+p["reason"] for p in j["problems"])' >"$T/reasons"
grep -q 'a.jpg | HTTP 404$' "$T/reasons" && grep -q 'b.jpg | HTTP 500 (after 3 attempts)' "$T/reasons" &&
  grep -Eq 'c\.jpg \| .*(timed out|Timeout).*\(after 3 attempts\)' "$T/reasons" ||
  fail "reasons: $(cat "$T/reasons")"
# 3 attempts of 1 s plus back-off: bounded well under the test timeout.
[ "$took" -ge 3 ] && [ "$took" -le 20 ] || fail "never-answering server took $took s"
pass "404 not retried, 500 and timeouts retried, never-answering server bounded (${took}s)"

# An album that answers 507 Insufficient Storage to PUT: permanent, reported.
set +e
"$PP" "$T/www/IMG_0001.jpg" --to "$b/status/507" --retries 3 --quiet 2>"$T/put.err"
rc=$?
set -e
[ $rc = 1 ] && grep -q '(upload): HTTP 507' "$T/put.err" || fail "507: $rc $(cat "$T/put.err")"
[ "$(fault_count /status/507/IMG_0001.jpg)" = 1 ] || fail "507 was retried"
pass "upload refused with 507"

# An album whose first two PUTs for a photo fail with 503: retried, stored.
"$PP" "$T/www/IMG_0004.jpg" --to "$b/flaky/2" --retries 3 --backoff 20 --quiet ||
  fail "flaky album exited $?"
n=$(fault_count /flaky/2/IMG_0004.jpg)
[ "$n" = 3 ] || fail "flaky PUT: $n requests, want 3"
# A new name is looked up first (HEAD), so a file already there is never
# replaced.
[ "$(fault_count "HEAD /flaky/2/IMG_0004.jpg")" = 1 ] || fail "no HEAD before the first PUT"
pass "upload retried after two 503s"
