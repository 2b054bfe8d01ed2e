# e2e_broker_input.sh - --broker and `photopipe worker` given a broker they
# cannot use: no server (a one-line error naming host:port, non-zero exit,
# at once), a wrong password, bad URLs and run names (usage errors), and
# passwords that must stay off the broker.  No password is ever printed.
source "$3/lib.sh" "$@"
need_broker
SECRET=s3cret-Pw-4711
corpus "$T/cam" 2 320x240

# expect_fail CODE NAME CMD...: exits CODE within 5 s, with one line on
# stderr (a usage error, exit 2, adds "Try 'photopipe --help'."), and no
# password anywhere in its output.
expect_fail() {
  local want=$1 name=$2
  shift 2
  local t0 rc=0
  t0=$(date +%s%N)
  "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$rc" -eq "$want" ] || fail "$name: exit $rc, want $want: $(cat "$T/$name.err")"
  [ "$ms" -lt 5000 ] || fail "$name: took $ms ms"
  local lines
  lines=$(grep -vcx "Try 'photopipe --help'." "$T/$name.err" || true)
  [ "$lines" -eq 1 ] || fail "$name: not one line: $(cat "$T/$name.err")"
  ! grep -q "$SECRET" "$T/$name.out" "$T/$name.err" || fail "$name: the password was printed"
  pass "$name: exit $rc in $ms ms: $(head -1 "$T/$name.err")"
}

DEAD=$(free_port)
expect_fail 1 no_server "$PP" "$T/cam" --to "$T/a1" --broker "redis://:$SECRET@127.0.0.1:$DEAD"
grep -q "127.0.0.1:$DEAD" "$T/no_server.err" || fail "no_server: host:port not named"
expect_fail 1 no_server_worker "$PP" worker --broker "redis://:$SECRET@127.0.0.1:$DEAD" --run r
grep -q "127.0.0.1:$DEAD" "$T/no_server_worker.err" || fail "worker: host:port not named"
PHOTOPIPE_BROKER_PASSWORD=$SECRET expect_fail 1 no_server_env \
  "$PP" "$T/cam" --to "$T/a1" --broker "redis://127.0.0.1:$DEAD"

expect_fail 2 bad_url "$PP" "$T/cam" --to "$T/a1" --broker "redis://:$SECRET@"
expect_fail 2 bad_scheme "$PP" "$T/cam" --to "$T/a1" --broker "http://127.0.0.1:$DEAD"
expect_fail 2 bad_run "$PP" "$T/cam" --to "$T/a1" --broker "redis://127.0.0.1:$DEAD" --run 'a b'
expect_fail 2 worker_no_broker "$PP" worker --run r
expect_fail 2 worker_sources "$PP" worker --broker "redis://127.0.0.1:$DEAD" "$T/cam"
expect_fail 2 album_password "$PP" "$T/cam" --to "http://u:$SECRET@127.0.0.1:$DEAD/album/" \
  --broker "redis://127.0.0.1:$DEAD"
expect_fail 2 bad_lease "$PP" worker --broker "redis://127.0.0.1:$DEAD" --lease 0

# A server that wants a password: the wrong one is refused by name.
REDIS_PASSWORD=$SECRET
start_redis --requirepass "$SECRET"
expect_fail 1 wrong_password "$PP" "$T/cam" --to "$T/a2" \
  --broker "redis://:wrong-$SECRET@127.0.0.1:$RPORT"
grep -q "127.0.0.1:$RPORT" "$T/wrong_password.err" || fail "wrong password: host:port not named"

# A source URL with a password would be stored on the broker: refused at
# listing, by the coordinator alone (no worker needed), never printed.
echo "http://u:$SECRET@127.0.0.1:$DEAD/IMG_0001.jpg" >"$T/urls.txt"
rc=0
PHOTOPIPE_BROKER_PASSWORD=$SECRET timeout 30 "$PP" --urls "$T/urls.txt" --to "$T/a3" \
  --broker "redis://127.0.0.1:$RPORT" --run pw --lease 0.5 --json >"$T/src.json" \
  2>"$T/src.err" || rc=$?
[ "$rc" -eq 1 ] || fail "source with a password: exit $rc: $(cat "$T/src.err")"
! grep -q "$SECRET" "$T/src.json" "$T/src.err" || fail "source password printed"
grep -q "password in a source URL" "$T/src.err" || fail "no reason given: $(cat "$T/src.err")"
adds_up "$T/src.json"
sleep 1
keys=$(redis_cli --scan | head -5)
[ -z "$keys" ] || fail "keys left on the server: $keys"
pass "a source URL with a password is refused, not printed; no keys left"
stop_redis
