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

/* At start, once the transports exist: creates the controller if p has an
 * automatic stage.  Returns CV_OK or CV_ENOMEM. */
int cv__tune_create(cv_pipeline *p);
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
