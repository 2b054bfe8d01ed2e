/* bench/impl_glib_bounded.c - GAsyncQueue bounded the usual way: a second
 * GAsyncQueue pre-filled with `capacity` tokens; a put first takes a token
 * (blocking while none is left), a get returns one.  GLib has no batch call
 * for this pair, so batches loop. */
#include "bench.h"

#include <glib.h>

const char *const bq_impl_name = "glib-bounded";
const bool bq_impl_bounded = true;
const char *const bq_impl_batch = "loop";

#define TOKEN ((gpointer)1)

struct bq {
  GAsyncQueue *items;
  GAsyncQueue *tokens; /* one per free slot */
};

bq *bq_create(size_t capacity, int producers, int consumers) {
  (void)producers, (void)consumers;
  bq *q = g_new0(bq, 1);
  q->items = g_async_queue_new();
  q->tokens = g_async_queue_new();
  for (size_t i = 0; i < capacity; i++)
    g_async_queue_push(q->tokens, TOKEN);
  return q;
}

void bq_destroy(bq *q) {
  g_async_queue_unref(q->items);
  g_async_queue_unref(q->tokens);
  g_free(q);
}

void bq_put(bq *q, void *item) {
  (void)g_async_queue_pop(q->tokens);
  g_async_queue_push(q->items, item);
}

void *bq_get(bq *q) {
  void *item = g_async_queue_pop(q->items);
  g_async_queue_push(q->tokens, TOKEN);
  return item;
}

void bq_put_many(bq *q, void *const *items, size_t n) {
  for (size_t i = 0; i < n; i++)
    bq_put(q, items[i]);
}

size_t bq_get_many(bq *q, void **items, size_t max) {
  size_t n = 0;
  items[n++] = bq_get(q);
  void *item;
  while (n < max && (item = g_async_queue_try_pop(q->items)) != NULL) {
    g_async_queue_push(q->tokens, TOKEN);
    items[n++] = item;
  }
  return n;
}
