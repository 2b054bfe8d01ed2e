#!/usr/bin/env bash
# e2e_watch.sh - --watch DIR: a photo already there and photos dropped in
# later (written in place, and renamed in) are all processed, once each;
# hidden and non-image files are ignored; Ctrl-C ends the watch cleanly,
# with exit 1 (interrupted) even when everything fed made it.
source "$3/lib.sh" "$@"
corpus "$T/shots" 6
mkdir -p "$T/inbox"
cp "$T/shots/IMG_0001.jpg" "$T/inbox/"    # before the watch starts
"$PP" --watch "$T/inbox" --to "$T/album" -s 300x300 --settle 300ms --json >"$T/w.json" 2>"$T/w.err" &
pid=$!
sleep 0.5
cp "$T/shots/IMG_0002.jpg" "$T/inbox/"                                   # close_write
cp "$T/shots/IMG_0003.jpg" "$T/inbox/.IMG_0003.part"                     # hidden: ignored
mv "$T/inbox/.IMG_0003.part" "$T/inbox/IMG_0003.jpg"                     # moved_to
echo "not a photo" >"$T/inbox/notes.txt"                                 # not an image name
cp "$T/shots/IMG_0004.jpg" "$T/shots/IMG_0005.jpg" "$T/shots/IMG_0006.jpg" "$T/inbox/"
touch "$T/inbox/IMG_0002.jpg"                                            # no new close_write
for _ in $(seq 300); do
  [ "$(ls "$T/album" 2>/dev/null | wc -l)" -ge 6 ] && break
  sleep 0.1
done
sleep 0.3
kill -INT $pid
rc=0
for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && { kill -9 $pid; fail "watch did not stop"; }
wait $pid || rc=$?
# Ended by Ctrl-C: interrupted, exit 1 as --help says.
[ $rc = 1 ] || fail "watch exited $rc: $(cat "$T/w.err")"
adds_up "$T/w.json"
[ "$(json_get "$T/w.json" 'j["listed"], j["stored"], j["interrupted"]')" = "(6, 6, 1)" ] ||
  fail "watch summary: $(cat "$T/w.json")"
"$KIT" check "$T/shots" "$T/album" 300 300 6 || fail "watch album"
pass "watch: 1 existing + 5 dropped photos processed once each"
