/* seed_conveyor: the seed's download -> resize -> upload pipeline with 3, 4
 * and 5 workers, written the way conveyor means a queue pipeline to be
 * written.
 *
 * Compare seed_pipeline.c (the post's programs/6_worker_pools_pipeline.py):
 * no sentinels, no start_threads/stop_threads chain, no task_done/join
 * bookkeeping.  Each worker loops until its input is closed and drained; the
 * last worker of a stage to leave closes the next stage's queue, so closing
 * the first queue shuts the whole line down in order.  Bounded queues keep a
 * fast stage from piling up items in front of a slow one.
 *
 * For stages, worker pools, errors, cancellation and statistics without
 * writing even this much, see pipeline_seed.c (the pipeline API).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "conveyor.h"

#define ITEMS 1000

static void *download(void *item) { return item; }
static void *resize(void *item) { return item; }
static void *upload(void *item) { return item; }

struct stage {
  void *(*func)(void *);
  int workers;
  cv_queue *in, *out;
  atomic_int live; /* workers still running */
};

static void *worker(void *arg) {
  struct stage *s = arg;
  void *item;
  while (cv_queue_get(s->in, &item, CV_FOREVER) == CV_OK)
    if (cv_queue_put(s->out, s->func(item), CV_FOREVER) != CV_OK)
      return NULL; /* cannot happen here: nobody closes s->out early */
  if (atomic_fetch_sub(&s->live, 1) == 1)
    cv_queue_close(s->out); /* the last one out closes the next stage */
  return NULL;
}

static void *feed(void *arg) {
  cv_queue *first = arg;
  for (uintptr_t i = 1; i <= ITEMS; i++)
    if (cv_queue_put(first, (void *)i, CV_FOREVER) != CV_OK)
      break;
  cv_queue_close(first); /* no more photos: the line drains and stops */
  return NULL;
}

int main(void) {
  struct stage stages[] = {
      {.func = download, .workers = 3},
      {.func = resize, .workers = 4},
      {.func = upload, .workers = 5},
  };
  cv_queue *q[4];
  for (int i = 0; i < 4; i++)
    if (cv_queue_create(&q[i], &(cv_queue_options){.capacity = 64}) != CV_OK)
      return 1;
  pthread_t threads[12], feeder;
  int n = 0;
  for (int s = 0; s < 3; s++) {
    stages[s].in = q[s];
    stages[s].out = q[s + 1];
    atomic_init(&stages[s].live, stages[s].workers);
    for (int w = 0; w < stages[s].workers; w++)
      if (pthread_create(&threads[n++], NULL, worker, &stages[s]) != 0)
        return 1;
  }
  /* Feed from a thread of its own while this one collects: with bounded
   * queues, one thread doing both could wait on itself. */
  if (pthread_create(&feeder, NULL, feed, q[0]) != 0)
    return 1;

  void *item;
  size_t done = 0;
  uintptr_t sum = 0;
  while (cv_queue_get(q[3], &item, CV_FOREVER) == CV_OK) {
    done++;
    sum += (uintptr_t)item;
  }
  pthread_join(feeder, NULL);
  for (int i = 0; i < n; i++)
    pthread_join(threads[i], NULL);
  for (int i = 0; i < 4; i++)
    cv_queue_destroy(q[i]);
  printf("%zu items finished\n", done);
  /* Every item arrived exactly once: the count and the sum 1 + ... + N. */
  return done == ITEMS && sum == (uintptr_t)ITEMS * (ITEMS + 1) / 2 ? 0 : 1;
}
