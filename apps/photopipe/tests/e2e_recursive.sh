#!/usr/bin/env bash
# e2e_recursive.sh - a camera card: photos a few folders down are found
# (recursive by default), hidden folders and non-photos are not; with
# --no-recursive only the top folder counts; a folder with no photo is a
# warning; a run that finds nothing exits 1 with a line; --help lists the
# extensions taken.
source "$3/lib.sh" "$@"
corpus "$T/shots" 4 800x600
card=$T/card
mkdir -p "$card/DCIM/100CANON" "$card/DCIM/101CANON/deeper" "$card/DCIM/.thumbnails" \
  "$card/MISC"
cp "$T/shots/IMG_0001.jpg" "$card/DCIM/100CANON/IMG_0001.JPG"
cp "$T/shots/IMG_0002.jpg" "$card/DCIM/101CANON/IMG_0001.JPG"      # same name, other folder
cp "$T/shots/IMG_0003.jpg" "$card/DCIM/101CANON/deeper/IMG_0003.jpeg"
cp "$T/shots/IMG_0004.jpg" "$card/DCIM/.thumbnails/IMG_0004.jpg"   # hidden folder
echo "not a photo" >"$card/MISC/info.txt"
ln -s "$card/DCIM" "$card/DCIM/100CANON/loop"                      # not followed

"$PP" "$card" --to "$T/album" -s 300x300 --json >"$T/r.json" 2>"$T/r.err" ||
  fail "card run: $(cat "$T/r.err")"
[ "$(json_get "$T/r.json" 'j["listed"], j["stored"], j["renamed"]')" = "(3, 3, 1)" ] ||
  fail "card: $(cat "$T/r.json")"
[ "$(json_get "$T/r.json" 'sorted((p["source"].split("/card/")[1], p["name"]) for p in j["photos"])')" = \
  "[('DCIM/100CANON/IMG_0001.JPG', 'IMG_0001.jpg'), ('DCIM/101CANON/IMG_0001.JPG', 'IMG_0001-2.jpg'), ('DCIM/101CANON/deeper/IMG_0003.jpeg', 'IMG_0003.jpg')]" ] ||
  fail "card names: $(cat "$T/r.json")"
pass "card/DCIM searched recursively; hidden folders and symlinked folders skipped"

rc=0
"$PP" "$card" --no-recursive --to "$T/album2" -s 300x300 >"$T/n.out" 2>"$T/n.err" || rc=$?
[ $rc = 1 ] || fail "--no-recursive on a card: exit $rc"
grep -q "warning: no photos in '$card' (not searching its subfolders: --no-recursive)" \
  "$T/n.err" || fail "no warning: $(cat "$T/n.err")"
grep -q "no photos found in the sources" "$T/n.err" || fail "no 'nothing found' line"
pass "--no-recursive: only the folder itself; nothing found exits 1 with a line"

mkdir -p "$T/empty"
rc=0
"$PP" "$T/empty" "$card/DCIM/100CANON" --to "$T/album3" -s 300x300 --quiet \
  2>"$T/e.err" || rc=$?
[ $rc = 0 ] || fail "one empty folder among others: exit $rc: $(cat "$T/e.err")"
[ -f "$T/album3/IMG_0001.jpg" ] || fail "the photo of the other folder was not stored"
rc=0
"$PP" "$T/empty" "$card/DCIM/100CANON" --to "$T/album4" -s 300x300 2>"$T/e2.err" >/dev/null ||
  rc=$?
grep -q "warning: no photos in '$T/empty'" "$T/e2.err" || fail "empty folder: $(cat "$T/e2.err")"
pass "a folder with no photo is a warning; the run goes on"

"$PP" --help >"$T/help"
grep -q '\.jpg \.jpeg \.png \.webp \.tif \.tiff \.gif \.heic \.heif \.avif' "$T/help" &&
  grep -q -- '--no-recursive' "$T/help" && grep -q 'subfolders included' "$T/help" ||
  fail "--help: $(cat "$T/help")"
pass "--help says folders are recursive and lists the extensions"
