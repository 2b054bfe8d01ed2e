#!/usr/bin/env bash
# e2e_manifest.sh - the album's manifest: one row per stored photo (source,
# name, sizes, hashes, settings, time); a different photo wanting a taken
# name gets a new one (never a silent replacement, with or without
# --skip-existing); --skip-existing skips the same source + content +
# settings and redoes an edited one under its name; a photo deleted from the
# album is made again; a file photopipe did not write is never replaced;
# `photopipe ls` lists the rows; three concurrent runs on one album leave
# every photo exactly once.
source "$3/lib.sh" "$@"
corpus "$T/c1" 12 800x600
corpus "$T/c2" 12 640x640
mkdir -p "$T/camA" "$T/camB"
cp "$T/c1/IMG_0001.jpg" "$T/camA/IMG_0001.jpg"
cp "$T/c2/IMG_0005.jpg" "$T/camB/IMG_0001.jpg" # another photo, the same name
A=$T/album

"$PP" "$T/camA" --to "$A" -s 300x300 --quiet || fail "camA run"
"$PP" "$T/camB" --to "$A" -s 300x300 --skip-existing --json >"$T/b.json" 2>"$T/b.err" ||
  fail "camB run: $(cat "$T/b.err")"
[ "$(json_get "$T/b.json" 'j["stored"], j["skipped"], j["photos"][0]["name"]')" = \
  "(1, 0, 'IMG_0001-2.jpg')" ] || fail "camB: $(cat "$T/b.json")"
[ "$(ls "$A")" = "IMG_0001-2.jpg
IMG_0001.jpg" ] || fail "album: $(ls "$A")"
rows=$(manifest_sql "$A" "SELECT name, source, state, source_size, length(source_sha256),
       output_size, length(output_sha256), settings FROM photos ORDER BY name")
expect="IMG_0001-2.jpg|$T/camB/IMG_0001.jpg|stored|$(stat -c %s "$T/camB/IMG_0001.jpg")|64|$(stat -c %s "$A/IMG_0001-2.jpg")|64|fit=300x300 quality=85 format=jpeg strip=1 enlarge=0 profile=srgb
IMG_0001.jpg|$T/camA/IMG_0001.jpg|stored|$(stat -c %s "$T/camA/IMG_0001.jpg")|64|$(stat -c %s "$A/IMG_0001.jpg")|64|fit=300x300 quality=85 format=jpeg strip=1 enlarge=0 profile=srgb"
[ "$rows" = "$expect" ] || fail "manifest rows:
$rows
want:
$expect"
[ "$(manifest_sql "$A" "SELECT output_sha256 FROM photos WHERE name='IMG_0001.jpg'")" = \
  "$(sha256sum "$A/IMG_0001.jpg" | cut -d' ' -f1)" ] || fail "output hash"
[ "$(manifest_sql "$A" "SELECT source_sha256 FROM photos WHERE name='IMG_0001-2.jpg'")" = \
  "$(sha256sum "$T/camB/IMG_0001.jpg" | cut -d' ' -f1)" ] || fail "source hash"
grep -q "renamed: $T/camB/IMG_0001.jpg -> IMG_0001-2.jpg" < <("$PP" "$T/camB" --to "$A" \
  -s 300x300 2>/dev/null) || fail "the text report does not name the renamed photo"
pass "camB/IMG_0001.jpg after camA/IMG_0001.jpg: a new name, both kept, rows right"

# `photopipe ls`: one line per row, name first.
"$PP" ls "$A" >"$T/ls" || fail "ls"
[ "$(cut -f1,2,4 "$T/ls")" = "IMG_0001-2.jpg	stored	$T/camB/IMG_0001.jpg
IMG_0001.jpg	stored	$T/camA/IMG_0001.jpg" ] || fail "ls: $(cat "$T/ls")"
rc=0
"$PP" ls "$T/nothing-here" 2>"$T/ls.err" || rc=$?
[ $rc = 1 ] && grep -q 'has no manifest' "$T/ls.err" || fail "ls without a manifest: $rc"
pass "photopipe ls"

# --skip-existing: same source + content + settings skipped (without a
# write); an edited re-export redone under its own name; other settings
# redone; a photo deleted from the album made again.
cp "$T/c1"/IMG_000[2-6].jpg "$T/camA/"
"$PP" "$T/camA" --to "$A" -s 300x300 --quiet || fail "camA 6"
ino=$(stat -c %i "$A/IMG_0002.jpg")
cp "$T/c1/IMG_0007.jpg" "$T/camA/IMG_0003.jpg"     # an edited re-export
touch -d '2020-01-01' "$T/camA/IMG_0004.jpg"         # mtime only: rehashed, same
rm "$A/IMG_0005.jpg"                                 # deleted from the album
"$PP" "$T/camA" --to "$A" -s 300x300 --skip-existing --json >"$T/s.json" || fail "skip run"
[ "$(json_get "$T/s.json" 'j["stored"], j["skipped"]')" = "(2, 4)" ] || fail "$(cat "$T/s.json")"
[ "$(json_get "$T/s.json" 'sorted(p["name"] for p in j["photos"] if p["status"]=="done")')" = \
  "['IMG_0003.jpg', 'IMG_0005.jpg']" ] || fail "redone: $(cat "$T/s.json")"
[ "$(stat -c %i "$A/IMG_0002.jpg")" = "$ino" ] || fail "an unchanged photo was rewritten"
[ "$(manifest_sql "$A" "SELECT source_sha256 FROM photos WHERE name='IMG_0003.jpg'")" = \
  "$(sha256sum "$T/camA/IMG_0003.jpg" | cut -d' ' -f1)" ] || fail "edited: row not updated"
[ "$(ls "$A" | wc -l)" = 7 ] || fail "album: $(ls "$A")"
"$PP" "$T/camA" --to "$A" -s 200x200 --skip-existing --json >"$T/s2.json" || fail "new size"
[ "$(json_get "$T/s2.json" 'j["stored"], j["skipped"]')" = "(6, 0)" ] || fail "$(cat "$T/s2.json")"
pass "--skip-existing by identity: unchanged skipped, edited and deleted redone, new settings redone"

# A file in the album that photopipe did not write is never replaced.
mkdir -p "$T/B2"
echo "mine, not a photo from photopipe" >"$T/B2/IMG_0008.jpg"
"$PP" "$T/c1/IMG_0008.jpg" --to "$T/B2" -s 300x300 --json >"$T/f.json" || fail "foreign"
[ "$(json_get "$T/f.json" 'j["photos"][0]["name"]')" = IMG_0008-2.jpg ] || fail "$(cat "$T/f.json")"
grep -q 'mine, not a photo' "$T/B2/IMG_0008.jpg" || fail "the foreign file was replaced"
pass "a file photopipe did not write keeps its name; the photo gets another"

# Three runs at once on one album: camera 1, camera 2 (the same 12 names)
# and camera 1 again.  Every photo exactly once, 24 names, every row's
# output hash that of the album file with its name.
C=$T/concurrent
pids=()
for src in c1 c2 c1; do
  "$PP" "$T/$src" --to "$C" -s 256x256 -w 2,1,2 --quiet 2>>"$T/cc.err" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent run failed: $(cat "$T/cc.err")"; done
[ "$(ls "$C" | wc -l)" = 24 ] || fail "concurrent album: $(ls "$C")"
[ "$(manifest_sql "$C" "SELECT count(*), count(DISTINCT name) FROM photos WHERE state='stored'")" = \
  "24|24" ] || fail "concurrent rows: $(manifest_sql "$C" 'SELECT name, source, state FROM photos')"
while IFS='|' read -r name hash; do
  [ "$(sha256sum "$C/$name" | cut -d' ' -f1)" = "$hash" ] || fail "row of $name: another file"
done < <(manifest_sql "$C" "SELECT name, output_sha256 FROM photos")
"$KIT" decode "$C" 256 256 >/dev/null || fail "concurrent album does not decode"
pass "three concurrent runs on one album: 24 photos, each once"

# The output format changes between runs: the name follows the content.
mkdir -p "$T/pngs"
vips copy "$T/c1/IMG_0009.jpg" "$T/pngs/P.png"
"$PP" "$T/pngs" --to "$T/F" -s 200x200 --quiet || fail "jpeg run"
"$PP" "$T/pngs" --to "$T/F" -s 200x200 --format keep --skip-existing --quiet || fail "keep run"
[ "$(manifest_sql "$T/F" "SELECT name FROM photos")" = P.png ] &&
  [ "$(head -c 8 "$T/F/P.png" | od -An -c | tr -d ' ')" = '211PNG\r\n032\n' ] &&
  head -c 3 "$T/F/P.jpg" | od -An -tx1 | grep -q 'ff d8 ff' ||
  fail "format change: $(ls "$T/F"); $(manifest_sql "$T/F" 'SELECT name FROM photos')"
"$PP" "$T/pngs" --to "$T/F" -s 200x200 --skip-existing --quiet || fail "jpeg again"
[ "$(manifest_sql "$T/F" "SELECT name, state FROM photos")" = "P.jpg|stored" ] ||
  fail "back to JPEG: $(manifest_sql "$T/F" 'SELECT name, state FROM photos')"
pass "a new output format gets a name with its extension (jpeg -> keep -> jpeg)"
