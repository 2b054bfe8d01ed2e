/* src/transport_queue.c - the in-process pipeline transport: a cv_queue
 * behind the cv__transport vtable (see transport.h).  Each operation is a
 * direct call into the queue; the wrapper adds no locking and no per-item
 * work. */
#include <stdlib.h>

#include "transport.h"
#include "internal.h"
#include "ring.h"

typedef struct queue_transport {
  cv__transport base; /* first: the vtable */
  cv_queue *q;
} queue_transport;

static cv_queue *Q(const cv__transport *t) {
  return ((const queue_transport *)t)->q;
}

static int qt_put(cv__transport *t, void *item, int64_t timeout_ns) {
  return cv_queue_put(Q(t), item, timeout_ns);
}

static int qt_put_many(cv__transport *t, void *const *items, size_t n,
                       size_t *nput, int64_t timeout_ns) {
  return cv_queue_put_many(Q(t), items, n, nput, timeout_ns);
}

static int qt_get(cv__transport *t, void **item, int64_t timeout_ns) {
  return cv_queue_get(Q(t), item, timeout_ns);
}

static int qt_get_many(cv__transport *t, void **items, size_t max,
                       size_t *nget, int64_t timeout_ns) {
  return cv_queue_get_many(Q(t), items, max, nget, timeout_ns);
}

static int qt_close(cv__transport *t) { return cv_queue_close(Q(t)); }

static int qt_shutdown(cv__transport *t) {
  return cv_queue_shutdown(Q(t), CV_SHUTDOWN_IMMEDIATE);
}

static int qt_stats(const cv__transport *t, cv__transport_stats *out) {
  cv_queue_stats s;
  int rc = cv_queue_stats_get(Q(t), &s);
  if (rc != CV_OK)
    return rc;
  out->puts = s.puts;
  out->gets = s.gets;
  out->discarded = s.discarded;
  out->size = s.size;
  out->high_water = s.high_water;
  out->capacity = s.capacity;
  return CV_OK;
}

static void qt_destroy(cv__transport *t) {
  if (!t)
    return;
  cv_queue_destroy(Q(t));
  free(t);
}

static const cv__transport_ops queue_ops = {
    .kind = "queue",
    .put = qt_put,
    .put_many = qt_put_many,
    .get = qt_get,
    .get_many = qt_get_many,
    .close = qt_close,
    .shutdown = qt_shutdown,
    .stats = qt_stats,
    .destroy = qt_destroy,
};

int cv__transport_queue_create(cv__transport **out, size_t capacity,
                               cv_destroy_fn drop, void *drop_arg) {
  queue_transport *t = calloc(1, sizeof(*t));
  if (!t)
    return CV_ENOMEM;
  cv_queue_options o = {.order = CV_FIFO,
                        .capacity = capacity,
                        .destroy = drop,
                        .destroy_arg = drop_arg};
  /* The asymmetric barrier pairing, as cv_queue_create's: puts and gets pay
   * no barrier, a thread about to sleep pays with membarrier(2) (see
   * cv__queue_create_ex).  Workers now sleep about once per hundred items
   * of a no-op pipeline (batched takes, the sink on the last stage's
   * workers), and there the symmetric pairing's barrier on every put and
   * get cost more than the sleeps' interrupts: W4 one item at a time
   * 6.0M -> 9.3M items/s, batched 15.8M -> 18.4M (docs/benchmarks.md). */
  int rc = cv__queue_create_ex(&t->q, &o, CV__QUEUE_ASYMMETRIC);
  if (rc != CV_OK) {
    free(t);
    return rc;
  }
  t->base.ops = &queue_ops;
  t->base.queue = t->q;
  *out = &t->base;
  return CV_OK;
}
