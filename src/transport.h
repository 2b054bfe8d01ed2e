/* src/transport.h - how pipeline stages hand items to each other.
 *
 * A stage never calls a queue directly: it reads its input and writes to the
 * next stage through a cv__transport, a small vtable.  The in-process
 * cv_queue implements it (transport_queue.c); a queue that lives in another
 * process or in Redis can implement the same operations and plug in without
 * touching the stage code in pipeline_worker.c.
 *
 * Contract, for every implementation:
 *   - put/put_many/get/get_many have the meaning, blocking behaviour and
 *     return codes of cv_queue_put_many/cv_queue_get_many (CV_ECLOSED after
 *     close, CV_ESHUTDOWN after shutdown, the partial counts on errors).
 *   - close is a half-close: puts fail, gets drain then report CV_ECLOSED.
 *   - shutdown is immediate: blocked calls wake, gets fail at once, and every
 *     queued item is handed to the drop callback given at creation.
 *   - destroy hands every item still queued to the drop callback and frees.
 *   - stats gives a consistent snapshot; `puts` counts items that entered,
 *     `gets` items taken, `discarded` items given to the drop callback, so
 *     that puts == gets + discarded + size at every snapshot.
 *   - Every operation but destroy is thread-safe.
 */
#ifndef CONVEYOR_TRANSPORT_H
#define CONVEYOR_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conveyor/queue.h"

typedef struct cv__transport cv__transport;

typedef struct cv__transport_stats {
  uint64_t puts;      /* items that entered */
  uint64_t gets;      /* items taken */
  uint64_t discarded; /* items given to the drop callback */
  size_t size;        /* items held now */
  size_t high_water;  /* most items ever held */
  size_t capacity;    /* bound; 0 = unbounded */
  /* A transport shared by several processes (transport_redis.c) reports
   * the whole run's stage counters here and sets `remote`: the pipeline
   * then shows these instead of its own workers' counts. */
  bool remote;
  uint64_t taken, succeeded, out, filtered, failed;
  /* The other processes' workers of the stage (remote only): their
   * summed times as they last published them, and how many they run;
   * the pipeline adds its own workers' live ones. */
  int64_t busy_ns, starved_ns, blocked_ns;
  unsigned workers;
} cv__transport_stats;

typedef struct cv__transport_ops {
  const char *kind; /* "queue", ... for diagnostics */
  int (*put)(cv__transport *t, void *item, int64_t timeout_ns);
  int (*put_many)(cv__transport *t, void *const *items, size_t n,
                  size_t *nput, int64_t timeout_ns);
  int (*get)(cv__transport *t, void **item, int64_t timeout_ns);
  int (*get_many)(cv__transport *t, void **items, size_t max, size_t *nget,
                  int64_t timeout_ns);
  int (*close)(cv__transport *t);
  int (*shutdown)(cv__transport *t);
  int (*stats)(const cv__transport *t, cv__transport_stats *out);
  void (*destroy)(cv__transport *t);
} cv__transport_ops;

/* Implementations embed this as their first member (zeroed). */
struct cv__transport {
  const cv__transport_ops *ops;
  /* The in-process transport's queue, else NULL: the pipeline's workers
   * call it directly, without the two indirect calls per item of ops. */
  cv_queue *queue;
};

/* An in-process transport on a cv_queue (FIFO).  capacity 0 = unbounded.
 * `drop` (may be NULL) receives discarded items.  Returns CV_OK, CV_ENOMEM,
 * CV_ESYS. */
int cv__transport_queue_create(cv__transport **out, size_t capacity,
                               cv_destroy_fn drop, void *drop_arg);

#endif /* CONVEYOR_TRANSPORT_H */
