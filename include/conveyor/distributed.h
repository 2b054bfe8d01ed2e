/* conveyor/distributed.h - one pipeline, its stages spread over processes and
 * machines, on a Redis (or Valkey) server.
 *
 * Every process of a run builds the same pipeline (same stages, in the same
 * order, with the same functions), then calls cv_pipeline_set_broker() before
 * cv_pipeline_start().  One process is the coordinator: it creates the run on
 * the server, feeds the first stage (cv_pipeline_put or a source), reads the
 * output (cv_pipeline_get or a sink) and sees the whole run's summary.  Any
 * number of other processes join the same run as workers; each runs the
 * workers of the stages named in `stages` (all of them by default) and ends
 * by itself when those stages have drained, or when the run is cancelled.
 *
 *   cv_broker_options bo = {.url = "redis://10.0.0.5:6379", .run = "photos",
 *                           .coordinator = true, .stages = ""};
 *   cv_pipeline_set_broker(p, &bo);
 *   cv_pipeline_start(p);            // then put / close_input / get / wait
 *
 * Items are pointers in a process and bytes on the wire: a codec
 * (cv_codec) turns the items entering stage i (boundary i; boundary
 * `nstages` is the output) into bytes and back.  Stage functions, the
 * worker_init/worker_finish hooks, error policies, cancellation, the summary
 * and the statistics calls behave as in one process.  What differs:
 *   - Items move between stages effectively once: an input is acknowledged
 *     only by the atomic commit that writes its outputs, and a worker whose
 *     lease was lost (its process was thought dead) has its commit refused.
 *     Side effects inside stage functions are at-least-once: an item whose
 *     worker died runs again elsewhere, so sinks must be idempotent.
 *   - A worker process that stops heart-beating for `lease_ns` is dead: any
 *     other worker of the stage takes its items.  A live worker keeps its
 *     items however long they take.  An item taken `max_deliveries` times by
 *     workers that died goes to the run's dead-letter stream and counts as
 *     failed.
 *   - Capacity bounds queued plus in-flight items (a slot comes back when
 *     the item is committed, not when it is taken).
 *   - Ordered stages are refused (CV_EINVAL at start).
 *   - Cancelling any process of the run (cv_pipeline_cancel, a fail-fast
 *     error) cancels the whole run.
 *   - Items move in batches: a worker takes and commits many at once, and a
 *     batch crosses the server as one stream entry, sized by what the
 *     stage it enters takes at once (its `batch`, or what CV_BATCH_AUTO
 *     measured); a partial batch goes as soon as nothing more is there.
 *   - Every process's statistics are the whole run's: item counts from the
 *     server; busy/starved/blocked times and worker counts are this
 *     process's own workers' plus what the other processes published with
 *     their last heartbeat (every lease/3, and once more when their workers
 *     are done; the coordinator's summary waits for those).
 * docs/distributed.md says how to run it and what can go wrong.
 */
#ifndef CONVEYOR_DISTRIBUTED_H
#define CONVEYOR_DISTRIBUTED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conveyor/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Turns an item into bytes: sets *buf to a malloc'd buffer (conveyor frees
 * it with free()) and *len.  Returns CV_OK or a code that fails the item. */
typedef int (*cv_encode_fn)(const void *item, void *arg, void **buf,
                            size_t *len);
/* Turns bytes back into an item the stage function then owns as usual.
 * `buf` is valid only during the call.  Returns CV_OK or a code that fails
 * the item. */
typedef int (*cv_decode_fn)(const void *buf, size_t len, void *arg,
                            void **item);

/* Both callbacks are called from any worker thread at once. */
typedef struct cv_codec {
  cv_encode_fn encode;
  cv_decode_fn decode;
  void *arg;
} cv_codec;

/* Options for cv_pipeline_set_broker.  Zero fields take the defaults. */
typedef struct cv_broker_options {
  const char *url; /* "redis://[:password@]host[:port][/db]", or a unix
                      socket path ("/run/redis.sock" or "unix:/run/...") */
  const char *run; /* the run's name, shared by every process of the run:
                      [A-Za-z0-9_.-], at most 64 bytes */
  bool coordinator; /* creates the run, feeds it and reads its output */
  const char *stages; /* comma-separated names of the stages whose workers
                         run in this process; NULL = all, "" = none */
  cv_codec codec; /* for every boundary without its own
                     (cv_pipeline_set_codec); zero = the item pointer's
                     value as 8 bytes, for items that are integers */
  int64_t lease_ns; /* how long a silent process keeps its items; 0 = 30 s */
  unsigned max_deliveries; /* takes before an item is dead-lettered; 0 = 3 */
  int64_t timeout_ns; /* connect timeout, and how long an unreachable server
                         is retried before the run fails; 0 = 10 s */
  size_t max_item_bytes; /* larger encoded items fail; 0 = 8 MiB; at
                            most 4 GiB - 1 */
} cv_broker_options;

/* Makes p a process of a distributed run.  Before cv_pipeline_start() and
 * after every cv_pipeline_add_stage().  Copies what it needs; nothing
 * connects until start, which then fails with CV_EIO (and the summary's
 * error message names host:port, never the password) if the server cannot
 * be reached within the timeout, or with CV_ESTATE if a coordinator finds a
 * run of that name already on the server.
 * cv_pipeline_add_stage() after it fails with CV_ESTATE.
 * Returns CV_OK, CV_EINVAL (bad URL or run name, an unknown stage name, a
 * stage with more workers than 999, an ordered stage, a stage with
 * CV_WORKERS_AUTO, max_item_bytes over 4 GiB - 1), CV_ESTATE (started, or
 * set twice), CV_ENOMEM. */
CV_EXTERN int cv_pipeline_set_broker(cv_pipeline *p,
                                     const cv_broker_options *opts);

/* Sets the codec of boundary `boundary`: the items entering stage
 * `boundary`, or the output for boundary == stage count.  After
 * cv_pipeline_set_broker, before start.  Returns CV_OK, CV_EINVAL (bad
 * boundary, a callback missing), CV_ESTATE. */
CV_EXTERN int cv_pipeline_set_codec(cv_pipeline *p, size_t boundary,
                                    const cv_codec *codec);

#ifdef __cplusplus
}
#endif
#endif /* CONVEYOR_DISTRIBUTED_H */
