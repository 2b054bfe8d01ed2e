/* bench/impl_limit.c - the hardware limit a 1-producer 1-consumer queue can
 * approach on this machine: a minimal single-producer single-consumer ring
 * with cached indices that only spins (no sleeping, no close, no counters).
 *
 * Each side owns one index on a cache line of its own and keeps a private
 * copy of the other side's index, refreshed only when the copy says full
 * (empty): in a stream, the lines move between the cores once per batch of
 * slots instead of once per item.  The slot index is the position masked, so
 * the capacity is rounded up to a power of two (1 and 1024 are already).
 *
 * Correct only for one producer and one consumer (W1, W3, W5, W6).  A side
 * that waits yields the CPU after every 4096 pauses: a pure spin would, on a
 * machine with more runnable threads than CPUs, burn whole time slices while
 * the peer it waits for is not running; the limit is meant to show what the
 * hardware allows, not what the scheduler does to a spinner. */
#define _GNU_SOURCE
#include "bench.h"

#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>

const char *const bq_impl_name = "limit";
const bool bq_impl_bounded = true;
const char *const bq_impl_batch = "loop";

struct bq {
  alignas(64) _Atomic size_t tail; /* producer: items published */
  size_t head_cache;               /* producer's copy of head */
  alignas(64) _Atomic size_t head; /* consumer: items taken */
  size_t tail_cache;               /* consumer's copy of tail */
  alignas(64) size_t mask;
  size_t cap;
  void **slots;
};

static inline void relax(unsigned *spins) {
  if (++*spins % 4096 == 0)
    sched_yield();
  else {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
}

bq *bq_create(size_t capacity, int producers, int consumers) {
  if (producers != 1 || consumers != 1)
    bench_die("limit: a single-producer single-consumer ring (1P1C only)");
  size_t cap = 1;
  while (cap < capacity)
    cap <<= 1;
  bq *q = aligned_alloc(64, sizeof *q);
  if (!q || !(q->slots = calloc(cap, sizeof *q->slots)))
    bench_die("limit: out of memory");
  atomic_init(&q->tail, 0);
  atomic_init(&q->head, 0);
  q->head_cache = q->tail_cache = 0;
  q->cap = cap;
  q->mask = cap - 1;
  return q;
}

void bq_destroy(bq *q) {
  free(q->slots);
  free(q);
}

void bq_put(bq *q, void *item) {
  size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
  unsigned spins = 0;
  while (t - q->head_cache == q->cap) {
    q->head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
    if (t - q->head_cache == q->cap)
      relax(&spins);
  }
  q->slots[t & q->mask] = item;
  atomic_store_explicit(&q->tail, t + 1, memory_order_release);
}

void *bq_get(bq *q) {
  size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
  unsigned spins = 0;
  while (h == q->tail_cache) {
    q->tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire);
    if (h == q->tail_cache)
      relax(&spins);
  }
  void *item = q->slots[h & q->mask];
  atomic_store_explicit(&q->head, h + 1, memory_order_release);
  return item;
}

void bq_put_many(bq *q, void *const *items, size_t n) {
  for (size_t i = 0; i < n; i++)
    bq_put(q, items[i]);
}

size_t bq_get_many(bq *q, void **items, size_t max) {
  items[0] = bq_get(q);
  size_t n = 1;
  size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
  while (n < max && h != atomic_load_explicit(&q->tail, memory_order_acquire)) {
    items[n++] = q->slots[h & q->mask];
    atomic_store_explicit(&q->head, ++h, memory_order_release);
  }
  return n;
}
