/* src/transport_redis.c - a distributed run on Redis Streams: the process's
 * membership (heartbeat, control channel), the transports of the run's
 * boundaries, and the sessions through which workers take and commit.
 *
 * DESIGN
 *
 * The server holds the run (redis_scripts.c has the key layout and the
 * invariants).  Each process has:
 *   - a heartbeat thread that refreshes P.."hb:"..proc (PX lease) every
 *     lease/3.  Liveness is the heartbeat, not an item's idle time: a live
 *     process keeps its items however long they run, and only the items of
 *     a process whose heartbeat expired are taken over (then its late
 *     commit is refused by the fencing check).
 *   - a control thread subscribed to P.."ctl".  A "w" (a stage closed or
 *     drained, the run was created or deleted) or "c" (cancelled) bumps
 *     `gen`, wakes local waiters, and ends the process's blocking commands
 *     with CLIENT UNBLOCK; on "c" it also cancels the local pipeline.  So
 *     nobody polls: an idle worker blocks in XREADGROUP for lease/2 at a
 *     time, then looks for items of dead processes, which is 2 commands
 *     per half lease.
 *   - one connection per worker thread (its session), one per transport
 *     that puts or gets (the coordinator's input and output), and a shared
 *     `misc` connection under a mutex for statistics, close and cancel.
 *
 * Batches.  A worker's take is one XREADGROUP of entries holding about as
 * many items as its stage takes at once (a plain read while busy; the take
 * script when that finds nothing, or to look for dead processes' entries);
 * its commit is one script call for the whole batch, whose outputs it packs
 * into entries of the size the next stage asked for (redis_scripts.c says
 * how entries hold items).  The coordinator's put_many packs the same way;
 * its output reader unpacks, keeping what a get did not ask for.  Nothing
 * waits for a batch to fill.
 *
 * Statistics.  The heartbeat also writes this process's per-stage times and
 * worker counts into the run's hash; the stats of every process add up the
 * others' with its own.  When a process's workers are all done it beats
 * once more, marked final, and the coordinator's run ends only when every
 * live process has done so.
 *
 * Waiting for room (a full stage) is BLMOVE from the free-slot list into the
 * consumer's held list: a real blocking wait, ended by a commit or a read
 * that returns a slot.  A taker whose commit needs k slots holds them
 * before its commit script runs; slots of dead consumers are returned by
 * the next take that looks for dead processes' items.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conveyor/queue.h"
#include "internal.h"
#include "redis_conn.h"
#include "transport_redis.h"

#define RUN_MAX 64
#define NAME_MAX_ 160
#define KEY_MAX 512
#define OUT_PACK "64" /* items per entry of the output stream */

struct cv__redis {
  cv__redis_config cfg;
  cv__broker_addr addr;
  size_t *caps;
  char prefix[RUN_MAX + 16]; /* "cv:{run}:" */
  char proc[96];  /* host-pid-random */
  char hbkey[KEY_MAX];
  cv__rshared sh;
  atomic_uint_fast64_t gen;  /* bumped by every control message */
  atomic_bool cancelled;     /* the run was cancelled */
  atomic_bool cancel_sent;   /* this process asked for it already */
  atomic_bool aborted;       /* on_abort was called */

  unsigned *nworkers;        /* per stage, in this process */
  pthread_mutex_t beat_mu;   /* one beat at a time, on hb */
  bool final_sent;           /* under beat_mu */

  pthread_mutex_t misc_mu;
  cv__rconn misc;
  cv__rconn hb, sub, ctl;
  pthread_t hb_thread, ctl_thread;
  bool hb_started, ctl_started;
  bool stopped; /* cv__redis_stop ran */
};

/* ---- helpers ------------------------------------------------------------ */

static void bump(cv__redis *r) {
  pthread_mutex_lock(&r->sh.mu);
  atomic_fetch_add(&r->gen, 1);
  pthread_cond_broadcast(&r->sh.cond);
  pthread_mutex_unlock(&r->sh.mu);
}

/* Waits until gen moves past `seen`, or ns pass, or stop. */
static void wait_gen(cv__redis *r, uint64_t seen, int64_t ns) {
  int64_t deadline = cv__deadline(ns);
  pthread_mutex_lock(&r->sh.mu);
  while (atomic_load(&r->gen) == seen && !atomic_load(&r->sh.stopping))
    if (cv__cond_wait(&r->sh.cond, &r->sh.mu, deadline) == CV_ETIMEDOUT)
      break;
  pthread_mutex_unlock(&r->sh.mu);
}

static void abort_run(cv__redis *r, bool failed, int code, size_t stage,
                      const char *msg) {
  if (atomic_exchange(&r->aborted, true))
    return;
  atomic_store(&r->cancelled, true);
  bump(r);
  if (r->cfg.on_abort)
    r->cfg.on_abort(r->cfg.cb_arg, failed, code, stage, msg);
}

static void server_lost(cv__redis *r) {
  char msg[CV__ERR_MAX];
  pthread_mutex_lock(&r->sh.mu);
  snprintf(msg, sizeof(msg), "%s", r->sh.err);
  pthread_mutex_unlock(&r->sh.mu);
  /* No cancel script: the server is not there to run it. */
  atomic_store(&r->cancel_sent, true);
  abort_run(r, true, CV_EIO, SIZE_MAX, msg);
}

void cv__redis_error(cv__redis *r, char *buf, size_t len) {
  pthread_mutex_lock(&r->sh.mu);
  snprintf(buf, len, "%s", r->sh.err);
  pthread_mutex_unlock(&r->sh.mu);
}

static char *fmt_u(char *buf, size_t len, uint64_t v) {
  snprintf(buf, len, "%" PRIu64, v);
  return buf;
}

/* ---- script arguments and packed entries ------------------------------ */

/* Makes room for element n of the array *vp (capacity *cap, elements of
 * `elem` bytes), doubling it from `first`.  False if out of memory. */
static bool grow(void *vp, size_t *cap, size_t n, size_t elem, size_t first) {
  if (n < *cap)
    return true;
  size_t c = *cap ? *cap * 2 : first;
  void *m = realloc(*(void **)vp, c * elem);
  if (!m)
    return false;
  *(void **)vp = m;
  *cap = c;
  return true;
}

/* The arguments of one script call, and the memory they point into that
 * the call owns (numbers, packed entries). */
typedef struct argbuf {
  const char **v;
  size_t *len;
  size_t n, cap;
  char **own;     /* blocks to free */
  size_t nown, owncap;
  char *nums;     /* the current block for numbers */
  size_t numsleft;
  bool oom;
} argbuf;

static void ab_add(argbuf *a, const char *p, size_t len) {
  if (a->oom)
    return;
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 64;
    const char **v = realloc(a->v, cap * sizeof(*v));
    if (v)
      a->v = v;
    size_t *l = realloc(a->len, cap * sizeof(*l));
    if (l)
      a->len = l;
    if (!v || !l) {
      a->oom = true;
      return;
    }
    a->cap = cap;
  }
  a->v[a->n] = p;
  a->len[a->n++] = len;
}

static void ab_str(argbuf *a, const char *s) { ab_add(a, s, strlen(s)); }

/* A block of `size` bytes that lives as long as the arguments. */
static char *ab_own(argbuf *a, size_t size) {
  if (a->oom)
    return NULL;
  if (!grow(&a->own, &a->owncap, a->nown, sizeof(*a->own), 8)) {
    a->oom = true;
    return NULL;
  }
  char *b = malloc(size ? size : 1);
  if (!b) {
    a->oom = true;
    return NULL;
  }
  a->own[a->nown++] = b;
  return b;
}

static void ab_num(argbuf *a, uint64_t v) {
  if (a->numsleft < 24) {
    a->nums = ab_own(a, 2048);
    a->numsleft = a->nums ? 2048 : 0;
    if (!a->nums)
      return;
  }
  int k = snprintf(a->nums, 24, "%" PRIu64, v);
  ab_add(a, a->nums, (size_t)k);
  a->nums += k + 1;
  a->numsleft -= (size_t)k + 1;
}

/* Sets argument idx (added earlier as a placeholder) to the number v. */
static void ab_set_num(argbuf *a, size_t idx, uint64_t v) {
  char *b = ab_own(a, 24);
  if (b) {
    a->len[idx] = (size_t)snprintf(b, 24, "%" PRIu64, v);
    a->v[idx] = b;
  }
}

static void ab_free(argbuf *a) {
  for (size_t i = 0; i < a->nown; i++)
    free(a->own[i]);
  free(a->own);
  free(a->v);
  free(a->len);
  memset(a, 0, sizeof(*a));
}

static int ab_eval(cv__rconn *k, int which, argbuf *a, redisReply **out) {
  if (a->oom)
    return CV_ENOMEM;
  return cv__rconn_eval(k, which, out, (int)a->n, a->v, a->len);
}

/* Adds the n items (data, lens) as groups of at most pk items: a count and
 * the data, which for a group of one is the item and for a larger group
 * the items packed, each after its length in 4 big-endian bytes.  Returns
 * the number of groups. */
static size_t ab_groups(argbuf *a, const char *const *data, const size_t *lens,
                        size_t n, size_t pk) {
  size_t ng = 0;
  if (pk < 1)
    pk = 1;
  for (size_t x = 0; x < n; ng++) {
    size_t k = n - x < pk ? n - x : pk;
    ab_num(a, k);
    if (k == 1) {
      ab_add(a, data[x], lens[x]);
    } else {
      size_t tot = 0;
      for (size_t y = 0; y < k; y++)
        tot += 4 + lens[x + y];
      unsigned char *b = (unsigned char *)ab_own(a, tot);
      if (!b)
        return ng;
      size_t o = 0;
      for (size_t y = 0; y < k; y++) {
        uint32_t l = (uint32_t)lens[x + y];
        b[o] = (unsigned char)(l >> 24);
        b[o + 1] = (unsigned char)(l >> 16);
        b[o + 2] = (unsigned char)(l >> 8);
        b[o + 3] = (unsigned char)l;
        memcpy(b + o + 4, data[x + y], lens[x + y]);
        o += 4 + lens[x + y];
      }
      ab_add(a, (const char *)b, tot);
    }
    x += k;
  }
  return ng;
}

/* The items of a packed entry: calls fn for each; false if malformed. */
static bool unpack_items(const char *b, size_t len,
                         bool (*fn)(void *arg, const char *d, size_t l),
                         void *arg) {
  const unsigned char *u = (const unsigned char *)b;
  size_t o = 0;
  while (o < len) {
    if (len - o < 4)
      return false;
    size_t l = (size_t)u[o] << 24 | (size_t)u[o + 1] << 16 |
               (size_t)u[o + 2] << 8 | (size_t)u[o + 3];
    if (len - o - 4 < l)
      return false;
    if (!fn(arg, b + o + 4, l))
      return false;
    o += 4 + l;
  }
  return true;
}

/* Runs the put script over `conn` for the k encoded items `data` into
 * boundary j, packed `pack` to an entry.  *got is how many the stage took
 * (whole entries, as many as there were slots for), or the script's -1
 * closed, -2 cancelled, -3 gone; *wish becomes the items per entry the
 * boundary asks for, *left the slots still free.  CV_ENOMEM, or the
 * connection's error. */
static int eval_put(cv__rconn *conn, const cv__redis *r, size_t j,
                    const char *consumer, char *const *data,
                    const size_t *lens, size_t k, size_t pack, size_t *wish,
                    long long *got, size_t *left) {
  argbuf a = {0};
  ab_str(&a, r->prefix);
  ab_num(&a, j);
  ab_str(&a, consumer);
  ab_num(&a, k);
  ab_num(&a, 0); /* the group count, below */
  size_t ng = ab_groups(&a, (const char *const *)data, lens, k, pack);
  ab_set_num(&a, 4, ng);
  redisReply *rep;
  int rc = ab_eval(conn, CV__LUA_PUT, &a, &rep);
  ab_free(&a);
  if (rc != CV_OK)
    return rc;
  *got = rep->type == REDIS_REPLY_ARRAY && rep->elements > 0
             ? rep->element[0]->integer
             : -3;
  *left = 0;
  if (*got >= 0 && rep->elements > 2) {
    if (rep->element[1]->integer > 0)
      *wish = (size_t)rep->element[1]->integer;
    if (rep->element[2]->integer > 0)
      *left = (size_t)rep->element[2]->integer;
  }
  freeReplyObject(rep);
  return CV_OK;
}

/* ---- run state ----------------------------------------------------------- */

typedef struct run_state {
  bool exists;
  redisReply *rep; /* {1, {k, v, ...}, {xlen...}} */
} run_state;

static int state_get(cv__redis *r, run_state *st) {
  const char *argv[] = {r->prefix};
  st->rep = NULL;
  st->exists = false;
  pthread_mutex_lock(&r->misc_mu);
  int rc = cv__rconn_eval(&r->misc, CV__LUA_STATE, &st->rep, 1, argv, NULL);
  pthread_mutex_unlock(&r->misc_mu);
  if (rc != CV_OK)
    return rc;
  if (st->rep->type == REDIS_REPLY_ARRAY && st->rep->elements == 3 &&
      st->rep->element[0]->integer == 1)
    st->exists = true;
  return CV_OK;
}

static const char *state_str(const run_state *st, const char *name) {
  if (!st->exists)
    return NULL;
  const redisReply *h = st->rep->element[1];
  for (size_t i = 0; i + 1 < h->elements; i += 2)
    if (strcmp(h->element[i]->str, name) == 0)
      return h->element[i + 1]->str;
  return NULL;
}

static int64_t state_num(const run_state *st, const char *name, size_t j) {
  char key[48];
  if (j == SIZE_MAX)
    snprintf(key, sizeof(key), "%s", name);
  else
    snprintf(key, sizeof(key), "%s:%zu", name, j);
  const char *v = state_str(st, key);
  return v ? strtoll(v, NULL, 10) : 0;
}

static uint64_t state_xlen(const run_state *st, size_t j) {
  if (!st->exists || j >= st->rep->element[2]->elements)
    return 0;
  return (uint64_t)st->rep->element[2]->element[j]->integer;
}

static void state_free(run_state *st) { freeReplyObject(st->rep); }

bool cv__redis_first_error(cv__redis *r, int *code, size_t *stage, char *msg,
                           size_t len) {
  run_state st;
  if (state_get(r, &st) != CV_OK)
    return false;
  const char *c = state_str(&st, "err_code");
  bool have = c != NULL;
  if (have) {
    *code = (int)strtol(c, NULL, 10);
    const char *s = state_str(&st, "err_stage");
    *stage = s ? (size_t)strtoull(s, NULL, 10) : SIZE_MAX;
    const char *m = state_str(&st, "err_msg");
    snprintf(msg, len, "%s", m ? m : "");
  }
  state_free(&st);
  return have;
}

void cv__redis_wait_done(cv__redis *r) {
  for (;;) {
    uint64_t seen = atomic_load(&r->gen);
    if (atomic_load(&r->aborted) || atomic_load(&r->sh.stopping))
      return;
    run_state st;
    if (state_get(r, &st) != CV_OK) {
      server_lost(r);
      return;
    }
    bool done = !st.exists || state_num(&st, "cancel", SIZE_MAX) != 0 ||
                state_num(&st, "closed", r->cfg.nstages) == 1;
    state_free(&st);
    if (done)
      return;
    wait_gen(r, seen, r->cfg.lease_ns / 2);
  }
}

/* ---- heartbeat and control threads ------------------------------------- */

/* Refreshes the heartbeat and publishes this process's per-stage times
 * (final: its workers are done; from then on every beat says so). */
static int beat(cv__redis *r, bool final) {
  pthread_mutex_lock(&r->beat_mu);
  if (final)
    r->final_sent = true;
  argbuf a = {0};
  ab_str(&a, r->prefix);
  ab_str(&a, r->proc);
  ab_num(&a, (uint64_t)(r->cfg.lease_ns / 1000000));
  ab_str(&a, r->final_sent ? "1" : "0");
  for (size_t i = 0; r->cfg.local_times && i < r->cfg.nstages; i++) {
    if (r->nworkers[i] == 0)
      continue;
    int64_t t[3] = {0, 0, 0};
    r->cfg.local_times(r->cfg.cb_arg, i, t);
    ab_num(&a, i);
    for (int k = 0; k < 3; k++)
      ab_num(&a, (uint64_t)(t[k] > 0 ? t[k] : 0));
    ab_num(&a, r->nworkers[i]);
  }
  redisReply *rep = NULL;
  int rc = ab_eval(&r->hb, CV__LUA_BEAT, &a, &rep);
  freeReplyObject(rep);
  ab_free(&a);
  pthread_mutex_unlock(&r->beat_mu);
  return rc;
}

void cv__redis_publish_final(cv__redis *r) {
  /* A cancelled run's coordinator waits for nobody's final numbers, and a
   * worker woken by the cancel should leave at once. */
  if (atomic_load(&r->cancelled))
    return;
  pthread_mutex_lock(&r->beat_mu);
  bool sent = r->final_sent;
  pthread_mutex_unlock(&r->beat_mu);
  if (!sent)
    beat(r, true); /* a lost server shows in the heartbeat thread */
}

static void *hb_main(void *arg) {
  cv__redis *r = arg;
  while (!atomic_load(&r->sh.stopping)) {
    cv__rshared_sleep(&r->sh, r->cfg.lease_ns / 3);
    if (atomic_load(&r->sh.stopping))
      break;
    int rc = beat(r, false);
    if (rc == CV_EIO) {
      server_lost(r);
      break;
    }
  }
  return NULL;
}

/* A "c" message: the run was cancelled by some process. */
static void on_cancel_msg(cv__redis *r) {
  atomic_store(&r->cancelled, true);
  if (atomic_load(&r->cancel_sent)) {
    /* Our own cancellation: the pipeline is cancelled already. */
    atomic_store(&r->aborted, true);
    return;
  }
  int code = CV_ECANCELED;
  size_t stage = SIZE_MAX;
  char msg[CV__ERR_MAX] = "";
  bool failed = false;
  run_state st;
  redisReply *rep = NULL;
  const char *argv[] = {r->prefix};
  if (cv__rconn_eval(&r->ctl, CV__LUA_STATE, &rep, 1, argv, NULL) == CV_OK) {
    st.rep = rep;
    st.exists = rep->type == REDIS_REPLY_ARRAY && rep->elements == 3;
    failed = state_num(&st, "cancel", SIZE_MAX) == 2;
    const char *c = state_str(&st, "err_code");
    if (failed && c) {
      code = (int)strtol(c, NULL, 10);
      stage = (size_t)state_num(&st, "err_stage", SIZE_MAX);
      const char *m = state_str(&st, "err_msg");
      snprintf(msg, sizeof(msg), "%s", m ? m : "");
    }
    state_free(&st);
  }
  abort_run(r, failed, code, stage, msg);
}

static int subscribe(cv__redis *r) {
  char ch[sizeof(r->prefix) + 4];
  snprintf(ch, sizeof(ch), "%sctl", r->prefix);
  const char *argv[] = {"SUBSCRIBE", ch};
  redisReply *rep;
  int rc = cv__rconn_cmd(&r->sub, &rep, 2, argv, NULL);
  if (rc == CV_OK) {
    freeReplyObject(rep);
    /* No read timeout: it waits for messages. */
    redisSetTimeout(r->sub.c, (struct timeval){0, 0});
  }
  return rc;
}

static void *ctl_main(void *arg) {
  cv__redis *r = arg;
  for (;;) {
    redisReply *rep = NULL;
    redisContext *c = r->sub.c;
    int ok = c ? redisGetReply(c, (void **)&rep) : REDIS_ERR;
    if (atomic_load(&r->sh.stopping)) {
      freeReplyObject(rep);
      break;
    }
    if (ok != REDIS_OK || !rep) {
      /* The server went away: subscribe again (with back-off), then look
       * at everything afresh, since messages may have been missed. */
      pthread_mutex_lock(&r->sh.mu);
      r->sub.c = NULL;
      pthread_mutex_unlock(&r->sh.mu);
      if (c)
        redisFree(c);
      int rc = subscribe(r);
      if (rc == CV_EIO)
        server_lost(r);
      if (rc != CV_OK)
        break;
      /* A stop that came while we reconnected found no socket to shut
       * down: look before waiting on the new one (stop sets the flag and
       * shuts the socket down under the same lock). */
      pthread_mutex_lock(&r->sh.mu);
      bool stopping = atomic_load(&r->sh.stopping);
      pthread_mutex_unlock(&r->sh.mu);
      if (stopping)
        break;
      bump(r);
      cv__rconn_unblock_all(&r->sh, &r->ctl);
      continue;
    }
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
        rep->element[2]->type == REDIS_REPLY_STRING) {
      bool cancel = rep->element[2]->str[0] == 'c';
      if (cancel)
        on_cancel_msg(r);
      bump(r);
      cv__rconn_unblock_all(&r->sh, &r->ctl);
    }
    freeReplyObject(rep);
  }
  return NULL;
}

/* ---- open / free --------------------------------------------------------- */

static bool run_name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > RUN_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return false;
  }
  return true;
}

static int load_scripts(cv__redis *r, char *err, size_t errlen) {
  for (int i = 0; i < CV__LUA_COUNT; i++) {
    const char *argv[] = {"SCRIPT", "LOAD", cv__lua_script(i)};
    if (!argv[2]) {
      snprintf(err, errlen, "out of memory");
      return CV_ENOMEM;
    }
    redisReply *rep;
    int rc = cv__rconn_cmd(&r->misc, &rep, 3, argv, NULL);
    if (rc != CV_OK) {
      snprintf(err, errlen, "%s", r->sh.err);
      return rc;
    }
    bool ok = rep->type == REDIS_REPLY_STRING && rep->len == 40;
    if (ok)
      memcpy(r->sh.sha[i], rep->str, 41);
    else
      snprintf(err, errlen, "redis at %s cannot load scripts: %.120s",
               r->addr.where,
               rep->type == REDIS_REPLY_ERROR ? rep->str : "bad reply");
    freeReplyObject(rep);
    if (!ok)
      return CV_EIO;
  }
  return CV_OK;
}

static int init_run(cv__redis *r, char *err, size_t errlen) {
  size_t n = r->cfg.nstages;
  size_t argc = n + 4;
  const char **argv = calloc(argc, sizeof(*argv));
  char(*nums)[24] = calloc(n + 2, sizeof(*nums));
  if (!argv || !nums) {
    free(argv);
    free(nums);
    return CV_ENOMEM;
  }
  argv[0] = r->prefix;
  argv[1] = fmt_u(nums[n + 1], sizeof(nums[0]), n);
  for (size_t j = 0; j <= n; j++)
    argv[2 + j] = fmt_u(nums[j], sizeof(nums[0]), r->caps[j]);
  /* The coordinator reads the output in batches of up to this many. */
  argv[3 + n] = OUT_PACK;
  redisReply *rep;
  int rc = cv__rconn_eval(&r->misc, CV__LUA_INIT, &rep, (int)argc, argv, NULL);
  free(argv);
  free(nums);
  if (rc != CV_OK) {
    snprintf(err, errlen, "%s", r->sh.err);
    return rc;
  }
  bool created = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
  freeReplyObject(rep);
  if (!created) {
    snprintf(err, errlen, "a run named '%s' already exists on redis at %s",
             r->cfg.run, r->addr.where);
    return CV_ESTATE;
  }
  return CV_OK;
}

int cv__redis_open(cv__redis **out, const cv__redis_config *cfg, char *err,
                   size_t errlen) {
  *out = NULL;
  if (!run_name_ok(cfg->run)) {
    snprintf(err, errlen, "bad run name");
    return CV_EINVAL;
  }
  cv__redis *r = calloc(1, sizeof(*r));
  if (!r)
    return CV_ENOMEM;
  r->cfg = *cfg;
  r->addr = cfg->addr;
  r->caps = calloc(cfg->nstages + 1, sizeof(size_t));
  if (!r->caps) {
    free(r);
    return CV_ENOMEM;
  }
  memcpy(r->caps, cfg->caps, (cfg->nstages + 1) * sizeof(size_t));
  r->cfg.caps = r->caps;
  r->nworkers = calloc(cfg->nstages + 1, sizeof(unsigned));
  if (!r->nworkers) {
    free(r->caps);
    free(r);
    return CV_ENOMEM;
  }
  if (cfg->nworkers)
    memcpy(r->nworkers, cfg->nworkers, cfg->nstages * sizeof(unsigned));
  r->cfg.nworkers = r->nworkers;
  pthread_mutex_init(&r->beat_mu, NULL);
  r->cfg.run = NULL; /* not kept: the prefix has it */
  snprintf(r->prefix, sizeof(r->prefix), "cv:{%s}:", cfg->run);
  char host[64] = "host";
  gethostname(host, sizeof(host) - 1);
  for (char *h = host; *h; h++)
    if (*h == '|' || *h == ' ')
      *h = '_';
  uint64_t rnd = (uint64_t)cv__now_ns() ^ ((uint64_t)getpid() << 32) ^
                 (uint64_t)(uintptr_t)r;
  snprintf(r->proc, sizeof(r->proc), "%s-%ld-%08" PRIx64, host, (long)getpid(),
           rnd & 0xffffffffu);
  snprintf(r->hbkey, sizeof(r->hbkey), "%shb:%s", r->prefix, r->proc);
  atomic_init(&r->gen, 0);
  atomic_init(&r->cancelled, false);
  atomic_init(&r->cancel_sent, false);
  atomic_init(&r->aborted, false);
  int rc = cv__rshared_init(&r->sh, &r->addr, cfg->timeout_ns);
  if (rc != CV_OK) {
    pthread_mutex_destroy(&r->beat_mu);
    free(r->nworkers);
    free(r->caps);
    free(r);
    return rc;
  }
  pthread_mutex_init(&r->misc_mu, NULL);
  rc = cv__rconn_open(&r->misc, &r->sh, false, err, errlen);
  if (rc == CV_OK)
    rc = load_scripts(r, err, errlen);
  if (rc == CV_OK)
    rc = cv__rconn_open(&r->hb, &r->sh, false, err, errlen);
  if (rc == CV_OK)
    rc = cv__rconn_open(&r->ctl, &r->sh, false, err, errlen);
  if (rc == CV_OK)
    rc = cv__rconn_open(&r->sub, &r->sh, false, err, errlen);
  if (rc == CV_OK && (rc = beat(r, false)) != CV_OK)
    snprintf(err, errlen, "%s", r->sh.err);
  if (rc == CV_OK && (rc = subscribe(r)) != CV_OK)
    snprintf(err, errlen, "%s", r->sh.err);
  if (rc == CV_OK && cfg->coordinator)
    rc = init_run(r, err, errlen);
  if (rc == CV_OK) {
    if (pthread_create(&r->hb_thread, NULL, hb_main, r) == 0)
      r->hb_started = true;
    if (r->hb_started && pthread_create(&r->ctl_thread, NULL, ctl_main, r) == 0)
      r->ctl_started = true;
    if (!r->ctl_started) {
      snprintf(err, errlen, "cannot create a thread");
      rc = CV_ESYS;
    }
  }
  if (rc != CV_OK) {
    cv__redis_free(r);
    return rc;
  }
  *out = r;
  return CV_OK;
}

void cv__redis_stop(cv__redis *r) {
  if (!r || r->stopped)
    return;
  r->stopped = true;
  /* Say goodbye while the connections still work: the coordinator removes
   * the run, a worker its heartbeat (so that its items, if any were left,
   * are taken over at once).  A process whose open failed has joined
   * nothing: its scripts may not be loaded, its connections not open. */
  if (!r->cfg.coordinator && r->hb_started)
    cv__redis_publish_final(r);
  if (r->misc.c) {
    redisReply *rep = NULL;
    pthread_mutex_lock(&r->misc_mu);
    char ms[24];
    const char *cargv[] = {r->prefix,
                           fmt_u(ms, sizeof(ms),
                                 (uint64_t)(r->cfg.lease_ns / 1000000) + 1)};
    if (r->cfg.coordinator)
      cv__rconn_eval(&r->misc, CV__LUA_CLEANUP, &rep, 2, cargv, NULL);
    freeReplyObject(rep);
    rep = NULL;
    const char *del[] = {"DEL", r->hbkey};
    if (r->misc.c)
      cv__rconn_cmd(&r->misc, &rep, 2, del, NULL);
    freeReplyObject(rep);
    pthread_mutex_unlock(&r->misc_mu);
  }
  pthread_mutex_lock(&r->sh.mu);
  atomic_store(&r->sh.stopping, true);
  pthread_cond_broadcast(&r->sh.cond);
  if (r->sub.c)
    shutdown(r->sub.c->fd, SHUT_RDWR);
  pthread_mutex_unlock(&r->sh.mu);
  if (r->ctl_started)
    pthread_join(r->ctl_thread, NULL);
  if (r->hb_started)
    pthread_join(r->hb_thread, NULL);
}

void cv__redis_free(cv__redis *r) {
  if (!r)
    return;
  cv__redis_stop(r);
  cv__rconn_close(&r->sub);
  cv__rconn_close(&r->ctl);
  cv__rconn_close(&r->hb);
  cv__rconn_close(&r->misc);
  pthread_mutex_destroy(&r->misc_mu);
  pthread_mutex_destroy(&r->beat_mu);
  cv__rshared_destroy(&r->sh);
  free(r->nworkers);
  free(r->caps);
  free(r);
}

/* ---- cancellation ------------------------------------------------------- */

static void cancel_run(cv__redis *r) {
  atomic_store(&r->cancelled, true);
  if (atomic_exchange(&r->cancel_sent, true))
    return;
  int code = 0;
  size_t stage = SIZE_MAX;
  char msg[CV__ERR_MAX] = "";
  bool failed = r->cfg.first_error &&
                r->cfg.first_error(r->cfg.cb_arg, &code, &stage, msg,
                                   sizeof(msg));
  char c[24], s[24];
  snprintf(c, sizeof(c), "%d", code);
  snprintf(s, sizeof(s), "%zu", stage == SIZE_MAX ? 0 : stage);
  const char *argv[] = {r->prefix, failed ? "2" : "1", c, s, msg};
  redisReply *rep = NULL;
  pthread_mutex_lock(&r->misc_mu);
  cv__rconn_eval(&r->misc, CV__LUA_CANCEL, &rep, 5, argv, NULL);
  pthread_mutex_unlock(&r->misc_mu);
  freeReplyObject(rep);
  bump(r);
}

/* ---- blocking on a slot -------------------------------------------------- */

/* Waits (BLMOVE) for one free slot of boundary j into consumer's held
 * list, up to `ns` (or lease/2 at most).  Returns CV_OK (a slot, or a
 * wake-up: the caller looks again), CV_EIO, CV_ECANCELED. */
static int wait_slot(cv__redis *r, cv__rconn *k, size_t j,
                     const char *consumer, uint64_t seen, int64_t ns) {
  if (atomic_load(&r->cancelled))
    return CV_ECANCELED;
  int64_t slice = r->cfg.lease_ns / 2;
  if (ns >= 0 && ns < slice)
    slice = ns;
  if (slice < CV_MSEC(1))
    slice = CV_MSEC(1);
  char from[KEY_MAX], to[KEY_MAX], secs[32];
  snprintf(from, sizeof(from), "%sr:%zu", r->prefix, j);
  snprintf(to, sizeof(to), "%sh:%zu:%s", r->prefix, j, consumer);
  snprintf(secs, sizeof(secs), "%.3f", (double)slice / 1e9);
  const char *argv[] = {"BLMOVE", from, to, "LEFT", "RIGHT", secs};
  atomic_store(&k->blocking, 1);
  if (atomic_load(&r->gen) != seen || atomic_load(&r->cancelled)) {
    atomic_store(&k->blocking, 0);
    return CV_OK;
  }
  redisReply *rep;
  int rc = cv__rconn_block(k, &rep, 6, argv, NULL, slice);
  if (rc == CV_OK)
    freeReplyObject(rep);
  return rc;
}

/* ---- transports ---------------------------------------------------------- */

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
  char consumer[NAME_MAX_];
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
    rc = eval_put(&t->k, r, t->j, t->consumer, bufs + done, blen + done,
                  nenc - done, pack, &t->pk, &got, &left);
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
    rc = wait_slot(r, &t->k, 0, t->consumer, seen, wait);
    if (rc == CV_ECANCELED)
      rc = CV_ESHUTDOWN;
  }
  pthread_mutex_unlock(&t->mu);
  for (size_t i = 0; i < nenc; i++)
    free(bufs[i]);
  free(bufs);
  free(blen);
  if (rc == CV_EIO)
    server_lost(r);
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
  if (!grow(&c->v, &c->cap, c->n, sizeof(*c->v), 64)) {
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

/* The data of an entry's fields: kind 'd' (one item) or 'b' (packed). */
static char entry_data(const redisReply *f, const char **d, size_t *len) {
  *d = "";
  *len = 0;
  for (size_t y = 0; f && f->type == REDIS_REPLY_ARRAY && y + 1 < f->elements;
       y += 2) {
    const char *name = f->element[y]->str;
    if (name && (name[0] == 'd' || name[0] == 'b') && name[1] == '\0') {
      *d = f->element[y + 1]->str;
      *len = f->element[y + 1]->len;
      return name[0];
    }
  }
  return 'd';
}

/* Decodes the entries of a reply, acknowledges them (their items leave
 * the run), hands out up to max items and keeps the rest.  An item that
 * cannot be decoded stops it: its entry and those after it stay pending,
 * not lost. */
static int take_out(rtrans *t, const redisReply *entries, void **items,
                    size_t max, size_t *nget) {
  cv__redis *r = t->r;
  decoded c = {.t = t, .rc = CV_OK};
  argbuf a = {0};
  ab_str(&a, r->prefix);
  ab_num(&a, t->j);
  ab_str(&a, t->consumer);
  ab_num(&a, 0); /* the entry count, below */
  size_t k = 0;
  for (size_t x = 0; x < entries->elements; x++) {
    const redisReply *e = entries->element[x];
    const char *d;
    size_t len, before = c.n;
    bool ok = entry_data(e->element[1], &d, &len) == 'b'
                  ? unpack_items(d, len, decode_one, &c)
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
    ab_str(&a, e->element[0]->str);
    ab_num(&a, c.n - before);
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
    ab_set_num(&a, 3, k);
    redisReply *rep = NULL;
    arc = ab_eval(&t->k, CV__LUA_ACKOUT, &a, &rep);
    freeReplyObject(rep);
  }
  ab_free(&a);
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
  fmt_u(cnt, sizeof(cnt), max);
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
    run_state st;
    rc = state_get(r, &st);
    if (rc != CV_OK)
      break;
    bool gone = !st.exists;
    bool cancelled = state_num(&st, "cancel", SIZE_MAX) != 0;
    bool drained = state_num(&st, "closed", t->j) == 1 &&
                   state_xlen(&st, t->j) == 0;
    state_free(&st);
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
    fmt_u(ms, sizeof(ms), (uint64_t)(slice / 1000000) + 1);
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
    server_lost(r);
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
    server_lost(r);
  return CV_OK;
}

static int rt_shutdown(cv__transport *tp) {
  rtrans *t = (rtrans *)tp;
  cancel_run(t->r);
  buf_drop(t);
  return CV_OK;
}

/* A process's published statistics of a stage: "ps:<stage>:<proc>" =
 * "busy starved blocked workers final".  Returns false for another field,
 * or another stage's. */
typedef struct proc_stats {
  const char *proc;
  int64_t t[3];
  unsigned workers;
  bool final;
} proc_stats;

static bool proc_stats_parse(const char *field, const char *value,
                             size_t stage, proc_stats *ps) {
  if (strncmp(field, "ps:", 3) != 0)
    return false;
  char *end;
  unsigned long long i = strtoull(field + 3, &end, 10);
  if (*end != ':' || (stage != SIZE_MAX && i != stage))
    return false;
  ps->proc = end + 1;
  long long v[5] = {0, 0, 0, 0, 0};
  const char *c = value;
  for (int k = 0; k < 5; k++) {
    v[k] = strtoll(c, &end, 10);
    c = end;
  }
  for (int k = 0; k < 3; k++)
    ps->t[k] = v[k];
  ps->workers = (unsigned)v[3];
  ps->final = v[4] == 1;
  return true;
}

/* Adds the other processes' published times and workers of stage j. */
static void sum_others(const cv__redis *r, const run_state *st, size_t j,
                       cv__transport_stats *out) {
  const redisReply *h = st->rep->element[1];
  for (size_t x = 0; x + 1 < h->elements; x += 2) {
    proc_stats ps;
    if (!proc_stats_parse(h->element[x]->str, h->element[x + 1]->str, j,
                          &ps) ||
        strcmp(ps.proc, r->proc) == 0)
      continue;
    out->busy_ns += ps.t[0];
    out->starved_ns += ps.t[1];
    out->blocked_ns += ps.t[2];
    out->workers += ps.workers;
  }
}

void cv__redis_wait_finals(cv__redis *r) {
  int64_t deadline = cv__now_ns() + r->cfg.lease_ns;
  for (;;) {
    uint64_t seen = atomic_load(&r->gen);
    if (atomic_load(&r->aborted) || atomic_load(&r->sh.stopping))
      return;
    run_state st;
    if (state_get(r, &st) != CV_OK)
      return;
    bool waiting = false;
    const redisReply *h = st.exists ? st.rep->element[1] : NULL;
    for (size_t x = 0; h && !waiting && x + 1 < h->elements; x += 2) {
      proc_stats ps;
      if (!proc_stats_parse(h->element[x]->str, h->element[x + 1]->str,
                            SIZE_MAX, &ps) ||
          ps.final || strcmp(ps.proc, r->proc) == 0)
        continue;
      /* Not final yet: wait for it only while it is alive. */
      char key[KEY_MAX];
      snprintf(key, sizeof(key), "%shb:%s", r->prefix, ps.proc);
      const char *argv[] = {"EXISTS", key};
      redisReply *rep = NULL;
      pthread_mutex_lock(&r->misc_mu);
      int rc = cv__rconn_cmd(&r->misc, &rep, 2, argv, NULL);
      pthread_mutex_unlock(&r->misc_mu);
      waiting = rc == CV_OK && rep->type == REDIS_REPLY_INTEGER &&
                rep->integer == 1;
      freeReplyObject(rep);
    }
    state_free(&st);
    int64_t left = deadline - cv__now_ns();
    if (!waiting || left <= 0)
      return;
    wait_gen(r, seen, left); /* a final beat publishes a wake-up */
  }
}

static int rt_stats(const cv__transport *tp, cv__transport_stats *out) {
  const rtrans *t = (const rtrans *)tp;
  cv__redis *r = t->r;
  memset(out, 0, sizeof(*out));
  out->remote = true;
  out->capacity = r->caps[t->j];
  run_state st;
  if (state_get(r, &st) != CV_OK || !st.exists) {
    if (st.rep)
      state_free(&st);
    return CV_OK; /* over, or unreachable: zeros */
  }
  size_t j = t->j;
  /* Items read from the output but not yet handed out count as queued,
   * not as got (the run counted them got when they were read): one reading
   * of the buffer goes into both, so puts = gets + discarded + size holds
   * whatever a get does meanwhile. */
  uint64_t held = atomic_load(&((rtrans *)t)->bn);
  uint64_t dropped = atomic_load(&((rtrans *)t)->bdropped);
  out->puts = (uint64_t)state_num(&st, "in", j);
  out->discarded = (uint64_t)state_num(&st, "disc", j) + dropped;
  out->size = (size_t)state_num(&st, "q", j) + (size_t)held;
  out->high_water = (size_t)state_num(&st, "hw", j);
  out->succeeded = (uint64_t)state_num(&st, "ok", j);
  out->failed = (uint64_t)state_num(&st, "fail", j);
  out->filtered = (uint64_t)state_num(&st, "filt", j);
  out->out = (uint64_t)state_num(&st, "out", j);
  out->taken = out->succeeded + out->failed;
  if (j < r->cfg.nstages)
    sum_others(r, &st, j, out);
  if (j == r->cfg.nstages) {
    uint64_t got = (uint64_t)state_num(&st, "got", SIZE_MAX);
    out->gets = got > held + dropped ? got - held - dropped : 0;
  } else {
    out->gets = out->taken;
  }
  state_free(&st);
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

/* ---- worker sessions ---------------------------------------------------- */

struct cv__redis_session {
  cv__redis *r;
  size_t i;
  char consumer[NAME_MAX_];
  char stream[RUN_MAX + 48];
  cv__rconn k;
  bool own;       /* read own pending entries first (after a reconnect) */
  bool seen_run;  /* the run existed once: its absence now means it ended */
  int64_t next_reclaim;
  redisReply *last; /* holds the data of the last take */
  /* The last take: its entries and their items (pointing into `last`). */
  cv__redis_entry *ents;
  size_t nents, ents_cap;
  cv__redis_item *items;
  size_t nitems, items_cap;
  double per_entry; /* items per entry lately, to size XREADGROUP COUNT */
  size_t want;      /* the last take's max: the stage's items per entry */
  size_t pk_out;    /* items per entry the next stage asks for */
};

int cv__redis_session_open(cv__redis *r, size_t stage, unsigned worker,
                           cv__redis_session **out, char *err,
                           size_t errlen) {
  cv__redis_session *s = calloc(1, sizeof(*s));
  if (!s)
    return CV_ENOMEM;
  s->r = r;
  s->i = stage;
  snprintf(s->consumer, sizeof(s->consumer), "%s.%zu.%u", r->proc, stage,
           worker);
  snprintf(s->stream, sizeof(s->stream), "%ss:%zu", r->prefix, stage);
  s->own = true; /* a restarted process never has any, but it is cheap */
  s->per_entry = 1;
  s->want = 1;
  s->pk_out = 1;
  int rc = cv__rconn_open(&s->k, &r->sh, true, err, errlen);
  if (rc != CV_OK) {
    free(s);
    return rc;
  }
  *out = s;
  return CV_OK;
}

void cv__redis_session_free(cv__redis_session *s) {
  if (!s)
    return;
  freeReplyObject(s->last);
  cv__rconn_close(&s->k);
  free(s->ents);
  free(s->items);
  free(s);
}

static bool add_item(void *arg, const char *d, size_t len) {
  cv__redis_session *s = arg;
  if (!grow(&s->items, &s->items_cap, s->nitems, sizeof(*s->items), 64))
    return false;
  s->items[s->nitems++] = (cv__redis_item){d, len};
  return true;
}

/* Adds an entry and its items (kind 'd' one, 'b' packed).  A malformed
 * packed entry keeps the items before the fault. */
static bool add_entry(cv__redis_session *s, const char *id, char kind,
                      const char *d, size_t len) {
  if (!grow(&s->ents, &s->ents_cap, s->nents, sizeof(*s->ents), 16))
    return false;
  size_t first = s->nitems;
  if (kind == 'b') {
    if (!unpack_items(d, len, add_item, s) && s->nitems == s->items_cap)
      return false; /* out of memory, not malformed */
  } else if (!add_item(s, d, len)) {
    return false;
  }
  s->ents[s->nents++] = (cv__redis_entry){id, first, s->nitems - first};
  return true;
}

/* Fills the take from a flat {id, kind, data...} list from `from`. */
static bool fill_flat(cv__redis_session *s, const redisReply *rep,
                      size_t from) {
  for (size_t x = from; x + 2 < rep->elements; x += 3)
    if (!add_entry(s, rep->element[x]->str, rep->element[x + 1]->str[0],
                   rep->element[x + 2]->str, rep->element[x + 2]->len))
      return false;
  return true;
}

/* Fills the take from an XREADGROUP reply. */
static bool fill_stream(cv__redis_session *s, const redisReply *rep) {
  const redisReply *list = rep->element[0]->element[1];
  for (size_t x = 0; x < list->elements; x++) {
    const redisReply *en = list->element[x];
    const char *d;
    size_t len;
    char kind = entry_data(en->element[1], &d, &len);
    if (!add_entry(s, en->element[0]->str, kind, d, len))
      return false;
  }
  return true;
}

/* Stream order of two entries ("ms-seq" ids, compared as numbers). */
static int id_cmp(const void *a, const void *b) {
  const char *x = ((const cv__redis_entry *)a)->id;
  const char *y = ((const cv__redis_entry *)b)->id;
  char *ex, *ey;
  unsigned long long mx = strtoull(x, &ex, 10), my = strtoull(y, &ey, 10);
  if (mx != my)
    return mx < my ? -1 : 1;
  unsigned long long sx = *ex == '-' ? strtoull(ex + 1, NULL, 10) : 0;
  unsigned long long sy = *ey == '-' ? strtoull(ey + 1, NULL, 10) : 0;
  return (sx > sy) - (sx < sy);
}

/* Keeps `rep` as the data of the take just filled, puts its entries in
 * stream order (the commit acknowledges them in that order, which lets
 * its script find the ones to delete by bisection) and learns the entry
 * size.  CV_OK, or CV_ENOMEM (the entries stay pending: not lost). */
static int took(cv__redis_session *s, redisReply *rep, bool filled,
                const cv__redis_entry **e, size_t *n,
                const cv__redis_item **items) {
  s->last = rep;
  if (!filled) {
    s->own = true; /* look at them again on the next take */
    return CV_ENOMEM;
  }
  qsort(s->ents, s->nents, sizeof(*s->ents), id_cmp);
  if (s->nents)
    s->per_entry = (3 * s->per_entry +
                    (double)s->nitems / (double)s->nents) / 4;
  *e = s->ents;
  *n = s->nents;
  *items = s->items;
  return CV_OK;
}

int cv__redis_take(cv__redis_session *s, size_t max,
                   const cv__redis_entry **e, size_t *n,
                   const cv__redis_item **items, int64_t timeout_ns) {
  cv__redis *r = s->r;
  *n = 0;
  *e = NULL;
  *items = NULL;
  freeReplyObject(s->last);
  s->last = NULL;
  s->nents = s->nitems = 0;
  if (max < 1)
    max = 1;
  s->want = max;
  /* Entries to ask for: about max items, at the entry size seen lately. */
  size_t count = (size_t)((double)max / s->per_entry + 0.5);
  if (count < 1)
    count = 1;
  if (count > max)
    count = max;
  char ib[24], kb[24], db[24];
  fmt_u(ib, sizeof(ib), s->i);
  fmt_u(kb, sizeof(kb), count);
  fmt_u(db, sizeof(db), r->cfg.max_deliveries);
  if (timeout_ns == CV_NOWAIT && s->seen_run && !s->own &&
      cv__now_ns() < s->next_reclaim) {
    /* The busy path: a plain read of new entries, no script.  Nothing
     * there, or no stream (cancelled, over): the script looks closer. */
    if (atomic_load(&r->cancelled))
      return CV_ECANCELED;
    const char *rd[] = {"XREADGROUP", "GROUP",   "g",       s->consumer, "COUNT",
                        kb,           "STREAMS", s->stream, ">"};
    redisReply *rep;
    s->k.reconnected = false;
    int rc = cv__rconn_cmd(&s->k, &rep, 9, rd, NULL);
    if (rc != CV_OK)
      return rc;
    s->own = s->k.reconnected;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0)
      return took(s, rep, fill_stream(s, rep), e, n, items);
    bool none = rep->type == REDIS_REPLY_NIL;
    freeReplyObject(rep);
    if (none && !s->own)
      return CV_EEMPTY;
  }
  for (;;) {
    if (atomic_load(&r->cancelled))
      return CV_ECANCELED;
    uint64_t seen = atomic_load(&r->gen);
    int64_t now = cv__now_ns();
    bool reclaim = now >= s->next_reclaim;
    if (reclaim)
      s->next_reclaim = now + r->cfg.lease_ns / 2;
    const char *argv[] = {r->prefix, ib,  s->consumer,       kb,
                          db,        reclaim ? "1" : "0", s->own ? "1" : "0"};
    redisReply *rep;
    s->k.reconnected = false;
    int rc = cv__rconn_eval(&s->k, CV__LUA_TAKE, &rep, 7, argv, NULL);
    if (rc != CV_OK)
      return rc;
    s->own = s->k.reconnected;
    char tag = rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
                       rep->element[0]->type == REDIS_REPLY_STRING
                   ? rep->element[0]->str[0]
                   : '?';
    if (tag == 'R')
      s->next_reclaim = 0; /* more of a dead process's entries: next take */
    if (tag == 'E' || tag == 'R') {
      s->seen_run = true;
      return took(s, rep, fill_flat(s, rep, 1), e, n, items);
    }
    long long drained = tag == 'N' && rep->elements > 1
                            ? rep->element[1]->integer
                            : 0;
    freeReplyObject(rep);
    if (tag == 'C')
      return CV_ECANCELED;
    if (tag == 'O')
      return CV_ECLOSED; /* the run just ended */
    if (tag == 'G') {
      if (s->seen_run)
        return CV_ECLOSED;
      if (timeout_ns == CV_NOWAIT)
        return CV_EEMPTY;
      /* The coordinator has not created the run yet: its INIT publishes. */
      wait_gen(r, seen, r->cfg.lease_ns / 2);
      continue;
    }
    s->seen_run = true;
    if (drained)
      return CV_ECLOSED;
    if (timeout_ns == CV_NOWAIT)
      return CV_EEMPTY;
    int64_t slice = r->cfg.lease_ns / 2;
    char ms[24];
    fmt_u(ms, sizeof(ms), (uint64_t)(slice / 1000000) + 1);
    const char *bl[] = {"XREADGROUP", "GROUP", "g", s->consumer, "COUNT", kb,
                        "BLOCK", ms, "STREAMS", s->stream, ">"};
    atomic_store(&s->k.blocking, 1);
    if (atomic_load(&r->gen) != seen || atomic_load(&r->cancelled)) {
      atomic_store(&s->k.blocking, 0);
      continue;
    }
    rc = cv__rconn_block(&s->k, &rep, 11, bl, NULL, slice);
    if (rc != CV_OK)
      return rc;
    if (s->k.reconnected)
      s->own = true;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0)
      return took(s, rep, fill_stream(s, rep), e, n, items);
    bool error = rep->type == REDIS_REPLY_ERROR;
    freeReplyObject(rep);
    if (error) /* the stream went away (cancel, end): look again soon */
      wait_gen(r, seen, CV_MSEC(100));
  }
}

/* Holds `need` slots of boundary j for the consumer. */
static int hold_slots(cv__redis_session *s, size_t j, size_t need,
                      int64_t timeout_ns) {
  cv__redis *r = s->r;
  char jb[24], kb[24];
  fmt_u(jb, sizeof(jb), j);
  fmt_u(kb, sizeof(kb), need);
  for (;;) {
    uint64_t seen = atomic_load(&r->gen);
    const char *argv[] = {r->prefix, jb, s->consumer, kb};
    redisReply *rep;
    int rc = cv__rconn_eval(&s->k, CV__LUA_TOKENS, &rep, 4, argv, NULL);
    if (rc != CV_OK)
      return rc;
    long long held = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -3;
    freeReplyObject(rep);
    if (held < 0)
      return CV_ECANCELED;
    if ((size_t)held >= need)
      return CV_OK;
    if (timeout_ns == CV_NOWAIT)
      return CV_EFULL;
    rc = wait_slot(r, &s->k, j, s->consumer, seen, -1);
    if (rc != CV_OK)
      return rc;
  }
}

/* One try of the commit script.  Entries already known lost go as such;
 * if the script finds more, they are marked and it runs again.  The
 * outputs of the committed entries are packed in their order. */
static int commit_once(cv__redis_session *s, cv__redis_fate *f, size_t n,
                       char *const *outs, const size_t *lens, size_t nouts,
                       size_t *lost) {
  cv__redis *r = s->r;
  size_t cap = r->caps[s->i + 1];
  const char **od = malloc((nouts ? nouts : 1) * sizeof(*od));
  size_t *ol = malloc((nouts ? nouts : 1) * sizeof(*ol));
  if (!od || !ol) {
    free(od);
    free(ol);
    return CV_ENOMEM;
  }
  int rc;
  for (;;) {
    argbuf a = {0};
    ab_str(&a, r->prefix);
    ab_num(&a, s->i);
    ab_str(&a, s->consumer);
    ab_num(&a, n);
    ab_num(&a, 0); /* the group count, below */
    ab_num(&a, s->want);
    size_t no = 0, off = 0;
    for (size_t x = 0; x < n; x++) {
      const cv__redis_fate *fx = &f[x];
      ab_str(&a, fx->id);
      ab_str(&a, fx->lost ? "x" : "c");
      ab_num(&a, fx->ok);
      ab_num(&a, fx->filtered);
      ab_num(&a, fx->failed);
      ab_num(&a, fx->put_before);
      ab_num(&a, fx->lost ? 0 : fx->nout);
      if (fx->failed && !fx->lost) {
        char *m = ab_own(&a, CV__ERR_MAX + 24);
        if (m) {
          int k = snprintf(m, CV__ERR_MAX + 24, "%d %s", fx->code,
                           fx->msg ? fx->msg : "");
          ab_add(&a, m, (size_t)k < CV__ERR_MAX + 24 ? (size_t)k
                                                     : CV__ERR_MAX + 23);
        }
      } else {
        ab_str(&a, "");
      }
      for (size_t y = 0; y < fx->nout; y++, off++)
        if (!fx->lost) {
          od[no] = outs[off];
          ol[no++] = lens[off];
        }
    }
    size_t pk = s->pk_out;
    if (cap && pk > cap)
      pk = cap;
    size_t ng = ab_groups(&a, od, ol, no, pk);
    ab_set_num(&a, 4, ng);
    redisReply *rep;
    rc = ab_eval(&s->k, CV__LUA_COMMIT, &a, &rep);
    ab_free(&a);
    if (rc != CV_OK)
      break;
    long long code = rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
                             rep->element[0]->type == REDIS_REPLY_INTEGER
                         ? rep->element[0]->integer
                         : -3;
    if (code == -5) {
      /* Taken over while we ran them: commit the rest without them. */
      for (size_t y = 1; y < rep->elements; y++)
        for (size_t x = 0; x < n; x++)
          if (!f[x].lost && strcmp(f[x].id, rep->element[y]->str) == 0)
            f[x].lost = true;
      freeReplyObject(rep);
      continue;
    }
    if (code >= 0 && rep->elements >= 3) {
      *lost += (size_t)rep->element[1]->integer;
      if (rep->element[2]->integer > 0)
        s->pk_out = (size_t)rep->element[2]->integer;
    }
    freeReplyObject(rep);
    rc = code == -4 ? CV_EFULL : code < 0 ? CV_ECANCELED : CV_OK;
    break;
  }
  free(od);
  free(ol);
  return rc;
}

/* Commits, waiting for slots downstream while there are too few. */
static int commit_wait(cv__redis_session *s, cv__redis_fate *f, size_t n,
                       char *const *outs, const size_t *lens, size_t nouts,
                       int64_t timeout_ns, size_t *lost) {
  for (;;) {
    uint64_t seen = atomic_load(&s->r->gen);
    int rc = commit_once(s, f, n, outs, lens, nouts, lost);
    if (rc != CV_EFULL || timeout_ns == CV_NOWAIT)
      return rc;
    rc = wait_slot(s->r, &s->k, s->i + 1, s->consumer, seen, -1);
    if (rc != CV_OK)
      return rc;
  }
}

/* Outputs of one entry that do not fit the next stage at all: put in
 * pieces (not atomic with the entry's acknowledgement: documented). */
static int put_pieces(cv__redis_session *s, char *const *outs,
                      const size_t *lens, size_t nouts) {
  cv__redis *r = s->r;
  size_t j = s->i + 1, cap = r->caps[j];
  for (size_t done = 0; done < nouts;) {
    size_t k = nouts - done < cap ? nouts - done : cap;
    int rc = hold_slots(s, j, k, CV_FOREVER);
    if (rc != CV_OK)
      return rc;
    long long got;
    size_t pack = s->pk_out < k ? s->pk_out : k, left;
    rc = eval_put(&s->k, r, j, s->consumer, outs + done, lens + done, k, pack,
                  &s->pk_out, &got, &left);
    if (rc != CV_OK)
      return rc;
    if (got < 0)
      return CV_ECANCELED;
    done += (size_t)got;
  }
  return CV_OK;
}

int cv__redis_commit(cv__redis_session *s, cv__redis_fate *f, size_t n,
                     char *const *outs, const size_t *lens, size_t nouts,
                     int64_t timeout_ns, size_t *lost) {
  cv__redis *r = s->r;
  size_t j = s->i + 1, cap = r->caps[j];
  if (atomic_load(&r->cancelled))
    return CV_ECANCELED;
  if (cap == 0 || nouts <= cap)
    return commit_wait(s, f, n, outs, lens, nouts, timeout_ns, lost);
  /* More outputs than the next stage can ever hold: entry by entry. */
  if (timeout_ns == CV_NOWAIT)
    return CV_EFULL;
  size_t off = 0;
  for (size_t x = 0; x < n; x++) {
    cv__redis_fate *one = &f[x];
    size_t nout = one->nout;
    int rc;
    if (nout > cap) {
      rc = put_pieces(s, outs + off, lens + off, nout);
      one->nout = 0;
      one->put_before = nout; /* counted as its outputs, not filtered */
      if (rc == CV_OK)
        rc = commit_wait(s, one, 1, NULL, NULL, 0, CV_FOREVER, lost);
      one->nout = nout;
      one->put_before = 0;
    } else {
      rc = commit_wait(s, one, 1, outs + off, lens + off, nout, CV_FOREVER,
                       lost);
    }
    off += nout;
    if (rc != CV_OK)
      return rc;
  }
  return CV_OK;
}
