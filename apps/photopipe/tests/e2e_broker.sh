# e2e_broker.sh - photopipe across processes: a coordinator and two workers
# on a private redis-server; one worker is killed with SIGKILL while it holds
# a photo.  Every photo must be in the album exactly once (no "-2" twin of a
# photo run twice), decode completely, the report must add up, the
# coordinator must exit 0, the other worker must leave by itself, and no key
# may be left on the server.
source "$3/lib.sh" "$@"
need_broker

N=${PP_BROKER_PHOTOS:-32}
corpus "$T/cam" "$N" 1200x900
start_faults "$T/cam"
# Each download takes 600 ms: a worker is killed while it holds one.
slow_urls "$T/cam" 600 >"$T/urls.txt"

start_redis
U=redis://127.0.0.1:$RPORT
RUN=e2e-$$
LEASE=1.5

# What a worker of this run killed while writing leaves behind (its
# temporary file names the run and host by hash, broker.h): the
# coordinator removes it once the run is over.
mkdir -p "$T/album"
tag=$(python3 -c 'import sys
h = 2166136261
for c in sys.argv[1].encode(): h = ((h ^ c) * 16777619) & 0xffffffff
print("%08x" % h)' "$RUN")
leftover="$T/album/.IMG_0001.jpg.pp+$tag+0badf00d+4242-7.tmp"
echo half-written >"$leftover"

"$PP" worker --broker "$U" --run "$RUN" --lease "$LEASE" -w 2 2>"$T/w1.log" &
W1=$!
PIDS+=("$W1")
"$PP" worker --broker "$U" --run "$RUN" --lease "$LEASE" -w 2 2>"$T/w2.log" &
W2=$!
PIDS+=("$W2")
"$PP" --urls "$T/urls.txt" --to "$T/album" --broker "$U" --run "$RUN" --lease "$LEASE" \
  -s 800x800 --no-progress >"$T/out.txt" 2>"$T/err.txt" &
C=$!
PIDS+=("$C")

# Let the first worker finish a few photos, wait until it has just taken
# one (an entry of the stage's stream pending for one of its consumers,
# named host-PID-..., delivered less than 200 ms ago: its 600 ms download
# has barely begun), then kill it.
sleep 1.5
stream="cv:{$RUN}:s:0"
held=""
for _ in $(seq 400); do
  held=$(redis_cli XPENDING "$stream" g - + 100 2>/dev/null |
         paste - - - - | awk -v p="-$W1-" 'index($2, p) && $3 < 200 {print $1}' | head -1)
  [ -n "$held" ] && break
  sleep 0.02
done
[ -n "$held" ] || fail "the first worker never took a photo: $(redis_cli XPENDING "$stream" g - + 100 | paste - - - -)"
kill -9 "$W1"
wait "$W1" 2>/dev/null || true
# It died holding it: the entry is still pending for the dead worker.
after=$(redis_cli XPENDING "$stream" g - + 100 | paste - - - - |
        awk -v p="-$W1-" 'index($2, p) {print $1}')
echo "$after" | grep -qx "$held" ||
  fail "entry $held was not pending for the killed worker (kill did not land mid-photo)"
pass "worker $W1 killed holding entry $held"

# The coordinator finishes (the dead worker's photos are taken over after
# the lease), and so does the other worker, by itself.
for _ in $(seq 1500); do kill -0 "$C" 2>/dev/null || break; sleep 0.1; done
kill -0 "$C" 2>/dev/null && fail "coordinator still running after 150 s"
crc=0
wait "$C" || crc=$?
cat "$T/err.txt" "$T/out.txt"
[ "$crc" -eq 0 ] || fail "coordinator exit $crc"
for _ in $(seq 100); do kill -0 "$W2" 2>/dev/null || break; sleep 0.1; done
kill -0 "$W2" 2>/dev/null && fail "the second worker did not leave by itself"
wrc=0
wait "$W2" || wrc=$?
[ "$wrc" -eq 0 ] || fail "second worker exit $wrc: $(cat "$T/w2.log")"
pass "coordinator and surviving worker exit 0"

# Every photo once, whole, in the album; no temporary file left.
"$KIT" check "$T/cam" "$T/album" 800 800 "$N" || fail "album check"
twins=$(ls "$T/album" | grep -c -- '-[0-9]*\.jpg$' || true)
[ "$twins" -eq 0 ] || fail "$twins '-N' twins in the album"
for f in "$T"/album/*.jpg; do
  vipsheader "$f" >/dev/null 2>&1 || fail "$f does not decode"
done
rows=$(manifest_sql "$T/album" "select count(*) from photos where state='stored'")
[ "$rows" = "$N" ] || fail "manifest has $rows stored rows, want $N"
pass "$N photos in the album once each, all decode, manifest agrees"

# The report adds up: every photo stored, and the workers' counts sum to it.
grep -q "^photos: $N listed, $N stored, 0 skipped, 0 failed, 0 canceled, 0 not started" \
  "$T/out.txt" || fail "report totals"
sum=$(awk '/^worker .*: [0-9]+ photos$/ {s += $(NF-1)} END {print s+0}' "$T/out.txt")
[ "$sum" -eq "$N" ] || fail "workers' photos add up to $sum, not $N"
grep -q "internal error" "$T/err.txt" && fail "pipeline summary did not balance"
# The planted file, plus whatever the killed worker's two threads were
# writing when it died (0 to 2 files): 1 to 3 removed, none left.
removed=$(sed -n 's/^removed \([0-9]*\) temporary files\{0,1\} left by workers that died$/\1/p' "$T/out.txt")
[ -n "$removed" ] && [ "$removed" -ge 1 ] && [ "$removed" -le 3 ] ||
  fail "the dead worker's temporary files were not reported removed (${removed:-none})"
[ ! -e "$leftover" ] || fail "the dead worker's temporary file is still there"
left=$(find "$T/album" -name '*.tmp' | head -3)
[ -z "$left" ] || fail "temporary files left in the album: $left"
pass "report adds up ($sum photos by worker)"

# Nothing left on the server once the run's marker has expired (one lease).
sleep 2
keys=$(redis_cli --scan | head -5)
[ -z "$keys" ] || fail "keys left on the server: $keys"
stop_redis
pass "no keys left; redis-server stopped"
