/* src/redis_run.c - a process's membership in a distributed run on Redis
 * Streams: joining and leaving it, its heartbeat and control threads,
 * cancellation, the run's state and first error, and the whole run's
 * statistics.  The transports of the run's boundaries (transport_redis.c)
 * and its workers' sessions (redis_session.c) are built on what this file
 * keeps (redis_run.h); it knows nothing of them.
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
#include "redis_args.h"
#include "redis_run.h"

#define OUT_PACK "64" /* items per entry of the output stream */

/* ---- waking waiters, aborting ------------------------------------------ */

static void bump(cv__redis *r) {
  pthread_mutex_lock(&r->sh.mu);
  atomic_fetch_add(&r->gen, 1);
  pthread_cond_broadcast(&r->sh.cond);
  pthread_mutex_unlock(&r->sh.mu);
}

void cv__redis_wait_gen(cv__redis *r, uint64_t seen, int64_t ns) {
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

void cv__redis_server_lost(cv__redis *r) {
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

/* ---- run state ----------------------------------------------------------- */

int cv__rstate_get(cv__redis *r, cv__rstate *st) {
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

const char *cv__rstate_str(const cv__rstate *st, const char *name) {
  if (!st->exists)
    return NULL;
  const redisReply *h = st->rep->element[1];
  for (size_t i = 0; i + 1 < h->elements; i += 2)
    if (strcmp(h->element[i]->str, name) == 0)
      return h->element[i + 1]->str;
  return NULL;
}

int64_t cv__rstate_num(const cv__rstate *st, const char *name, size_t j) {
  char key[48];
  if (j == SIZE_MAX)
    snprintf(key, sizeof(key), "%s", name);
  else
    snprintf(key, sizeof(key), "%s:%zu", name, j);
  const char *v = cv__rstate_str(st, key);
  return v ? strtoll(v, NULL, 10) : 0;
}

uint64_t cv__rstate_xlen(const cv__rstate *st, size_t j) {
  if (!st->exists || j >= st->rep->element[2]->elements)
    return 0;
  return (uint64_t)st->rep->element[2]->element[j]->integer;
}

void cv__rstate_free(cv__rstate *st) { freeReplyObject(st->rep); }

bool cv__redis_first_error(cv__redis *r, int *code, size_t *stage, char *msg,
                           size_t len) {
  cv__rstate st;
  if (cv__rstate_get(r, &st) != CV_OK)
    return false;
  const char *c = cv__rstate_str(&st, "err_code");
  bool have = c != NULL;
  if (have) {
    *code = (int)strtol(c, NULL, 10);
    const char *s = cv__rstate_str(&st, "err_stage");
    *stage = s ? (size_t)strtoull(s, NULL, 10) : SIZE_MAX;
    const char *m = cv__rstate_str(&st, "err_msg");
    snprintf(msg, len, "%s", m ? m : "");
  }
  cv__rstate_free(&st);
  return have;
}

void cv__redis_wait_done(cv__redis *r) {
  for (;;) {
    uint64_t seen = atomic_load(&r->gen);
    if (atomic_load(&r->aborted) || atomic_load(&r->sh.stopping))
      return;
    cv__rstate st;
    if (cv__rstate_get(r, &st) != CV_OK) {
      cv__redis_server_lost(r);
      return;
    }
    bool done = !st.exists || cv__rstate_num(&st, "cancel", SIZE_MAX) != 0 ||
                cv__rstate_num(&st, "closed", r->cfg.nstages) == 1;
    cv__rstate_free(&st);
    if (done)
      return;
    cv__redis_wait_gen(r, seen, r->cfg.lease_ns / 2);
  }
}

/* ---- heartbeat and control threads ------------------------------------- */

/* Refreshes the heartbeat and publishes this process's per-stage times
 * (final: its workers are done; from then on every beat says so). */
static int beat(cv__redis *r, bool final) {
  pthread_mutex_lock(&r->beat_mu);
  if (final)
    r->final_sent = true;
  cv__rargs a = {0};
  cv__rargs_str(&a, r->prefix);
  cv__rargs_str(&a, r->proc);
  cv__rargs_num(&a, (uint64_t)(r->cfg.lease_ns / 1000000));
  cv__rargs_str(&a, r->final_sent ? "1" : "0");
  for (size_t i = 0; r->cfg.local_times && i < r->cfg.nstages; i++) {
    if (r->nworkers[i] == 0)
      continue;
    int64_t t[3] = {0, 0, 0};
    r->cfg.local_times(r->cfg.cb_arg, i, t);
    cv__rargs_num(&a, i);
    for (int k = 0; k < 3; k++)
      cv__rargs_num(&a, (uint64_t)(t[k] > 0 ? t[k] : 0));
    cv__rargs_num(&a, r->nworkers[i]);
  }
  redisReply *rep = NULL;
  int rc = cv__rargs_eval(&r->hb, CV__LUA_BEAT, &a, &rep);
  freeReplyObject(rep);
  cv__rargs_free(&a);
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
      cv__redis_server_lost(r);
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
  cv__rstate st;
  redisReply *rep = NULL;
  const char *argv[] = {r->prefix};
  if (cv__rconn_eval(&r->ctl, CV__LUA_STATE, &rep, 1, argv, NULL) == CV_OK) {
    st.rep = rep;
    st.exists = rep->type == REDIS_REPLY_ARRAY && rep->elements == 3;
    failed = cv__rstate_num(&st, "cancel", SIZE_MAX) == 2;
    const char *c = cv__rstate_str(&st, "err_code");
    if (failed && c) {
      code = (int)strtol(c, NULL, 10);
      stage = (size_t)cv__rstate_num(&st, "err_stage", SIZE_MAX);
      const char *m = cv__rstate_str(&st, "err_msg");
      snprintf(msg, sizeof(msg), "%s", m ? m : "");
    }
    cv__rstate_free(&st);
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
        cv__redis_server_lost(r);
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
  if (n == 0 || n > CV__RUN_MAX)
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
  argv[1] = cv__rfmt_u(nums[n + 1], sizeof(nums[0]), n);
  for (size_t j = 0; j <= n; j++)
    argv[2 + j] = cv__rfmt_u(nums[j], sizeof(nums[0]), r->caps[j]);
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
    const char *cargv[] = {
        r->prefix,
        cv__rfmt_u(ms, sizeof(ms), (uint64_t)(r->cfg.lease_ns / 1000000) + 1)};
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

void cv__redis_cancel(cv__redis *r) {
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

/* ---- room in a boundary: waiting for a slot, putting ------------------- */

int cv__redis_wait_slot(cv__redis *r, cv__rconn *k, size_t j,
                        const char *consumer, uint64_t seen, int64_t ns) {
  if (atomic_load(&r->cancelled))
    return CV_ECANCELED;
  int64_t slice = r->cfg.lease_ns / 2;
  if (ns >= 0 && ns < slice)
    slice = ns;
  if (slice < CV_MSEC(1))
    slice = CV_MSEC(1);
  char from[CV__KEY_MAX], to[CV__KEY_MAX], secs[32];
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

int cv__redis_eval_put(cv__rconn *conn, const cv__redis *r, size_t j,
                       const char *consumer, char *const *data,
                       const size_t *lens, size_t k, size_t pack, size_t *wish,
                       long long *got, size_t *left) {
  cv__rargs a = {0};
  cv__rargs_str(&a, r->prefix);
  cv__rargs_num(&a, j);
  cv__rargs_str(&a, consumer);
  cv__rargs_num(&a, k);
  cv__rargs_num(&a, 0); /* the group count, below */
  size_t ng = cv__rargs_groups(&a, (const char *const *)data, lens, k, pack);
  cv__rargs_set_num(&a, 4, ng);
  redisReply *rep;
  int rc = cv__rargs_eval(conn, CV__LUA_PUT, &a, &rep);
  cv__rargs_free(&a);
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

/* ---- whole-run statistics ---------------------------------------------- */

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

void cv__redis_sum_others(const cv__redis *r, const cv__rstate *st, size_t j,
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
    cv__rstate st;
    if (cv__rstate_get(r, &st) != CV_OK)
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
      char key[CV__KEY_MAX];
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
    cv__rstate_free(&st);
    int64_t left = deadline - cv__now_ns();
    if (!waiting || left <= 0)
      return;
    cv__redis_wait_gen(r, seen, left); /* a final beat publishes a wake-up */
  }
}
