#!/usr/bin/env bash
# e2e_errors.sh - each photo's error is its own: many broken PNGs and JPEGs
# resized at once never get each other's libvips text, never an empty one,
# and no line repeats itself; text a HEIC photo leaves behind does not reach
# the next photo's reason.  A JPEG missing only its end marker is stored
# with a warning; one cut short still fails.  --format keep keeps a GIF
# animated.
source "$3/lib.sh" "$@"
corpus "$T/c" 2 640x480
mkdir -p "$T/src"
vips copy "$T/c/IMG_0001.jpg" "$T/full.png"
png=$(stat -c %s "$T/full.png")
jpg=$(stat -c %s "$T/c/IMG_0001.jpg")
# Cut at different places, so the messages differ from photo to photo too.
for i in $(seq 10); do
  head -c $((png * (30 + 4 * i) / 100)) "$T/full.png" >"$T/src/cut$i.png"
  head -c $((jpg * (30 + 4 * i) / 100)) "$T/c/IMG_0001.jpg" >"$T/src/cut$i.jpg"
done
set +e
"$PP" "$T/src" --to "$T/album" -s 200x200 -w 4,4,2 --json >"$T/out.json" 2>"$T/err"
rc=$?
set -e
[ $rc = 1 ] || fail "exit $rc, want 1"
adds_up "$T/out.json"
[ "$(json_get "$T/out.json" 'j["failed"]')" = 20 ] || fail "$(cat "$T/out.json")"
json_get "$T/out.json" '"\n".join(p["source"]+" | "+p["reason"] for p in j["problems"])' >"$T/reasons"
while IFS= read -r line; do
  src=${line%% | *}
  why=${line#* | }
  case "$src" in
    *.png) [[ $why == *png* && $why != *Jpeg* && $why != *JPEG* ]] ||
             fail "PNG got someone else's reason: $line" ;;
    *.jpg) [[ ($why == *Jpeg* || $why == *JPEG*) && $why != *png* ]] ||
             fail "JPEG got someone else's reason: $line" ;;
  esac
  # Our words, then libvips' own: never only ours (the text went elsewhere).
  [[ $why =~ ^[a-z\ ]+:\ .+ ]] || fail "reason without libvips' text: $line"
  # No line twice ("Premature end of JPEG file; Premature end of JPEG file").
  python3 -c 'import sys; p=sys.argv[1].split(": ",1)[1].split("; "); sys.exit(len(p)!=len(set(p)))' "$why" ||
    fail "repeated text: $line"
done <"$T/reasons"
pass "20 broken photos at once: each with its own libvips text, none repeated"

# Text a successful resize leaves behind (libheif's "bad seek") does not
# become the next photo's reason: a cut JPEG after a HEIC photo, one worker
# each, gets the reason it gets alone.
if vips copy "$T/c/IMG_0001.jpg" "$T/photo.heic" 2>/dev/null; then
  head -c 3000 "$T/c/IMG_0002.jpg" >"$T/cut.jpg"
  set +e
  "$PP" "$T/cut.jpg" --to "$T/alone" --quiet 2>"$T/alone.err"
  "$PP" "$T/photo.heic" "$T/cut.jpg" -w 1,1,1 --to "$T/after" --quiet 2>"$T/after.err"
  set -e
  [ -f "$T/after/photo.jpg" ] || fail "the HEIC photo was not stored: $(cat "$T/after.err")"
  [ "$(grep FAILED "$T/after.err")" = "$(grep FAILED "$T/alone.err")" ] && [ -s "$T/alone.err" ] ||
    fail "reason after a HEIC photo: $(cat "$T/after.err"), alone: $(cat "$T/alone.err")"
  pass "no text left over from the photo before: $(cat "$T/after.err")"
else
  echo "skip: libvips cannot write HEIC here"
fi

# The end marker alone missing: stored, with a warning naming the photo.
mkdir -p "$T/eoi"
head -c $((jpg - 2)) "$T/c/IMG_0001.jpg" >"$T/eoi/no-end.jpg"
head -c $((jpg / 2)) "$T/c/IMG_0001.jpg" >"$T/eoi/half.jpg"
set +e
"$PP" "$T/eoi" --to "$T/album2" -s 200x200 --json >"$T/eoi.json" 2>"$T/eoi.err"
rc=$?
set -e
cat "$T/eoi.err"
[ $rc = 1 ] || fail "end-marker run exited $rc, want 1 (half.jpg fails)"
"$KIT" info "$T/album2/no-end.jpg" >/dev/null || fail "no-end.jpg was not stored"
grep -q "warning: $T/eoi/no-end.jpg: JPEG end marker missing" "$T/eoi.err" || fail "no warning"
[ "$(json_get "$T/eoi.json" 'j["warnings"][0]["name"]')" = no-end.jpg ] || fail "json warnings"
# Every pixel is there: it matches the whole photo's thumbnail.
"$PP" "$T/c/IMG_0001.jpg" --to "$T/whole" -s 200x200 --quiet
a=$("$KIT" info "$T/album2/no-end.jpg")
b=$("$KIT" info "$T/whole/IMG_0001.jpg")
[ "${a% *}" = "${b% *}" ] &&
  python3 -c 'import sys; sys.exit(0 if abs(float(sys.argv[1])-float(sys.argv[2])) < 1 else 1)' "${a##* }" "${b##* }" ||
  fail "no-end.jpg ($a) differs from the whole photo ($b)"
grep -q "FAILED $T/eoi/half.jpg (resize): cannot decode: .*Premature end" "$T/eoi.err" ||
  fail "half.jpg: no clear failure"
[ ! -e "$T/album2/half.jpg" ] || fail "half.jpg stored"
pass "missing end marker stored with a warning; cut short fails"

# --format keep: an animated GIF stays animated, every frame resized.
"$KIT" anim "$T/anim.gif"
"$PP" "$T/anim.gif" --to "$T/album3" -s 160x160 --format keep --quiet || fail "gif run exited $?"
[ "$(vipsheader -f n-pages "$T/album3/anim.gif")" = 3 ] || fail "animation lost: $(vipsheader -a "$T/album3/anim.gif")"
[ "$(vipsheader -f width "$T/album3/anim.gif")" = 160 ] && [ "$(vipsheader -f height "$T/album3/anim.gif")" = 120 ] ||
  fail "frames not resized: $(vipsheader -a "$T/album3/anim.gif")"
# Frame 3 is still blue.
vips crop "$T/album3/anim.gif[page=2]" "$T/f3.v" 0 0 8 8
python3 -c 'import sys; r,g,b=map(float,sys.argv[1:4]); sys.exit(0 if b > 200 and b > r + 100 and b > g + 100 else 1)' \
  $(vips getpoint "$T/f3.v" 4 4 | awk '{print $1, $2, $3}') || fail "frame 3 is not blue"
pass "--format keep keeps a GIF animated (3 frames, 160x120)"
