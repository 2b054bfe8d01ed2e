#!/usr/bin/env bash
# e2e_colour.sh - colour survives: a Display P3 photo (as every recent phone
# takes) and a CMYK one come out as sRGB with the pixels vipsthumbnail
# --export-profile srgb gives; --keep-profile keeps the P3 pixels and profile.
source "$3/lib.sh" "$@"
command -v vips >/dev/null && command -v vipsthumbnail >/dev/null ||
  { echo "vips tools missing: skip"; exit 77; }
mkdir -p "$T/src"

# sRGB pure red, converted to Display P3 and tagged with the P3 profile: a
# viewer that ignores the profile shows a dull red (about 234,51,35).
vips black "$T/black.v" 320 240 --bands 3
vips linear "$T/black.v" "$T/red.v" "1 1 1" "255 0 0" --uchar
vips copy "$T/red.v" "$T/red_srgb.v" --interpretation srgb
vips icc_transform "$T/red_srgb.v" "$T/p3.v" p3 --input-profile srgb
vips copy "$T/p3.v" "$T/src/p3.jpg[Q=95]"
[ -n "$(vipsheader -f icc-profile-data "$T/src/p3.jpg" 2>/dev/null)" ] || fail "no profile in p3.jpg"
# A CMYK JPEG without a profile (libvips assumes its default CMYK profile).
mkdir -p "$T/bad"
"$KIT" bad "$T/bad" || fail "cannot write the CMYK photo"
cp "$T/bad/cmyk.jpg" "$T/src/cmyk.jpg"

# A grey photo (it must stay one band: sRGB would only triple it).
vips colourspace "$T/red_srgb.v" "$T/grey.v" b-w
vips copy "$T/grey.v" "$T/src/grey.jpg"

"$PP" "$T/src" --to "$T/album" -s 200x200 --quiet || fail "run exited $?"
[ "$(vipsheader -f bands "$T/album/grey.jpg")" = 1 ] || fail "grey.jpg: $(vipsheader "$T/album/grey.jpg")"

# pixel FILE X Y: "R G B"
pixel() { vips getpoint "$1" "$2" "$3" | awk '{printf "%d %d %d", $1, $2, $3}'; }
# close A B TOL: every channel within TOL
close() {
  python3 -c 'import sys; a=list(map(float,sys.argv[1].split())); b=list(map(float,sys.argv[2].split()));
sys.exit(0 if len(a)==len(b) and max(abs(x-y) for x,y in zip(a,b)) <= float(sys.argv[3]) else 1)' "$1" "$2" "$3"
}

for f in p3 cmyk; do
  vipsthumbnail "$T/src/$f.jpg" --export-profile srgb -s 200x200 -o "$T/ref_$f.jpg[Q=85]"
  for xy in "10 10" "100 75" "150 120"; do
    got=$(pixel "$T/album/$f.jpg" $xy)
    want=$(pixel "$T/ref_$f.jpg" $xy)
    close "$got" "$want" 6 || fail "$f.jpg at $xy: $got, vipsthumbnail --export-profile srgb: $want"
  done
  pass "$f.jpg converted to sRGB like vipsthumbnail: $(pixel "$T/album/$f.jpg" 10 10)"
done
# The red is red, not the dull P3 numbers.
close "$(pixel "$T/album/p3.jpg" 10 10)" "254 2 1" 8 || fail "P3 red: $(pixel "$T/album/p3.jpg" 10 10)"
# Stripped output carries no profile: it is sRGB, which is what no profile means.
[ -z "$(vipsheader -f icc-profile-data "$T/album/p3.jpg" 2>/dev/null)" ] ||
  fail "p3.jpg kept a profile although converted and stripped"
pass "P3 red comes out (254,2,1)-ish, no stale profile"

# --keep-profile: P3 numbers kept, and the P3 profile with them (even with
# --strip, the default), so a colour-managed viewer still shows the red.
"$PP" "$T/src/p3.jpg" --to "$T/keep" -s 200x200 --keep-profile --quiet ||
  fail "--keep-profile run exited $?"
close "$(pixel "$T/keep/p3.jpg" 10 10)" "234 51 35" 6 || fail "kept: $(pixel "$T/keep/p3.jpg" 10 10)"
cmp -s <(vipsheader -f icc-profile-data "$T/keep/p3.jpg") <(vipsheader -f icc-profile-data "$T/src/p3.jpg") ||
  fail "--keep-profile lost or changed the P3 profile"
vips icc_import "$T/keep/p3.jpg" "$T/keep_lab.v" --embedded
vips icc_import "$T/src/p3.jpg" "$T/src_lab.v" --embedded
close "$(vips getpoint "$T/keep_lab.v" 10 10)" "$(vips getpoint "$T/src_lab.v" 10 10)" 3 ||
  fail "kept photo does not show the same colour through its profile"
pass "--keep-profile keeps P3 pixels and profile"
