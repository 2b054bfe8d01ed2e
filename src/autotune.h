/* src/autotune.h - the worker controller of automatic stages (stages with
 * CV_WORKERS_AUTO), see autotune.c.  The pipeline calls these hooks: a
 * pipeline without automatic stages has no controller (p->tune is NULL)
 * and pays nothing. */
#ifndef CONVEYOR_AUTOTUNE_H
#define CONVEYOR_AUTOTUNE_H

#include "conveyor/pipeline.h"

#define CV__TUNE_INTERVAL_NS 100000000 /* 100 ms */

/* Worker slots an automatic stage of p gets: the most workers it could
 * ever run (the pipeline's max_workers, or the stage's own `most` if
 * smaller and not 0). */
unsigned cv__tune_slots(const cv_pipeline *p, unsigned most);

/* What the controller asks of the worker loop (pipeline_worker.c).  The
 * pipeline (pipeline.c) hands it in, so that the arrow between the two
 * points one way: the workers tell the controller that they start and
 * leave (below), and the controller reaches them only through this. */
typedef struct cv__tune_workers {
  /* Starts a worker thread in slot w of an automatic stage whose previous
   * thread (if any) was joined.  Returns CV_OK, CV_ECLOSED (the stage has
   * finished: no worker may join it), CV_ESTATE (the pipeline is finished
   * or cancelled), CV_ESYS. */
  int (*spawn)(cv_stage_ctx *w);
} cv__tune_workers;

/* At start, once the transports exist: creates the controller if p has an
 * automatic stage, which starts workers through `workers` (copied).
 * Returns CV_OK or CV_ENOMEM. */
int cv__tune_create(cv_pipeline *p, const cv__tune_workers *workers);
void cv__tune_destroy(cv_pipeline *p);

/* On a worker thread (of any stage, when p has a controller): as it starts,
 * and (automatic stages) as it leaves. */
void cv__tune_worker_begin(cv_stage_ctx *w);
void cv__tune_worker_end(cv_stage_ctx *w);

/* On the monitor thread: the poll timeout (ms, -1 = none) that also wakes
 * it for the next measurement, and the measurement and decision themselves
 * (joins parked workers at every call, decides once per interval). */
int cv__tune_poll_ms(cv_pipeline *p, int tmo_ms);
void cv__tune_tick(cv_pipeline *p);

#endif /* CONVEYOR_AUTOTUNE_H */
