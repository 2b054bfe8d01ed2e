/* queue_stress_mpmc: many producers and consumers, every put and get form,
 * each order and capacity - every item arrives exactly once (count, checksum,
 * per-item seen counters) and, in a FIFO queue, each producer's items in the
 * order it put them.
 *
 * Sizes from the environment: CV_STRESS_PRODUCERS (4), CV_STRESS_CONSUMERS
 * (4), CV_STRESS_ITEMS per producer (5000).  CI runs short; raise them for a
 * soak. */
#include <stdatomic.h>

#include "queue_util.h"

typedef struct config {
  const char *name;
  cv_queue_order order;
  size_t capacity;
} config;

typedef struct shared {
  cv_queue *q;
  const config *cfg;
  long producers, consumers, items; /* items per producer */
  atomic_int *seen;                 /* per item: times got */
  atomic_llong sum_got;
  atomic_long count_got;
  atomic_long order_errors;
} shared;

typedef struct worker {
  shared *s;
  long id;
  pthread_t th;
} worker;

/* Item values: producer p's k-th item is p * items + k + 1 (never NULL). */
static intptr_t item_value(const shared *s, long p, long k) {
  return (intptr_t)(p * s->items + k + 1);
}

static void *producer(void *arg) {
  worker *w = arg;
  shared *s = w->s;
  uint64_t rng = 0x1234567ULL + (uint64_t)w->id * 7919;
  long k = 0;
  while (k < s->items) {
    uint64_t r = test_rand(&rng);
    if (r % 4 == 0) {
      /* A batch of 1..8, possibly cut short by a timeout: resume after
       * what went in. */
      void *batch[8];
      size_t want = 1 + (size_t)(r >> 8) % 8, nput;
      if ((long)want > s->items - k)
        want = (size_t)(s->items - k);
      for (size_t i = 0; i < want; i++)
        batch[i] = IP(item_value(s, w->id, k + (long)i));
      int rc = cv_queue_put_many(s->q, batch, want, &nput,
                                 r % 8 == 0 ? CV_USEC(50) : CV_FOREVER);
      CHECK(rc == CV_OK || rc == CV_ETIMEDOUT);
      CHECK(rc != CV_OK || nput == want);
      k += (long)nput;
    } else if (r % 4 == 1) {
      int rc = cv_queue_try_put(s->q, IP(item_value(s, w->id, k)));
      CHECK(rc == CV_OK || rc == CV_EFULL);
      if (rc == CV_OK)
        k++;
    } else if (r % 4 == 2) {
      int rc = cv_queue_put(s->q, IP(item_value(s, w->id, k)), CV_USEC(100));
      CHECK(rc == CV_OK || rc == CV_ETIMEDOUT);
      if (rc == CV_OK)
        k++;
    } else {
      CHECK_OK(cv_queue_put(s->q, IP(item_value(s, w->id, k)), CV_FOREVER));
      k++;
    }
  }
  return NULL;
}

static void take(shared *s, void *it, long *last_seq) {
  intptr_t v = (intptr_t)it;
  long total = s->producers * s->items;
  if (v < 1 || v > total) {
    fprintf(stderr, "unknown item %ld\n", (long)v);
    exit(1);
  }
  atomic_fetch_add(&s->seen[v - 1], 1);
  atomic_fetch_add(&s->sum_got, (long long)v);
  atomic_fetch_add(&s->count_got, 1);
  long p = (long)(v - 1) / s->items, seq = (long)(v - 1) % s->items;
  if (s->cfg->order == CV_FIFO) {
    if (seq <= last_seq[p])
      atomic_fetch_add(&s->order_errors, 1);
    last_seq[p] = seq;
  }
}

static void *consumer(void *arg) {
  worker *w = arg;
  shared *s = w->s;
  uint64_t rng = 0xABCDEFULL + (uint64_t)w->id * 104729;
  long *last_seq = malloc((size_t)s->producers * sizeof(long));
  CHECK(last_seq);
  for (long p = 0; p < s->producers; p++)
    last_seq[p] = -1;
  for (;;) {
    uint64_t r = test_rand(&rng);
    int rc;
    if (r % 4 == 0) {
      void *batch[8];
      size_t n;
      rc = cv_queue_get_many(s->q, batch, 1 + (size_t)(r >> 8) % 8, &n,
                             CV_FOREVER);
      if (rc == CV_OK) {
        CHECK(n >= 1);
        for (size_t i = 0; i < n; i++) {
          take(s, batch[i], last_seq);
          /* A priority batch comes out sorted. */
          if (s->cfg->order == CV_PRIORITY && i > 0 &&
              (intptr_t)batch[i - 1] > (intptr_t)batch[i])
            atomic_fetch_add(&s->order_errors, 1);
        }
        CHECK_OK(cv_queue_task_done_n(s->q, n));
      }
    } else {
      void *it;
      int64_t t = r % 4 == 1 ? CV_NOWAIT : r % 4 == 2 ? CV_USEC(100) : CV_FOREVER;
      rc = cv_queue_get(s->q, &it, t);
      if (rc == CV_OK) {
        take(s, it, last_seq);
        CHECK_OK(cv_queue_task_done(s->q));
      }
    }
    if (rc == CV_ECLOSED)
      break;
    CHECK(rc == CV_OK || rc == CV_EEMPTY || rc == CV_ETIMEDOUT);
  }
  free(last_seq);
  return NULL;
}

static void run(const config *cfg, long producers, long consumers, long items) {
  shared s = {.cfg = cfg, .producers = producers, .consumers = consumers,
              .items = items};
  long total = producers * items;
  cv_queue_options o = {.order = cfg->order, .capacity = cfg->capacity,
                        .compare = cmp_intptr};
  CHECK_OK(cv_queue_create(&s.q, &o));
  s.seen = calloc((size_t)total, sizeof(*s.seen));
  CHECK(s.seen);
  worker *ws = calloc((size_t)(producers + consumers), sizeof(*ws));
  CHECK(ws);
  int64_t t0 = test_now_ns();
  for (long i = 0; i < producers + consumers; i++) {
    ws[i].s = &s;
    ws[i].id = i < producers ? i : i - producers;
    CHECK(pthread_create(&ws[i].th, NULL, i < producers ? producer : consumer,
                         &ws[i]) == 0);
  }
  for (long i = 0; i < producers; i++)
    CHECK(pthread_join(ws[i].th, NULL) == 0);
  /* Everything put; join returns once consumers have task_done it all. */
  CHECK_OK(cv_queue_join(s.q, CV_FOREVER));
  CHECK_EQ(atomic_load(&s.count_got), total);
  CHECK_OK(cv_queue_close(s.q));
  for (long i = producers; i < producers + consumers; i++)
    CHECK(pthread_join(ws[i].th, NULL) == 0);

  long long want_sum = (long long)total * (total + 1) / 2;
  CHECK_EQ(atomic_load(&s.sum_got), want_sum);
  for (long i = 0; i < total; i++) {
    if (atomic_load(&s.seen[i]) != 1) {
      fprintf(stderr, "%s: item %ld seen %d times\n", cfg->name, i + 1,
              atomic_load(&s.seen[i]));
      exit(1);
    }
  }
  CHECK_EQ(atomic_load(&s.order_errors), 0);
  cv_queue_stats st = qstats(s.q);
  CHECK_EQ(st.puts, total);
  CHECK_EQ(st.gets, total);
  CHECK_EQ(st.size, 0);
  CHECK_EQ(st.unfinished, 0);
  if (cfg->capacity)
    CHECK(st.high_water <= cfg->capacity);
  printf("%-14s %ld x %ld items, %ld consumers: %.0f ms, %" PRIu64
         " get waits, %" PRIu64 " put waits\n",
         cfg->name, producers, items, consumers,
         (double)(test_now_ns() - t0) / 1e6, st.get_waits, st.put_waits);
  CHECK_OK(cv_queue_destroy(s.q));
  free(ws);
  free(s.seen);
}

static void test_main(void) {
  long producers = test_env_long("CV_STRESS_PRODUCERS", 4);
  long consumers = test_env_long("CV_STRESS_CONSUMERS", 4);
  long items = test_env_long("CV_STRESS_ITEMS", 5000);
  CHECK(producers > 0 && consumers > 0 && items > 0);
  static const config configs[] = {
      {"fifo cap 1", CV_FIFO, 1},       {"fifo cap 16", CV_FIFO, 16},
      {"fifo unbounded", CV_FIFO, 0},   {"lifo cap 8", CV_LIFO, 8},
      {"priority cap 8", CV_PRIORITY, 8}, {"priority unb.", CV_PRIORITY, 0},
  };
  for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++)
    run(&configs[i], producers, consumers, items);
  /* One producer and one consumer: the hand-off with no contention. */
  run(&configs[0], 1, 1, items);
}

int main(void) {
  for_each_impl(test_main);
  printf("queue_stress_mpmc: ok\n");
  return 0;
}
