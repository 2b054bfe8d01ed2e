/* broker.h - photopipe across machines: one coordinator, any number of
 * worker processes, a Redis server in between (conveyor/distributed.h).
 *
 * DESIGN
 * The run is a distributed pipeline of one stage, "photos", whose item is a
 * job: a photo's source and the album name the coordinator claimed for it
 * in the manifest, with the run's settings.  A worker thread takes a job
 * and does the whole of download -> resize -> upload for it in its own
 * process (steps.h, the same functions as the single-process stages), so a
 * photo's bytes never go through the broker; what comes back on the
 * pipeline's output is a small result (status, reason, dimensions, hashes,
 * time per step, which worker), from which the coordinator updates the
 * manifest, the registry and the report.
 *
 *   coordinator: list -> claim name -> [broker: photos] -> result -> manifest
 *   worker (N threads each):          take job -> download, resize, upload
 *
 * Idempotent by name.  The coordinator settles the name before the job
 * leaves (claimed in the manifest; a file already under a newly claimed
 * name is someone else's, so the name moves on to "-2", "-3", ... there and
 * then), and workers store by replacing: temporary file + rename over the
 * name (a PUT to it, for WebDAV).  A job run twice (its first worker was
 * killed after storing, before committing) writes the same name again and
 * never leaves a "-2" twin.
 *
 * Settings travel in every job (a few hundred bytes): a worker needs no
 * options but the broker and the run, may start before the coordinator,
 * never runs a job with another run's settings, and nothing is left on the
 * server for anyone to clean up.  Credentials never travel: an album URL
 * with a password, and source URLs with one, are refused; workers take the
 * album's from PHOTOPIPE_ALBUM_USER/_PASSWORD and the sources' from
 * ~/.netrc, each on its own machine.
 *
 * Temporary files.  A worker names its temporary files
 * ".NAME.pp+RUN+HOST+PID-SEQ.tmp" (RUN and HOST as 8 hex digits of their
 * hash): a PID means nothing on another machine, so the single-process
 * rule (stale.h: remove when the PID is dead) never touches them, and at
 * the end of the run, when every job has been committed, the coordinator
 * removes those of its run (a worker killed while writing leaves one).
 */
#ifndef PP_BROKER_H
#define PP_BROKER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conveyor.h"
#include "options.h"
#include "photo.h"
#include "steps.h"
#include "wire.h"

/* The coordinator's side of a run (the wire: wire.h). */
typedef struct pp_broker pp_broker;

/* Adds the run's one stage, "photos", to pl: `workers` threads (a
 * coordinator's are dropped: it runs none), `capacity` jobs queued or in
 * flight, run-wide. */
int pp_broker_add_stage(cv_pipeline *pl, unsigned workers, size_t capacity);

/* Makes pl (one stage, from pp_broker_add_stage) the coordinator of run
 * o->run on o->broker: jobs carry o's settings, results are applied to the
 * registry's photos through `lookup`.  Returns NULL after printing a
 * one-line message (no password in it). */
pp_broker *pp_broker_coordinator(cv_pipeline *pl, const pp_options *o, pp_work *w,
                                 pp_lookup_fn lookup, void *lookup_arg);

/* The coordinator's sink, for each photo whose result came back: records
 * it in the manifest (stored, or touched by --skip-existing) and counts it
 * for the report. */
void pp_broker_result(pp_broker *b, pp_photo *p);

/* After the run: a photo handed to the broker whose result never came was
 * canceled (the run was) or dead-lettered (`why`, the run's first error);
 * temporary files of the run's workers are removed from a local album. */
void pp_broker_finish(pp_broker *b, pp_photo *const *photos, size_t n, int canceled,
                      const char *why);

/* The per-step and per-worker table, for people. */
void pp_broker_report(FILE *f, const pp_broker *b, cv_pipeline *pl);

/* The same as JSON members for pp_report_json: ,"broker":{"run":...,
 * "where":..., "steps":{"download":{"photos":N,"ms_per_photo":X},...},
 * "workers":[{"name":...,"photos":N},...], "removed_temporary":N}. */
void pp_broker_json(FILE *f, void *b);

/* "host:port" of the broker (or the socket path): no password. */
const char *pp_broker_where(const pp_broker *b);

void pp_broker_free(pp_broker *b);

/* `photopipe worker --broker URL --run NAME`: joins the run and works on
 * its photos until it drains or is cancelled.  Returns the exit code. */
int pp_worker_run(const pp_options *o);

/* The broker URL with PHOTOPIPE_BROKER_PASSWORD put in when the URL has
 * no password of its own (malloc'd), and the URL as it may be shown. */
char *pp_broker_url(const char *url);
void pp_broker_shown(const char *url, char *buf, size_t size);

#endif /* PP_BROKER_H */
