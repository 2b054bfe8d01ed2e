#!/usr/bin/env bash
# e2e_secrets.sh - a password in a source or album URL is never shown: not in
# the start line, a FAILED line, the summary or --json (user:***@).
# Credentials can come from ~/.netrc or, for the album, the environment, and
# are never sent on to another host when a server redirects.
source "$3/lib.sh" "$@"
corpus "$T/www" 3 640x480
start_faults "$T/www"
h=127.0.0.1:$FAULT_PORT

# log_get EXPR: evaluates EXPR on the fault server's request log `l`.
log_get() {
  curl -s "http://$h/log" >"$T/log.json"
  json_get "$T/log.json" "$1"
}

# A source with a password that works, one that fails, and an album URL with
# a password (PUT to /auth/album/, which wants user:secret).
set +e
"$PP" "http://user:secret@$h/auth/IMG_0001.jpg" "http://user:secret@$h/status/404/x.jpg" \
  --to "http://user:secret@$h/auth/album/" -s 200x200 --retries 0 --no-progress \
  >"$T/out" 2>"$T/err"
rc=$?
"$PP" "http://user:secret@$h/status/404/x.jpg" --to "http://user:secret@$h/auth/album/" \
  --retries 0 --json >"$T/out.json" 2>"$T/json.err"
rc2=$?
set -e
cat "$T/err"
[ $rc = 1 ] && [ $rc2 = 1 ] || fail "exit $rc $rc2, want 1 (one photo fails)"
! grep -q secret "$T/out" "$T/err" "$T/out.json" "$T/json.err" || fail "password shown: $(grep secret "$T/out" "$T/err" "$T/out.json" "$T/json.err")"
grep -q "photopipe: fit .* -> http://user:\*\*\*@$h/auth/album/" "$T/err" || fail "start line"
grep -q "FAILED http://user:\*\*\*@$h/status/404/x.jpg (download): HTTP 404" "$T/err" || fail "FAILED line"
[ "$(json_get "$T/out.json" 'j["album"]')" = "http://user:***@$h/auth/album/" ] || fail "json album"
[ "$(json_get "$T/out.json" 'j["problems"][0]["source"]')" = "http://user:***@$h/status/404/x.jpg" ] ||
  fail "json source"
# ... while the real credentials were used: the photo is stored.
[ "$(log_get 'sum(1 for r in j if r["method"]=="PUT" and r["path"]=="/auth/album/IMG_0001.jpg" and r["authorization"])')" -ge 1 ] ||
  fail "album PUT without credentials"
pass "passwords redacted in the start line, FAILED lines, summary and --json"

# The WebDAV album's manifest keeps sources without their passwords, and
# `photopipe ls` shows none either.
"$PP" ls "http://user:secret@$h/auth/album/" >"$T/ls.out" 2>"$T/ls.err" || fail "ls: $(cat "$T/ls.err")"
grep -q "^IMG_0001.jpg	stored	.*	http://$h/auth/IMG_0001.jpg	" "$T/ls.out" || fail "ls: $(cat "$T/ls.out")"
! grep -rq secret "$T/ls.out" "$T/ls.err" "$XDG_STATE_HOME" || fail "password in the manifest or ls"
pass "no password in the WebDAV album's manifest or in photopipe ls"

# ~/.netrc: no credentials on the command line at all.
printf 'machine 127.0.0.1\nlogin user\npassword secret\n' >"$T/.netrc"
chmod 600 "$T/.netrc"
HOME=$T "$PP" "http://$h/auth/IMG_0002.jpg" --to "$T/album" -s 200x200 --retries 0 --quiet ||
  fail "netrc run exited $?"
[ -f "$T/album/IMG_0002.jpg" ] || fail "netrc: not stored"
rm "$T/.netrc"
set +e
HOME=$T "$PP" "http://$h/auth/IMG_0002.jpg" --to "$T/album_no" --retries 0 --quiet 2>"$T/nonetrc.err"
rc=$?
set -e
[ $rc = 1 ] && grep -q 'HTTP 401' "$T/nonetrc.err" || fail "without netrc: $rc $(cat "$T/nonetrc.err")"
pass "credentials from ~/.netrc"

# The album's credentials from the environment.
PHOTOPIPE_ALBUM_USER=user PHOTOPIPE_ALBUM_PASSWORD=secret \
  "$PP" "$T/www/IMG_0003.jpg" --to "http://$h/auth/album/" -s 200x200 --retries 0 --quiet ||
  fail "environment credentials: exit $?"
[ "$(log_get 'sum(1 for r in j if r["method"]=="PUT" and r["path"]=="/auth/album/IMG_0003.jpg" and r["authorization"])')" = 1 ] ||
  fail "PUT without the environment's credentials"
pass "album credentials from PHOTOPIPE_ALBUM_USER / PHOTOPIPE_ALBUM_PASSWORD"

# A redirect to another host name (localhost is the same server, but another
# host to libcurl): the credentials are sent to the first host only.
"$PP" "http://user:secret@$h/redirect/localhost/$FAULT_PORT/IMG_0001.jpg" --to "$T/album2" \
  -s 200x200 --retries 0 --quiet || fail "redirect run exited $?"
[ -f "$T/album2/IMG_0001.jpg" ] || fail "redirected photo not stored"
[ "$(log_get '[bool(r["authorization"]) for r in j if r["path"].startswith("/redirect/")]')" = "[True]" ] ||
  fail "first request: $(cat "$T/log.json")"
[ "$(log_get '[(r["host"], bool(r["authorization"])) for r in j if r["path"]=="/ok/IMG_0001.jpg"]')" = \
  "[('localhost:$FAULT_PORT', False)]" ] || fail "credentials forwarded: $(cat "$T/log.json")"
pass "credentials not forwarded across hosts on a redirect"
