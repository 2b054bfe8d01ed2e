#!/usr/bin/env bash
# e2e_protocols.sh - a --urls list may name http and https only: file:// URLs
# and bare paths in it are refused before anything is opened, with the same
# words whether the file exists or not.  Arguments may be local paths.
# --protocols (as curl's --proto) sets what every source may use.
source "$3/lib.sh" "$@"
corpus "$T/www" 2 640x480
start_faults "$T/www"
h=127.0.0.1:$FAULT_PORT
cp "$T/www/IMG_0001.jpg" "$T/private.jpg"

cat >"$T/list" <<EOF2
http://$h/ok/IMG_0001.jpg
file://$T/private.jpg
file://$T/missing.jpg
FILE://$T/private.jpg
$T/private.jpg
$T/missing.jpg
ftp://$h/x.jpg
EOF2
set +e
"$PP" --urls "$T/list" --to "$T/album" -s 200x200 --json >"$T/out.json" 2>"$T/err"
rc=$?
set -e
[ $rc = 1 ] || fail "exit $rc, want 1"
adds_up "$T/out.json"
[ "$(json_get "$T/out.json" 'j["stored"], j["failed"]')" = "(1, 6)" ] || fail "$(cat "$T/out.json")"
[ "$(ls "$T/album")" = IMG_0001.jpg ] || fail "album: $(ls "$T/album")"
json_get "$T/out.json" '"\n".join(p["stage"]+" | "+p["reason"] for p in j["problems"])' >"$T/reasons"
cat "$T/reasons"
# Every refusal in the list stage; the existing and the missing file alike.
[ "$(grep -c '^list | ' "$T/reasons")" = 6 ] || fail "not all refused while listing"
[ "$(sed -n 2p "$T/reasons")" = "$(sed -n 1p "$T/reasons")" ] &&
  [ "$(sed -n 4p "$T/reasons")" = "$(sed -n 5p "$T/reasons")" ] ||
  fail "an existing and a missing file are told apart"
grep -q "protocol 'file' is not allowed in a --urls list" "$T/reasons" &&
  grep -q "local paths are not allowed in a --urls list" "$T/reasons" &&
  grep -q "protocol 'ftp' is not allowed" "$T/reasons" || fail "reasons"
pass "--urls: http(s) only by default; file://, paths and ftp refused alike"

# Arguments may be local paths and file:// URLs.
"$PP" "$T/private.jpg" "file://$T/www/IMG_0002.jpg" --to "$T/album2" -s 200x200 --quiet ||
  fail "local arguments: exit $?"
[ "$(ls "$T/album2" | wc -l)" = 2 ] || fail "album2: $(ls "$T/album2")"
pass "arguments may be local"

# --protocols widens a list (file allowed) ...
printf 'file://%s\n' "$T/private.jpg" | "$PP" --urls - --protocols http,https,file \
  --to "$T/album3" -s 200x200 --quiet || fail "--protocols file: exit $?"
[ -f "$T/album3/private.jpg" ] || fail "--protocols file: not stored"
# ... or narrows everything: https only refuses an http URL and a path given
# as arguments, without a request.
n0=$(fault_count /ok/IMG_0002.jpg)
set +e
"$PP" "http://$h/ok/IMG_0002.jpg" "$T/private.jpg" --protocols https --to "$T/album4" \
  --quiet 2>"$T/err4"
rc=$?
set -e
[ $rc = 1 ] && grep -q "protocol 'http' is not allowed here" "$T/err4" &&
  grep -q "local paths are not allowed here" "$T/err4" || fail "--protocols https: $rc $(cat "$T/err4")"
[ "$(fault_count /ok/IMG_0002.jpg)" = "$n0" ] || fail "a refused URL was requested"
# A redirect within the set is followed.
set +e
"$PP" "http://$h/redirect/127.0.0.1/$FAULT_PORT/IMG_0002.jpg" --protocols http --to "$T/album5" \
  --quiet 2>/dev/null
rc=$?
set -e
[ $rc = 0 ] || fail "http redirect within --protocols http: exit $rc"
set +e
"$PP" --protocols nope "$T/private.jpg" --to "$T/album6" 2>"$T/err6"
rc=$?
set -e
[ $rc = 2 ] && grep -q "bad --protocols 'nope'" "$T/err6" || fail "bad --protocols: $rc"
pass "--protocols widens and narrows; bad names are usage errors"

# --protocols is about sources: a WebDAV album stays reachable (its HEAD,
# PUT and manifest checks are http) when the sources may only be files.
"$PP" "$T/private.jpg" --protocols file --to "http://$h/flaky/0/" -s 200x200 --quiet \
  2>"$T/err7" || fail "--protocols file with a WebDAV album: exit $? $(cat "$T/err7")"
[ "$(fault_count /flaky/0/private.jpg)" = 1 ] || fail "album PUT: $(fault_count /flaky/0/private.jpg)"
pass "--protocols file leaves a WebDAV album reachable"
