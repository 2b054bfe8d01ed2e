/* queue_shared_cpu: a producer and a consumer confined to one CPU, handing
 * items over through a queue of capacity 1 (the ring, the single-producer
 * single-consumer ring and the mutex queue): every item arrives once and in
 * order, and the two sides still go to sleep now and then instead of only
 * yielding to each other, so that a wake-up can move one of them to another
 * CPU (spin.h, "Sharing a CPU").  Without that, a pair that yields to each
 * other on one CPU sleeps a handful of times in 100,000 hand-offs.
 *
 * Sizes from the environment: SHARED_ITEMS (default 20000). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>

#include "queue_util.h"

static long items_n;

typedef struct side {
  cv_queue *q;
  long sum, count;
  bool in_order;
} side;

static void *producer(void *arg) {
  side *s = arg;
  for (long i = 1; i <= items_n; i++)
    CHECK_OK(cv_queue_put(s->q, IP(i), CV_FOREVER));
  return NULL;
}

static void *consumer(void *arg) {
  side *s = arg;
  s->in_order = true;
  for (long i = 1; i <= items_n; i++) {
    void *item;
    CHECK_OK(cv_queue_get(s->q, &item, CV_FOREVER));
    long v = (long)(intptr_t)item;
    if (v != i)
      s->in_order = false;
    s->sum += v;
    s->count++;
  }
  return NULL;
}

static void run(unsigned producers, unsigned consumers) {
  cv_queue_options o = {.capacity = 1, .producers = producers, .consumers = consumers};
  side s = {0};
  CHECK_OK(cv_queue_create(&s.q, &o));
  pthread_t p, c;
  CHECK(pthread_create(&c, NULL, consumer, &s) == 0);
  CHECK(pthread_create(&p, NULL, producer, &s) == 0);
  CHECK(pthread_join(p, NULL) == 0);
  CHECK(pthread_join(c, NULL) == 0);
  CHECK_EQ(s.count, items_n);
  CHECK_EQ(s.sum, items_n * (items_n + 1) / 2);
  CHECK(s.in_order);
  cv_queue_stats st = qstats(s.q);
  /* Each side sleeps on the 8th, 16th, 32nd, ... wait in a row that finds
   * the other on its CPU: some 20 times per side in 20,000 hand-offs. */
  uint64_t sleeps = st.get_waits + st.put_waits;
  if (sleeps < 8) {
    fprintf(stderr, "%u/%u: %llu sleeps in %ld hand-offs on one CPU\n", producers,
            consumers, (unsigned long long)sleeps, items_n);
    CHECK(sleeps >= 8);
  }
  CHECK_OK(cv_queue_destroy(s.q));
}

static void body(void) {
  run(0, 0); /* the ring (or the mutex queue) */
  run(1, 1); /* the single-producer single-consumer ring */
}

int main(void) {
  items_n = test_env_long("SHARED_ITEMS", 20000);
  if (items_n < 1000) {
    printf("SHARED_ITEMS must be at least 1000\n");
    return 1;
  }
  /* Both threads inherit the main thread's affinity: its current CPU. */
  int cpu = sched_getcpu();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpu < 0) {
    printf("skipped: sched_getcpu is not available\n");
    return 77;
  }
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    printf("skipped: cannot confine the test to one CPU\n");
    return 77;
  }
  for_each_impl(body);
  return 0;
}
