#!/usr/bin/env bash
# e2e_bad_input.sh - one case per bad input: each gets a clear per-photo
# error in the right stage, the good photos go on, nothing half-written or
# outside the album, exit 1.  Awkward but valid images (PNG with alpha, CMYK
# JPEG, 16-bit PNG) come out as ordinary 8-bit sRGB JPEGs.
source "$3/lib.sh" "$@"
corpus "$T/src" 3
mkdir -p "$T/src"
"$KIT" bad "$T/src" || fail "cannot write bad inputs"

set +e
"$PP" "$T/src" --to "$T/album" -s 400x400 --max-pixels 50M --no-progress \
  >"$T/out" 2>"$T/err"
rc=$?
set -e
cat "$T/err"
[ $rc = 1 ] || fail "exit code $rc, want 1"

# expect_fail NAME STAGE REGEX
expect_fail() {
  grep -Eq "FAILED $T/src/$1 \($2\): .*$3" "$T/err" || fail "$1: no '$2' failure matching '$3'"
  [ ! -e "$T/album/${1%.*}.jpg" ] || fail "$1: something was stored for it"
  pass "$1 refused ($2)"
}
expect_fail truncated.jpg resize 'cannot decode'
expect_fail corrupt.jpg resize 'corrupt|cannot decode'
expect_fail not-an-image.jpg resize 'not an image'
expect_fail empty.jpg resize 'empty file'
expect_fail bomb.jpg resize 'claims 60000x60000 .*over the limit'

# The valid-but-awkward ones: 8-bit, 3 bands, sane brightness.
for f in alpha cmyk deep16; do
  info=$("$KIT" info "$T/album/$f.jpg") || fail "$f.jpg was not stored or does not decode"
  set -- $info
  [ "$1" -le 400 ] && [ "$2" -le 400 ] && [ "$3" = 3 ] && [ "$4" = uchar ] ||
    fail "$f.jpg: $info"
  pass "$f converted: $info"
done
# 16-bit must be scaled, not clipped: same brightness as the 8-bit original.
ref=$("$KIT" info "$T/album/deep16.jpg" | cut -d' ' -f5)
python3 -c "import sys; a=float(sys.argv[1]); sys.exit(0 if 40 < a < 200 else 1)" "$ref" ||
  fail "16-bit PNG came out with mean $ref (clipped?)"
"$KIT" check "$T/src" "$T/album" 400 400 6 || fail "good photos"
# --format keep: PNG stays PNG (alpha kept; libvips' thumbnail makes 16-bit
# into 8-bit sRGB, scaled), JPEG stays JPEG.
"$PP" "$T/src/alpha.png" "$T/src/deep16.png" "$T/src/IMG_0002.jpg" --to "$T/keep" -s 400x400 \
  --format keep --quiet || fail "--format keep exited $?"
set -- $("$KIT" info "$T/keep/alpha.png") && [ "$3" = 4 ] || fail "alpha.png lost its alpha"
[ "$(vipsheader -f vips-loader "$T/keep/deep16.png")" = pngload ] || fail "deep16.png is not a PNG"
set -- $("$KIT" info "$T/keep/deep16.png")
python3 -c "import sys; sys.exit(0 if 40 < float(sys.argv[1]) < 200 else 1)" "$5" ||
  fail "deep16.png: $*"
set -- $("$KIT" info "$T/keep/IMG_0002.jpg") && [ "$1" -le 400 ] || fail "IMG_0002.jpg: $*"
pass "--format keep"
no_temp_files "$T/album"

# The pixel limit is configurable: a 1600x1200 photo is over 1M pixels.
set +e
"$PP" "$T/src/IMG_0001.jpg" --to "$T/album2" --max-pixels 1M --quiet 2>"$T/err2"
rc=$?
set -e
[ $rc = 1 ] && grep -q 'claims 1600x1200 = 1920000 pixels, over the limit of 1000000' "$T/err2" ||
  fail "--max-pixels: rc $rc $(cat "$T/err2")"
pass "--max-pixels"

# Names: escapes, NUL, very long, collisions.  Sources through file:// URLs
# (percent-encoding is where hostile names hide) and --prefix names.
mkdir -p "$T/n/sub" "$T/nalbum"
cp "$T/src/IMG_0001.jpg" "$T/n/a.jpg"
vips copy "$T/src/IMG_0002.jpg" "$T/n/a.png"
cp "$T/src/IMG_0003.jpg" "$T/n/A.JPG"
long=$(printf 'x%.0s' $(seq 240)).jpg
cp "$T/src/IMG_0001.jpg" "$T/n/$long"
cat >"$T/urls" <<URLS
file://$T/n/a.jpg
file://$T/n/a.png
file://$T/n/A.JPG
file://$T/n/$long
file://$T/n/sub/..%2F..%2Fescaped.jpg
file://$T/n/evil.php%00.jpg
file://$T/n/%2e%2e
URLS
set +e
"$PP" --urls "$T/urls" --protocols http,https,file --to "$T/nalbum" -s 200x200 --json \
  >"$T/names.json" 2>"$T/names.err"
rc=$?
(cd "$T/n" && "$PP" --prefix "file://$T/n/" ../a.jpg /etc/passwd --to "$T/nalbum2" --quiet \
   2>"$T/prefix.err")
rc2=$?
set -e
[ $rc = 1 ] && [ $rc2 = 1 ] || fail "names runs exited $rc $rc2"
adds_up "$T/names.json"
[ "$(json_get "$T/names.json" 'j["stored"], j["failed"], j["renamed"]')" = "(4, 3, 3)" ] ||
  fail "names summary: $(cat "$T/names.json")"
for f in a.jpg a-2.jpg A-3.jpg; do [ -f "$T/nalbum/$f" ] || fail "collision: $f missing"; done
stored_long=$(ls "$T/nalbum" | awk 'length($0) > 100')
[ -n "$stored_long" ] && [ ${#stored_long} -le 200 ] && [[ $stored_long == *.jpg ]] ||
  fail "long name stored as '$stored_long'"
json_get "$T/names.json" '"\n".join(p["reason"] for p in j["problems"])' >"$T/reasons"
grep -q 'path separator' "$T/reasons" && grep -q 'NUL' "$T/reasons" &&
  grep -q "'.' or '..'" "$T/reasons" || fail "name reasons: $(cat "$T/reasons")"
grep -q "'\.\.' segment" "$T/prefix.err" && grep -q 'absolute path' "$T/prefix.err" ||
  fail "prefix name reasons: $(cat "$T/prefix.err")"
# Nothing escaped: no new files anywhere in $T outside the albums and inputs.
found=$(find "$T" \( -name 'escaped*' -o -name 'passwd*' -o -name 'evil*' \) | head -3)
[ -z "$found" ] || fail "escaped files: $found"
[ "$(ls "$T/nalbum" | wc -l)" = 4 ] || fail "nalbum: $(ls "$T/nalbum")"
pass "names: ../, NUL, '..', absolute, very long, collisions"
