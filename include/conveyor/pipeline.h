/* conveyor/pipeline.h - multi-stage, multi-threaded pipelines over queues.
 *
 * A pipeline is an ordered list of named stages.  Each stage has a function,
 * a pool of worker threads, and a bounded input queue whose capacity is the
 * back-pressure knob.  Items enter at the first stage (cv_pipeline_put() from
 * any thread, or a source function), flow stage to stage, and leave through
 * an output queue (cv_pipeline_get()) or a sink callback.
 *
 *   cv_pipeline *p;
 *   cv_pipeline_options po = {.item_destroy = free_photo};
 *   cv_pipeline_create(&p, &po);
 *   cv_pipeline_add_stage(p, &(cv_stage_options){.name = "download",
 *                                                 .fn = download, .workers = 3});
 *   cv_pipeline_add_stage(p, &(cv_stage_options){.name = "resize",
 *                                                 .fn = resize, .workers = 4});
 *   cv_pipeline_start(p);
 *   for (...) cv_pipeline_put(p, item, CV_FOREVER);
 *   cv_pipeline_close_input(p);
 *   while (cv_pipeline_get(p, &item, CV_FOREVER) == CV_OK) use(item);
 *   int rc = cv_pipeline_wait(p, CV_FOREVER);   // CV_OK, CV_EFAILED, ...
 *   cv_pipeline_destroy(p);
 *
 * Stage functions.  `int fn(cv_stage_ctx *ctx, void *item)` runs on one of
 * the stage's workers.  It passes results on with cv_emit(ctx, out) zero, one
 * or many times (filter, map, split), and returns CV_OK, or fails the item by
 * returning an error code, best through `return cv_stage_fail(ctx, code,
 * "fmt", ...)` which also records a message.  Long work should poll
 * cv_stage_cancelled(ctx).
 *
 * Ownership of items (the one rule to remember).  An item belongs to whoever
 * holds it: the caller until cv_pipeline_put() returns CV_OK, then the
 * pipeline.  The stage function owns its input only for the duration of the
 * call:
 *   - cv_emit(ctx, x) always takes x (even when it fails: then x is destroyed).
 *   - When the function returns, if it did NOT emit its input pointer itself,
 *     the pipeline destroys the input (the item destroy callback).  So a map
 *     that transforms in place emits `item`; a map that builds a new object
 *     emits the new one and leaves the old one to the pipeline; a filter that
 *     drops an item simply returns CV_OK without emitting; a failing function
 *     just returns its code.  A stage function never frees its input.
 *   - Items handed out by cv_pipeline_get() or to the sink belong to the
 *     caller / the sink.
 * The destroy callback (cv_stage_options.destroy for the items entering that
 * stage, else cv_pipeline_options.item_destroy) is called exactly once for
 * every item the pipeline drops: inputs a function did not emit (filtered,
 * failed, or consumed into new items), items emitted into a cancelled
 * pipeline, items queued or in a worker's hands when the pipeline is
 * cancelled, and items left in the output queue at cv_pipeline_destroy().
 * Without a destroy callback such items are simply forgotten (fine for items
 * that own nothing, such as integers cast to pointers).
 *
 * Close propagation.  cv_pipeline_close_input() (or the source function
 * returning) closes the first stage's queue.  When a stage's queue is closed
 * and drained and its last worker finishes, that worker closes the next
 * stage's queue; after the last stage the output queue closes and
 * cv_pipeline_get() returns CV_ECLOSED once it is empty.  No sentinels.
 *
 * Errors.  cv_pipeline_options.on_error chooses the policy:
 *   CV_ON_ERROR_SKIP       the failed item is counted (per stage), reported to
 *                          the error callback, destroyed; the rest go on.
 *   CV_ON_ERROR_FAIL_FAST  the first failure is recorded (code, stage name,
 *                          message), reported, and the whole pipeline is
 *                          cancelled; cv_pipeline_wait() returns CV_EFAILED.
 * Nothing is lost silently: see cv_pipeline_summary and
 * cv_pipeline_summary_balanced().
 *
 * Cancellation.  cv_pipeline_cancel() from any thread (including a stage
 * function or a callback), or cv_pipeline_cancel_async() from a signal
 * handler.  Workers stop taking items; blocked puts, gets and emits wake with
 * CV_ECANCELED; cv_stage_cancelled() turns true; every item queued or in
 * flight goes to its destroy callback; cv_pipeline_wait() returns
 * CV_ECANCELED.  There is no polling: blocked threads are woken directly.
 *
 * Ordered output.  A stage with `ordered` set (or every stage, with
 * cv_pipeline_options.ordered) emits the outputs of its inputs in input
 * order, however many workers it has: each input gets a sequence number, and
 * results finished early wait in a reorder window of `reorder_window` inputs.
 * A worker that would run further ahead than the window waits (memory stays
 * bounded).  Outputs of one input stay together, in the order emitted.
 *
 * Automatic workers.  A stage with `workers = CV_WORKERS_AUTO` starts with
 * one worker; a controller on the monitor thread measures every stage each
 * `tune_interval_ns` (busy, starved and blocked time, input queue fill, and
 * each worker's CPU time and run-queue delay from the kernel) and moves
 * workers toward the stage whose workers are busiest and whose input is
 * fullest, parks (stops) workers of stages that wait for input or for room
 * downstream, never goes below one worker per stage, and never runs more
 * than `max_workers` worker threads in the whole pipeline.  A stage whose
 * workers compute may grow while the pipeline's CPU demand stays within
 * `cpu_budget` CPUs; a stage whose workers mostly sleep in the function
 * (I/O) counts only for the CPU it uses, so it may run many more workers.
 * Each change is reported to `tune_cb` with the reason; the statistics show
 * each stage's current and peak workers.  Explicit counts are never
 * changed.  worker_init/worker_finish run on every worker thread an
 * automatic stage starts or stops; the worker index is unique among the
 * stage's running workers.
 *
 * Statistics.  Per stage, live (readable from any thread while running) and
 * final: see cv_stage_stats, cv_pipeline_stage_stats(), cv_pipeline_bottleneck(),
 * cv_pipeline_stats_print(), cv_pipeline_stats_json(), and the progress
 * callback.
 *
 * Thread safety.  cv_pipeline_create/add_stage/start/destroy are made by one
 * controlling thread.  put, put_many, close_input, get, get_many, wait,
 * cancel, summary and the statistics calls may be made from any thread at any
 * time between start and destroy.  cv_pipeline_cancel_async() is the only call
 * that is async-signal-safe.
 */
#ifndef CONVEYOR_PIPELINE_H
#define CONVEYOR_PIPELINE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conveyor/error.h"
#include "conveyor/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cv_pipeline cv_pipeline;

/* Handed to stage, source functions; valid only during that call, and only
 * on the thread it was given to. */
typedef struct cv_stage_ctx cv_stage_ctx;

/* A capacity of CV_UNBOUNDED makes a queue without a bound (no
 * back-pressure).  A capacity of 0 means "the default".  Any other capacity
 * is at most CV_QUEUE_MAX_CAPACITY. */
#define CV_UNBOUNDED SIZE_MAX
#define CV_PIPELINE_DEFAULT_CAPACITY 64
/* cv_stage_options.batch of 0: each worker sizes its takes from the time the
 * stage function takes per item, so that one take holds about
 * CV_BATCH_AUTO_TARGET_NS of work, between 1 and CV_BATCH_AUTO_MAX items.
 * Cheap stages then move items in blocks (far fewer queue round trips), slow
 * ones (I/O, image work) take one item at a time and share work fairly. */
#define CV_BATCH_AUTO 0
#define CV_BATCH_AUTO_MAX 64
#define CV_BATCH_AUTO_TARGET_NS 20000
/* cv_stage_options.workers: the pipeline chooses the stage's workers while
 * it runs (see "Automatic workers" below). */
#define CV_WORKERS_AUTO UINT_MAX
/* Stage index reported for errors raised by the source function; errors of
 * the sink carry the stage count as their index. */
#define CV_SOURCE_INDEX SIZE_MAX

/* Processes one item.  See "Stage functions" and "Ownership" above.
 * Returns CV_OK, or any non-zero code to fail the item. */
typedef int (*cv_stage_fn)(cv_stage_ctx *ctx, void *item);

/* Runs once on each worker thread before it takes its first item.  May set
 * *state (initially NULL) to per-worker resources, which the stage function
 * reads with cv_stage_worker_state().  `worker` counts 0..workers-1 within
 * the stage.  A non-zero return fails cv_pipeline_start() with that code. */
typedef int (*cv_worker_init_fn)(void *arg, unsigned worker, void **state);

/* Runs once on each worker thread after its last item (also after a cancel,
 * and for a worker whose init succeeded when another worker's init failed),
 * to release what init set up. */
typedef void (*cv_worker_finish_fn)(void *arg, unsigned worker, void *state);

/* Generates the pipeline's input on a thread of its own: calls cv_emit(ctx,
 * item) for each item and returns when done (the first stage's input then
 * closes by itself).  Should stop early when cv_emit() returns CV_ECANCELED.
 * A non-zero return is an error under the pipeline's policy (stage name
 * "source", index CV_SOURCE_INDEX); the input closes either way. */
typedef int (*cv_source_fn)(cv_stage_ctx *ctx, void *arg);

/* Receives each output item, one call at a time (unless
 * cv_pipeline_options.sink_concurrent), on the last stage's worker threads:
 * the workers hand their output straight to the sink instead of through the
 * output queue.  Each worker's outputs arrive in the order it emitted them,
 * an ordered last stage's in input order; a worker that finds another in
 * the sink keeps up to 64 outputs for its next turn instead of waiting.  A
 * worker of an unordered stage whose items are cheap also gathers as many
 * outputs as it makes in about CV_BATCH_AUTO_TARGET_NS (measured; one until
 * then) before it calls the sink, and hands them over before it waits for
 * input or leaves.  The sink owns the item (whatever it returns).  A
 * non-zero return counts the item as failed instead of delivered, and is an
 * error under the pipeline's policy (stage name "sink", index = number of
 * stages). */
typedef int (*cv_sink_fn)(void *item, void *arg);

/* One failed item, as given to the error callback. */
typedef struct cv_item_error {
  int code;           /* what the stage function returned */
  const char *stage;  /* stage name ("source", "sink" for those) */
  size_t stage_index; /* 0-based; CV_SOURCE_INDEX; stage count for the sink */
  const char *message; /* from cv_stage_fail(), else cv_strerror(code) */
  void *item; /* the failed input; look only: it is destroyed after the
                 callback returns (NULL for source errors; for sink errors
                 it belongs to the sink and may already be gone) */
} cv_item_error;

/* Called for every item counted as failed, on the thread where it failed,
 * before the item is destroyed.  Must not block for long; may call
 * cv_pipeline_cancel().  `err` and its strings are valid only during the
 * call. */
typedef void (*cv_error_fn)(const cv_item_error *err, void *arg);

typedef enum cv_error_policy {
  CV_ON_ERROR_SKIP = 0,     /* count, report, destroy the item, go on */
  CV_ON_ERROR_FAIL_FAST = 1 /* report the first error and cancel everything */
} cv_error_policy;

/* What every item fed became, and how the run ended.  Read with
 * cv_pipeline_summary() at any time; exact once cv_pipeline_wait() returned
 * CV_OK, CV_EFAILED or CV_ECANCELED. */
typedef struct cv_pipeline_summary {
  uint64_t fed;       /* items accepted by put/put_many or emitted by the source */
  uint64_t delivered; /* items handed out by get/get_many or accepted by the sink */
  uint64_t filtered;  /* inputs whose function returned CV_OK without emitting */
  uint64_t failed;    /* inputs whose function failed (and sink failures) */
  uint64_t cancelled; /* items dropped by cancellation, wherever they were */
  uint64_t split_extra; /* items created beyond one output per input: over
                           all stages, emitted - (succeeded - filtered) */
  uint64_t pending;   /* items still in queues or in workers' hands; after
                         the end, only those waiting in the output queue */
  int64_t elapsed_ns; /* since start (until the end, once finished) */
  bool finished;      /* every worker, the source and the sink have ended */
  int status;         /* CV_OK, or CV_ECANCELED / CV_EFAILED once cancelled
                         or failed fast (possibly before finished) */
  /* The first error (any policy): code 0 if there was none.  The strings
   * are owned by the pipeline and valid until cv_pipeline_destroy(). */
  int error_code;
  const char *error_stage;
  const char *error_message;
} cv_pipeline_summary;

/* Called every `progress_interval_ns` from the pipeline's monitor thread,
 * and once more at the end with s->finished true (before cv_pipeline_wait()
 * returns).  May read statistics of p and cancel it; must not wait for it
 * or destroy it. */
typedef void (*cv_progress_fn)(cv_pipeline *p, const cv_pipeline_summary *s,
                               void *arg);

/* One decision of the worker controller, given to cv_pipeline_options'
 * tune_cb on the monitor thread. */
typedef struct cv_tune_event {
  const char *stage;  /* the stage's name */
  size_t stage_index;
  unsigned from, to;  /* its worker threads before and after */
  const char *reason; /* one line: what was measured and the rule applied */
} cv_tune_event;

/* Reports a change of an automatic stage's workers.  Must not block for
 * long; may read statistics and cancel, must not wait or destroy. */
typedef void (*cv_tune_fn)(cv_pipeline *p, const cv_tune_event *e,
                           void *arg);

/* Pipeline options.  A zeroed struct (or NULL) is valid: skip-and-count
 * errors, no destroy callback, unordered, an output queue of the default
 * capacity read with cv_pipeline_get(), input fed with cv_pipeline_put(). */
typedef struct cv_pipeline_options {
  const char *name;            /* for stats output; copied; NULL = "pipeline" */
  cv_error_policy on_error;    /* CV_ON_ERROR_SKIP or CV_ON_ERROR_FAIL_FAST */
  cv_error_fn error_cb;        /* optional; see cv_error_fn */
  void *error_arg;
  cv_destroy_fn item_destroy;  /* drops items (see "Ownership"); optional */
  void *item_destroy_arg;
  bool ordered;                /* every stage behaves as `ordered` */
  size_t output_capacity;      /* output queue bound; 0 = sized from the
                                  last stage, so it is never the bottleneck:
                                  the larger of its input capacity, 2 x its
                                  workers x batch, and 64; or CV_UNBOUNDED;
                                  unused with a sink */
  cv_source_fn source;         /* optional: generates the input (then
                                  cv_pipeline_put() is refused) */
  void *source_arg;
  cv_sink_fn sink;             /* optional: consumes the output (then
                                  cv_pipeline_get() is refused) */
  void *sink_arg;
  bool sink_concurrent;        /* the sink is thread-safe: several workers
                                  may call it at once (no output order) */
  cv_progress_fn progress;     /* optional */
  void *progress_arg;
  int64_t progress_interval_ns; /* 0 = one second */
  /* Automatic workers (stages with CV_WORKERS_AUTO; ignored without). */
  unsigned max_workers; /* most worker threads of all stages at once;
                           0 = 8 x online CPUs.  Stages with explicit
                           counts keep theirs; each stage has at least 1 */
  unsigned cpu_budget;  /* CPUs that computing workers may keep busy;
                           0 = the online CPUs */
  cv_tune_fn tune_cb;   /* optional: told every change and why */
  void *tune_arg;
  int64_t tune_interval_ns; /* how often the controller measures and
                               decides; 0 = 100 ms */
} cv_pipeline_options;

/* Stage options.  Zero-initialise and set at least `fn`. */
typedef struct cv_stage_options {
  const char *name;   /* for stats and errors; copied; NULL = "stage<i>" */
  cv_stage_fn fn;     /* required */
  void *arg;          /* read with cv_stage_arg(); passed to the hooks */
  unsigned workers;   /* worker threads; 0 = 1; CV_WORKERS_AUTO: chosen
                         and changed by the pipeline while it runs */
  unsigned max_workers; /* CV_WORKERS_AUTO only: the most workers this stage
                           may run (e.g. the cores, for a stage whose work
                           runs in a library's own threads, where the
                           pipeline cannot see its CPU time); 0 = only the
                           pipeline's max_workers */
  size_t capacity;    /* bound of this stage's input queue; 0 =
                         CV_PIPELINE_DEFAULT_CAPACITY; or CV_UNBOUNDED */
  bool ordered;       /* emit in input order (see "Ordered output") */
  size_t reorder_window; /* ordered only (else ignored): most inputs a worker
                            may run ahead of the oldest unfinished one;
                            0 = 4 x workers */
  size_t batch;       /* most items a worker takes from the queue at once,
                         and emits it buffers before handing them on.
                         0 = CV_BATCH_AUTO; 1 hands items out strictly one
                         at a time. */
  cv_worker_init_fn worker_init;     /* optional */
  cv_worker_finish_fn worker_finish; /* optional */
  cv_destroy_fn destroy; /* optional: drops this stage's input items instead
                            of the pipeline's item_destroy */
  void *destroy_arg;
} cv_stage_options;

/* Per-stage statistics.  Counters are cumulative since start; live values
 * are read without stopping the workers, so a snapshot taken while running
 * may be a few items out of step between fields. */
typedef struct cv_stage_stats {
  const char *name;     /* owned by the pipeline; valid until destroy */
  size_t index;
  unsigned workers;     /* worker threads now (automatic: may change) */
  unsigned workers_peak; /* most at once (= workers for explicit counts) */
  bool workers_auto;    /* the stage's workers are automatic */
  uint64_t in;          /* items that entered this stage's input */
  uint64_t taken;       /* items its workers took from the input */
  uint64_t succeeded;   /* inputs whose function returned CV_OK */
  uint64_t out;         /* items it emitted */
  uint64_t filtered;    /* succeeded without emitting anything */
  uint64_t failed;      /* inputs that failed */
  uint64_t cancelled;   /* its input items dropped by cancellation */
  int64_t busy_ns;      /* summed over workers: time in the stage function */
  int64_t starved_ns;   /* summed over workers: time waiting for input */
  int64_t blocked_ns;   /* summed over workers: time waiting to hand output
                           on (back-pressure, or the reorder window) */
  size_t queue_depth;   /* items in its input queue now */
  size_t queue_high_water; /* most items ever in its input queue */
  size_t queue_capacity;   /* its input queue's bound; 0 = unbounded */
} cv_stage_stats;

/* Creates an empty pipeline.  `opts` may be NULL.  The pipeline copies what
 * it needs from opts.  Returns CV_OK and sets *out, CV_EINVAL (out NULL,
 * unknown policy, negative interval, output capacity too large), CV_ENOMEM,
 * CV_ESYS. */
CV_EXTERN int cv_pipeline_create(cv_pipeline **out,
                                 const cv_pipeline_options *opts);

/* Appends a stage.  Only before cv_pipeline_start().  Returns CV_OK,
 * CV_EINVAL (p, opts or opts->fn NULL, capacity too large), CV_ESTATE
 * (already started), CV_ENOMEM. */
CV_EXTERN int cv_pipeline_add_stage(cv_pipeline *p,
                                    const cv_stage_options *opts);

/* Creates the queues and starts every worker (plus the source, sink and
 * monitor threads), and returns once every worker_init has run.  If an init
 * fails, the started workers are stopped (their finish hooks run), the
 * pipeline is left failed (wait returns CV_EFAILED; the summary names the
 * stage) and its code is returned.
 * Returns CV_OK, CV_EINVAL (no stages), CV_ESTATE (started twice),
 * CV_ECANCELED (cancelled before start: nothing runs), CV_ENOMEM, CV_ESYS
 * (thread creation failed; the pipeline is then cancelled), or an init's
 * code. */
CV_EXTERN int cv_pipeline_start(cv_pipeline *p);

/* Feeds one item to the first stage, blocking while its queue is full, up
 * to `timeout_ns`.  On CV_OK the pipeline owns the item; on any error the
 * caller still does.  Any thread.
 * Returns CV_OK, CV_EFULL (CV_NOWAIT and full), CV_ETIMEDOUT, CV_ECLOSED
 * (input already closed), CV_ECANCELED (cancelled or failed fast, also when
 * woken from a blocked put), CV_ESTATE (not started, or a source is set),
 * CV_EINVAL (p NULL, a negative timeout other than CV_FOREVER: as for
 * every timeout here, see queue.h). */
CV_EXTERN int cv_pipeline_put(cv_pipeline *p, void *item, int64_t timeout_ns);

/* Feeds n items in order; see cv_queue_put_many().  *nput (may be NULL)
 * receives how many the pipeline took; the rest still belong to the caller.
 * Returns as cv_pipeline_put; n == 0 is CV_EINVAL, as in the queue. */
CV_EXTERN int cv_pipeline_put_many(cv_pipeline *p, void *const *items,
                                   size_t n, size_t *nput, int64_t timeout_ns);

/* Closes the pipeline's input: no more puts; what was fed drains through.
 * Idempotent.  Returns CV_OK, CV_ESTATE (not started, or a source is set),
 * CV_EINVAL. */
CV_EXTERN int cv_pipeline_close_input(cv_pipeline *p);

/* Takes one output item into *item (which the caller then owns), blocking
 * while none is ready, up to `timeout_ns`.  Items leave in the order the
 * last stage emitted them.
 * Returns CV_OK, CV_EEMPTY (CV_NOWAIT, none ready), CV_ETIMEDOUT, CV_ECLOSED
 * (the pipeline has finished and every output was taken), CV_ECANCELED
 * (cancelled or failed fast; remaining outputs were destroyed), CV_ESTATE
 * (not started, or a sink is set), CV_EINVAL. */
CV_EXTERN int cv_pipeline_get(cv_pipeline *p, void **item, int64_t timeout_ns);

/* Waits as cv_pipeline_get for at least one output, then takes up to max
 * that are ready.  *nget receives the count.  Returns as cv_pipeline_get;
 * max == 0 is CV_EINVAL. */
CV_EXTERN int cv_pipeline_get_many(cv_pipeline *p, void **items, size_t max,
                                   size_t *nget, int64_t timeout_ns);

/* Waits up to `timeout_ns` until every worker, the source and the sink have
 * finished (the input must be closed for that, or the pipeline cancelled),
 * then joins the threads.  Not from a stage function or callback of p (it
 * would wait for itself).  It does not wait for the caller to take outputs:
 * with a bounded output queue, read it (until CV_ECLOSED) before waiting, or
 * from another thread.  May be called again, and from several threads.
 * Returns CV_OK (drained; under CV_ON_ERROR_SKIP some items may have failed:
 * see the summary), CV_EFAILED (failed fast, or a worker_init failed),
 * CV_ECANCELED, CV_ETIMEDOUT, CV_ESTATE (not started), CV_EINVAL. */
CV_EXTERN int cv_pipeline_wait(cv_pipeline *p, int64_t timeout_ns);

/* Cancels the pipeline (see "Cancellation").  Returns at once without
 * waiting for workers to stop; call cv_pipeline_wait() for that.  Queued
 * items are destroyed on the calling thread before it returns.  Idempotent;
 * before start it makes start return CV_ECANCELED.  Any thread, including
 * stage functions and callbacks, but not a signal handler.
 * Returns CV_OK or CV_EINVAL. */
CV_EXTERN int cv_pipeline_cancel(cv_pipeline *p);

/* Requests cancellation from a signal handler: async-signal-safe (an atomic
 * store and a write(2) to a pipe the monitor thread sleeps on; errno is
 * preserved).  The monitor thread then performs cv_pipeline_cancel() within
 * microseconds.  Install the handler after cv_pipeline_create() and remove
 * it before cv_pipeline_destroy().  Before start it makes start return
 * CV_ECANCELED.  A handler still running on another thread when destroy
 * begins is safe: once destroy has begun, calls return CV_ESHUTDOWN without
 * touching the pipe, and destroy waits for calls in progress before it
 * closes it.  No call may begin after destroy has returned (p is freed):
 * clear the pointer your handler reads and wait for handlers already in it
 * first.  Returns CV_OK, CV_ESHUTDOWN (destroy has begun) or CV_EINVAL. */
CV_EXTERN int cv_pipeline_cancel_async(cv_pipeline *p);

/* True once the pipeline was cancelled or failed fast.  For stage functions
 * doing long work, so they can stop early (then just return; the input is
 * counted as cancelled). */
CV_EXTERN bool cv_stage_cancelled(const cv_stage_ctx *ctx);

/* Passes `item` on to the next stage (or the output), in emit order; may
 * block for back-pressure.  The item belongs to the pipeline from this call
 * on, whatever it returns.  Only on the thread and during the call `ctx` was
 * given to.
 * Returns CV_OK, CV_ECANCELED (pipeline cancelled: the item was destroyed;
 * stop and return), CV_EINVAL (ctx NULL). */
CV_EXTERN int cv_emit(cv_stage_ctx *ctx, void *item);

/* Records why the current item fails and returns `code`, for
 * `return cv_stage_fail(ctx, CV_EIO, "HTTP %d for %s", status, url);`.
 * The message (printf format, truncated to 255 bytes) goes to the error
 * callback and, for the first error, into the summary.  `code` must be
 * non-zero (CV_OK becomes CV_EFAILED). */
CV_EXTERN int cv_stage_fail(cv_stage_ctx *ctx, int code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Accessors for the stage function: the per-worker state set by
 * worker_init (NULL without one), the stage's `arg` (the source's
 * source_arg), the worker's number within its stage, the stage's name
 * ("source" for the source). */
CV_EXTERN void *cv_stage_worker_state(const cv_stage_ctx *ctx);
CV_EXTERN void *cv_stage_arg(const cv_stage_ctx *ctx);
CV_EXTERN unsigned cv_stage_worker_index(const cv_stage_ctx *ctx);
CV_EXTERN const char *cv_stage_name(const cv_stage_ctx *ctx);
/* The pipeline the function runs in, e.g. to cv_pipeline_cancel() it. */
CV_EXTERN cv_pipeline *cv_stage_pipeline(const cv_stage_ctx *ctx);

/* Fills *out with what happened so far (exact after the end).  Any thread.
 * Returns CV_OK or CV_EINVAL. */
CV_EXTERN int cv_pipeline_summary_get(const cv_pipeline *p,
                                      cv_pipeline_summary *out);

/* The accounting check: true when
 *   fed + split_extra == delivered + filtered + failed + cancelled + pending,
 * i.e. every item is accounted for exactly once.  Always true of a summary
 * taken after cv_pipeline_wait() returned (a live one may be off by the
 * items moving while it was read). */
CV_EXTERN bool cv_pipeline_summary_balanced(const cv_pipeline_summary *s);

/* Number of stages. */
CV_EXTERN size_t cv_pipeline_stage_count(const cv_pipeline *p);

/* Fills *out with stage `index`'s statistics.  Any thread, any time after
 * add_stage (zeros before start).  Returns CV_OK or CV_EINVAL (bad index). */
CV_EXTERN int cv_pipeline_stage_stats(const cv_pipeline *p, size_t index,
                                      cv_stage_stats *out);

/* The stage that limits throughput: the one whose workers spent the largest
 * share of their time in the stage function (busy / (busy + starved +
 * blocked)); ties go to the deeper input queue.  Sets *index if not NULL.
 * Returns the stage's name (owned by the pipeline), or NULL when no stage
 * has done any work yet. */
CV_EXTERN const char *cv_pipeline_bottleneck(const cv_pipeline *p,
                                             size_t *index);

/* Writes the statistics as an aligned table for people: one row per stage,
 * then the summary and the bottleneck.  Returns CV_OK, CV_EINVAL, CV_EIO. */
CV_EXTERN int cv_pipeline_stats_print(const cv_pipeline *p, FILE *f);

/* Writes the statistics and summary as one JSON object (no trailing
 * newline) into buf, NUL-terminated, as snprintf would.  *needed (may be
 * NULL) receives the length without the NUL.  Returns CV_OK, CV_EFULL
 * (buf too small: truncated, still terminated if len > 0), CV_EINVAL.
 * Keys: "pipeline", "elapsed_ns", "status", "finished", "summary" {fed,
 * delivered, filtered, failed, cancelled, split_extra, pending, balanced,
 * error_code, error_stage, error_message}, "bottleneck", and "stages": an
 * array of objects with the cv_stage_stats field names. */
CV_EXTERN int cv_pipeline_stats_json(const cv_pipeline *p, char *buf,
                                     size_t len, size_t *needed);

/* Cancels if still running, waits for every thread, destroys items left in
 * the queues and frees everything.  From its first instruction on,
 * cv_pipeline_cancel_async() returns CV_ESHUTDOWN; calls already in progress
 * are waited for before the wake-up pipe is closed (write end first).  Must
 * not be called from a stage function or callback.  Returns CV_OK or
 * CV_EINVAL. */
CV_EXTERN int cv_pipeline_destroy(cv_pipeline *p);

#ifdef __cplusplus
}
#endif
#endif /* CONVEYOR_PIPELINE_H */
