/* src/pipeline_dist.c - a pipeline whose stages run in several processes
 * (include/conveyor/distributed.h): the options, the codecs, and the worker
 * loop that takes, runs and commits items through a Redis session.
 *
 * The pipeline itself (pipeline.c) is unchanged in shape: its transports
 * are Redis ones (transport_redis.c), its workers run dist_run instead
 * of the in-process loop, and the coordinator holds one extra reference on
 * the pipeline's "finished" count until the run's output has closed on the
 * server.  The worker loop differs from the in-process one in one way:
 * taking an item no longer settles it.  A worker takes a batch (each entry
 * stays in the stream, owned by this worker), decodes and runs each item
 * with the pipeline's own process step (so counting, error policies and
 * ownership are the same), collects the emits of each input, encodes them,
 * and commits the batch: outputs written and inputs acknowledged in one
 * fenced script.  A worker that dies between take and commit leaves its
 * entries to be taken over; one that was thought dead has its commit
 * refused, its outputs dropped.
 *
 * Emits go to a collector, a minimal transport whose put appends to the
 * worker's output list, so cv_emit and its buffer work unchanged.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conveyor/distributed.h"
#include "pipeline_internal.h"
#include "redis_run.h"
#include "redis_session.h"
#include "transport_redis.h"

typedef struct collector {
  cv__transport base;
  void **items;
  size_t n, cap;
} collector;

/* What became of one taken item, until its entry's fate is summed up. */
typedef struct item_fate {
  bool failed;
  int code;
  size_t nout; /* its outputs, in order, in the collector */
} item_fate;

typedef struct dist_worker {
  cv__redis_session *s;
  collector col;
  cv__dest dest;                   /* the worker's emits go here */
  cv__redis_fate *fates;           /* per taken entry */
  char (*msgs)[CV__MSG_MAX];       /* per entry: its first failure */
  size_t fates_cap;
  item_fate *items;                /* per taken item */
  size_t items_cap;
  char **bufs;
  size_t *lens, nbufs_cap;
} dist_worker;

typedef struct cv__dist {
  cv__broker_addr addr;
  char *run;
  bool coordinator;
  int64_t lease_ns, timeout_ns;
  unsigned max_deliveries;
  size_t max_item_bytes;
  cv_codec *codecs; /* nstages + 1 */
  size_t n;
  cv__redis *r;
  dist_worker **w; /* [stage][worker], NULL for stages not run here */
  unsigned *nw;    /* workers per stage in this process */
  pthread_t hold;
  bool hold_started;
  atomic_uint running; /* worker loops not yet ended in this process */
} cv__dist;

/* ---- the default codec: the pointer's value ---------------------------- */

static int ptr_encode(const void *item, void *arg, void **buf, size_t *len) {
  (void)arg;
  uint64_t v = (uint64_t)(uintptr_t)item;
  *buf = malloc(sizeof(v));
  if (!*buf)
    return CV_ENOMEM;
  memcpy(*buf, &v, sizeof(v));
  *len = sizeof(v);
  return CV_OK;
}

static int ptr_decode(const void *buf, size_t len, void *arg, void **item) {
  (void)arg;
  uint64_t v;
  if (len != sizeof(v))
    return CV_EINVAL;
  memcpy(&v, buf, sizeof(v));
  *item = (void *)(uintptr_t)v;
  return CV_OK;
}

/* ---- options ------------------------------------------------------------- */

static bool listed(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *s = list; *s;) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len == n && strncmp(s, name, n) == 0)
      return true;
    if (!e)
      break;
    s = e + 1;
  }
  return false;
}

/* Every name in the list is a stage's. */
static bool names_known(const cv_pipeline *p, const char *list) {
  for (const char *s = list; *s;) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    bool found = false;
    for (size_t i = 0; i < p->nstages && !found; i++)
      found = strlen(p->stages[i]->name) == len &&
              strncmp(p->stages[i]->name, s, len) == 0;
    if (!found)
      return false;
    if (!e)
      break;
    s = e + 1;
  }
  return true;
}

static void dist_release(cv__dist *d) {
  if (!d)
    return;
  free(d->run);
  free(d->codecs);
  free(d->w);
  free(d->nw);
  free(d);
}

static int dist_open(cv_pipeline *p);
static int dist_transport(cv_pipeline *p, size_t j, cv__transport **out);
static void dist_run(cv_stage_ctx *w);
static void dist_stop(cv_pipeline *p);
static void dist_free(cv_pipeline *p);
static void dist_free_run(cv_pipeline *p);

/* What pipeline.c calls (pipeline_internal.h). */
static const cv__dist_hooks hooks = {.open = dist_open,
                                     .transport = dist_transport,
                                     .run = dist_run,
                                     .stop = dist_stop,
                                     .free = dist_free};

int cv_pipeline_set_broker(cv_pipeline *p, const cv_broker_options *o) {
  if (!p || !o || !o->url || !o->run)
    return CV_EINVAL;
  pthread_mutex_lock(&p->mu);
  bool started = p->start_called;
  pthread_mutex_unlock(&p->mu);
  if (started || p->dist)
    return CV_ESTATE;
  if (p->nstages == 0 || (o->stages && !names_known(p, o->stages)) ||
      (o->codec.encode == NULL) != (o->codec.decode == NULL) ||
      o->lease_ns < 0 || o->timeout_ns < 0 ||
      (uint64_t)o->max_item_bytes > UINT32_MAX)
    return CV_EINVAL;
  /* Completion order across processes is arbitrary; and an automatic
   * stage's controller measures this process only, not the run. */
  for (size_t i = 0; i < p->nstages; i++)
    if (p->stages[i]->ordered || p->stages[i]->auto_workers)
      return CV_EINVAL;
  cv__dist *d = calloc(1, sizeof(*d));
  if (!d)
    return CV_ENOMEM;
  if (cv__broker_url_parse(o->url, &d->addr) != CV_OK) {
    dist_release(d);
    return CV_EINVAL;
  }
  size_t rl = strlen(o->run);
  bool run_ok = rl > 0 && rl <= 64;
  for (size_t i = 0; i < rl; i++) {
    char c = o->run[i];
    run_ok = run_ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                        c == '.');
  }
  d->n = p->nstages;
  d->run = malloc(rl + 1);
  d->codecs = calloc(d->n + 1, sizeof(cv_codec));
  d->w = calloc(d->n, sizeof(*d->w));
  d->nw = calloc(d->n, sizeof(*d->nw));
  if (!run_ok || !d->run || !d->codecs || !d->w || !d->nw) {
    dist_release(d);
    return run_ok ? CV_ENOMEM : CV_EINVAL;
  }
  memcpy(d->run, o->run, rl + 1);
  d->coordinator = o->coordinator;
  d->lease_ns = o->lease_ns ? o->lease_ns : CV_SEC(30);
  d->timeout_ns = o->timeout_ns ? o->timeout_ns : CV_SEC(10);
  d->max_deliveries = o->max_deliveries ? o->max_deliveries : 3;
  d->max_item_bytes = o->max_item_bytes ? o->max_item_bytes : 8u << 20;
  cv_codec dflt = o->codec.encode ? o->codec
                                  : (cv_codec){ptr_encode, ptr_decode, NULL};
  for (size_t j = 0; j <= d->n; j++)
    d->codecs[j] = dflt;
  /* Stages not run here get no workers. */
  for (size_t i = 0; i < p->nstages; i++) {
    cv__stage *st = p->stages[i];
    if (!o->stages || listed(o->stages, st->name))
      continue;
    for (unsigned k = 0; k < st->nworkers; k++) {
      free(st->workers[k].buf);
      st->workers[k].buf = NULL;
    }
    st->nworkers = 0;
    atomic_store(&st->live, 0);
  }
  for (size_t i = 0; i < p->nstages; i++)
    d->nw[i] = p->stages[i]->nworkers;
  if (!d->coordinator) {
    /* Only the coordinator feeds and reads the run. */
    p->source = NULL;
    p->sink = NULL;
  }
  p->dist = d;
  p->dist_hooks = &hooks;
  return CV_OK;
}

int cv_pipeline_set_codec(cv_pipeline *p, size_t boundary,
                          const cv_codec *codec) {
  if (!p || !codec || !codec->encode || !codec->decode)
    return CV_EINVAL;
  if (!p->dist)
    return CV_ESTATE;
  pthread_mutex_lock(&p->mu);
  bool started = p->start_called;
  pthread_mutex_unlock(&p->mu);
  if (started)
    return CV_ESTATE;
  if (boundary > p->dist->n)
    return CV_EINVAL;
  p->dist->codecs[boundary] = *codec;
  return CV_OK;
}

/* ---- callbacks from the run ---------------------------------------------- */

static const char *stage_name(cv_pipeline *p, size_t i) {
  return i < p->nstages ? p->stages[i]->name : "broker";
}

static void on_abort(void *arg, bool failed, int code, size_t stage,
                     const char *msg) {
  cv_pipeline *p = arg;
  p->core->abort(p, failed ? CV_EFAILED : CV_ECANCELED,
                     stage_name(p, stage), failed ? code : 0, msg);
}

static void local_times(void *arg, size_t i, int64_t t[3]) {
  cv_pipeline *p = arg;
  cv_stage_stats st;
  p->core->stage_local_stats(p, i, &st);
  t[0] = st.busy_ns;
  t[1] = st.starved_ns;
  t[2] = st.blocked_ns;
}

static bool first_error(void *arg, int *code, size_t *stage, char *msg,
                        size_t len) {
  cv_pipeline *p = arg;
  return p->core->failure(p, code, stage, msg, len);
}

/* The coordinator's reference: the pipeline is finished when the run's
 * output has closed (every stage drained), wherever its workers were. */
static void *hold_main(void *arg) {
  cv_pipeline *p = arg;
  cv__dist *d = p->dist;
  if (p->sink)
    p->core->sink_drain(p); /* until the output is closed and drained */
  cv__redis_wait_done(d->r);
  /* The summary is the whole run's: the other processes' last times. */
  cv__redis_wait_finals(d->r);
  int code;
  size_t stage;
  char msg[CV__MSG_MAX];
  if (cv__redis_first_error(d->r, &code, &stage, msg, sizeof(msg)))
    p->core->record_error(p, stage_name(p, stage), code, msg);
  p->core->release(p);
  return NULL;
}

/* ---- the collector ------------------------------------------------------- */

static int col_put_many(cv__transport *t, void *const *items, size_t n,
                        size_t *nput, int64_t timeout_ns) {
  (void)timeout_ns;
  collector *c = (collector *)t;
  *nput = 0;
  if (n == 0)
    return CV_OK;
  if (c->n + n > c->cap) {
    size_t cap = c->cap ? c->cap : 16;
    while (cap < c->n + n)
      cap *= 2;
    void **m = realloc(c->items, cap * sizeof(void *));
    if (!m)
      return CV_ENOMEM;
    c->items = m;
    c->cap = cap;
  }
  memcpy(c->items + c->n, items, n * sizeof(void *));
  c->n += n;
  *nput = n;
  return CV_OK;
}

static int col_put(cv__transport *t, void *item, int64_t timeout_ns) {
  size_t n;
  return col_put_many(t, &item, 1, &n, timeout_ns);
}

static const cv__transport_ops collector_ops = {
    .kind = "collector", .put = col_put, .put_many = col_put_many};

/* ---- open / free --------------------------------------------------------- */

static void worker_free(dist_worker *dw) {
  if (!dw)
    return;
  cv__redis_session_free(dw->s);
  free(dw->col.items);
  free(dw->fates);
  free(dw->msgs);
  free(dw->items);
  free(dw->bufs);
  free(dw->lens);
}

static int dist_open(cv_pipeline *p) {
  cv__dist *d = p->dist;
  size_t *caps = calloc(d->n + 1, sizeof(size_t));
  if (!caps)
    return CV_ENOMEM;
  for (size_t i = 0; i < d->n; i++)
    caps[i] = p->stages[i]->capacity;
  caps[d->n] = p->output_capacity;
  cv__redis_config cfg = {.addr = d->addr,
                          .run = d->run,
                          .coordinator = d->coordinator,
                          .nstages = d->n,
                          .caps = caps,
                          .lease_ns = d->lease_ns,
                          .timeout_ns = d->timeout_ns,
                          .max_deliveries = d->max_deliveries,
                          .max_item_bytes = d->max_item_bytes,
                          .on_abort = on_abort,
                          .nworkers = d->nw,
                          .local_times = local_times,
                          .first_error = first_error,
                          .cb_arg = p};
  char err[CV__MSG_MAX] = "";
  unsigned all = 0;
  for (size_t i = 0; i < d->n; i++)
    all += p->stages[i]->nworkers;
  atomic_store(&d->running, all);
  int rc = cv__redis_open(&d->r, &cfg, err, sizeof(err));
  free(caps);
  for (size_t i = 0; i < d->n && rc == CV_OK; i++) {
    cv__stage *st = p->stages[i];
    if (st->nworkers == 0)
      continue;
    d->w[i] = calloc(st->nworkers, sizeof(dist_worker));
    if (!d->w[i]) {
      rc = CV_ENOMEM;
      break;
    }
    for (unsigned k = 0; k < st->nworkers && rc == CV_OK; k++) {
      dist_worker *dw = &d->w[i][k];
      dw->col.base.ops = &collector_ops;
      dw->dest.t = &dw->col.base;
      dw->dest.destroy = st->out ? st->out->destroy : NULL;
      atomic_init(&dw->dest.entry_dropped, 0);
      rc = cv__redis_session_open(d->r, i, k, &dw->s, err, sizeof(err));
    }
  }
  if (rc != CV_OK) {
    p->core->record_error(p, "broker", rc,
                              err[0] ? err : cv_strerror(rc));
    dist_free_run(p);
  }
  return rc;
}

static int dist_transport(cv_pipeline *p, size_t j, cv__transport **out) {
  cv__dist *d = p->dist;
  cv__dest *dest = j < d->n ? &p->stages[j]->in : &p->output;
  int rc = cv__redis_transport(d->r, j, &d->codecs[j], dest->destroy,
                               dest->destroy_arg, out);
  if (rc == CV_OK && j == d->n && d->coordinator) {
    /* The last transport: from here on a failed start cancels the run,
     * which ends the hold thread. */
    p->core->hold(p);
    if (pthread_create(&d->hold, NULL, hold_main, p) == 0) {
      d->hold_started = true;
    } else {
      p->core->release(p);
      rc = CV_ESYS;
    }
  }
  return rc;
}

static void dist_free_run(cv_pipeline *p) {
  cv__dist *d = p->dist;
  if (d->w)
    for (size_t i = 0; i < d->n; i++) {
      if (!d->w[i])
        continue;
      for (unsigned k = 0; k < d->nw[i]; k++)
        worker_free(&d->w[i][k]);
      free(d->w[i]);
      d->w[i] = NULL;
    }
  if (d->r) {
    cv__redis_free(d->r);
    d->r = NULL;
  }
}

static void dist_stop(cv_pipeline *p) {
  cv__dist *d = p->dist;
  if (d->hold_started) {
    pthread_join(d->hold, NULL);
    d->hold_started = false;
  }
  cv__redis_stop(d->r);
}

static void dist_free(cv_pipeline *p) {
  cv__dist *d = p->dist;
  dist_stop(p);
  dist_free_run(p);
  dist_release(d);
  p->dist = NULL;
  p->dist_hooks = NULL;
}

/* ---- the worker loop ----------------------------------------------------- */

static void fail_run(cv_stage_ctx *w, int rc) {
  cv__dist *d = w->p->dist;
  char msg[CV__MSG_MAX];
  if (rc == CV_EIO) {
    cv__redis_error(d->r, msg, sizeof(msg));
    w->p->core->abort(w->p, CV_EFAILED, "broker", CV_EIO, msg);
  }
  if (rc == CV_ENOMEM) /* the worker stops: its items must not hang */
    w->p->core->abort(w->p, CV_EFAILED, "broker", CV_ENOMEM,
                       "out of memory taking or committing items");
}

/* Room for a take of ne entries and ni items. */
static int worker_room(dist_worker *dw, size_t ne, size_t ni) {
  if (ne > dw->fates_cap) {
    size_t cap = ne * 2;
    cv__redis_fate *f = realloc(dw->fates, cap * sizeof(*f));
    if (f)
      dw->fates = f;
    char(*m)[CV__MSG_MAX] = realloc(dw->msgs, cap * sizeof(*m));
    if (m)
      dw->msgs = m;
    if (!f || !m)
      return CV_ENOMEM;
    dw->fates_cap = cap;
  }
  if (ni > dw->items_cap) {
    size_t cap = ni * 2;
    item_fate *it = realloc(dw->items, cap * sizeof(*it));
    if (!it)
      return CV_ENOMEM;
    dw->items = it;
    dw->items_cap = cap;
  }
  return CV_OK;
}

/* Records an item's failure in its entry's fate (the first one's code and
 * message stand for the entry). */
static void entry_failed(dist_worker *dw, size_t x, int code,
                         const char *msg) {
  cv__redis_fate *f = &dw->fates[x];
  if (f->msg)
    return;
  f->code = code;
  snprintf(dw->msgs[x], sizeof(dw->msgs[x]), "%s", msg);
  f->msg = dw->msgs[x];
}

/* Encodes the outputs of each item into bufs; an output that cannot be
 * encoded fails its item (and its other outputs are dropped).  Every
 * output item is destroyed here: from now on it lives on the server as
 * bytes.  Then sums up each entry's fate. */
static int encode_outputs(cv_stage_ctx *w, dist_worker *dw,
                          const cv__redis_entry *e, size_t ne,
                          size_t *nbufs) {
  cv__dist *d = w->p->dist;
  cv__stage *st = w->st;
  const cv_codec *codec = &d->codecs[st->index + 1];
  cv__dest *out = st->out;
  if (dw->col.n > dw->nbufs_cap) {
    size_t cap = dw->col.n * 2;
    char **b = realloc(dw->bufs, cap * sizeof(*b));
    if (b)
      dw->bufs = b;
    size_t *l = realloc(dw->lens, cap * sizeof(*l));
    if (l)
      dw->lens = l;
    if (!b || !l)
      return CV_ENOMEM;
    dw->nbufs_cap = cap;
  }
  size_t o = 0, nb = 0;
  for (size_t x = 0; x < ne; x++) {
    cv__redis_fate *f = &dw->fates[x];
    for (size_t k = e[x].first; k < e[x].first + e[x].n; k++) {
      item_fate *it = &dw->items[k];
      size_t first = nb;
      char msg[CV__MSG_MAX] = "";
      for (size_t y = 0; y < it->nout; y++, o++) {
        void *item = dw->col.items[o];
        void *buf = NULL;
        size_t len = 0;
        int rc = codec->encode(item, codec->arg, &buf, &len);
        if (rc == CV_OK && len > d->max_item_bytes) {
          snprintf(msg, sizeof(msg),
                   "an output of %zu bytes is over max_item_bytes (%zu)", len,
                   d->max_item_bytes);
          free(buf);
          buf = NULL;
          rc = CV_EINVAL;
        } else if (rc != CV_OK) {
          snprintf(msg, sizeof(msg), "cannot encode an output: %s",
                   cv_strerror(rc));
        }
        if (out->destroy)
          out->destroy(item, out->destroy_arg);
        if (rc != CV_OK && !it->failed) {
          /* Counted as failed, not succeeded, in the run's counters. */
          it->failed = true;
          it->code = rc;
          entry_failed(dw, x, rc, msg);
        }
        if (buf) {
          dw->bufs[nb] = buf;
          dw->lens[nb++] = len;
        }
      }
      if (it->failed && nb - first != it->nout) {
        /* Drop what was encoded of the item's outputs. */
        for (size_t y = first; y < nb; y++)
          free(dw->bufs[y]);
        nb = first;
        it->nout = 0;
      }
      if (it->failed)
        f->failed++;
      else if (it->nout == 0)
        f->ok++, f->filtered++;
      else
        f->ok++;
      f->nout += it->nout;
    }
  }
  *nbufs = nb;
  return CV_OK;
}

static void dist_loop(cv_stage_ctx *w);

static void dist_run(cv_stage_ctx *w) {
  dist_loop(w);
  cv__dist *d = w->p->dist;
  /* The last worker of the process: its numbers are final. */
  if (atomic_fetch_sub(&d->running, 1) == 1)
    cv__redis_publish_final(d->r);
}

static void dist_loop(cv_stage_ctx *w) {
  cv_pipeline *p = w->p;
  cv__stage *st = w->st;
  cv__dist *d = p->dist;
  dist_worker *dw = &d->w[st->index][w->index];
  const cv_codec *in_codec = &d->codecs[st->index];
  w->dest = &dw->dest;
  while (!cv_stage_cancelled(w)) {
    size_t limit = st->batch_auto ? w->auto_take : st->batch;
    const cv__redis_entry *e;
    const cv__redis_item *items;
    size_t ne = 0;
    int rc = cv__redis_take(dw->s, limit, &e, &ne, &items, CV_NOWAIT);
    if (rc == CV_EEMPTY) {
      int64_t t0 = w->p->core->stage_wait_begin(w, false);
      rc = cv__redis_take(dw->s, limit, &e, &ne, &items, CV_FOREVER);
      w->p->core->stage_wait_end(w, false, t0);
    }
    size_t n = 0; /* items */
    for (size_t x = 0; x < ne; x++)
      n = e[x].first + e[x].n > n ? e[x].first + e[x].n : n;
    if (rc == CV_OK)
      rc = worker_room(dw, ne, n);
    if (rc != CV_OK) {
      fail_run(w, rc);
      break; /* drained, run over, cancelled, or the server is gone */
    }
    int64_t t0 = st->batch_auto ? cv__now_ns() : 0;
    CV__BUMP(w->c.taken, n);
    dw->col.n = 0;
    size_t done = 0;
    for (size_t x = 0; x < ne; x++) {
      dw->fates[x] = (cv__redis_fate){.id = e[x].id};
      for (size_t k = e[x].first; k < e[x].first + e[x].n; k++) {
        if (cv_stage_cancelled(w))
          break;
        item_fate *it = &dw->items[k];
        *it = (item_fate){0};
        size_t before = dw->col.n;
        void *item = NULL;
        int frc = in_codec->decode(items[k].data, items[k].len,
                                   in_codec->arg, &item);
        if (frc != CV_OK) {
          w->has_msg = true;
          snprintf(w->msg, sizeof(w->msg), "cannot decode the item: %s",
                   cv_strerror(frc));
          w->p->core->stage_report_failure(w, frc, NULL);
        } else {
          frc = w->p->core->stage_process(w, item);
          size_t nput;
          col_put_many(&dw->col.base, w->buf, w->nbuf, &nput, CV_NOWAIT);
          w->nbuf = 0;
        }
        it->nout = dw->col.n - before;
        if (frc != CV_OK) {
          it->failed = true;
          it->code = frc;
          entry_failed(dw, x, frc, w->has_msg ? w->msg : cv_strerror(frc));
        }
        done++;
      }
    }
    if (cv_stage_cancelled(w)) {
      /* The run is cancelled: what this worker holds is counted where
       * the coordinator counts the run's leftovers. */
      CV__BUMP(w->c.cancelled, n - done);
      for (size_t y = 0; y < dw->col.n; y++)
        if (st->out->destroy)
          st->out->destroy(dw->col.items[y], st->out->destroy_arg);
      break;
    }
    /* Auto batching sizes takes by the function's cost alone: a commit's
     * round trip is paid once per take, whatever its size. */
    if (st->batch_auto && n > 0)
      w->p->core->stage_auto_adjust(w, n, cv__now_ns() - t0);
    size_t nb = 0, lost = 0;
    rc = encode_outputs(w, dw, e, ne, &nb);
    if (rc == CV_OK) {
      rc = cv__redis_commit(dw->s, dw->fates, ne, dw->bufs, dw->lens, nb,
                            CV_NOWAIT, &lost);
      if (rc == CV_EFULL) {
        int64_t tb = w->p->core->stage_wait_begin(w, true);
        rc = cv__redis_commit(dw->s, dw->fates, ne, dw->bufs, dw->lens, nb,
                              CV_FOREVER, &lost);
        w->p->core->stage_wait_end(w, true, tb);
      }
    }
    for (size_t y = 0; y < nb; y++)
      free(dw->bufs[y]);
    if (rc != CV_OK) {
      fail_run(w, rc);
      break;
    }
  }
}
