/* bench/impl_moodycamel_spsc.cpp - the bq interface on moodycamel's
 * BlockingReaderWriterCircularBuffer<void *> (readerwriterqueue): a bounded
 * single-producer single-consumer ring whose blocking waits go through
 * lightweight semaphores (spin a little, then sleep).  1P1C workloads only
 * (W1, W3, W5, W6); it has no batch calls, so W6 loops. */
#include "bench.h"

#include <readerwriterqueue/readerwritercircularbuffer.h>

typedef moodycamel::BlockingReaderWriterCircularBuffer<void *> rw_buffer;

extern "C" {
const char *const bq_impl_name = "moodycamel-spsc";
const bool bq_impl_bounded = true;
const char *const bq_impl_batch = "loop";

bq *bq_create(size_t capacity, int producers, int consumers) {
  if (producers != 1 || consumers != 1)
    bench_die("moodycamel-spsc: a single-producer single-consumer queue (1P1C only)");
  return reinterpret_cast<bq *>(new rw_buffer(capacity));
}

void bq_destroy(bq *q) { delete reinterpret_cast<rw_buffer *>(q); }

void bq_put(bq *q, void *item) { reinterpret_cast<rw_buffer *>(q)->wait_enqueue(item); }

void *bq_get(bq *q) {
  void *item;
  reinterpret_cast<rw_buffer *>(q)->wait_dequeue(item);
  return item;
}

void bq_put_many(bq *q, void *const *items, size_t n) {
  for (size_t i = 0; i < n; i++)
    bq_put(q, items[i]);
}

size_t bq_get_many(bq *q, void **items, size_t max) {
  rw_buffer *b = reinterpret_cast<rw_buffer *>(q);
  b->wait_dequeue(items[0]);
  size_t n = 1;
  while (n < max && b->try_dequeue(items[n]))
    n++;
  return n;
}
}
