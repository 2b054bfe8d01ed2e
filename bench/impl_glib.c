/* bench/impl_glib.c - the bq interface on GLib's GAsyncQueue as it comes:
 * unbounded (capacity is ignored; the table marks it).  Batches use GLib's
 * closest equivalent: one lock around a loop of push_unlocked /
 * pop_unlocked ("locked-loop" in the table). */
#include "bench.h"

#include <glib.h>

const char *const bq_impl_name = "glib";
const bool bq_impl_bounded = false;
const char *const bq_impl_batch = "locked-loop";

bq *bq_create(size_t capacity, int producers, int consumers) {
  (void)producers, (void)consumers;
  (void)capacity;
  return (bq *)g_async_queue_new();
}

void bq_destroy(bq *q) { g_async_queue_unref((GAsyncQueue *)q); }

void bq_put(bq *q, void *item) { g_async_queue_push((GAsyncQueue *)q, item); }

void *bq_get(bq *q) { return g_async_queue_pop((GAsyncQueue *)q); }

void bq_put_many(bq *q, void *const *items, size_t n) {
  GAsyncQueue *aq = (GAsyncQueue *)q;
  g_async_queue_lock(aq);
  for (size_t i = 0; i < n; i++)
    g_async_queue_push_unlocked(aq, items[i]);
  g_async_queue_unlock(aq);
}

size_t bq_get_many(bq *q, void **items, size_t max) {
  GAsyncQueue *aq = (GAsyncQueue *)q;
  size_t n = 0;
  g_async_queue_lock(aq);
  items[n++] = g_async_queue_pop_unlocked(aq);
  void *item;
  while (n < max && (item = g_async_queue_try_pop_unlocked(aq)) != NULL)
    items[n++] = item;
  g_async_queue_unlock(aq);
  return n;
}
