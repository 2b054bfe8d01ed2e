#!/usr/bin/env bash
# e2e_originals.sh - originals are untouchable: an album that is, or is
# inside, a source folder (or the watched folder) is refused before anything
# is written, and so is a source inside the album, however it is spelled
# (./x, a symlink, a file:// URL in a list).  The originals stay byte for
# byte what they were, and no album folder is made inside a source.
source "$3/lib.sh" "$@"
corpus "$T/d" 4 800x600
sums() { (cd "$T/d" && find . -type f | sort | xargs sha256sum); }
before=$(sums)

expect_refused() { # expect_refused WHAT ARGS...: exit 2 with the line
  local what=$1
  shift
  local rc=0
  "$PP" "$@" -s 200x200 >"$T/out" 2>"$T/err" </dev/null || rc=$?
  [ $rc = 2 ] || fail "$what: exit $rc: $(cat "$T/err")"
  grep -q 'photopipe never writes where originals are' "$T/err" ||
    fail "$what: message: $(cat "$T/err")"
}
expect_refused "album = source" "$T/d" --to "$T/d"
expect_refused "album inside source" "$T/d" --to "$T/d/album"
[ ! -e "$T/d/album" ] || fail "an album folder was made inside the source"
expect_refused "album = source, other spelling" "$T/d" --to "$T/d/../d/."
ln -s "$T/d" "$T/link"
expect_refused "album = source through a symlink" "$T/link" --to "$T/d"
expect_refused "source inside the album" "$T/d/IMG_0001.jpg" --to "$T/d"
expect_refused "--watch DIR --to DIR" --watch "$T/d" --to "$T/d"
expect_refused "--watch DIR --to DIR/sub" --watch "$T/d" --to "$T/d/thumbs"
[ "$(sums)" = "$before" ] || fail "an original changed"
pass "album = / inside a source (or the watched folder) refused, exit 2"

# Sources listed later are checked one by one: a file:// URL and a path in
# a --urls list that point into the album fail; the others are stored.
# (A list may name local files only when --protocols allows them.)
mkdir -p "$T/album"
cp "$T/d/IMG_0001.jpg" "$T/album/own.jpg"
own=$(sha256sum <"$T/album/own.jpg")
printf '%s\n' "file://$T/album/own.jpg" "$T/album/own.jpg" "$T/d/IMG_0002.jpg" >"$T/list"
rc=0
"$PP" --urls "$T/list" --protocols file,http,https --to "$T/album" -s 200x200 --json >"$T/l.json" 2>"$T/l.err" || rc=$?
[ $rc = 1 ] || fail "list into the album: exit $rc"
[ "$(json_get "$T/l.json" 'j["failed"], j["stored"]')" = "(2, 1)" ] || fail "$(cat "$T/l.json")"
[ "$(grep -c 'the source is inside the album' "$T/l.err")" = 2 ] || fail "$(cat "$T/l.err")"
[ "$(sha256sum <"$T/album/own.jpg")" = "$own" ] || fail "a file in the album was written over"
pass "listed sources inside the album fail one by one; nothing written over"

# --watch never reacts to its own output: the album cannot be in the watched
# folder (above), and a watch next to it takes each photo once.
mkdir -p "$T/inbox"
cp "$T/d/IMG_0003.jpg" "$T/inbox/"
"$PP" --watch "$T/inbox" --to "$T/album2" -s 200x200 --settle 200ms --json >"$T/w.json" \
  2>"$T/w.err" &
pid=$!
for _ in $(seq 200); do [ -e "$T/album2/IMG_0003.jpg" ] && break; sleep 0.1; done
sleep 1
kill -INT $pid
rc=0
wait $pid || rc=$?
[ $rc = 1 ] || fail "watch exit $rc: $(cat "$T/w.err")"
[ "$(json_get "$T/w.json" 'j["listed"], j["stored"]')" = "(1, 1)" ] || fail "$(cat "$T/w.json")"
[ "$(ls "$T/album2")" = IMG_0003.jpg ] && [ "$(ls "$T/inbox")" = IMG_0003.jpg ] ||
  fail "watch wrote: $(ls -A "$T/album2" "$T/inbox")"
pass "a watch takes each photo once and writes nothing into the watched folder"
