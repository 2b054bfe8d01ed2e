#!/usr/bin/env bash
# e2e_watch_settle.sh - a watch that waits: a photo written in several
# open/write/close steps, and one half-written when the watch starts, are
# taken only once complete (no failure); a photo overwritten later is redone
# under its name, one touched or rewritten unchanged is not; a file that
# failed is retried once it changes; subfolders are watched, one made later
# too; the watched folder being deleted ends the run with a line and exit 1.
source "$3/lib.sh" "$@"
corpus "$T/shots" 4 1200x900
corpus "$T/other" 4 900x900
mkdir -p "$T/inbox"
# write_in_steps SRC DST PAUSE: the file in 4 pieces, each its own
# open/append/close, PAUSE seconds apart (shorter than the settle time).
write_in_steps() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys, time
data = open(sys.argv[1], "rb").read()
n = len(data); cut = [0, n // 4, n // 2, 3 * n // 4, n]
for i in range(4):
    with open(sys.argv[2], "ab") as f:
        f.write(data[cut[i]:cut[i + 1]])
    if i < 3:
        time.sleep(float(sys.argv[3]))
PY
}
# Half-written before the watch starts; the writer finishes after.
head -c 20000 "$T/shots/IMG_0001.jpg" >"$T/inbox/IMG_0001.jpg"
mkdir -p "$T/inbox/early"
"$PP" --watch "$T/inbox" --to "$T/album" -s 300x300 --settle 2s --json >"$T/w.json" \
  2>"$T/w.err" &
pid=$!
sleep 0.5
tail -c +20001 "$T/shots/IMG_0001.jpg" >>"$T/inbox/IMG_0001.jpg"
write_in_steps "$T/shots/IMG_0002.jpg" "$T/inbox/IMG_0002.jpg" 0.4
wait_for() { # wait_for CONDITION...: at most 30 s
  for _ in $(seq 300); do if "$@"; then return 0; fi; sleep 0.1; done
  return 1
}
stored_count() { [ "$(ls "$T/album" 2>/dev/null | wc -l)" -ge "$1" ]; }
wait_for stored_count 2 || fail "the two photos were not stored: $(cat "$T/w.err")"
"$KIT" decode "$T/album" 300 300 >/dev/null || fail "a photo was taken half-written"
pass "multi-step and half-written files taken only once complete"

# Overwritten later: redone under its name (the manifest's source hash
# follows the new content).
row_hash() { manifest_sql "$T/album" "SELECT source_sha256 FROM photos WHERE name='$1' AND state='stored'"; }
cp "$T/other/IMG_0003.jpg" "$T/inbox/IMG_0002.jpg"
new=$(sha256sum "$T/inbox/IMG_0002.jpg" | cut -d' ' -f1)
redone() { [ "$(row_hash IMG_0002.jpg)" = "$new" ]; }
wait_for redone || fail "the overwritten photo was not redone"
pass "a photo overwritten later is redone"

# Touched, and rewritten with its own bytes (same size, new mtime): the same
# photo, not fed again (the summary's count at the end says so).
touch "$T/inbox/IMG_0002.jpg"
cp "$T/inbox/IMG_0002.jpg" "$T/same.jpg"
cat "$T/same.jpg" >"$T/inbox/IMG_0002.jpg"
sleep 3
[ "$(row_hash IMG_0002.jpg)" = "$new" ] || fail "the rewritten photo's row changed"
pass "a photo touched or rewritten unchanged is not redone"

# A file that fails is retried when it changes.
echo "not a photo yet" >"$T/inbox/IMG_0004.jpg"
# Listed once it settles (its manifest row appears); failing it takes a
# moment more.  Only then does it change.
listed() { [ -n "$(manifest_sql "$T/album" "SELECT 1 FROM photos WHERE name='IMG_0004.jpg'")" ]; }
wait_for listed || fail "the bad file was never taken"
sleep 2
[ ! -e "$T/album/IMG_0004.jpg" ] || fail "garbage stored"
cp "$T/shots/IMG_0004.jpg" "$T/inbox/IMG_0004.jpg"
there() { [ -e "$T/album/IMG_0004.jpg" ]; }
wait_for there || fail "the failed file was not retried after it changed"
pass "a failed file is retried once it changes"

# Subfolders are watched too: one there from the start, one made later
# (its photo moved in with it), and a hidden one (ignored).
cp "$T/shots/IMG_0003.jpg" "$T/inbox/early/IMG_0003.jpg"
mkdir -p "$T/stage/later/deeper" "$T/inbox/.hidden"
cp "$T/other/IMG_0001.jpg" "$T/stage/later/deeper/LATE.jpg"
mv "$T/stage/later" "$T/inbox/later"
cp "$T/other/IMG_0002.jpg" "$T/inbox/.hidden/HIDDEN.jpg"
sub() { [ -e "$T/album/IMG_0003.jpg" ] && [ -e "$T/album/LATE.jpg" ]; }
wait_for sub || fail "photos in subfolders were not taken: $(ls "$T/album")"
sleep 2.5
[ ! -e "$T/album/HIDDEN.jpg" ] || fail "a photo in a hidden subfolder was taken"
pass "subfolders watched, one made later included; hidden ones not"

# The watched folder disappears: the run ends, with a line, exit 1.
sleep 0.5
rm -rf "$T/inbox"
rc=0
for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && { kill -9 $pid; fail "the watch outlived its folder"; }
wait $pid || rc=$?
[ $rc = 1 ] || fail "exit $rc"
grep -q "photopipe: the watched folder '$T/inbox' was deleted" "$T/w.err" ||
  fail "no line: $(cat "$T/w.err")"
adds_up "$T/w.json"
# IMG_0001, IMG_0002 twice, IMG_0004 twice (failed, then stored), IMG_0003,
# LATE.
[ "$(json_get "$T/w.json" 'j["listed"], j["stored"], j["failed"]')" = "(7, 6, 1)" ] ||
  fail "summary: $(cat "$T/w.json")"
pass "the watched folder deleted: the run ends with a line, exit 1"
