/* bench/impl_moodycamel.cpp - the bq interface on moodycamel's
 * BlockingConcurrentQueue<void *>: unbounded (capacity only sizes its first
 * blocks; the table marks it), implicit per-thread producers (no tokens),
 * native bulk calls enqueue_bulk / wait_dequeue_bulk. */
#include "bench.h"

#include <concurrentqueue/blockingconcurrentqueue.h>

typedef moodycamel::BlockingConcurrentQueue<void *> mc_queue;

extern "C" {
const char *const bq_impl_name = "moodycamel";
const bool bq_impl_bounded = false;
const char *const bq_impl_batch = "native";

bq *bq_create(size_t capacity, int producers, int consumers) {
  (void)producers, (void)consumers;
  return reinterpret_cast<bq *>(new mc_queue(capacity));
}

void bq_destroy(bq *q) { delete reinterpret_cast<mc_queue *>(q); }

void bq_put(bq *q, void *item) {
  if (!reinterpret_cast<mc_queue *>(q)->enqueue(item))
    bench_die("moodycamel: enqueue failed");
}

void *bq_get(bq *q) {
  void *item;
  reinterpret_cast<mc_queue *>(q)->wait_dequeue(item);
  return item;
}

void bq_put_many(bq *q, void *const *items, size_t n) {
  if (!reinterpret_cast<mc_queue *>(q)->enqueue_bulk(items, n))
    bench_die("moodycamel: enqueue_bulk failed");
}

size_t bq_get_many(bq *q, void **items, size_t max) {
  return reinterpret_cast<mc_queue *>(q)->wait_dequeue_bulk(items, max);
}
}
