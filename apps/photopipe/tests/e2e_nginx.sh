#!/usr/bin/env bash
# e2e_nginx.sh - through a real nginx on 127.0.0.1: photos downloaded over
# HTTP (keep-alive), resized, PUT into a WebDAV album.  Every uploaded file
# decodes, fits the box, is the right way up, and the count matches; a rerun
# with --skip-existing only sends HEADs (the manifest under $XDG_STATE_HOME).
source "$3/lib.sh" "$@"
N=16
corpus "$T/www/photos" $N
start_nginx "$T/www"
base=http://127.0.0.1:$NGINX_PORT

# --prefix + names, album over HTTP.
(cd "$T/www/photos" && "$PP" --prefix "$base/photos/" IMG_*.jpg --to "$base/album/" \
   -s 800x800 --json >"$T/run1.json" 2>"$T/run1.err") ||
  fail "nginx run exited $?: $(cat "$T/run1.err")"
adds_up "$T/run1.json"
[ "$(json_get "$T/run1.json" 'j["stored"]')" = $N ] || fail "stored: $(cat "$T/run1.json")"
"$KIT" check "$T/www/photos" "$T/www/album" 800 800 $N || fail "album check (nginx)"
puts=$(grep -c '"PUT /album/' "$T/nginx/logs/access.log" || true)
[ "$puts" = $N ] || fail "expected $N PUTs, nginx logged $puts"
pass "http download -> resize -> WebDAV PUT"

# URL list on stdin into a second album folder, different box.
ls "$T/www/photos" | sed "s|^|$base/photos/|" |
  "$PP" --urls - --to "$base/album/small/" -s 320x320 --quiet || fail "url list run exited $?"
"$KIT" check "$T/www/photos" "$T/www/album/small" 320 320 $N || fail "album check (urls)"
pass "URL list from stdin"

# Rerun with --skip-existing: the album's manifest (kept under
# $XDG_STATE_HOME for a WebDAV album) knows every photo and each source's
# validator (ETag, Last-Modified): one HEAD per source finds it unchanged,
# one HEAD per photo finds the album still has it; nothing is downloaded or
# PUT.
heads_before=$(grep -c '"HEAD /album/' "$T/nginx/logs/access.log" || true)
gets_before=$(grep -c '"GET /photos/' "$T/nginx/logs/access.log" || true)
(cd "$T/www/photos" && "$PP" --prefix "$base/photos/" IMG_*.jpg --to "$base/album/" \
   -s 800x800 --skip-existing --json >"$T/run2.json") || fail "skip-existing run exited $?"
[ "$(json_get "$T/run2.json" 'j["skipped"]')" = $N ] || fail "skip: $(cat "$T/run2.json")"
heads=$(($(grep -c '"HEAD /album/' "$T/nginx/logs/access.log" || true) - heads_before))
src_heads=$(grep -c '"HEAD /photos/' "$T/nginx/logs/access.log" || true)
gets=$(($(grep -c '"GET /photos/' "$T/nginx/logs/access.log" || true) - gets_before))
puts=$(grep -c '"PUT /album/' "$T/nginx/logs/access.log" || true)
[ "$heads" = $N ] && [ "$src_heads" = $N ] && [ "$gets" = 0 ] && [ "$puts" = $((2 * N)) ] ||
  fail "skip-existing over HTTP: $heads album HEADs, $src_heads source HEADs, $gets GETs, $puts PUTs"
ls "$XDG_STATE_HOME"/photopipe/albums/127.0.0.1_"$NGINX_PORT"_album-*.db >/dev/null ||
  fail "no manifest for the WebDAV album in $XDG_STATE_HOME: $(ls -R "$XDG_STATE_HOME")"
[ "$("$PP" ls "$base/album/" | grep -c $'\tstored\t')" = $N ] ||
  fail "photopipe ls of the WebDAV album: $("$PP" ls "$base/album/" 2>&1)"
pass "--skip-existing over WebDAV: manifest, HEADs only, no GET, no PUT"

# A photo edited on the server is redone, under its name; the rest skipped.
cp "$T/www/photos/IMG_0003.jpg" "$T/www/photos/IMG_0001.jpg"
(cd "$T/www/photos" && "$PP" --prefix "$base/photos/" IMG_*.jpg --to "$base/album/" \
   -s 800x800 --skip-existing --json >"$T/run2b.json") || fail "edited rerun exited $?"
gets=$(($(grep -c '"GET /photos/' "$T/nginx/logs/access.log" || true) - gets_before))
[ "$gets" = 1 ] || fail "edited photo: $gets GETs, want 1 (only the changed one)"
[ "$(json_get "$T/run2b.json" 'j["stored"], j["skipped"]')" = "(1, $((N - 1)))" ] ||
  fail "edited photo over HTTP: $(cat "$T/run2b.json")"
[ "$(json_get "$T/run2b.json" '[p["name"] for p in j["photos"] if p["status"]=="done"]')" = \
  "['IMG_0001.jpg']" ] || fail "edited photo name: $(cat "$T/run2b.json")"
pass "--skip-existing over WebDAV redoes an edited photo"

# A photo deleted from the WebDAV album (its source unchanged) is made again.
rm "$T/www/album/IMG_0002.jpg"
(cd "$T/www/photos" && "$PP" --prefix "$base/photos/" IMG_*.jpg --to "$base/album/" \
   -s 800x800 --skip-existing --json >"$T/run2c.json") || fail "rerun after delete exited $?"
[ "$(json_get "$T/run2c.json" 'j["stored"], j["skipped"]')" = "(1, $((N - 1)))" ] &&
  [ -s "$T/www/album/IMG_0002.jpg" ] || fail "deleted photo: $(cat "$T/run2c.json")"
pass "--skip-existing over WebDAV remakes a photo deleted from the album"

# A 404 from nginx is a per-photo error; the rest go on; exit 1.
set +e
"$PP" "$base/photos/IMG_0001.jpg" "$base/photos/missing.jpg" --to "$T/album3" -s 200x200 \
  --quiet 2>"$T/run3.err"
rc=$?
set -e
[ $rc = 1 ] || fail "404 run exited $rc"
grep -q "FAILED $base/photos/missing.jpg (download): .*404" "$T/run3.err" ||
  fail "404 reason: $(cat "$T/run3.err")"
[ -f "$T/album3/IMG_0001.jpg" ] || fail "the good photo was not stored"
pass "404 from nginx"

# TLS: certificates are verified unless the user says otherwise.
if [ -n "$NGINX_TLS_PORT" ]; then
  wait_http "http://127.0.0.1:$NGINX_PORT/"
  tb=https://127.0.0.1:$NGINX_TLS_PORT
  set +e
  "$PP" "$tb/photos/IMG_0002.jpg" --to "$T/album4" -s 200x200 --retries 2 --quiet 2>"$T/tls.err"
  rc=$?
  set -e
  [ $rc = 1 ] && grep -Eq '\(download\): .*(certificate|SSL)' "$T/tls.err" ||
    fail "self-signed certificate accepted? rc $rc: $(cat "$T/tls.err")"
  [ ! -e "$T/album4/IMG_0002.jpg" ] || fail "stored a photo from an unverified server"
  "$PP" "$tb/photos/IMG_0002.jpg" --to "$T/album4" -s 200x200 --insecure --quiet ||
    fail "--insecure did not accept the self-signed certificate"
  [ -f "$T/album4/IMG_0002.jpg" ] || fail "--insecure: photo missing"
  pass "TLS verified by default, --insecure skips it"
else
  echo "skip TLS checks: no openssl"
fi
