/* src/transport_redis.c - the transports of a distributed run's boundaries
 * (transport.h): what the pipeline puts into and gets from a run whose
 * stages are on a Redis server, and the run's statistics of each stage.
 * The run itself (its connections, threads, state and cancellation) is
 * redis_run.c.
 *
 * DESIGN
 *
 * Puts (boundary 0) and gets (the output) are the coordinator's; each such
 * transport has a connection of its own (the run's `misc` one serves close
 * and statistics).  The coordinator's put_many packs its items into entries
 * of the size the first stage asked for (redis_args.c says how entries hold
 * items), as many at a time as there are free slots, and waits for room
 * with the run's BLMOVE when there are none.  Its output reader takes
 * entries with XREADGROUP, unpacks them, acknowledges them in one script
 * call, and keeps in a ring what a get did not ask for: those items have
 * left the run, so the stats count them as held here, not as got.  Nothing
 * waits for a batch to fill.  After a reconnect a reader first reads its
 * own pending entries, since a read whose reply was lost made them its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conveyor/queue.h"
#include "internal.h"
#include "redis_args.h"
#include "redis_run.h"
#include "transport_redis.h"

typedef struct rtrans {
  cv__transport base;
  cv__redis *r;
  size_t j;
  cv_codec codec;
  cv_destroy_fn drop;
  void *drop_arg;
  pthread_mutex_t mu; /* one caller at a time on k */
  cv__rconn k;
  bool connected;
  char consumer[CV__CONSUMER_MAX];
  size_t pk; /* puts: items per entry, as the stage last asked (under mu) */
  bool own;  /* gets: read our own pending entries first (under mu) */
  /* Gets: items read and acknowledged but not handed out yet (a packed
   * entry may bring more than a get asks for), a ring under bmu. */
  pthread_mutex_t bmu;
  void **buf;
  size_t bhead, bcap;
  atomic_size_t bn;             /* items in buf */
  _Atomic uint64_t bdropped;    /* of those, dropped by cancellation */
} rtrans;

static int rt_connect(rtrans *t) {
  if (t->connected)
    return CV_OK;
  char err[CV__ERR_MAX];
  int rc = cv__rconn_open(&t->k, &t->r->sh, true, err, sizeof(err));
  if (rc != CV_OK)
    return rc;
  t->connected = true;
  return CV_OK;
}

static int rt_put_many(cv__transport *tp, void *const *items, size_t n,
                       size_t *nput, int64_t timeout_ns) {
  rtrans *t = (rtrans *)tp;
  cv__redis *r = t->r;
  *nput = 0;
  if (!r->cfg.coordinator || t->j != 0)
    return CV_ESTATE;
  if (atomic_load(&r->cancelled))
    return CV_ESHUTDOWN;
  char **bufs = calloc(n ? n : 1, sizeof(*bufs));
  size_t *blen = calloc(n ? n : 1, sizeof(*blen));
  if (!bufs || !blen) {
    free(bufs);
    free(blen);
    return CV_ENOMEM;
  }
  int enc_rc = CV_OK;
  size_t nenc = 0;
  for (; nenc < n; nenc++) {
    void *b = NULL;
    enc_rc = t->codec.encode(items[nenc], t->codec.arg, &b, &blen[nenc]);
    bufs[nenc] = b;
    if (enc_rc == CV_OK && blen[nenc] > r->cfg.max_item_bytes) {
      free(bufs[nenc]);
      enc_rc = CV_EINVAL;
    }
    if (enc_rc != CV_OK)
      break;
  }
  int64_t deadline = cv__deadline(timeout_ns);
  size_t done = 0;
  pthread_mutex_lock(&t->mu);
  int rc = rt_connect(t);
  size_t fit = 0; /* free slots too few for the next entry: its size */
  while (rc == CV_OK && done < nenc) {
    uint64_t seen = atomic_load(&r->gen);
    long long got;
    size_t pack = t->pk, cap = r->caps[t->j], left = 0;
    if (cap && pack > cap)
      pack = cap;
    if (fit && pack > fit)
      pack = fit;
    rc =
        cv__redis_eval_put(&t->k, r, t->j, t->consumer, bufs + done,
                           blen + done, nenc - done, pack, &t->pk, &got, &left);
    if (rc != CV_OK)
      break;
    if (got == -1 || got == -3) {
      rc = CV_ECLOSED;
      break;
    }
    if (got == -2) {
      rc = CV_ESHUTDOWN;
      break;
    }
    /* The run owns these now, as bytes: the items themselves go. */
    for (long long y = 0; t->drop && y < got; y++)
      t->drop(items[done + (size_t)y], t->drop_arg);
    done += (size_t)got;
    if (done == nenc)
      break;
    fit = left;
    if (fit > 0)
      continue; /* a smaller entry fits the room there is, at once */
    if (timeout_ns == CV_NOWAIT) {
      rc = CV_EFULL;
      break;
    }
    int64_t wait = -1;
    if (deadline >= 0) {
      wait = deadline - cv__now_ns();
      if (wait <= 0) {
        rc = CV_ETIMEDOUT;
        break;
      }
    }
    rc = cv__redis_wait_slot(r, &t->k, 0, t->consumer, seen, wait);
    if (rc == CV_ECANCELED)
      rc = CV_ESHUTDOWN;
  }
  pthread_mutex_unlock(&t->mu);
  for (size_t i = 0; i < nenc; i++)
    free(bufs[i]);
  free(bufs);
  free(blen);
  if (rc == CV_EIO)
    cv__redis_server_lost(r);
  *nput = done;
  if (rc == CV_OK && done < n)
    rc = enc_rc;
  return rc;
}

static int rt_put(cv__transport *tp, void *item, int64_t timeout_ns) {
  size_t n;
  return rt_put_many(tp, &item, 1, &n, timeout_ns);
}

/* ---- the output's buffer (gets) --------------------------------------- */

static bool buf_push(rtrans *t, void *item) {
  size_t n = atomic_load(&t->bn);
  if (n == t->bcap) {
    size_t cap = t->bcap ? t->bcap * 2 : 64;
    void **b = malloc(cap * sizeof(*b));
    if (!b)
      return false;
    for (size_t i = 0; i < n; i++)
      b[i] = t->buf[(t->bhead + i) % t->bcap];
    free(t->buf);
    t->buf = b;
    t->bhead = 0;
    t->bcap = cap;
  }
  t->buf[(t->bhead + n) % t->bcap] = item;
  atomic_store(&t->bn, n + 1);
  return true;
}

static size_t buf_pop(rtrans *t, void **items, size_t max) {
  pthread_mutex_lock(&t->bmu);
  size_t n = atomic_load(&t->bn), k = n < max ? n : max;
  for (size_t i = 0; i < k; i++) {
    items[i] = t->buf[t->bhead];
    t->bhead = (t->bhead + 1) % t->bcap;
  }
  atomic_store(&t->bn, n - k);
  pthread_mutex_unlock(&t->bmu);
  return k;
}

/* Hands every buffered item to the drop callback. */
static void buf_drop(rtrans *t) {
  void *item;
  while (buf_pop(t, &item, 1) == 1) {
    if (t->drop)
      t->drop(item, t->drop_arg);
    atomic_fetch_add(&t->bdropped, 1);
  }
}

/* Items decoded from a reply's entries. */
typedef struct decoded {
  rtrans *t;
  void **v;
  size_t n, cap;
  int rc;
} decoded;

static bool decode_one(void *arg, const char *d, size_t len) {
  decoded *c = arg;
  if (!cv__rgrow(&c->v, &c->cap, c->n, sizeof(*c->v), 64)) {
    c->rc = CV_ENOMEM;
    return false;
  }
  void *item = NULL;
  int rc = c->t->codec.decode(d, len, c->t->codec.arg, &item);
  if (rc != CV_OK) {
    c->rc = rc;
    return false;
  }
  c->v[c->n++] = item;
  return true;
}

/* Decodes the entries of a reply, acknowledges them (their items leave
 * the run), hands out up to max items and keeps the rest.  An item that
 * cannot be decoded stops it: its entry and those after it stay pending,
 * not lost. */
static int take_out(rtrans *t, const redisReply *entries, void **items,
                    size_t max, size_t *nget) {
  cv__redis *r = t->r;
  decoded c = {.t = t, .rc = CV_OK};
  cv__rargs a = {0};
  cv__rargs_str(&a, r->prefix);
  cv__rargs_num(&a, t->j);
  cv__rargs_str(&a, t->consumer);
  cv__rargs_num(&a, 0); /* the entry count, below */
  size_t k = 0;
  for (size_t x = 0; x < entries->elements; x++) {
    const redisReply *e = entries->element[x];
    const char *d;
    size_t len, before = c.n;
    bool ok = cv__rentry_data(e->element[1], &d, &len) == 'b'
                  ? cv__runpack_items(d, len, decode_one, &c)
                  : decode_one(&c, d, len);
    if (!ok) {
      if (c.rc == CV_OK)
        c.rc = CV_EINVAL; /* a malformed packed entry */
      for (size_t y = before; y < c.n; y++)
        if (t->drop)
          t->drop(c.v[y], t->drop_arg);
      c.n = before;
      break;
    }
    cv__rargs_str(&a, e->element[0]->str);
    cv__rargs_num(&a, c.n - before);
    k++;
  }
  size_t give = c.n < max ? c.n : max;
  memcpy(items, c.v, give * sizeof(void *));
  pthread_mutex_lock(&t->bmu);
  bool kept = true;
  for (size_t y = give; y < c.n && kept; y++)
    kept = buf_push(t, c.v[y]);
  pthread_mutex_unlock(&t->bmu);
  int arc = CV_OK;
  if (!kept) {
    arc = CV_ENOMEM; /* nothing acknowledged: all delivered again later */
  } else if (k) {
    cv__rargs_set_num(&a, 3, k);
    redisReply *rep = NULL;
    arc = cv__rargs_eval(&t->k, CV__LUA_ACKOUT, &a, &rep);
    freeReplyObject(rep);
  }
  cv__rargs_free(&a);
  free(c.v);
  *nget = give;
  return arc != CV_OK ? arc : give ? CV_OK : c.rc;
}

static int rt_get_many(cv__transport *tp, void **items, size_t max,
                       size_t *nget, int64_t timeout_ns) {
  rtrans *t = (rtrans *)tp;
  cv__redis *r = t->r;
  *nget = 0;
  if (!r->cfg.coordinator || t->j != r->cfg.nstages)
    return CV_ESTATE;
  if (max == 0)
    return CV_OK;
  pthread_mutex_lock(&t->mu);
  *nget = buf_pop(t, items, max);
  if (*nget > 0) {
    pthread_mutex_unlock(&t->mu);
    return CV_OK;
  }
  char stream[sizeof(r->prefix) + 32], cnt[24];
  snprintf(stream, sizeof(stream), "%ss:%zu", r->prefix, t->j);
  cv__rfmt_u(cnt, sizeof(cnt), max);
  int64_t deadline = cv__deadline(timeout_ns);
  int rc = rt_connect(t);
  while (rc == CV_OK) {
    if (atomic_load(&r->cancelled)) {
      rc = CV_ESHUTDOWN;
      break;
    }
    uint64_t seen = atomic_load(&r->gen);
    /* After a reconnect, what a read whose reply was lost made ours first:
     * nobody else would ever read it. */
    const char *rd[] = {"XREADGROUP", "GROUP", "g",    t->consumer, "COUNT",
                        cnt,          "STREAMS", stream, t->own ? "0" : ">"};
    redisReply *rep;
    t->k.reconnected = false;
    rc = cv__rconn_cmd(&t->k, &rep, 9, rd, NULL);
    if (rc != CV_OK)
      break;
    if (t->k.reconnected) {
      t->own = true;
      freeReplyObject(rep);
      continue;
    }
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
        rep->element[0]->element[1]->elements > 0) {
      rc = take_out(t, rep->element[0]->element[1], items, max, nget);
      freeReplyObject(rep);
      break;
    }
    freeReplyObject(rep);
    if (t->own) {
      t->own = false; /* none left: new entries now */
      continue;
    }
    cv__rstate st;
    rc = cv__rstate_get(r, &st);
    if (rc != CV_OK)
      break;
    bool gone = !st.exists;
    bool cancelled = cv__rstate_num(&st, "cancel", SIZE_MAX) != 0;
    bool drained = cv__rstate_num(&st, "closed", t->j) == 1 &&
                   cv__rstate_xlen(&st, t->j) == 0;
    cv__rstate_free(&st);
    if (cancelled) {
      rc = CV_ESHUTDOWN;
      break;
    }
    if (gone || drained) {
      rc = CV_ECLOSED;
      break;
    }
    if (timeout_ns == CV_NOWAIT) {
      rc = CV_EEMPTY;
      break;
    }
    int64_t slice = r->cfg.lease_ns / 2;
    if (deadline >= 0) {
      int64_t left = deadline - cv__now_ns();
      if (left <= 0) {
        rc = CV_ETIMEDOUT;
        break;
      }
      if (left < slice)
        slice = left;
    }
    if (slice < CV_MSEC(1))
      slice = CV_MSEC(1);
    char ms[24];
    cv__rfmt_u(ms, sizeof(ms), (uint64_t)(slice / 1000000) + 1);
    const char *bl[] = {"XREADGROUP", "GROUP", "g", t->consumer, "COUNT", cnt,
                        "BLOCK", ms, "STREAMS", stream, ">"};
    atomic_store(&t->k.blocking, 1);
    if (atomic_load(&r->gen) != seen || atomic_load(&r->cancelled)) {
      atomic_store(&t->k.blocking, 0);
      continue;
    }
    t->k.reconnected = false;
    rc = cv__rconn_block(&t->k, &rep, 11, bl, NULL, slice);
    if (rc != CV_OK)
      break;
    if (t->k.reconnected)
      t->own = true;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0) {
      rc = take_out(t, rep->element[0]->element[1], items, max, nget);
      freeReplyObject(rep);
      break;
    }
    freeReplyObject(rep);
  }
  pthread_mutex_unlock(&t->mu);
  if (rc == CV_EIO)
    cv__redis_server_lost(r);
  return rc;
}

static int rt_get(cv__transport *tp, void **item, int64_t timeout_ns) {
  size_t n;
  return rt_get_many(tp, item, 1, &n, timeout_ns);
}

static int rt_close(cv__transport *tp) {
  rtrans *t = (rtrans *)tp;
  cv__redis *r = t->r;
  if (t->j != 0 || !r->cfg.coordinator)
    return CV_OK; /* later stages close on the server, by cascade */
  const char *argv[] = {r->prefix, t->consumer};
  redisReply *rep = NULL;
  pthread_mutex_lock(&r->misc_mu);
  int rc = cv__rconn_eval(&r->misc, CV__LUA_CLOSE, &rep, 2, argv, NULL);
  pthread_mutex_unlock(&r->misc_mu);
  freeReplyObject(rep);
  if (rc == CV_EIO)
    cv__redis_server_lost(r);
  return CV_OK;
}

static int rt_shutdown(cv__transport *tp) {
  rtrans *t = (rtrans *)tp;
  cv__redis_cancel(t->r);
  buf_drop(t);
  return CV_OK;
}

static int rt_stats(const cv__transport *tp, cv__transport_stats *out) {
  const rtrans *t = (const rtrans *)tp;
  cv__redis *r = t->r;
  memset(out, 0, sizeof(*out));
  out->remote = true;
  out->capacity = r->caps[t->j];
  cv__rstate st;
  if (cv__rstate_get(r, &st) != CV_OK || !st.exists) {
    if (st.rep)
      cv__rstate_free(&st);
    return CV_OK; /* over, or unreachable: zeros */
  }
  size_t j = t->j;
  /* Items read from the output but not yet handed out count as queued,
   * not as got (the run counted them got when they were read): one reading
   * of the buffer goes into both, so puts = gets + discarded + size holds
   * whatever a get does meanwhile. */
  uint64_t held = atomic_load(&((rtrans *)t)->bn);
  uint64_t dropped = atomic_load(&((rtrans *)t)->bdropped);
  out->puts = (uint64_t)cv__rstate_num(&st, "in", j);
  out->discarded = (uint64_t)cv__rstate_num(&st, "disc", j) + dropped;
  out->size = (size_t)cv__rstate_num(&st, "q", j) + (size_t)held;
  out->high_water = (size_t)cv__rstate_num(&st, "hw", j);
  out->succeeded = (uint64_t)cv__rstate_num(&st, "ok", j);
  out->failed = (uint64_t)cv__rstate_num(&st, "fail", j);
  out->filtered = (uint64_t)cv__rstate_num(&st, "filt", j);
  out->out = (uint64_t)cv__rstate_num(&st, "out", j);
  out->taken = out->succeeded + out->failed;
  if (j < r->cfg.nstages)
    cv__redis_sum_others(r, &st, j, out);
  if (j == r->cfg.nstages) {
    uint64_t got = (uint64_t)cv__rstate_num(&st, "got", SIZE_MAX);
    out->gets = got > held + dropped ? got - held - dropped : 0;
  } else {
    out->gets = out->taken;
  }
  cv__rstate_free(&st);
  return CV_OK;
}

static void rt_destroy(cv__transport *tp) {
  rtrans *t = (rtrans *)tp;
  if (!t)
    return;
  if (t->connected)
    cv__rconn_close(&t->k);
  buf_drop(t);
  free(t->buf);
  pthread_mutex_destroy(&t->bmu);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

static const cv__transport_ops redis_ops = {
    .kind = "redis",
    .put = rt_put,
    .put_many = rt_put_many,
    .get = rt_get,
    .get_many = rt_get_many,
    .close = rt_close,
    .shutdown = rt_shutdown,
    .stats = rt_stats,
    .destroy = rt_destroy,
};

int cv__redis_transport(cv__redis *r, size_t j, const cv_codec *codec,
                        cv_destroy_fn drop, void *drop_arg,
                        cv__transport **out) {
  rtrans *t = calloc(1, sizeof(*t));
  if (!t)
    return CV_ENOMEM;
  t->base.ops = &redis_ops;
  t->r = r;
  t->j = j;
  t->codec = *codec;
  t->drop = drop;
  t->drop_arg = drop_arg;
  pthread_mutex_init(&t->mu, NULL);
  pthread_mutex_init(&t->bmu, NULL);
  atomic_init(&t->bn, 0);
  atomic_init(&t->bdropped, 0);
  t->pk = 1; /* until the first stage says what it takes at once */
  snprintf(t->consumer, sizeof(t->consumer), "%s.%c.%zu", r->proc,
           j == 0 ? 'f' : 'o', j);
  *out = &t->base;
  return CV_OK;
}

