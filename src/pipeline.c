/* src/pipeline.c - stages and their lifecycle: creation, start, feeding and
 * reading, cancellation, waiting, destruction, the monitor (see
 * include/conveyor/pipeline.h).  The worker loop is in pipeline_worker.c,
 * the statistics in pipeline_stats.c, the worker controller in autotune.c.
 *
 * DESIGN
 *
 * Shape.  Stage i reads its input transport (a bounded cv_queue behind the
 * cv__transport vtable, transport.h) and emits into stage i+1's input, the
 * last stage into the pipeline's output transport, or, with a sink, straight
 * into the sink (sink_deliver: the last stage's workers call it, one at a
 * time, so the output costs no extra hop and no thread).  Each worker is a
 * thread running take -> function -> hand on, and is also the cv_stage_ctx
 * given to the function.  Other threads: the source (runs the source
 * function, emitting into stage 0; optional) and the monitor (progress
 * reports, cancellation requested from signal handlers, and the worker
 * controller of automatic stages, autotune.c).  Nothing here polls: every thread sleeps on a queue, a
 * condition variable or, for the monitor, poll(2) on a pipe.
 *
 * Cancellation.  cancel sets `cancelled` (checked by workers before each
 * item and by cv_emit), then shuts every transport down immediately: queued
 * items go to their destroy callbacks, blocked gets and puts wake with
 * CV_ESHUTDOWN, and workers leave.  Items a worker holds are finished
 * (function already running) or dropped (not yet started).
 * cv_pipeline_cancel_async only stores an atomic flag and writes a byte to
 * the monitor's pipe (both async-signal-safe); the monitor then cancels.
 * A signal handler may still be inside it on another thread while destroy
 * runs: it counts itself in async_users before it looks at `closing`, and
 * destroy sets `closing` first and waits for async_users to drain before it
 * closes the pipe (sequentially consistent atomics: either the call sees
 * `closing` and writes nothing, or destroy sees it counted and waits).  The
 * write end is closed before the read end, so even a write that got past
 * this could never meet a pipe without a reader (EPIPE, SIGPIPE).
 *
 * The finish line.  threads_running counts workers and the source (plus
 * one reference held by start while it creates them).  The thread that
 * brings it to zero sets `finished`, broadcasts `cond` and wakes the
 * monitor, which makes the last progress report and exits; wait joins all.
 *
 * Lock order: take_mu -> ord_mu; sink_mu -> p->mu -> ord_mu (a failing sink
 * may cancel); p->mu is never held while calling into a transport or user
 * code, except that cond waits happen under it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autotune.h"
#include "pipeline_worker.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2,
               "cv_pipeline_cancel_async needs a lock-free atomic int");
_Static_assert(ATOMIC_BOOL_LOCK_FREE == 2, "cancel flag must be lock-free");

static const cv__pipeline_core core_table; /* at the end */

/* ---- small helpers ---------------------------------------------------- */

/* ---- small helpers ---------------------------------------------------- */

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

/* A queue shut down by cancellation reports CV_ESHUTDOWN; one closed by
 * close propagation while the cancellation was shutting the queues down
 * (workers leave and close their outputs) reports CV_ECLOSED.  Either way
 * the caller's answer is CV_ECANCELED. */
static int map_closed(const cv_pipeline *p, int rc) {
  if (rc == CV_ESHUTDOWN || (rc == CV_ECLOSED && cv__is_cancelled(p)))
    return CV_ECANCELED;
  return rc;
}

/* ---- the monitor ------------------------------------------------------ */

static void drain_pipe(int fd) {
  char b[64];
  while (read(fd, b, sizeof(b)) > 0) {
  }
}

/* A periodic report (final false) is skipped once the pipeline has
 * finished: the final one, made exactly once, says so. */
static void report_progress(cv_pipeline *p, bool final) {
  cv_pipeline_summary s;
  cv_pipeline_summary_get(p, &s);
  if (s.finished == final)
    p->progress(p, &s, p->progress_arg);
}

static void *monitor_main(void *arg) {
  cv_pipeline *p = arg;
  int64_t next = cv__now_ns() + p->progress_interval_ns;
  for (;;) {
    if (atomic_load(&p->async_cancel))
      cv__cancel(p);
    pthread_mutex_lock(&p->mu);
    bool fin = p->finished;
    pthread_mutex_unlock(&p->mu);
    if (fin)
      break;
    int tmo = -1;
    if (p->progress) {
      int64_t d = next - cv__now_ns();
      tmo = d <= 0 ? 0 : (int)((d + 999999) / 1000000);
    }
    if (p->tune)
      tmo = cv__tune_poll_ms(p, tmo);
    struct pollfd pfd = {.fd = p->wake_fd[0], .events = POLLIN};
    if (poll(&pfd, 1, tmo) > 0)
      drain_pipe(p->wake_fd[0]);
    if (p->tune)
      cv__tune_tick(p);
    if (p->progress) {
      int64_t now = cv__now_ns();
      if (now >= next) {
        report_progress(p, false);
        next += p->progress_interval_ns;
        if (next <= now)
          next = now + p->progress_interval_ns;
      }
    }
  }
  if (p->progress)
    report_progress(p, true);
  return NULL;
}

/* ---- lifecycle -------------------------------------------------------- */

static int set_flags(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return CV_ESYS;
  int fdf = fcntl(fd, F_GETFD);
  if (fdf < 0 || fcntl(fd, F_SETFD, fdf | FD_CLOEXEC) < 0)
    return CV_ESYS;
  return CV_OK;
}

/* A queue bound the options may name: 0 (the default), CV_UNBOUNDED, or
 * one a queue can have. */
static bool capacity_ok(size_t capacity) {
  return capacity == CV_UNBOUNDED || capacity <= CV_QUEUE_MAX_CAPACITY;
}

int cv_pipeline_create(cv_pipeline **out, const cv_pipeline_options *opts) {
  if (!out)
    return CV_EINVAL;
  *out = NULL;
  cv_pipeline_options o = {0};
  if (opts)
    o = *opts;
  if ((o.on_error != CV_ON_ERROR_SKIP && o.on_error != CV_ON_ERROR_FAIL_FAST) ||
      o.progress_interval_ns < 0 || o.tune_interval_ns < 0 ||
      !capacity_ok(o.output_capacity))
    return CV_EINVAL;
  /* Aligned for the sink's lines (see struct cv_pipeline); the size is a
   * multiple of the alignment, as aligned_alloc wants. */
  cv_pipeline *p = aligned_alloc(CV__CACHE_LINE, sizeof(*p));
  if (!p)
    return CV_ENOMEM;
  memset(p, 0, sizeof(*p));
  p->wake_fd[0] = p->wake_fd[1] = -1;
  p->core = &core_table;
  p->name = dup_str(o.name ? o.name : "pipeline");
  if (!p->name) {
    free(p);
    return CV_ENOMEM;
  }
  p->policy = o.on_error;
  p->error_cb = o.error_cb;
  p->error_arg = o.error_arg;
  p->item_destroy = o.item_destroy;
  p->item_destroy_arg = o.item_destroy_arg;
  p->ordered = o.ordered;
  /* 0 (the default) is sized at start, from the last stage. */
  p->output_capacity = o.output_capacity == CV_UNBOUNDED ? 0
                                                         : o.output_capacity;
  p->output_capacity_auto = o.output_capacity == 0;
  p->source = o.source;
  p->source_arg = o.source_arg;
  p->sink = o.sink;
  p->sink_arg = o.sink_arg;
  p->sink_concurrent = o.sink_concurrent;
  p->progress = o.progress;
  p->progress_arg = o.progress_arg;
  p->progress_interval_ns =
      o.progress_interval_ns ? o.progress_interval_ns : CV_SEC(1);
  p->max_workers = o.max_workers;
  p->cpu_budget = o.cpu_budget;
  p->tune_cb = o.tune_cb;
  p->tune_arg = o.tune_arg;
  p->tune_interval_ns =
      o.tune_interval_ns ? o.tune_interval_ns : CV__TUNE_INTERVAL_NS;
  p->output.destroy = o.item_destroy;
  p->output.destroy_arg = o.item_destroy_arg;
  atomic_init(&p->output.entry_dropped, 0);
  atomic_init(&p->ready, false);
  atomic_init(&p->cancelled, false);
  atomic_init(&p->async_cancel, 0);
  atomic_init(&p->closing, false);
  atomic_init(&p->async_users, 0);

  int rc = CV_ESYS;
  if (pthread_mutex_init(&p->mu, NULL) != 0)
    goto fail_mu;
  if (pthread_mutex_init(&p->join_mu, NULL) != 0)
    goto fail_join_mu;
  if (pthread_mutex_init(&p->sink_mu, NULL) != 0)
    goto fail_sink_mu;
  if (cv__cond_init(&p->cond) != CV_OK)
    goto fail_cond;
  if (pipe(p->wake_fd) != 0 || set_flags(p->wake_fd[0]) != CV_OK ||
      set_flags(p->wake_fd[1]) != CV_OK)
    goto fail_pipe;
  *out = p;
  return CV_OK;

fail_pipe:
  if (p->wake_fd[0] >= 0) {
    close(p->wake_fd[0]);
    close(p->wake_fd[1]);
  }
  pthread_cond_destroy(&p->cond);
fail_cond:
  pthread_mutex_destroy(&p->sink_mu);
fail_sink_mu:
  pthread_mutex_destroy(&p->join_mu);
fail_join_mu:
  pthread_mutex_destroy(&p->mu);
fail_mu:
  free(p->name);
  free(p);
  return rc;
}

static void stage_free(cv__stage *st) {
  if (!st)
    return;
  if (st->workers) {
    for (unsigned i = 0; i < st->nworkers; i++)
      free(st->workers[i].buf);
    free(st->workers);
  }
  if (st->slots) {
    for (size_t i = 0; i < st->window; i++) {
      /* Only after a failed start can anything be left here. */
      for (size_t j = 0; j < st->slots[i].n; j++) {
        if (st->out && st->out->destroy)
          st->out->destroy(st->slots[i].items[j], st->out->destroy_arg);
      }
      free(st->slots[i].items);
    }
    free(st->slots);
    pthread_cond_destroy(&st->ord_cond);
    pthread_mutex_destroy(&st->ord_mu);
    pthread_mutex_destroy(&st->take_mu);
  }
  free(st->name);
  free(st);
}

/* Workers started by cv_pipeline_start. */
static unsigned first_workers(const cv__stage *st) {
  return st->auto_workers ? 1 : st->nworkers;
}

int cv_pipeline_add_stage(cv_pipeline *p, const cv_stage_options *opts) {
  if (!p || !opts || !opts->fn || !capacity_ok(opts->capacity))
    return CV_EINVAL;
  pthread_mutex_lock(&p->mu);
  bool started = p->start_called;
  pthread_mutex_unlock(&p->mu);
  if (started || p->dist) /* a broker is set for the stages it saw */
    return CV_ESTATE;
  if (p->nstages == p->stages_cap) {
    size_t cap = p->stages_cap ? 2 * p->stages_cap : 4;
    cv__stage **s = realloc(p->stages, cap * sizeof(*s));
    if (!s)
      return CV_ENOMEM;
    p->stages = s;
    p->stages_cap = cap;
  }
  cv__stage *st = calloc(1, sizeof(*st));
  if (!st)
    return CV_ENOMEM;
  st->p = p;
  st->index = p->nstages;
  if (opts->name) {
    st->name = dup_str(opts->name);
  } else {
    char nm[32];
    snprintf(nm, sizeof(nm), "stage%zu", p->nstages);
    st->name = dup_str(nm);
  }
  st->fn = opts->fn;
  st->arg = opts->arg;
  /* An automatic stage gets a slot for every worker it could ever run and
   * starts one (autotune.c adds and parks the others). */
  st->auto_workers = opts->workers == CV_WORKERS_AUTO;
  st->nworkers = st->auto_workers ? cv__tune_slots(p, opts->max_workers)
                 : opts->workers  ? opts->workers
                                  : 1;
  st->capacity = opts->capacity == 0 ? CV_PIPELINE_DEFAULT_CAPACITY
                 : opts->capacity == CV_UNBOUNDED ? 0
                                                  : opts->capacity;
  st->ordered = opts->ordered || p->ordered;
  st->window = !st->ordered        ? 0
               : opts->reorder_window ? opts->reorder_window
                                      : 4 * (size_t)st->nworkers;
  st->batch_auto = opts->batch == CV_BATCH_AUTO;
  st->batch = st->batch_auto ? CV_BATCH_AUTO_MAX : opts->batch;
  st->init = opts->worker_init;
  st->finish = opts->worker_finish;
  st->in.destroy = opts->destroy ? opts->destroy : p->item_destroy;
  st->in.destroy_arg = opts->destroy ? opts->destroy_arg : p->item_destroy_arg;
  atomic_init(&st->in.entry_dropped, 0);
  atomic_init(&st->live, first_workers(st));
  atomic_init(&st->alive, first_workers(st));
  atomic_init(&st->peak, first_workers(st));
  st->workers = calloc(st->nworkers, sizeof(cv_stage_ctx));
  if (!st->name || !st->workers || st->batch > SIZE_MAX / 4 / sizeof(void *))
    goto fail;
  for (unsigned i = 0; i < st->nworkers; i++) {
    cv_stage_ctx *w = &st->workers[i];
    w->p = p;
    w->st = st;
    w->index = i;
    w->arg = st->arg;
    w->bufcap = st->batch;
    w->auto_take = 1; /* until the first measurement */
    w->sink_hold = 1;
    /* Emit buffer, then (batch > 1) the input batch, then (with a sink)
     * the sink backlog. */
    w->buf = malloc((2 * st->batch + (p->sink ? CV__SINK_BACKLOG : 0)) *
                    sizeof(void *));
    if (!w->buf)
      goto fail;
    w->sink_buf = w->buf + 2 * st->batch;
  }
  if (st->ordered) {
    st->slots = calloc(st->window, sizeof(cv__slot));
    if (!st->slots)
      goto fail;
    if (pthread_mutex_init(&st->take_mu, NULL) != 0)
      goto fail_take;
    if (pthread_mutex_init(&st->ord_mu, NULL) != 0)
      goto fail_ord;
    if (cv__cond_init(&st->ord_cond) != CV_OK)
      goto fail_cond;
  }
  p->stages[p->nstages++] = st;
  return CV_OK;

fail_cond:
  pthread_mutex_destroy(&st->ord_mu);
fail_ord:
  pthread_mutex_destroy(&st->take_mu);
fail_take:
  free(st->slots);
  st->slots = NULL;
fail:
  stage_free(st);
  return CV_ENOMEM;
}

/* The default output queue: never the bottleneck.  It holds at least what
 * the last stage can hold (its input queue) and twice what its workers can
 * hand on at once, so that they never wait for a reader that takes items in
 * blocks; with a sink nothing enters it (the workers call the sink).  A
 * distributed run's output is a stream on the server, bounded run-wide
 * whoever its workers are (the coordinator's cv__sink_drain reads it). */
static size_t output_capacity_for(const cv_pipeline *p) {
  if (p->dist) /* run-wide, on the server; the workers may be anywhere */
    return CV_PIPELINE_DEFAULT_CAPACITY;
  if (p->sink)
    return 1;
  const cv__stage *last = p->stages[p->nstages - 1];
  size_t cap = CV_PIPELINE_DEFAULT_CAPACITY;
  size_t burst = 2 * (size_t)last->nworkers * last->batch;
  if (burst > cap)
    cap = burst;
  if (last->capacity > cap)
    cap = last->capacity;
  return cap;
}

/* Creates one thread counted in threads_running. */
static int spawn(cv_pipeline *p, pthread_t *t, void *(*fn)(void *), void *arg,
                 bool *started) {
  pthread_mutex_lock(&p->mu);
  p->threads_running++;
  pthread_mutex_unlock(&p->mu);
  int err = pthread_create(t, NULL, fn, arg);
  if (err != 0) {
    pthread_mutex_lock(&p->mu);
    p->threads_running--;
    if (!p->spawn_err)
      p->spawn_err = err;
    pthread_mutex_unlock(&p->mu);
    return CV_ESYS;
  }
  *started = true;
  return CV_OK;
}

/* start failed after threads may exist: fail, cancel, drop start's ref. */
static int start_failed(cv_pipeline *p, int rc, const char *what) {
  pthread_mutex_lock(&p->mu);
  if (p->status == CV_OK)
    p->status = CV_EFAILED;
  /* Say which system call failed and why: "a system call failed" alone
   * leaves a user under a ulimit guessing. */
  char msg[128];
  if (p->spawn_err)
    snprintf(msg, sizeof(msg), "cannot create a thread: %s", strerror(p->spawn_err));
  else
    snprintf(msg, sizeof(msg), "%s", cv_strerror(rc));
  cv__record_error_locked(p, what, rc, msg);
  pthread_mutex_unlock(&p->mu);
  cv__cancel(p);
  cv__thread_exit_ref(p);
  return rc;
}

int cv_pipeline_start(cv_pipeline *p) {
  if (!p)
    return CV_EINVAL;
  pthread_mutex_lock(&p->mu);
  if (p->start_called) {
    pthread_mutex_unlock(&p->mu);
    return CV_ESTATE;
  }
  if (p->nstages == 0) {
    pthread_mutex_unlock(&p->mu);
    return CV_EINVAL;
  }
  p->start_called = true;
  p->start_ns = cv__now_ns();
  if (cv__is_cancelled(p) || atomic_load(&p->async_cancel)) {
    atomic_store(&p->cancelled, true);
    p->status = CV_ECANCELED;
    p->finished = true;
    p->end_ns = p->start_ns;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    return CV_ECANCELED;
  }
  p->threads_running = 1; /* start's own reference */
  pthread_mutex_unlock(&p->mu);

  /* Transports.  The output's capacity first: a distributed run creates
   * every boundary on the server when it connects. */
  if (p->output_capacity_auto)
    p->output_capacity = output_capacity_for(p);
  int rc = p->dist ? p->dist_hooks->open(p) : CV_OK;
  for (size_t i = 0; i < p->nstages && rc == CV_OK; i++) {
    cv__stage *st = p->stages[i];
    rc = p->dist ? p->dist_hooks->transport(p, i, &st->in.t)
                 : cv__transport_queue_create(&st->in.t, st->capacity,
                                              st->in.destroy,
                                              st->in.destroy_arg);
  }
  if (rc == CV_OK)
    rc = p->dist ? p->dist_hooks->transport(p, p->nstages, &p->output.t)
                 : cv__transport_queue_create(&p->output.t, p->output_capacity,
                                              p->output.destroy,
                                              p->output.destroy_arg);
  if (rc == CV_OK)
    rc = cv__tune_create(p, &(cv__tune_workers){.spawn = cv__worker_spawn});
  if (rc == CV_OK && p->source) {
    p->source_ctx = calloc(1, sizeof(cv_stage_ctx));
    if (p->source_ctx)
      p->source_ctx->buf = malloc(sizeof(void *));
    if (!p->source_ctx || !p->source_ctx->buf)
      rc = CV_ENOMEM;
  }
  if (rc != CV_OK) {
    for (size_t i = 0; i < p->nstages; i++) {
      if (p->stages[i]->in.t)
        p->stages[i]->in.t->ops->destroy(p->stages[i]->in.t);
      p->stages[i]->in.t = NULL;
    }
    if (p->output.t)
      p->output.t->ops->destroy(p->output.t);
    p->output.t = NULL;
    return start_failed(p, rc, "start");
  }
  for (size_t i = 0; i < p->nstages; i++)
    p->stages[i]->out =
        i + 1 < p->nstages ? &p->stages[i + 1]->in : &p->output;
  if (p->source) {
    cv_stage_ctx *s = p->source_ctx;
    s->p = p;
    s->arg = p->source_arg;
    s->dest = &p->stages[0]->in;
    s->bufcap = 1;
  }
  for (size_t i = 0; i < p->nstages; i++)
    for (unsigned j = 0; j < p->stages[i]->nworkers; j++)
      p->stages[i]->workers[j].dest = p->stages[i]->out;

  pthread_mutex_lock(&p->mu);
  p->have_transports = true;
  bool cancelled_early = cv__is_cancelled(p);
  unsigned total = 0;
  for (size_t i = 0; i < p->nstages; i++)
    total += first_workers(p->stages[i]);
  p->inits_pending = total;
  pthread_mutex_unlock(&p->mu);
  if (cancelled_early)
    cv__shutdown_all(p);

  /* Workers. */
  for (size_t i = 0; i < p->nstages && rc == CV_OK; i++) {
    cv__stage *st = p->stages[i];
    for (unsigned j = 0; j < first_workers(st); j++) {
      cv_stage_ctx *w = &st->workers[j];
      if (rc == CV_OK)
        rc = spawn(p, &w->thread, cv__worker_main, w, &w->thread_started);
      if (rc != CV_OK) {
        /* Never started: account for it as a worker that left at once. */
        pthread_mutex_lock(&p->mu);
        p->inits_pending--;
        pthread_mutex_unlock(&p->mu);
        if (atomic_fetch_sub(&st->live, 1) == 1)
          st->out->t->ops->close(st->out->t);
      }
    }
  }
  if (rc != CV_OK) {
    /* Stages never reached: their workers never start either. */
    for (size_t i = 0; i < p->nstages; i++) {
      cv__stage *st = p->stages[i];
      if (st->workers[0].thread_started || atomic_load(&st->live) == 0)
        continue;
      pthread_mutex_lock(&p->mu);
      p->inits_pending -= atomic_load(&st->live);
      pthread_mutex_unlock(&p->mu);
      atomic_store(&st->live, 0);
      st->out->t->ops->close(st->out->t);
    }
  }

  /* Every init has run (or failed). */
  pthread_mutex_lock(&p->mu);
  while (p->inits_pending > 0)
    pthread_cond_wait(&p->cond, &p->mu);
  int init_rc = p->init_rc;
  if (init_rc != CV_OK && p->status == CV_OK)
    p->status = CV_EFAILED;
  pthread_mutex_unlock(&p->mu);
  if (rc != CV_OK)
    return start_failed(p, rc, "start");
  if (init_rc != CV_OK) {
    cv__cancel(p);
    cv__thread_exit_ref(p);
    return init_rc;
  }

  if (p->source)
    rc = spawn(p, &p->source_thread, cv__source_main, p->source_ctx,
               &p->source_started);
  int merr = rc == CV_OK ? pthread_create(&p->monitor_thread, NULL, monitor_main, p) : 0;
  if (rc == CV_OK && merr == 0) {
    p->monitor_started = true;
  } else if (rc == CV_OK) {
    pthread_mutex_lock(&p->mu);
    if (!p->spawn_err)
      p->spawn_err = merr;
    pthread_mutex_unlock(&p->mu);
    rc = CV_ESYS;
  }
  if (rc != CV_OK) {
    if (p->source && !p->source_started)
      p->stages[0]->in.t->ops->close(p->stages[0]->in.t);
    return start_failed(p, rc, "start");
  }
  atomic_store_explicit(&p->ready, true, memory_order_release);
  cv__thread_exit_ref(p);
  return CV_OK;
}

/* ---- feeding and reading ---------------------------------------------- */

static bool is_ready(const cv_pipeline *p) {
  return atomic_load_explicit(&((cv_pipeline *)p)->ready,
                              memory_order_acquire);
}

int cv_pipeline_put_many(cv_pipeline *p, void *const *items, size_t n,
                         size_t *nput, int64_t timeout_ns) {
  if (nput)
    *nput = 0;
  if (!p || !items || n == 0 || !cv__timeout_ok(timeout_ns))
    return CV_EINVAL;
  if (cv__is_cancelled(p))
    return CV_ECANCELED;
  if (!is_ready(p) || p->source)
    return CV_ESTATE;
  cv__transport *t = p->stages[0]->in.t;
  return map_closed(p, t->ops->put_many(t, items, n, nput, timeout_ns));
}

int cv_pipeline_put(cv_pipeline *p, void *item, int64_t timeout_ns) {
  if (!p || !cv__timeout_ok(timeout_ns))
    return CV_EINVAL;
  if (cv__is_cancelled(p))
    return CV_ECANCELED;
  if (!is_ready(p) || p->source)
    return CV_ESTATE;
  cv__transport *t = p->stages[0]->in.t;
  return map_closed(p, t->ops->put(t, item, timeout_ns));
}

int cv_pipeline_close_input(cv_pipeline *p) {
  if (!p)
    return CV_EINVAL;
  if (p->source)
    return CV_ESTATE;
  if (!is_ready(p))
    return cv__is_cancelled(p) ? CV_OK : CV_ESTATE;
  cv__transport *t = p->stages[0]->in.t;
  t->ops->close(t);
  return CV_OK;
}

int cv_pipeline_get_many(cv_pipeline *p, void **items, size_t max,
                         size_t *nget, int64_t timeout_ns) {
  if (nget)
    *nget = 0;
  if (!p || !items || !nget || max == 0 || !cv__timeout_ok(timeout_ns))
    return CV_EINVAL;
  if (cv__is_cancelled(p))
    return CV_ECANCELED;
  if (!is_ready(p) || p->sink)
    return CV_ESTATE;
  cv__transport *t = p->output.t;
  return map_closed(p, t->ops->get_many(t, items, max, nget, timeout_ns));
}

int cv_pipeline_get(cv_pipeline *p, void **item, int64_t timeout_ns) {
  if (!p || !item || !cv__timeout_ok(timeout_ns))
    return CV_EINVAL;
  if (cv__is_cancelled(p))
    return CV_ECANCELED;
  if (!is_ready(p) || p->sink)
    return CV_ESTATE;
  cv__transport *t = p->output.t;
  return map_closed(p, t->ops->get(t, item, timeout_ns));
}

/* ---- waiting, cancelling, destroying ---------------------------------- */

static void join_all(cv_pipeline *p) {
  pthread_mutex_lock(&p->join_mu);
  if (!p->joined) {
    /* The monitor first: it joins workers of automatic stages it parked. */
    if (p->monitor_started)
      pthread_join(p->monitor_thread, NULL);
    for (size_t i = 0; i < p->nstages; i++) {
      cv__stage *st = p->stages[i];
      for (unsigned j = 0; j < st->nworkers; j++)
        if (st->workers[j].thread_started)
          pthread_join(st->workers[j].thread, NULL);
    }
    if (p->source_started)
      pthread_join(p->source_thread, NULL);
    p->joined = true;
  }
  pthread_mutex_unlock(&p->join_mu);
}

int cv_pipeline_wait(cv_pipeline *p, int64_t timeout_ns) {
  if (!p || !cv__timeout_ok(timeout_ns))
    return CV_EINVAL;
  pthread_mutex_lock(&p->mu);
  if (!p->start_called) {
    pthread_mutex_unlock(&p->mu);
    return CV_ESTATE;
  }
  int64_t deadline = cv__deadline(timeout_ns);
  while (!p->finished) {
    if (timeout_ns == 0 ||
        (cv__cond_wait(&p->cond, &p->mu, deadline) == CV_ETIMEDOUT &&
         !p->finished)) {
      pthread_mutex_unlock(&p->mu);
      return CV_ETIMEDOUT;
    }
  }
  int status = p->status;
  pthread_mutex_unlock(&p->mu);
  join_all(p);
  return status;
}

int cv_pipeline_cancel(cv_pipeline *p) {
  if (!p)
    return CV_EINVAL;
  cv__cancel(p);
  return CV_OK;
}

int cv_pipeline_cancel_async(cv_pipeline *p) {
  if (!p)
    return CV_EINVAL;
  int saved = errno;
  int rc = CV_OK;
  atomic_fetch_add(&p->async_users, 1);
  if (atomic_load(&p->closing)) {
    rc = CV_ESHUTDOWN; /* destroy cancels anyway; the pipe is going */
  } else {
    atomic_store(&p->async_cancel, 1);
    char c = 'c';
    if (write(p->wake_fd[1], &c, 1) < 0) {
      /* Pipe full: the monitor has a wake-up pending already. */
    }
  }
  atomic_fetch_sub(&p->async_users, 1);
  errno = saved;
  return rc;
}

int cv_pipeline_destroy(cv_pipeline *p) {
  if (!p)
    return CV_EINVAL;
  atomic_store(&p->closing, true);
  pthread_mutex_lock(&p->mu);
  bool started = p->start_called;
  pthread_mutex_unlock(&p->mu);
  if (started) {
    cv__cancel(p);
    cv_pipeline_wait(p, CV_FOREVER);
  }
  if (p->dist)
    p->dist_hooks->stop(p); /* no callback from the run after this */
  for (size_t i = 0; i < p->nstages; i++) {
    cv__stage *st = p->stages[i];
    if (st->in.t)
      st->in.t->ops->destroy(st->in.t);
  }
  /* Slot leftovers (none after a normal run) go to the output's destroy via
   * stage_free, so the output transport is destroyed after the stages. */
  for (size_t i = 0; i < p->nstages; i++)
    stage_free(p->stages[i]);
  cv__tune_destroy(p);
  if (p->output.t)
    p->output.t->ops->destroy(p->output.t);
  if (p->dist)
    p->dist_hooks->free(p);
  free(p->stages);
  if (p->source_ctx) {
    free(p->source_ctx->buf);
    free(p->source_ctx);
  }
  /* An async cancel that began before `closing` was set may still be
   * writing: it is quick (one non-blocking write). */
  while (atomic_load(&p->async_users) != 0)
    sched_yield();
  close(p->wake_fd[1]);
  close(p->wake_fd[0]);
  pthread_cond_destroy(&p->cond);
  pthread_mutex_destroy(&p->sink_mu);
  pthread_mutex_destroy(&p->join_mu);
  pthread_mutex_destroy(&p->mu);
  free(p->name);
  free(p);
  return CV_OK;
}

/* ---- the core, for a distributed run (pipeline_internal.h) -------------- */

static int stage_process(cv_stage_ctx *w, void *item) {
  return cv__process_one(w, item);
}

static void stage_report_failure(cv_stage_ctx *w, int code, void *item) {
  CV__BUMP(w->c.failed, 1);
  cv__report_failure(w->p, w->st->name, w->st->index, code, w, item);
}

static void stage_auto_adjust(cv_stage_ctx *w, size_t n, int64_t ns) {
  cv__auto_adjust(w, n, ns);
}

static int64_t stage_wait_begin(cv_stage_ctx *w, bool blocked) {
  return cv__wait_begin(w, blocked ? CV__WAIT_BLOCKED : CV__WAIT_STARVED);
}

static void stage_wait_end(cv_stage_ctx *w, bool blocked, int64_t t0) {
  cv__wait_end(w, blocked ? CV__WAIT_BLOCKED : CV__WAIT_STARVED, t0);
}

static void pipeline_record_error(cv_pipeline *p, const char *stage, int code,
                               const char *msg) {
  pthread_mutex_lock(&p->mu);
  cv__record_error_locked(p, stage, code, msg);
  pthread_mutex_unlock(&p->mu);
}

static void pipeline_abort(cv_pipeline *p, int status, const char *stage,
                        int code, const char *msg) {
  pthread_mutex_lock(&p->mu);
  if (code != 0 && msg)
    cv__record_error_locked(p, stage, code, msg);
  if (p->status == CV_OK && !p->finished)
    p->status = status;
  pthread_mutex_unlock(&p->mu);
  cv__cancel(p);
}

static bool pipeline_failure(cv_pipeline *p, int *code, size_t *stage,
                          char *msg, size_t len) {
  pthread_mutex_lock(&p->mu);
  bool failed = p->status == CV_EFAILED && p->err_code != 0;
  if (failed) {
    *code = p->err_code;
    *stage = SIZE_MAX;
    for (size_t i = 0; i < p->nstages; i++)
      if (p->err_stage == p->stages[i]->name)
        *stage = i;
    snprintf(msg, len, "%s", p->err_msg);
  }
  pthread_mutex_unlock(&p->mu);
  return failed;
}

static void pipeline_hold(cv_pipeline *p) {
  pthread_mutex_lock(&p->mu);
  p->threads_running++;
  pthread_mutex_unlock(&p->mu);
}

static void pipeline_release(cv_pipeline *p) { cv__thread_exit_ref(p); }

static const cv__pipeline_core core_table = {
    .stage_process = stage_process,
    .stage_report_failure = stage_report_failure,
    .stage_auto_adjust = stage_auto_adjust,
    .stage_wait_begin = stage_wait_begin,
    .stage_wait_end = stage_wait_end,
    .abort = pipeline_abort,
    .record_error = pipeline_record_error,
    .failure = pipeline_failure,
    .hold = pipeline_hold,
    .release = pipeline_release,
    .sink_drain = cv__sink_drain,
    .stage_local_stats = cv__stage_local_stats,
};
