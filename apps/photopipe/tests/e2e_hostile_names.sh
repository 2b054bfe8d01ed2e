#!/usr/bin/env bash
# e2e_hostile_names.sh - hostile file names (terminal escapes, a line break that
# fakes a FAILED line, bytes that are not UTF-8, a bidi override) are shown
# escaped on the terminal, and --json stays valid UTF-8.
source "$3/lib.sh" "$@"
mkdir -p "$T/src"
esc=$(printf 'esc\033]0;pwned\007.jpg')
nl=$(printf 'nl\nphotopipe: FAILED fake.jpg (resize): x.jpg')
bad=$(printf 'bad\377\376.jpg')
bidi=$(printf 'photo\342\200\256gpj.exe.jpg')
for n in "$esc" "$nl" "$bad" "$bidi"; do
  echo "not a photo" >"$T/src/$n"
done
set +e
"$PP" "$T/src" --to "$T/album" --no-progress >"$T/out" 2>"$T/err"
rc=$?
"$PP" "$T/src" --to "$T/album2" --json >"$T/out.json" 2>"$T/json.err"
rc2=$?
"$PP" "$T/src/$esc" --bogus-$'\033'x --to "$T/album3" 2>"$T/usage.err"
rc3=$?
set -e
cat "$T/err"
[ $rc = 1 ] && [ $rc2 = 1 ] && [ $rc3 = 2 ] || fail "exit $rc $rc2 $rc3, want 1 1 2"
for f in "$T/err" "$T/out" "$T/json.err" "$T/usage.err"; do
  python3 - "$f" <<'PY' || fail "raw control or invalid bytes in $f"
import sys
b = open(sys.argv[1], "rb").read()
t = b.decode("utf-8")  # strict: fails on invalid UTF-8
bad = [c for c in t if (ord(c) < 32 and c != "\n") or 0x7f <= ord(c) <= 0x9f or c == "\u202e"]
sys.exit(1 if bad else 0)
PY
done
# One FAILED line per photo: the line break did not make a second one.
[ "$(grep -c '^photopipe: FAILED' "$T/err")" = 4 ] || fail "FAILED lines: $(grep -c FAILED "$T/err")"
grep -qF 'FAILED '"$T"'/src/esc\x1b]0;pwned\x07.jpg (resize)' "$T/err" || fail "escape not shown escaped"
grep -qF 'src/nl\x0aphotopipe: FAILED fake.jpg (resize): x.jpg (resize)' "$T/err" || fail "newline"
grep -qF 'src/bad\xff\xfe.jpg (resize)' "$T/err" || fail "invalid UTF-8"
grep -qF 'src/photo\u{202e}gpj.exe.jpg (resize)' "$T/err" || fail "bidi override"
grep -qF "unknown option '--bogus-\x1bx'" "$T/usage.err" || fail "usage error: $(cat "$T/usage.err")"
pass "names escaped on the terminal: ESC, newline, invalid UTF-8, bidi"

# --json: strict UTF-8, parses, and shows the same escaped names.
python3 - "$T/out.json" "$T" <<'PY' || fail "--json: $(cat "$T/out.json")"
import json, sys
j = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
srcs = sorted(p["source"] for p in j["problems"])
t = sys.argv[2]
want = sorted(t + "/src/" + s for s in ["esc\\x1b]0;pwned\\x07.jpg",
                                       "nl\\x0aphotopipe: FAILED fake.jpg (resize): x.jpg",
                                       "bad\\xff\\xfe.jpg", "photo\\u{202e}gpj.exe.jpg"])
if srcs != want:
    print(srcs, want)
    sys.exit(1)
json.dumps(j["pipeline"])  # the stats carry the last error message too
PY
pass "--json is valid UTF-8 with the names escaped"

# The album's side: real photos with hostile names, from two cameras, so the
# second run renames one.  The "renamed:" line, the --json mapping and
# `photopipe ls` (names and sources read back from the manifest) are escaped
# too.
corpus "$T/c" 2 320x240
mkdir -p "$T/camA/$nl" "$T/camB/$nl"
cp "$T/c/IMG_0001.jpg" "$T/camA/$nl/$bad"
cp "$T/c/IMG_0002.jpg" "$T/camB/$nl/$bad"
"$PP" "$T/camA" --to "$T/album4" -s 100x100 --no-progress >"$T/a.out" 2>"$T/a.err" ||
  fail "camA run: $(cat "$T/a.err")"
"$PP" "$T/camB" --to "$T/album4" -s 100x100 --no-progress >"$T/b.out" 2>"$T/b.err" ||
  fail "camB run: $(cat "$T/b.err")"
"$PP" "$T/camB" --to "$T/album4" -s 100x100 --json >"$T/b.json" 2>>"$T/b.err" ||
  fail "camB json run: $(cat "$T/b.err")"
"$PP" ls "$T/album4" >"$T/ls.out" 2>"$T/ls.err" || fail "ls: $(cat "$T/ls.err")"
for f in "$T/a.out" "$T/a.err" "$T/b.out" "$T/b.err" "$T/b.json" "$T/ls.out" "$T/ls.err"; do
  python3 - "$f" <<'PY' || fail "raw control or invalid bytes in $f: $(cat -v "$f")"
import sys
t = open(sys.argv[1], "rb").read().decode("utf-8")
sys.exit(1 if [c for c in t if (ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f] else 0)
PY
done
grep -qxF 'renamed: '"$T"'/camB/nl\x0aphotopipe: FAILED fake.jpg (resize): x.jpg/bad\xff\xfe.jpg -> bad\xff\xfe-2.jpg' \
  "$T/b.out" || fail "renamed line: $(cat -v "$T/b.out")"
[ "$(grep -c . "$T/ls.out")" = 2 ] || fail "ls: one line per photo: $(cat -v "$T/ls.out")"
grep -qF "$T"'/camA/nl\x0aphotopipe: FAILED fake.jpg (resize): x.jpg/bad\xff\xfe.jpg' "$T/ls.out" ||
  fail "ls source: $(cat -v "$T/ls.out")"
[ "$(cut -f1 "$T/ls.out" | sort | tr '\n' ' ')" = 'bad\xff\xfe-2.jpg bad\xff\xfe.jpg ' ] ||
  fail "ls names: $(cut -f1 "$T/ls.out" | cat -v)"
[ "$(json_get "$T/b.json" '[(p["name"], p["renamed"]) for p in j["photos"]]')" = \
  "[('bad\\\\xff\\\\xfe-2.jpg', True)]" ] || fail "json photos: $(cat "$T/b.json")"
pass "renamed lines, --json photos and photopipe ls show the names escaped"
