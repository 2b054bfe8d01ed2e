/* bench/impl_conveyor.c - the bq interface on conveyor's cv_queue (FIFO,
 * bounded, native batch calls).  Compiled twice: bench_conveyor with the
 * default options (the multi-producer multi-consumer ring), and, with
 * BENCH_CONVEYOR_SPSC defined, bench_conveyor_spsc, which passes the
 * workload's producer and consumer counts as the queue's hints (one and one
 * select the single-producer single-consumer ring). */
#include "bench.h"

#include <conveyor.h>

#ifdef BENCH_CONVEYOR_SPSC
const char *const bq_impl_name = "conveyor-spsc";
#else
const char *const bq_impl_name = "conveyor";
#endif
const bool bq_impl_bounded = true;
const char *const bq_impl_batch = "native";

static void check(int rc, const char *what) {
  if (rc != CV_OK)
    bench_die("conveyor: %s: %s", what, cv_strerror(rc));
}

bq *bq_create(size_t capacity, int producers, int consumers) {
  cv_queue_options o = {.order = CV_FIFO, .capacity = capacity};
#ifdef BENCH_CONVEYOR_SPSC
  o.producers = (unsigned)producers;
  o.consumers = (unsigned)consumers;
#else
  (void)producers, (void)consumers;
#endif
  cv_queue *q = NULL;
  check(cv_queue_create(&q, &o), "create");
  return (bq *)q;
}

void bq_destroy(bq *q) { check(cv_queue_destroy((cv_queue *)q), "destroy"); }

void bq_put(bq *q, void *item) {
  check(cv_queue_put((cv_queue *)q, item, CV_FOREVER), "put");
}

void *bq_get(bq *q) {
  void *item;
  check(cv_queue_get((cv_queue *)q, &item, CV_FOREVER), "get");
  return item;
}

void bq_put_many(bq *q, void *const *items, size_t n) {
  size_t done = 0;
  check(cv_queue_put_many((cv_queue *)q, items, n, &done, CV_FOREVER),
        "put_many");
  if (done != n)
    bench_die("conveyor: put_many put %zu of %zu", done, n);
}

size_t bq_get_many(bq *q, void **items, size_t max) {
  size_t n = 0;
  check(cv_queue_get_many((cv_queue *)q, items, max, &n, CV_FOREVER),
        "get_many");
  return n;
}
