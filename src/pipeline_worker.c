/* src/pipeline_worker.c - what a pipeline's threads run: the workers'
 * take -> function -> hand on loop (unordered and ordered), emitting, the
 * sink on the last stage's workers, the source thread, and the error and
 * cancellation paths they share with pipeline.c (see the design notes
 * there for the pipeline's shape, cancellation and lock order).
 *
 * DESIGN
 *
 * The hot path allocates nothing.  A worker takes up to `batch` items with
 * one get_many, runs the function on each, collects emits in a buffer of
 * `batch` slots and hands them on with one put_many (earlier if the buffer
 * fills).  With CV_BATCH_AUTO the take size follows the measured cost per
 * item (two clock reads per take): a take holds about
 * CV_BATCH_AUTO_TARGET_NS of work, so no-op stages move blocks of up to
 * CV_BATCH_AUTO_MAX items while slow stages take one item at a time and
 * leave no worker idle behind a colleague's private backlog.  Counters are per worker, single-writer atomics updated with a
 * relaxed load+store (no locked instruction, no shared cache line); readers
 * sum them.  Each queue call is first tried without waiting; only when it
 * must wait is the clock read, before and after, to count starved (waiting
 * for input) or blocked (waiting for room downstream, or for the reorder
 * window) time.  Busy time is the worker's lifetime minus its waits, so an
 * unblocked worker reads no clock at all.
 *
 * Ownership.  A function's input is destroyed after the call unless the
 * function emitted that very pointer (emitted_input).  cv_emit always takes
 * the item: an item that cannot be handed on because the pipeline was
 * cancelled is destroyed at once and counted in the destination's
 * entry_dropped.  Queues discard items through the same destroy callback.
 *
 * Close propagation.  Every stage counts its live workers.  A worker leaves
 * when its input reports closed-and-drained (or shut down); the one that
 * brings the count to zero closes the stage's output.  The source thread
 * closes stage 0 when its function returns.  No sentinels.
 *
 * Ordered stages.  Items are numbered as they are taken: take_mu makes
 * "get from the queue + take numbers" atomic among the stage's workers.  A
 * worker may take number s only if s < base + window, where base is the
 * oldest number whose outputs have not been released: otherwise it waits on
 * ord_cond (it runs too far ahead).  Its emits go to slot s % window.  When
 * its function returns it marks the slot done; if s == base and nobody is
 * releasing, it becomes the releaser: it hands slot base on, advances base,
 * and goes on while the next slot is done too.  Only the releaser touches a
 * done slot; a slot is reused (s + window) only after base passed it.  So
 * at most `window` inputs are between take and release.  Every number taken
 * is completed, even when its item is dropped by cancellation, so the
 * window never stalls.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autotune.h"
#include "pipeline_worker.h"

#define SINK_BATCH 16

/* ---- small helpers ---------------------------------------------------- */

static void wake_monitor(cv_pipeline *p) {
  char c = 'w';
  if (write(p->wake_fd[1], &c, 1) < 0) {
    /* Pipe full: a wake-up is already pending. */
  }
}

/* Destroys an item that could not enter `d` and counts it. */
static void drop_at_entry(cv__dest *d, void *item) {
  atomic_fetch_add_explicit(&d->entry_dropped, 1, memory_order_relaxed);
  if (d->destroy)
    d->destroy(item, d->destroy_arg);
}

static void destroy_input(const cv__stage *st, void *item) {
  if (st->in.destroy)
    st->in.destroy(item, st->in.destroy_arg);
}


/* ---- errors and cancellation ------------------------------------------ */

/* Records the first error; p->mu is held. */
void cv__record_error_locked(cv_pipeline *p, const char *stage, int code,
                             const char *msg) {
  if (p->err_code != 0)
    return;
  p->err_code = code;
  p->err_stage = stage;
  snprintf(p->err_msg, sizeof(p->err_msg), "%s", msg);
}

void cv__shutdown_all(cv_pipeline *p) {
  for (size_t i = 0; i < p->nstages; i++) {
    cv__transport *t = p->stages[i]->in.t;
    t->ops->shutdown(t);
  }
  p->output.t->ops->shutdown(p->output.t);
  for (size_t i = 0; i < p->nstages; i++) {
    cv__stage *st = p->stages[i];
    if (!st->ordered)
      continue;
    pthread_mutex_lock(&st->ord_mu);
    pthread_cond_broadcast(&st->ord_cond);
    pthread_mutex_unlock(&st->ord_mu);
  }
}

void cv__cancel(cv_pipeline *p) {
  pthread_mutex_lock(&p->mu);
  if (cv__is_cancelled(p) || p->finished) {
    pthread_mutex_unlock(&p->mu);
    return;
  }
  atomic_store_explicit(&p->cancelled, true, memory_order_release);
  if (p->status == CV_OK)
    p->status = CV_ECANCELED;
  bool have = p->have_transports;
  pthread_mutex_unlock(&p->mu);
  if (have)
    cv__shutdown_all(p);
}

/* One item failed (or the source or sink did): count is done by the caller;
 * this records, reports and applies the policy. */
void cv__report_failure(cv_pipeline *p, const char *stage, size_t index,
                        int code, const cv_stage_ctx *ctx, void *item) {
  const char *msg = ctx && ctx->has_msg ? ctx->msg : cv_strerror(code);
  bool fail_fast = p->policy == CV_ON_ERROR_FAIL_FAST;
  pthread_mutex_lock(&p->mu);
  cv__record_error_locked(p, stage, code, msg);
  if (fail_fast && p->status == CV_OK)
    p->status = CV_EFAILED;
  pthread_mutex_unlock(&p->mu);
  if (p->error_cb) {
    cv_item_error e = {.code = code,
                       .stage = stage,
                       .stage_index = index,
                       .message = msg,
                       .item = item};
    p->error_cb(&e, p->error_arg);
  }
  if (fail_fast)
    cv__cancel(p);
}

/* A thread (or start's own reference) is done. */
void cv__thread_exit_ref(cv_pipeline *p) {
  pthread_mutex_lock(&p->mu);
  bool last = --p->threads_running == 0;
  if (last) {
    p->finished = true;
    p->end_ns = cv__now_ns();
    pthread_cond_broadcast(&p->cond);
  }
  pthread_mutex_unlock(&p->mu);
  if (last)
    wake_monitor(p);
}


/* ---- emitting --------------------------------------------------------- */

/* Wait bookkeeping.  The clock is read only around a call that actually
 * has to wait (a try without waiting comes first), so a worker whose queues
 * never block it reads no clock at all; its busy time is its lifetime minus
 * its waits (pipeline_stats.c).  wait_since/wait_kind let a live reader
 * count a wait still in progress. */
int64_t cv__wait_begin(cv_stage_ctx *w, int kind) {
  int64_t t = cv__now_ns();
  atomic_store_explicit(&w->c.wait_kind, kind, memory_order_relaxed);
  atomic_store_explicit(&w->c.wait_since, t, memory_order_release);
  return t;
}

void cv__wait_end(cv_stage_ctx *w, int kind, int64_t t0) {
  int64_t d = cv__now_ns() - t0;
  atomic_store_explicit(&w->c.wait_since, 0, memory_order_relaxed);
  if (kind == CV__WAIT_STARVED)
    CV__BUMP(w->c.starved_ns, d);
  else
    CV__BUMP(w->c.blocked_ns, d);
}

static int put_n(cv__transport *t, void **items, size_t n, size_t *nput,
                 int64_t timeout_ns) {
  if (t->queue) {
    if (n > 1)
      return cv_queue_put_many(t->queue, items, n, nput, timeout_ns);
    int rc = cv_queue_put(t->queue, items[0], timeout_ns);
    *nput = rc == CV_OK;
    return rc;
  }
  if (n == 1) {
    int rc = t->ops->put(t, items[0], timeout_ns);
    *nput = rc == CV_OK;
    return rc;
  }
  return t->ops->put_many(t, items, n, nput, timeout_ns);
}

static int get_n(cv__transport *t, void **items, size_t max, size_t *n,
                 int64_t timeout_ns) {
  if (t->queue) {
    if (max > 1)
      return cv_queue_get_many(t->queue, items, max, n, timeout_ns);
    int rc = cv_queue_get(t->queue, items, timeout_ns);
    *n = rc == CV_OK;
    return rc;
  }
  if (max == 1) {
    int rc = t->ops->get(t, items, timeout_ns);
    *n = rc == CV_OK;
    return rc;
  }
  return t->ops->get_many(t, items, max, n, timeout_ns);
}

/* The last stage hands its output straight to the sink, on its own worker
 * threads: no hop through the output queue, no thread of the sink's own.
 * Unless the user allows concurrent calls, sink_mu keeps the calls one at a
 * time.  A worker of an unordered stage that finds another in the sink
 * keeps up to CV__SINK_BACKLOG items for its next turn instead of waiting (a
 * cheap sink would otherwise convoy its callers); it hands them over before
 * it sleeps for input or leaves (sink_flush).  Waiting for sink_mu counts
 * as blocked: the worker waits to hand on.  A worker of a cheap stage also
 * keeps its outputs until it has sink_hold of them, so that one turn at
 * sink_mu serves many items: sink_hold is as many as the stage makes in
 * CV_BATCH_AUTO_TARGET_NS (measured, see note_cost), 1 until measured, so
 * an output never waits longer than that in a busy worker's hands. */
static void sink_add(cv_pipeline *p, _Atomic uint64_t *c, uint64_t n) {
  if (n == 0)
    return;
  if (p->sink_concurrent) /* several writers */
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
  else /* one writer at a time, ordered by sink_mu */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Calls the sink on n items (or drops them once cancelled). */
static int sink_call(cv_pipeline *p, void **items, size_t n) {
  sink_add(p, &p->sink_taken, n);
  uint64_t ok = 0;
  size_t i = 0;
  for (; i < n && !cv__is_cancelled(p); i++) {
    int rc = p->sink(items[i], p->sink_arg);
    if (rc == CV_OK) {
      ok++;
    } else {
      sink_add(p, &p->sink_failed, 1);
      if (!cv__is_cancelled(p))
        cv__report_failure(p, "sink", p->nstages, rc, NULL, NULL);
    }
  }
  sink_add(p, &p->sink_ok, ok);
  for (size_t j = i; j < n; j++) {
    if (p->output.destroy)
      p->output.destroy(items[j], p->output.destroy_arg);
  }
  sink_add(p, &p->sink_dropped, n - i);
  return i == n ? CV_OK : CV_ECANCELED;
}

static int sink_deliver(cv_stage_ctx *w, void **items, size_t n, bool force) {
  cv_pipeline *p = w->p;
  bool serial = !p->sink_concurrent;
  if (serial && !force && !w->st->ordered && w->sink_n + n < w->sink_hold) {
    memcpy(w->sink_buf + w->sink_n, items, n * sizeof(void *));
    w->sink_n += n;
    return CV_OK;
  }
  if (serial && pthread_mutex_trylock(&p->sink_mu) != 0) {
    if (!force && !w->st->ordered && w->sink_n + n <= CV__SINK_BACKLOG) {
      memcpy(w->sink_buf + w->sink_n, items, n * sizeof(void *));
      w->sink_n += n;
      return CV_OK;
    }
    int64_t t0 = cv__wait_begin(w, CV__WAIT_BLOCKED);
    pthread_mutex_lock(&p->sink_mu);
    cv__wait_end(w, CV__WAIT_BLOCKED, t0);
  }
  int rc = CV_OK;
  if (w->sink_n > 0) {
    rc = sink_call(p, w->sink_buf, w->sink_n);
    w->sink_n = 0;
  }
  if (n > 0 && sink_call(p, items, n) != CV_OK)
    rc = CV_ECANCELED;
  if (serial)
    pthread_mutex_unlock(&p->sink_mu);
  return rc;
}

/* A distributed run's outputs come from workers anywhere, through the output
 * transport: the coordinator reads them into the sink on one thread (the
 * run's hold thread, through core_table). */
void cv__sink_drain(cv_pipeline *p) {
  cv__transport *t = p->output.t;
  void *items[SINK_BATCH];
  size_t n = 0;
  while (!cv__is_cancelled(p) &&
         t->ops->get_many(t, items, SINK_BATCH, &n, CV_FOREVER) == CV_OK)
    sink_call(p, items, n);
}

/* Hands a worker's sink backlog over, waiting for its turn. */
static void sink_flush(cv_stage_ctx *w) {
  if (w->sink_n > 0)
    sink_deliver(w, NULL, 0, true);
}

/* Hands n items on to the worker's destination, waiting for room (blocked
 * time) if there is none.  Items that cannot enter (cancellation) are
 * dropped.  Returns CV_OK or CV_ECANCELED. */
static int hand_on(cv_stage_ctx *w, void **items, size_t n) {
  if (w->dest == &w->p->output && w->p->sink)
    return sink_deliver(w, items, n, false);
  cv__transport *t = w->dest->t;
  size_t nput = 0;
  int rc = put_n(t, items, n, &nput, CV_NOWAIT);
  if (rc == CV_EFULL) {
    int64_t t0 = cv__wait_begin(w, CV__WAIT_BLOCKED);
    size_t more = 0;
    rc = put_n(t, items + nput, n - nput, &more, CV_FOREVER);
    nput += more;
    cv__wait_end(w, CV__WAIT_BLOCKED, t0);
  }
  /* Only a shutdown (cancellation) stops a put that may wait forever. */
  for (size_t i = nput; i < n; i++)
    drop_at_entry(w->dest, items[i]);
  return rc == CV_OK ? CV_OK : CV_ECANCELED;
}

/* Hands the emit buffer on. */
static int flush(cv_stage_ctx *w) {
  if (w->nbuf == 0)
    return CV_OK;
  int rc = hand_on(w, w->buf, w->nbuf);
  w->nbuf = 0;
  return rc;
}

/* Appends to the current item's reorder slot. */
static int slot_append(cv_stage_ctx *w, void *item) {
  cv__stage *st = w->st;
  cv__slot *s = &st->slots[w->seq % st->window];
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 4;
    void **n = realloc(s->items, cap * sizeof(void *));
    if (!n) {
      drop_at_entry(w->dest, item);
      return CV_ENOMEM;
    }
    s->items = n;
    s->cap = cap;
  }
  s->items[s->n++] = item;
  return CV_OK;
}

int cv_emit(cv_stage_ctx *w, void *item) {
  if (!w)
    return CV_EINVAL;
  if (w->st && item == w->item)
    w->emitted_input = true;
  w->nemit++;
  CV__BUMP(w->c.out, 1);
  if (cv__is_cancelled(w->p)) {
    drop_at_entry(w->dest, item);
    return CV_ECANCELED;
  }
  if (w->st && w->st->ordered)
    return slot_append(w, item);
  w->buf[w->nbuf++] = item;
  if (w->nbuf < w->bufcap)
    return CV_OK;
  return flush(w);
}

/* ---- stage context accessors ------------------------------------------ */

bool cv_stage_cancelled(const cv_stage_ctx *ctx) {
  return ctx ? cv__is_cancelled(ctx->p) : false;
}

int cv_stage_fail(cv_stage_ctx *ctx, int code, const char *fmt, ...) {
  if (code == CV_OK)
    code = CV_EFAILED;
  if (ctx && fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->msg, sizeof(ctx->msg), fmt, ap);
    va_end(ap);
    ctx->has_msg = true;
  }
  return code;
}

void *cv_stage_worker_state(const cv_stage_ctx *ctx) {
  return ctx ? ctx->state : NULL;
}

void *cv_stage_arg(const cv_stage_ctx *ctx) { return ctx ? ctx->arg : NULL; }

unsigned cv_stage_worker_index(const cv_stage_ctx *ctx) {
  return ctx ? ctx->index : 0;
}

cv_pipeline *cv_stage_pipeline(const cv_stage_ctx *ctx) {
  return ctx ? ctx->p : NULL;
}

const char *cv_stage_name(const cv_stage_ctx *ctx) {
  if (!ctx)
    return NULL;
  return ctx->st ? ctx->st->name : "source";
}

/* ---- workers ---------------------------------------------------------- */

/* Runs the function on one item and settles the item's fate. */
int cv__process_one(cv_stage_ctx *w, void *item) {
  cv__stage *st = w->st;
  cv_pipeline *p = w->p;
  w->item = item;
  w->emitted_input = false;
  w->nemit = 0;
  w->has_msg = false;
  int rc = st->fn(w, item);
  bool cancelled = cv__is_cancelled(p);
  /* An input that produced output counts as succeeded even if the function
   * then returned into a cancellation: its outputs are counted (and, if
   * dropped, counted as cancelled) where they went. */
  if ((rc == CV_OK && !cancelled) || (cancelled && w->nemit > 0)) {
    CV__BUMP(w->c.succeeded, 1);
    if (w->nemit == 0)
      CV__BUMP(w->c.filtered, 1);
  } else if (rc != CV_OK && !cancelled) {
    CV__BUMP(w->c.failed, 1);
    cv__report_failure(p, st->name, st->index, rc, w,
                   w->emitted_input ? NULL : item);
  } else {
    /* Stopped by (or returned into) a cancellation. */
    CV__BUMP(w->c.cancelled, 1);
  }
  if (!w->emitted_input)
    destroy_input(st, item);
  w->item = NULL;
  return rc;
}

/* A worker the controller parks leaves between batches.  One waiting for
 * input wakes every tune interval to see whether it was parked (the only
 * timed wait here: a starved stage is the one that loses workers). */
static bool leaving(const cv_stage_ctx *w) {
  return atomic_load_explicit(&((cv_stage_ctx *)w)->retire,
                              memory_order_relaxed);
}

/* Takes up to max items, waiting for one (starved time) if there is none. */
static int take(cv_stage_ctx *w, void **items, size_t max, size_t *n) {
  cv__transport *in = w->st->in.t;
  int rc = get_n(in, items, max, n, CV_NOWAIT);
  if (rc != CV_EEMPTY)
    return rc;
  sink_flush(w); /* nothing may wait in a sleeping worker's hands */
  int64_t tmo = w->st->auto_workers ? w->p->tune_interval_ns : CV_FOREVER;
  int64_t t0 = cv__wait_begin(w, CV__WAIT_STARVED);
  do
    rc = get_n(in, items, max, n, tmo);
  while (rc == CV_ETIMEDOUT && !leaving(w));
  cv__wait_end(w, CV__WAIT_STARVED, t0);
  return rc;
}

/* How many items the next take may hold. */
static size_t take_limit(const cv_stage_ctx *w) {
  return w->st->batch_auto ? w->auto_take : w->st->batch;
}

static size_t clamp_size(int64_t k, size_t most) {
  return k < 1 ? 1 : (uint64_t)k > most ? most : (size_t)k;
}

/* Folds a measured cost of `per` ns per item into the worker's estimate and
 * sizes what follows from it: the next take (CV_BATCH_AUTO) and how many
 * outputs it keeps for the sink, each about CV_BATCH_AUTO_TARGET_NS of
 * work. */
static void fold_cost(cv_stage_ctx *w, int64_t per) {
  w->auto_cost_ns = w->auto_cost_ns ? (3 * w->auto_cost_ns + per) / 4 : per;
  int64_t k = CV_BATCH_AUTO_TARGET_NS / (w->auto_cost_ns > 0 ? w->auto_cost_ns : 1);
  w->auto_take = clamp_size(k, CV_BATCH_AUTO_MAX);
  w->sink_hold = clamp_size(k, CV__SINK_BACKLOG);
}

/* CV_BATCH_AUTO: the cost of a batch of n items that took `ns`. */
void cv__auto_adjust(cv_stage_ctx *w, size_t n, int64_t ns) {
  fold_cost(w, ns / (int64_t)n);
}

/* Other stages that feed a serial sink: the clock is read once per
 * CV__COST_SAMPLE items taken, never per item. */
static void note_cost(cv_stage_ctx *w, size_t n) {
  if ((w->cost_n += n) < CV__COST_SAMPLE)
    return;
  int64_t now = cv__now_ns();
  fold_cost(w, (now - w->cost_t0) / (int64_t)w->cost_n);
  w->cost_n = 0;
  w->cost_t0 = now;
}

static void run_unordered(cv_stage_ctx *w, void **items) {
  cv__stage *st = w->st;
  cv_pipeline *p = w->p;
  bool sampled = !st->batch_auto && w->dest == &p->output && p->sink &&
                 !p->sink_concurrent;
  while (!cv__is_cancelled(p) && !leaving(w)) {
    size_t n = 0;
    if (take(w, items, take_limit(w), &n) != CV_OK)
      break; /* closed and drained, or shut down */
    int64_t t0 = st->batch_auto ? cv__now_ns() : 0;
    CV__BUMP(w->c.taken, n);
    size_t i = 0;
    for (; i < n && !cv__is_cancelled(p); i++)
      cv__process_one(w, items[i]);
    if (i < n) {
      for (size_t j = i; j < n; j++)
        destroy_input(st, items[j]);
      CV__BUMP(w->c.cancelled, n - i);
    }
    if (st->batch_auto)
      cv__auto_adjust(w, n, cv__now_ns() - t0);
    else if (sampled)
      note_cost(w, n);
    flush(w);
  }
}

/* Takes up to `batch` items and numbers them, waiting while the window is
 * full (counted as blocked: the worker is ahead of the stage's output). */
static int take_ordered(cv_stage_ctx *w, void **items, size_t *n,
                        uint64_t *seq0) {
  cv__stage *st = w->st;
  cv_pipeline *p = w->p;
  *n = 0;
  pthread_mutex_lock(&st->take_mu);
  pthread_mutex_lock(&st->ord_mu);
  int64_t tw = 0;
  while (!cv__is_cancelled(p) && st->next_seq >= st->base + st->window) {
    if (!tw)
      tw = cv__wait_begin(w, CV__WAIT_BLOCKED);
    st->ord_waiters++;
    pthread_cond_wait(&st->ord_cond, &st->ord_mu);
    st->ord_waiters--;
  }
  size_t room = (size_t)(st->base + st->window - st->next_seq);
  pthread_mutex_unlock(&st->ord_mu);
  if (tw)
    cv__wait_end(w, CV__WAIT_BLOCKED, tw);
  if (cv__is_cancelled(p)) {
    pthread_mutex_unlock(&st->take_mu);
    return CV_ECANCELED;
  }
  size_t limit = take_limit(w);
  int rc = take(w, items, limit < room ? limit : room, n);
  if (rc == CV_OK) {
    *seq0 = st->next_seq;
    st->next_seq += *n;
  }
  pthread_mutex_unlock(&st->take_mu);
  return rc;
}

/* The function for number `seq` has returned: release what is in order. */
static void complete(cv_stage_ctx *w, uint64_t seq) {
  cv__stage *st = w->st;
  pthread_mutex_lock(&st->ord_mu);
  st->slots[seq % st->window].done = true;
  if (seq != st->base || st->flushing) {
    pthread_mutex_unlock(&st->ord_mu);
    return;
  }
  st->flushing = true;
  while (st->slots[st->base % st->window].done) {
    cv__slot *s = &st->slots[st->base % st->window];
    pthread_mutex_unlock(&st->ord_mu);
    if (s->n > 0) {
      hand_on(w, s->items, s->n);
      s->n = 0;
    }
    pthread_mutex_lock(&st->ord_mu);
    s->done = false;
    st->base++;
    if (st->ord_waiters)
      pthread_cond_broadcast(&st->ord_cond);
  }
  st->flushing = false;
  pthread_mutex_unlock(&st->ord_mu);
}

static void run_ordered(cv_stage_ctx *w, void **items) {
  cv__stage *st = w->st;
  cv_pipeline *p = w->p;
  while (!leaving(w)) {
    size_t n;
    uint64_t seq0 = 0;
    if (take_ordered(w, items, &n, &seq0) != CV_OK)
      break;
    int64_t t0 = st->batch_auto ? cv__now_ns() : 0;
    CV__BUMP(w->c.taken, n);
    for (size_t i = 0; i < n; i++) {
      w->seq = seq0 + i;
      if (cv__is_cancelled(p)) {
        destroy_input(st, items[i]);
        CV__BUMP(w->c.cancelled, 1);
      } else {
        cv__process_one(w, items[i]);
      }
      complete(w, w->seq);
    }
    if (st->batch_auto && n > 0)
      cv__auto_adjust(w, n, cv__now_ns() - t0);
  }
}

void *cv__worker_main(void *arg) {
  cv_stage_ctx *w = arg;
  cv__stage *st = w->st;
  cv_pipeline *p = w->p;
  int rc = CV_OK;
  if (p->tune)
    cv__tune_worker_begin(w);
  w->state = NULL;
  if (st->init)
    rc = st->init(st->arg, w->index, &w->state);
  pthread_mutex_lock(&p->mu);
  if (rc != CV_OK) {
    w->init_failed = true;
    if (p->init_rc == CV_OK && !w->late)
      p->init_rc = rc;
    char msg[CV__MSG_MAX];
    snprintf(msg, sizeof(msg), "worker_init of worker %u failed: %s",
             w->index, cv_strerror(rc));
    cv__record_error_locked(p, st->name, rc, msg);
  }
  if (!w->late && --p->inits_pending == 0)
    pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->mu);

  if (rc == CV_OK) {
    int64_t start = cv__now_ns();
    atomic_store_explicit(&w->c.start_ns, start, memory_order_relaxed);
    w->cost_t0 = start;
    w->cost_n = 0;
    void *one;
    void **items = st->batch == 1 ? &one : w->buf + st->batch;
    if (p->dist)
      p->dist_hooks->run(w);
    else if (st->ordered)
      run_ordered(w, items);
    else
      run_unordered(w, items);
    sink_flush(w);
    if (st->finish)
      st->finish(st->arg, w->index, w->state);
    /* Not running, then the run's lifetime: a reader in between counts a
     * little less busy time, never more (pipeline_stats.c). */
    int64_t life = cv__now_ns() - start;
    atomic_store_explicit(&w->c.start_ns, 0, memory_order_release);
    atomic_store_explicit(&w->c.life_ns, CV__LOAD(w->c.life_ns) + life,
                          memory_order_release);
  }
  /* The last worker out closes the next stage's input. */
  if (atomic_fetch_sub(&st->live, 1) == 1)
    st->out->t->ops->close(st->out->t);
  if (st->auto_workers)
    cv__tune_worker_end(w);
  cv__thread_exit_ref(p);
  return NULL;
}

int cv__worker_spawn(cv_stage_ctx *w) {
  cv__stage *st = w->st;
  cv_pipeline *p = w->p;
  /* Hold a reference first, so the pipeline cannot finish while we add. */
  pthread_mutex_lock(&p->mu);
  bool over = p->finished || cv__is_cancelled(p);
  if (!over)
    p->threads_running++;
  pthread_mutex_unlock(&p->mu);
  if (over)
    return CV_ESTATE;
  /* Join only a stage that still has a worker: the last one out closed
   * the next stage's input, and nobody may run after that. */
  unsigned live = atomic_load(&st->live);
  do {
    if (live == 0) {
      cv__thread_exit_ref(p);
      return CV_ECLOSED;
    }
  } while (!atomic_compare_exchange_weak(&st->live, &live, live + 1));
  w->late = true;
  w->init_failed = false;
  w->nbuf = 0;
  w->sink_n = 0;
  w->auto_take = 1;
  w->sink_hold = 1;
  w->auto_cost_ns = 0;
  atomic_store(&w->retire, false);
  atomic_store(&w->exited, false);
  if (pthread_create(&w->thread, NULL, cv__worker_main, w) != 0) {
    if (atomic_fetch_sub(&st->live, 1) == 1)
      st->out->t->ops->close(st->out->t);
    cv__thread_exit_ref(p);
    return CV_ESYS;
  }
  w->thread_started = true;
  return CV_OK;
}


/* ---- source ---------------------------------------------------------- */

void *cv__source_main(void *arg) {
  cv_stage_ctx *w = arg;
  cv_pipeline *p = w->p;
  w->has_msg = false;
  int rc = p->source(w, p->source_arg);
  flush(w);
  if (rc != CV_OK && !cv__is_cancelled(p))
    cv__report_failure(p, "source", CV_SOURCE_INDEX, rc, w, NULL);
  cv__transport *t = p->stages[0]->in.t;
  t->ops->close(t);
  cv__thread_exit_ref(p);
  return NULL;
}
