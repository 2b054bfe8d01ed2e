/* src/pipeline_worker.h - the worker loop's entry points (pipeline_worker.c),
 * for the pipeline's lifecycle (pipeline.c).  The arrows point one way:
 * pipeline.c starts, cancels and joins the threads that pipeline_worker.c
 * runs, and those reach the queues through the transports; nothing in
 * pipeline_worker.c calls pipeline.c.  The worker controller (autotune.c)
 * starts workers through the spawn that pipeline.c hands it, and does not
 * call into pipeline_worker.c itself. */
#ifndef CONVEYOR_PIPELINE_WORKER_H
#define CONVEYOR_PIPELINE_WORKER_H

#include "pipeline_internal.h"

static inline bool cv__is_cancelled(const cv_pipeline *p) {
  return atomic_load_explicit(&((cv_pipeline *)p)->cancelled,
                              memory_order_acquire);
}

/* Most outputs a last-stage worker keeps while another is in the sink
 * (sink_deliver); its buffer is allocated with the stage. */
#define CV__SINK_BACKLOG 64

/* Items between two clock reads of a worker that measures its cost per
 * item without CV_BATCH_AUTO (note_cost). */
#define CV__COST_SAMPLE 64

/* Thread bodies: a worker of a stage (arg: its cv_stage_ctx) and the
 * source (arg: p->source_ctx). */
void *cv__worker_main(void *arg);
void *cv__source_main(void *arg);

/* Starts a worker thread in slot w of an automatic stage: the spawn that
 * the pipeline hands the worker controller (cv__tune_workers in autotune.h
 * says when it may be called and what it returns). */
int cv__worker_spawn(cv_stage_ctx *w);

/* Errors and cancellation.  record_error_locked keeps the first error
 * (p->mu held); report_failure records one failed item (or source or sink
 * call), calls the error callback and applies the policy; cancel sets
 * `cancelled` and shuts every transport down (once); shutdown_all only
 * does the latter. */
void cv__record_error_locked(cv_pipeline *p, const char *stage, int code,
                             const char *msg);
void cv__report_failure(cv_pipeline *p, const char *stage, size_t index,
                        int code, const cv_stage_ctx *ctx, void *item);
void cv__cancel(cv_pipeline *p);
void cv__shutdown_all(cv_pipeline *p);

/* A thread (or start's own reference, or a distributed run's hold) is
 * done; the last one marks the pipeline finished and wakes the monitor. */
void cv__thread_exit_ref(cv_pipeline *p);

/* The pieces a distributed run's worker loop reuses (through the core
 * table in pipeline.c): one item's call and its accounting, the
 * CV_BATCH_AUTO estimate, a wait's bookkeeping (kind: CV__WAIT_*), and
 * reading the output into the sink. */
int cv__process_one(cv_stage_ctx *w, void *item);
void cv__auto_adjust(cv_stage_ctx *w, size_t n, int64_t ns);
int64_t cv__wait_begin(cv_stage_ctx *w, int kind);
void cv__wait_end(cv_stage_ctx *w, int kind, int64_t t0);
void cv__sink_drain(cv_pipeline *p);

#endif /* CONVEYOR_PIPELINE_WORKER_H */
