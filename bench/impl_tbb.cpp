/* bench/impl_tbb.cpp - the bq interface on oneTBB's
 * concurrent_bounded_queue<void *> (set_capacity, blocking push/pop).  It has
 * no batch call, so batches loop. */
#include "bench.h"

#include <tbb/concurrent_queue.h>

typedef tbb::concurrent_bounded_queue<void *> tbb_queue;

extern "C" {
const char *const bq_impl_name = "tbb";
const bool bq_impl_bounded = true;
const char *const bq_impl_batch = "loop";

bq *bq_create(size_t capacity, int producers, int consumers) {
  (void)producers, (void)consumers;
  tbb_queue *q = new tbb_queue();
  q->set_capacity(static_cast<std::ptrdiff_t>(capacity));
  return reinterpret_cast<bq *>(q);
}

void bq_destroy(bq *q) { delete reinterpret_cast<tbb_queue *>(q); }

void bq_put(bq *q, void *item) { reinterpret_cast<tbb_queue *>(q)->push(item); }

void *bq_get(bq *q) {
  void *item = nullptr;
  reinterpret_cast<tbb_queue *>(q)->pop(item);
  return item;
}

void bq_put_many(bq *q, void *const *items, size_t n) {
  tbb_queue *tq = reinterpret_cast<tbb_queue *>(q);
  for (size_t i = 0; i < n; i++)
    tq->push(items[i]);
}

size_t bq_get_many(bq *q, void **items, size_t max) {
  tbb_queue *tq = reinterpret_cast<tbb_queue *>(q);
  size_t n = 0;
  tq->pop(items[n++]);
  while (n < max && tq->try_pop(items[n]))
    n++;
  return n;
}
}
