/* queue_ring_snapshot: size and the counters are values the queue really
 * had, while other threads put and get: size never exceeds the capacity,
 * gets never exceed puts, and size == puts - gets - discarded in every
 * snapshot.  One producer and one consumer pass items through a queue of
 * one (so every put and get moves the positions) while a third thread reads
 * cv_queue_size and cv_queue_stats_get as fast as it can.
 * CV_STRESS_ITEMS (default 40000) items per implementation. */
#include <stdatomic.h>

#include "queue_util.h"

static long items;
static atomic_int stop;

static void *producer(void *arg) {
  cv_queue *q = arg;
  for (long i = 0; i < items; i++)
    CHECK_OK(cv_queue_put(q, IP(i), CV_FOREVER));
  return NULL;
}

static void *consumer(void *arg) {
  cv_queue *q = arg;
  for (long i = 0; i < items; i++) {
    void *it;
    CHECK_OK(cv_queue_get(q, &it, CV_FOREVER));
    CHECK(it == IP(i));
  }
  atomic_store(&stop, 1);
  return NULL;
}

static void body(void) {
  cv_queue *q;
  cv_queue_options o = {.order = CV_FIFO, .capacity = 1};
  CHECK_OK(cv_queue_create(&q, &o));
  atomic_store(&stop, 0);
  pthread_t p, c;
  CHECK(pthread_create(&p, NULL, producer, q) == 0);
  CHECK(pthread_create(&c, NULL, consumer, q) == 0);
  long samples = 0;
  while (!atomic_load(&stop)) {
    size_t n = cv_queue_size(q);
    if (n > 1) {
      fprintf(stderr, "size %zu in a queue of capacity 1\n", n);
      exit(1);
    }
    cv_queue_stats st = qstats(q);
    if (st.size > 1 || st.gets > st.puts ||
        st.size != st.puts - st.gets - st.discarded) {
      fprintf(stderr,
              "snapshot never true: puts %" PRIu64 " gets %" PRIu64
              " discarded %" PRIu64 " size %zu\n",
              st.puts, st.gets, st.discarded, st.size);
      exit(1);
    }
    samples++;
  }
  CHECK(pthread_join(p, NULL) == 0);
  CHECK(pthread_join(c, NULL) == 0);
  CHECK(samples > 0);
  CHECK_OK(cv_queue_destroy(q));
}

int main(void) {
  items = test_env_long("CV_STRESS_ITEMS", 40000);
  for_each_impl(body);
  return 0;
}
