#!/usr/bin/env bash
# e2e_newcomer.sh - the first five minutes: a bad option is named as typed, a
# bare `photopipe` shows the usage, a bad album or --watch folder is a usage
# error before anything is created, an album URL with a query string gets
# its photos' names in the path, --help answers the first questions, a
# byte-order mark in a --urls file is ignored, and a run with no photo names
# no bottleneck.
source "$3/lib.sh" "$@"
corpus "$T/www" 1 640x480

# expect_usage WANT_REGEX ARGS...: exit 2 and the message on stderr.
expect_usage() {
  local want=$1
  shift
  set +e
  "$PP" "$@" >"$T/u.out" 2>"$T/u.err"
  local rc=$?
  set -e
  [ $rc = 2 ] && grep -Eq -- "$want" "$T/u.err" || fail "photopipe $*: exit $rc: $(cat "$T/u.err")"
}
expect_usage "unknown option '-l'" -lq x --to "$T/a"
expect_usage "unknown option '--nope'" --nope=3 x --to "$T/a"
expect_usage "option '--to' needs a value" x --to
expect_usage "option '-s' needs a value" x --to "$T/a" -s
! grep -q "$(basename "$PP")'" "$T/u.err" || fail "the program's path named as the option"
expect_usage '^usage: photopipe' # nothing at all
[ ! -s "$T/u.out" ] || fail "bare photopipe: usage on stdout"
expect_usage "album 'ftp://host/x': only a directory or an http\(s\):// URL" x --to ftp://host/x
expect_usage "cannot watch '$T/nonexistent': No such file or directory" --watch "$T/nonexistent" \
  --to "$T/watch-album"
[ ! -e "$T/watch-album" ] || fail "--watch /nonexistent created the album"
[ ! -s "$T/u.out" ] || fail "--watch /nonexistent printed a table: $(cat "$T/u.out")"
pass "bad option named, bare usage, bad album and --watch folder: exit 2, nothing created"

# An album URL with a query string (a token): PUT /dav/NAME?token=abc.
start_faults "$T/www"
"$PP" "$T/www/IMG_0001.jpg" --to "http://127.0.0.1:$FAULT_PORT/flaky/0/?token=abc" -s 100x100 \
  --quiet || fail "query album: exit $?"
curl -s "http://127.0.0.1:$FAULT_PORT/log" >"$T/log.json"
[ "$(json_get "$T/log.json" '[(r["path"], r["query"]) for r in j if r["method"]=="PUT"]')" = \
  "[('/flaky/0/IMG_0001.jpg', 'token=abc')]" ] || fail "PUT: $(cat "$T/log.json")"
pass "album URL with a query string: PUT /flaky/0/IMG_0001.jpg?token=..."

# --help: what is taken, what --format keep does, --to listed, and what
# becomes of files already in the album.
"$PP" --help >"$T/help"
for want in '--to ALBUM' 'keep:' 'animated' '--protocols' '--keep-profile' \
  'no file is silently replaced' 'gets a new one (IMG_0001-2.jpg)' 'keeps its name and is redone' \
  'subfolders included' '--no-recursive' '.heic'; do
  grep -q -- "$want" "$T/help" || fail "--help does not say '$want'"
done
pass "--help lists --to, explains --format keep, folders and files already in the album"

# A --urls file saved with a byte-order mark.
printf '\357\273\277http://127.0.0.1:%s/ok/IMG_0001.jpg\n' "$FAULT_PORT" >"$T/bom.txt"
"$PP" --urls "$T/bom.txt" --to "$T/bom-album" -s 100x100 --quiet || fail "BOM list: exit $?"
[ -f "$T/bom-album/IMG_0001.jpg" ] || fail "BOM list: not stored"
pass "byte-order mark in --urls ignored"

# Nothing to do: no bottleneck named, in the table or the JSON.
: >"$T/empty.txt"
"$PP" --urls "$T/empty.txt" --to "$T/empty-album" --no-progress >"$T/empty.out" 2>&1 || true
! grep -q bottleneck "$T/empty.out" || fail "0 photos, yet: $(grep bottleneck "$T/empty.out")"
"$PP" --urls "$T/empty.txt" --to "$T/empty-album" --json >"$T/empty.json" 2>/dev/null || true
[ "$(json_get "$T/empty.json" 'j["pipeline"]["bottleneck"]')" = None ] || fail "json bottleneck"
pass "a run with no photo names no bottleneck"
