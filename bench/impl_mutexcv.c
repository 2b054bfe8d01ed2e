/* bench/impl_mutexcv.c - the baseline: a textbook bounded ring buffer behind
 * one mutex and two condition variables (not_empty, not_full), signalled on
 * every put and get whether or not anyone waits.  Batch calls move as many
 * items as fit under one lock and broadcast. */
#include "bench.h"

#include <pthread.h>
#include <stdlib.h>

const char *const bq_impl_name = "mutex+condvar";
const bool bq_impl_bounded = true;
const char *const bq_impl_batch = "native";

struct bq {
  pthread_mutex_t lock;
  pthread_cond_t not_empty;
  pthread_cond_t not_full;
  size_t capacity;
  size_t head;  /* index of the oldest item */
  size_t count; /* items held */
  void **slots;
};

bq *bq_create(size_t capacity, int producers, int consumers) {
  (void)producers, (void)consumers;
  bq *q = calloc(1, sizeof *q);
  if (!q || !(q->slots = calloc(capacity, sizeof *q->slots)))
    bench_die("mutex+condvar: out of memory");
  pthread_mutex_init(&q->lock, NULL);
  pthread_cond_init(&q->not_empty, NULL);
  pthread_cond_init(&q->not_full, NULL);
  q->capacity = capacity;
  return q;
}

void bq_destroy(bq *q) {
  pthread_cond_destroy(&q->not_full);
  pthread_cond_destroy(&q->not_empty);
  pthread_mutex_destroy(&q->lock);
  free(q->slots);
  free(q);
}

void bq_put(bq *q, void *item) {
  pthread_mutex_lock(&q->lock);
  while (q->count == q->capacity)
    pthread_cond_wait(&q->not_full, &q->lock);
  q->slots[(q->head + q->count) % q->capacity] = item;
  q->count++;
  pthread_cond_signal(&q->not_empty);
  pthread_mutex_unlock(&q->lock);
}

void *bq_get(bq *q) {
  pthread_mutex_lock(&q->lock);
  while (q->count == 0)
    pthread_cond_wait(&q->not_empty, &q->lock);
  void *item = q->slots[q->head];
  q->head = (q->head + 1) % q->capacity;
  q->count--;
  pthread_cond_signal(&q->not_full);
  pthread_mutex_unlock(&q->lock);
  return item;
}

void bq_put_many(bq *q, void *const *items, size_t n) {
  size_t done = 0;
  pthread_mutex_lock(&q->lock);
  while (done < n) {
    while (q->count == q->capacity)
      pthread_cond_wait(&q->not_full, &q->lock);
    while (done < n && q->count < q->capacity) {
      q->slots[(q->head + q->count) % q->capacity] = items[done++];
      q->count++;
    }
    pthread_cond_broadcast(&q->not_empty);
  }
  pthread_mutex_unlock(&q->lock);
}

size_t bq_get_many(bq *q, void **items, size_t max) {
  size_t n = 0;
  pthread_mutex_lock(&q->lock);
  while (q->count == 0)
    pthread_cond_wait(&q->not_empty, &q->lock);
  while (n < max && q->count > 0) {
    items[n++] = q->slots[q->head];
    q->head = (q->head + 1) % q->capacity;
    q->count--;
  }
  pthread_cond_broadcast(&q->not_full);
  pthread_mutex_unlock(&q->lock);
  return n;
}
