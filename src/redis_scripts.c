/* src/redis_scripts.c - the server side of a distributed run: every step
 * that must be atomic is one Lua script, executed with EVALSHA.
 *
 * Keys (P = "cv:{run}:", one hash tag so that a cluster keeps them on one
 * shard): P.."m" the run's hash (stage count, capacities, flags, counters,
 * the first error, each process's published statistics "ps:<i>:<proc>"); P.."s:"..j the stream of boundary j (items entering
 * stage j; j = n is the output), consumer group "g"; P.."r:"..j the free
 * slots of boundary j, one list element per slot; P.."h:"..j..":"..c the
 * slots consumer c took and has not used yet; P.."c" the set of "j|c" that
 * ever held slots; P.."hb:"..proc a process's heartbeat (expires after the
 * lease); P.."dlq" the dead letters; P.."over" set for a lease when the
 * coordinator removed the run, so that a worker arriving just then leaves
 * instead of waiting for the run to begin; channel P.."ctl" wake-ups ("w") and
 * cancellation ("c").  A consumer is named proc.stage.worker, so its
 * process's heartbeat is found from its name.
 *
 * Entries.  An entry of s:j holds one item (field "d": its bytes) or
 * several (field "b": each item as a 4-byte big-endian length and its
 * bytes), so that a batch costs the server one XADD, one delivery and one
 * acknowledgement instead of one per item.  The run's hash keeps, per
 * boundary, "pk:j": how many items stage j's workers take at once (they
 * say so with each commit; the output's is fixed), which producers use as
 * the most items to pack into one entry; and "q:j": the items in s:j.
 *
 * Invariants.  An entry leaves s:i only in a commit that, in the same
 * script, checks that the caller still owns it (it is in the caller's
 * pending-entries list), writes its outputs to s:i+1, acknowledges and
 * deletes it and returns its items' slots: so q:i is exactly "queued + in
 * flight" items (and XLEN s:i, in entries, is at most that), and slots are
 * conserved: LLEN r:j + sum LLEN h:j:* + q:j = capacity.  Acknowledged
 * entries older than the oldest one still pending are trimmed (XTRIM MINID,
 * whole stream nodes at a time); only the others are deleted one by one.
 * Stage j+1 closes when stage j is closed and XLEN s:j = 0, inside the
 * script that made it so (cascade), which then publishes a wake-up.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "redis_scripts.h"
#include "conveyor/error.h"

_Static_assert(CV_EFAILED == -12, "the scripts' dead-letter code");

static const char prelude[] =
  "local P = ARGV[1]\n"
  "local M = P .. 'm'\n"
  "local function S(i) return P .. 's:' .. i end\n"
  "local function R(i) return P .. 'r:' .. i end\n"
  "local function H(i, c) return P .. 'h:' .. i .. ':' .. c end\n"
  "local function hget(f) return tonumber(redis.call('HGET', M, f)) or 0 "
  "end\n"
  "local function push(key, k)\n"
  "  while k > 0 do\n"
  "    local t = {}\n"
  "    for x = 1, math.min(k, 1000) do t[x] = 't' end\n"
  "    redis.call('RPUSH', key, unpack(t))\n"
  "    k = k - #t\n"
  "  end\n"
  "end\n"
  "local function give_back(i, k)\n"
  "  if k > 0 and hget('cap:' .. i) > 0 then push(R(i), k) end\n"
  "end\n"
  "local function release_held(i, c)\n"
  "  local l = redis.call('LLEN', H(i, c))\n"
  "  if l > 0 then redis.call('DEL', H(i, c)); push(R(i), l) end\n"
  "end\n"
  "local function first_error(i, code, msg)\n"
  "  if redis.call('HSETNX', M, 'err_code', code) == 1 then\n"
  "    redis.call('HSET', M, 'err_stage', i, 'err_msg', msg)\n"
  "  end\n"
  "end\n"
  "local function cascade(i)\n"
  "  local n = hget('n')\n"
  "  local woke = false\n"
  "  while i <= n and hget('closed:' .. i) == 1 and\n"
  "        redis.call('XLEN', S(i)) == 0 do\n"
  "    if hget('drained:' .. i) == 0 then\n"
  "      redis.call('HSET', M, 'drained:' .. i, 1); woke = true\n"
  "    end\n"
  "    if i < n and hget('closed:' .. (i + 1)) == 0 then\n"
  "      redis.call('HSET', M, 'closed:' .. (i + 1), 1); woke = true\n"
  "    end\n"
  "    i = i + 1\n"
  "  end\n"
  "  if woke then redis.call('PUBLISH', P .. 'ctl', 'w') end\n"
  "end\n"
  "local function idge(a, b)\n"
  "  local am, as = string.match(a, '^(%d+)-(%d+)$')\n"
  "  local bm, bs = string.match(b, '^(%d+)-(%d+)$')\n"
  "  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)\n"
  "  return am > bm or (am == bm and as >= bs)\n"
  "end\n"
  "local function ack_del(s, ids)\n"
  "  local k = #ids\n"
  "  if k == 0 then return 0 end\n"
  "  local acked = 0\n"
  "  for x = 1, k, 1000 do\n"
  "    acked = acked + redis.call('XACK', s, 'g',\n"
  "                               unpack(ids, x, math.min(x + 999, k)))\n"
  "  end\n"
  "  local p = redis.call('XPENDING', s, 'g', '-', '+', 1)\n"
  "  if #p == 0 then\n"
  "    local ms, seq = string.match(ids[k], '^(%d+)-(%d+)$')\n"
  "    seq = tonumber(seq)\n"
  "    local m = seq < 1e15 and ms .. '-' .. string.format('%d', seq + 1)\n"
  "              or ids[k]\n"
  "    redis.call('XTRIM', s, 'MINID', m)\n"
  "    if m == ids[k] then redis.call('XDEL', s, m) end\n"
  "    return acked\n"
  "  end\n"
  "  local m = p[1][1]\n"
  "  redis.call('XTRIM', s, 'MINID', m)\n"
  "  local lo, hi = 1, k + 1\n"
  "  while lo < hi do\n"
  "    local mid = math.floor((lo + hi) / 2)\n"
  "    if idge(ids[mid], m) then hi = mid else lo = mid + 1 end\n"
  "  end\n"
  "  for x = lo, k, 1000 do\n"
  "    redis.call('XDEL', s, unpack(ids, x, math.min(x + 999, k)))\n"
  "  end\n"
  "  return acked\n"
  "end\n"
  "local function items_of(b)\n"
  "  local t, pos, n = {}, 1, #b\n"
  "  while pos + 3 <= n do\n"
  "    local b1, b2, b3, b4 = string.byte(b, pos, pos + 3)\n"
  "    local len = ((b1 * 256 + b2) * 256 + b3) * 256 + b4\n"
  "    t[#t + 1] = string.sub(b, pos + 4, pos + 3 + len)\n"
  "    pos = pos + 4 + len\n"
  "  end\n"
  "  return t\n"
  "end\n"
  "local function add_groups(s, from, ng)\n"
  "  for x = from, from + 2 * ng - 1, 2 do\n"
  "    redis.call('XADD', s, '*', ARGV[x] == '1' and 'd' or 'b', ARGV[x + 1])\n"
  "  end\n"
  "end\n"
  "local function depth(i, d, hw)\n"
  "  local q = redis.call('HINCRBY', M, 'q:' .. i, d)\n"
  "  if d > 0 and q > (tonumber(hw) or 0) then\n"
  "    redis.call('HSET', M, 'hw:' .. i, q)\n"
  "  end\n"
  "end\n"
  "local function field(fields, name)\n"
  "  if not fields then return '' end\n"
  "  for x = 1, #fields, 2 do\n"
  "    if fields[x] == name then return fields[x + 1] end\n"
  "  end\n"
  "  return ''\n"
  "end\n";

static const char lua_init[] =
    "if redis.call('EXISTS', M) == 1 then return 0 end\n"
    "local n = tonumber(ARGV[2])\n"
    "redis.call('HSET', M, 'n', n, 'pk:' .. n, ARGV[4 + n])\n"
    "for i = 0, n do\n"
    "  local cap = tonumber(ARGV[3 + i])\n"
    "  redis.call('HSET', M, 'cap:' .. i, cap)\n"
    "  redis.call('DEL', S(i), R(i))\n"
    "  redis.call('XGROUP', 'CREATE', S(i), 'g', '0', 'MKSTREAM')\n"
    "  push(R(i), cap)\n"
    "end\n"
    "redis.call('PUBLISH', P .. 'ctl', 'w')\n"
    "return 1\n";

/* Items arrive in groups: ARGV "P j consumer k ng (count data)..." with k
 * items in ng groups; a group of one is the item, a larger one a packed
 * entry (redis_scripts.h).  Only whole groups go in, as many as there are
 * slots for.  Uses held slots first, then free ones; registers the
 * consumer when it comes up short, since it is about to wait for a slot
 * (BLMOVE into its held list) and a reaper must then be able to find that
 * list.  Returns {items put, pk of the boundary, slots still free}: a
 * caller whose next entry did not fit packs a smaller one. */
static const char lua_put[] =
    "local j, c, k, ng = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local h = redis.call('HMGET', M, 'cancel', 'closed:' .. j, 'cap:' .. j,\n"
    "                     'hw:' .. j, 'pk:' .. j)\n"
    "if not h[3] then return {-3} end\n"
    "if h[1] and h[1] ~= '0' then return {-2} end\n"
    "if h[2] == '1' then release_held(j, c); return {-1} end\n"
    "local n, g, left = k, ng, 0\n"
    "if tonumber(h[3]) > 0 then\n"
    "  local held = redis.call('LLEN', H(j, c))\n"
    "  local room = held >= k and 0 or redis.call('LLEN', R(j))\n"
    "  n, g = 0, 0\n"
    "  while g < ng and n + tonumber(ARGV[6 + 2 * g]) <= held + room do\n"
    "    n = n + tonumber(ARGV[6 + 2 * g]); g = g + 1\n"
    "  end\n"
    "  left = held + room - n\n"
    "  local fromh = math.min(n, held)\n"
    "  if fromh > 0 then redis.call('LPOP', H(j, c), fromh) end\n"
    "  if n > fromh then redis.call('LPOP', R(j), n - fromh) end\n"
    "  if g < ng then redis.call('SADD', P .. 'c', j .. '|' .. c) end\n"
    "end\n"
    "add_groups(S(j), 6, g)\n"
    "if n > 0 then\n"
    "  redis.call('HINCRBY', M, 'in:' .. j, n)\n"
    "  depth(j, n, h[4])\n"
    "end\n"
    "return {n, tonumber(h[5]) or 1, left}\n";

static const char lua_close[] =
    "if redis.call('EXISTS', M) == 0 then return 0 end\n"
    "release_held(0, ARGV[2])\n"
    "redis.call('HSET', M, 'closed:0', 1)\n"
    "cascade(0)\n"
    "redis.call('PUBLISH', P .. 'ctl', 'w')\n"
    "return 1\n";

static const char lua_tokens[] =
    "local j, c, k = ARGV[2], ARGV[3], tonumber(ARGV[4])\n"
    "if redis.call('EXISTS', M) == 0 then return -3 end\n"
    "if hget('cancel') ~= 0 then return -2 end\n"
    "if hget('cap:' .. j) == 0 then return k end\n"
    "redis.call('SADD', P .. 'c', j .. '|' .. c)\n"
    "local held = redis.call('LLEN', H(j, c))\n"
    "local need = math.min(k - held, redis.call('LLEN', R(j)))\n"
    "if need > 0 then\n"
    "  redis.call('LPOP', R(j), need)\n"
    "  push(H(j, c), need)\n"
    "end\n"
    "return redis.call('LLEN', H(j, c))\n";

/* Own pending entries first (after a reconnect, a reply may have been
 * lost), then entries of dead processes (their heartbeat expired; a live
 * owner keeps its items however slow; and a process never takes over its
 * own, whatever its heartbeat says: it knows it is alive, and a stall that
 * delayed its heartbeat must not count deaths against its items), then
 * new ones.  A dead process's
 * packed entry is not taken but split: each of its items becomes an entry
 * of its own at the end of the stream, so that an item that kills its
 * workers ends in the dead-letter stream alone.  For the same reason a
 * take claims one entry of a dead process at a time (tag 'R': there may be
 * more, look again at once): a batch that died with a poisoned item is not
 * taken whole again, which would count a death against every item in it.
 * Slots held by dead consumers go back to the free list.  Returns {'E' or
 * 'R', (id kind data)...}, or {'N', drained}, or 'C' cancelled, 'O' over,
 * 'G' not yet created. */
static const char lua_take[] =
    "local i, c, k = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])\n"
    "local maxd = tonumber(ARGV[5])\n"
    "if redis.call('EXISTS', M) == 0 then\n"
    "  return {redis.call('EXISTS', P .. 'over') == 1 and 'O' or 'G'}\n"
    "end\n"
    "if hget('cancel') ~= 0 then return {'C'} end\n"
    "local out = {'E'}\n"
    "local function add(e)\n"
    "  if e[2] then\n"
    "    local b = field(e[2], 'b')\n"
    "    out[#out + 1] = e[1]\n"
    "    out[#out + 1] = b ~= '' and 'b' or 'd'\n"
    "    out[#out + 1] = b ~= '' and b or field(e[2], 'd')\n"
    "  else redis.call('XACK', S(i), 'g', e[1]) end\n"
    "end\n"
    "local me = string.match(c, '^(.*)%.[^.]+%.[^.]+$')\n"
    "local function alive(owner)\n"
    "  local pr = string.match(owner, '^(.*)%.[^.]+%.[^.]+$')\n"
    "  return pr == me or\n"
    "         (pr and redis.call('EXISTS', P .. 'hb:' .. pr) == 1)\n"
    "end\n"
    "if ARGV[7] == '1' then\n"
    "  local r = redis.call('XREADGROUP', 'GROUP', 'g', c, 'COUNT', k,\n"
    "                       'STREAMS', S(i), '0')\n"
    "  if r then for _, e in ipairs(r[1][2]) do add(e) end end\n"
    "end\n"
    "if #out == 1 and ARGV[6] == '1' then\n"
    "  for _, m in ipairs(redis.call('SMEMBERS', P .. 'c')) do\n"
    "    local j, owner = string.match(m, '^(%d+)|(.*)$')\n"
    "    if owner and not alive(owner) then\n"
    "      release_held(j, owner); redis.call('SREM', P .. 'c', m)\n"
    "    end\n"
    "  end\n"
    "  local pend = redis.call('XPENDING', S(i), 'g', '-', '+', 1000)\n"
    "  for _, p in ipairs(pend) do\n"
    "    if #out > 1 then out[1] = 'R'; break end\n"
    "    local id, owner, deliv = p[1], p[2], tonumber(p[4])\n"
    "    local e = owner ~= c and not alive(owner) and\n"
    "              redis.call('XRANGE', S(i), id, id)\n"
    "    local b = e and e[1] and field(e[1][2], 'b') or ''\n"
    "    if b ~= '' then\n"
    "      for _, it in ipairs(items_of(b)) do\n"
    "        redis.call('XADD', S(i), '*', 'd', it)\n"
    "      end\n"
    "      redis.call('XACK', S(i), 'g', id)\n"
    "      redis.call('XDEL', S(i), id)\n"
    "      redis.call('HINCRBY', M, 'split:' .. i, 1)\n"
    "    elseif e then\n"
    "      if deliv >= maxd then\n"
    "        local d = e[1] and field(e[1][2], 'd') or ''\n"
    "        local msg = 'taken ' .. deliv .. ' times by workers that died'\n"
    "        redis.call('XADD', P .. 'dlq', '*', 'stage', i, 'id', id,\n"
    "                   'deliveries', deliv, 'error', msg, 'd', d)\n"
    "        redis.call('XACK', S(i), 'g', id)\n"
    "        redis.call('XDEL', S(i), id)\n"
    "        give_back(i, 1)\n"
    "        depth(i, -1)\n"
    "        redis.call('HINCRBY', M, 'fail:' .. i, 1)\n"
    "        redis.call('HINCRBY', M, 'dead:' .. i, 1)\n"
    "        first_error(i, -12, msg)\n"
    "        cascade(i)\n"
    "      else\n"
    "        for _, e in ipairs(redis.call('XCLAIM', S(i), 'g', c, 0, id)) do\n"
    "          add(e)\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if #out == 1 then\n"
    "  local r = redis.call('XREADGROUP', 'GROUP', 'g', c, 'COUNT', k,\n"
    "                       'STREAMS', S(i), '>')\n"
    "  if r then for _, e in ipairs(r[1][2]) do add(e) end end\n"
    "end\n"
    "if #out == 1 then\n"
    "  local drained = hget('closed:' .. i) == 1 and\n"
    "                  redis.call('XLEN', S(i)) == 0\n"
    "  return {'N', drained and 1 or 0}\n"
    "end\n"
    "return out\n";

/* The fenced hand-on of a batch.  ARGV: P i consumer ni ng pk, then per
 * taken entry: id, mode ('c' commit it, 'x' known lost: only
 * count it), its items that succeeded, were filtered (of those) and
 * failed, outputs put before the commit (in pieces), its output count, and
 * the first failure as "code message" (or ""): 8 fields; then the outputs in ng
 * groups (count data), packed across the committed entries in their order.
 * Entries come in stream order.
 *
 * If any entry to commit is no longer the caller's (its process was
 * thought dead and the entry taken over), nothing is written and the reply
 * is {-5, ids...}: the caller commits again with those marked lost, so
 * that none of their outputs is ever written.  The outputs' slots come
 * from the caller's held ones, then the free list; if they do not suffice
 * it moves what there is into the held list, does nothing else and
 * returns {-4} (the caller waits for a slot and commits again).  `pk` is
 * the caller's take size, the stage's wish for items per entry.  Returns
 * {entries committed, entries lost, pk of the next boundary}. */
static const char lua_commit[] =
    "local i, c, ni = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])\n"
    "local ng = tonumber(ARGV[5])\n"
    "local j = i + 1\n"
    "local h = redis.call('HMGET', M, 'cancel', 'cap:' .. j, 'cap:' .. i,\n"
    "                     'closed:' .. i, 'hw:' .. j, 'pk:' .. i, 'pk:' .. j)\n"
    "if not h[2] then return {-3} end\n"
    "if h[1] and h[1] ~= '0' then return {-2} end\n"
    "local capj, capi = tonumber(h[2]), tonumber(h[3])\n"
    "local si = S(i)\n"
    "local owned = {}\n"
    "for _, p in ipairs(redis.call('XPENDING', si, 'g', '-', '+',\n"
    "                              ni + 1000, c)) do\n"
    "  owned[p[1]] = true\n"
    "end\n"
    "local gone = {-5}\n"
    "local acks, lost, done, outs = {}, 0, 0, 0\n"
    "local ok, filt, fail, pieced = 0, 0, 0, 0\n"
    "for x = 7, 6 + 8 * ni, 8 do\n"
    "  local id = ARGV[x]\n"
    "  if ARGV[x + 1] == 'x' then lost = lost + 1\n"
    "  elseif not owned[id] then gone[#gone + 1] = id\n"
    "  else\n"
    "    acks[#acks + 1] = id\n"
    "    local o, f = tonumber(ARGV[x + 2]), tonumber(ARGV[x + 4])\n"
    "    ok = ok + o; filt = filt + tonumber(ARGV[x + 3]); fail = fail + f\n"
    "    done = done + o + f\n"
    "    pieced = pieced + tonumber(ARGV[x + 5])\n"
    "    outs = outs + tonumber(ARGV[x + 6])\n"
    "    if f > 0 then\n"
    "      local code, m = string.match(ARGV[x + 7], '^(%-?%d+) (.*)$')\n"
    "      first_error(i, code or -12, m or ARGV[x + 7])\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if #gone > 1 then return gone end\n"
    "local held = 0\n"
    "if capj > 0 and outs > 0 then\n"
    "  held = redis.call('LLEN', H(j, c))\n"
    "  if held < outs then\n"
    "    local room = redis.call('LLEN', R(j))\n"
    "    if held + room < outs then\n"
    "      if room > 0 then redis.call('LPOP', R(j), room); push(H(j, c), room) end\n"
    "      redis.call('SADD', P .. 'c', j .. '|' .. c)\n"
    "      return {-4}\n"
    "    end\n"
    "  end\n"
    "end\n"
    "add_groups(S(j), 7 + 8 * ni, ng)\n"
    "ack_del(si, acks)\n"
    "if capj > 0 then\n"
    "  if held == 0 then held = redis.call('LLEN', H(j, c)) end\n"
    "  local fromh = math.min(outs, held)\n"
    "  if outs > fromh then redis.call('LPOP', R(j), outs - fromh) end\n"
    "  if held > 0 then\n"
    "    redis.call('DEL', H(j, c))\n"
    "    if held > fromh then push(R(j), held - fromh) end\n"
    "  end\n"
    "end\n"
    "if capi > 0 then push(R(i), done) end\n"
    "if done > 0 then depth(i, -done) end\n"
    "if ok > 0 then redis.call('HINCRBY', M, 'ok:' .. i, ok) end\n"
    "if filt > 0 then redis.call('HINCRBY', M, 'filt:' .. i, filt) end\n"
    "if fail > 0 then redis.call('HINCRBY', M, 'fail:' .. i, fail) end\n"
    "if outs + pieced > 0 then\n"
    "  redis.call('HINCRBY', M, 'out:' .. i, outs + pieced)\n"
    "end\n"
    "if outs > 0 then\n"
    "  redis.call('HINCRBY', M, 'in:' .. j, outs)\n"
    "  depth(j, outs, h[5])\n"
    "end\n"
    "if lost > 0 then redis.call('HINCRBY', M, 'lost:' .. i, lost) end\n"
    "if h[6] ~= ARGV[6] then redis.call('HSET', M, 'pk:' .. i, ARGV[6]) end\n"
    "if h[4] == '1' then cascade(i) end\n"
    "return {#acks, lost, tonumber(h[7]) or 1}\n";

/* The coordinator took these output entries: ARGV "P n consumer k (id
 * count)...", in stream order.  Those still pending for it leave the
 * run (an entry acknowledged before, by a command whose reply was lost to
 * a reconnect, counts once).  Returns the items that left. */
static const char lua_ackout[] =
    "local n, c, k = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])\n"
    "local h = redis.call('HMGET', M, 'cap:' .. n, 'closed:' .. n)\n"
    "if not h[1] then return -3 end\n"
    "local owned = {}\n"
    "for _, p in ipairs(redis.call('XPENDING', S(n), 'g', '-', '+',\n"
    "                              k + 1000, c)) do\n"
    "  owned[p[1]] = true\n"
    "end\n"
    "local ids, done = {}, 0\n"
    "for x = 5, 3 + 2 * k, 2 do\n"
    "  if owned[ARGV[x]] then\n"
    "    ids[#ids + 1] = ARGV[x]; done = done + tonumber(ARGV[x + 1])\n"
    "  end\n"
    "end\n"
    "ack_del(S(n), ids)\n"
    "if tonumber(h[1]) > 0 then push(R(n), done) end\n"
    "if done > 0 then depth(n, -done) end\n"
    "redis.call('HINCRBY', M, 'got', done)\n"
    "if h[2] == '1' then cascade(n) end\n"
    "return done\n";

static const char lua_state[] =
    "if redis.call('EXISTS', M) == 0 then return {0} end\n"
    "local n = hget('n')\n"
    "local xl = {}\n"
    "for j = 0, n do xl[j + 1] = redis.call('XLEN', S(j)) end\n"
    "return {1, redis.call('HGETALL', M), xl}\n";

/* kind 1 = cancelled, 2 = failed fast.  Whatever is still in the streams
 * is counted as discarded, and the streams go (which also ends blocked
 * reads of them). */
static const char lua_cancel[] =
    "if redis.call('EXISTS', M) == 0 then return 0 end\n"
    "if hget('cancel') ~= 0 then return 0 end\n"
    "redis.call('HSET', M, 'cancel', ARGV[2])\n"
    "if ARGV[2] == '2' then first_error(ARGV[4], ARGV[3], ARGV[5]) end\n"
    "local n = hget('n')\n"
    "for j = 0, n do\n"
    "  redis.call('HINCRBY', M, 'disc:' .. j, hget('q:' .. j))\n"
    "  redis.call('HSET', M, 'q:' .. j, 0)\n"
    "  redis.call('DEL', S(j))\n"
    "end\n"
    "redis.call('PUBLISH', P .. 'ctl', 'c')\n"
    "return 1\n";

/* The heartbeat, with this process's per-stage statistics: ARGV "P proc
 * lease_ms final (stage busy starved blocked workers)...".  They go into
 * the run's hash as "ps:<stage>:<proc>" = "busy starved blocked workers
 * final" (only while the run exists: a late beat must not make one up);
 * a final one wakes the processes waiting for the last of them. */
static const char lua_beat[] =
    "local pr = ARGV[2]\n"
    "redis.call('SET', P .. 'hb:' .. pr, 1, 'PX', ARGV[3])\n"
    "if #ARGV < 9 or redis.call('EXISTS', M) == 0 then return 0 end\n"
    "for x = 5, #ARGV - 4, 5 do\n"
    "  redis.call('HSET', M, 'ps:' .. ARGV[x] .. ':' .. pr,\n"
    "             table.concat({ARGV[x + 1], ARGV[x + 2], ARGV[x + 3],\n"
    "                           ARGV[x + 4], ARGV[4]}, ' '))\n"
    "end\n"
    "if ARGV[4] == '1' then redis.call('PUBLISH', P .. 'ctl', 'w') end\n"
    "return 1\n";

static const char lua_cleanup[] =
    "local n = hget('n')\n"
    "for _, m in ipairs(redis.call('SMEMBERS', P .. 'c')) do\n"
    "  local j, owner = string.match(m, '^(%d+)|(.*)$')\n"
    "  if owner then redis.call('DEL', H(j, owner)) end\n"
    "end\n"
    "for j = 0, n do redis.call('DEL', S(j), R(j)) end\n"
    "redis.call('DEL', P .. 'c', P .. 'dlq', M)\n"
    "redis.call('SET', P .. 'over', 1, 'PX', ARGV[2])\n"
    "redis.call('PUBLISH', P .. 'ctl', 'w')\n"
    "return 1\n";

static const char *const bodies[CV__LUA_COUNT] = {
    [CV__LUA_INIT] = lua_init,       [CV__LUA_PUT] = lua_put,
    [CV__LUA_CLOSE] = lua_close,     [CV__LUA_TOKENS] = lua_tokens,
    [CV__LUA_TAKE] = lua_take,       [CV__LUA_COMMIT] = lua_commit,
    [CV__LUA_ACKOUT] = lua_ackout,   [CV__LUA_STATE] = lua_state,
    [CV__LUA_CANCEL] = lua_cancel,   [CV__LUA_CLEANUP] = lua_cleanup,
    [CV__LUA_BEAT] = lua_beat,
};

/* Each script is the prelude followed by its body, joined once (kept as
 * two literals: C compilers need not take longer ones). */
static char *texts[CV__LUA_COUNT];
static pthread_once_t texts_once = PTHREAD_ONCE_INIT;

static void join_texts(void) {
  size_t lp = strlen(prelude);
  for (int i = 0; i < CV__LUA_COUNT; i++) {
    size_t lb = strlen(bodies[i]);
    char *t = malloc(lp + lb + 1);
    if (!t)
      continue;
    memcpy(t, prelude, lp);
    memcpy(t + lp, bodies[i], lb + 1);
    texts[i] = t;
  }
}

const char *cv__lua_script(int which) {
  pthread_once(&texts_once, join_texts);
  return which >= 0 && which < CV__LUA_COUNT ? texts[which] : NULL;
}
