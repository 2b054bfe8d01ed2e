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
