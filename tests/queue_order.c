/* queue_order: FIFO, LIFO and stable priority order, across ring wrap-around,
 * unbounded growth and NULL items, checked against a reference model. */
#include "queue_util.h"

/* A priority item: ordered by key; `tag` tells equal keys apart. */
typedef struct prio_item {
  int key;
  int tag;
} prio_item;

static int calls_with_arg; /* comparisons that received the right arg */

static int cmp_key(const void *a, const void *b, void *arg) {
  if (arg == &calls_with_arg)
    calls_with_arg++;
  int x = ((const prio_item *)a)->key, y = ((const prio_item *)b)->key;
  return (x > y) - (x < y);
}

/* Puts and gets a random mix on a FIFO or LIFO queue and compares every get
 * with a reference deque.  `capacity` 0 is unbounded. */
static void model_check(cv_queue_order order, size_t capacity, int steps,
                        uint64_t seed) {
  cv_queue_options o = {.order = order, .capacity = capacity};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  size_t cap = capacity ? capacity : 5000;
  intptr_t *model = malloc(cap * sizeof(*model)); /* model[0..n) oldest first */
  CHECK(model);
  size_t n = 0;
  intptr_t next = 1;
  for (int s = 0; s < steps; s++) {
    /* Drift towards full, then towards empty, so both ends and every wrap
     * position are exercised. */
    bool filling = (s / (int)(2 * cap + 7)) % 2 == 0;
    bool put = (test_rand(&seed) % 4) < (filling ? 3u : 1u);
    if (put) {
      if (n == cap && !capacity)
        continue; /* unbounded, and the model is full: stop filling */
      int rc = cv_queue_try_put(q, IP(next));
      if (n == cap) {
        CHECK_RC(rc, CV_EFULL);
        CHECK(cv_queue_full(q));
        continue;
      }
      CHECK_OK(rc);
      model[n++] = next++;
    } else {
      void *it = IP(-1);
      int rc = cv_queue_try_get(q, &it);
      if (n == 0) {
        CHECK_RC(rc, CV_EEMPTY);
        CHECK(it == IP(-1)); /* untouched on failure */
        CHECK(cv_queue_empty(q));
        continue;
      }
      CHECK_OK(rc);
      intptr_t want;
      if (order == CV_FIFO) {
        want = model[0];
        memmove(model, model + 1, (n - 1) * sizeof(*model));
      } else {
        want = model[n - 1];
      }
      n--;
      CHECK_EQ((intptr_t)it, want);
    }
    CHECK_EQ(cv_queue_size(q), n);
  }
  free(model);
  CHECK_OK(cv_queue_destroy(q));
}

/* Unbounded growth while the ring has wrapped: the relayout must keep the
 * order. */
static void growth_keeps_order(cv_queue_order order) {
  cv_queue_options o = {.order = order};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  void *it;
  intptr_t next = 0, oldest = 0;
  for (int round = 0; round < 6; round++) {
    /* Put 3/4 of what is taken back out, plus a growing surplus. */
    for (int i = 0; i < 40 << round; i++)
      CHECK_OK(cv_queue_put(q, IP(next++), CV_NOWAIT));
    if (order == CV_FIFO) {
      for (int i = 0; i < 30 << round; i++) {
        CHECK_OK(cv_queue_try_get(q, &it));
        CHECK_EQ((intptr_t)it, oldest++);
      }
    }
  }
  if (order == CV_FIFO) {
    while (cv_queue_try_get(q, &it) == CV_OK)
      CHECK_EQ((intptr_t)it, oldest++);
    CHECK_EQ(oldest, next);
  } else {
    while (cv_queue_try_get(q, &it) == CV_OK)
      CHECK_EQ((intptr_t)it, --next);
    CHECK_EQ(next, 0);
  }
  CHECK_OK(cv_queue_destroy(q));
}

/* The reference order: by key, then by put order. */
static int cmp_ref(const void *a, const void *b) {
  const prio_item *x = a, *y = b;
  if (x->key != y->key)
    return (x->key > y->key) - (x->key < y->key);
  return (x->tag > y->tag) - (x->tag < y->tag);
}

/* Random keys with many ties: gets come out sorted by key, and equal keys in
 * the order they were put.  Interleaves puts and gets so the heap is tested
 * in every shape, not only filled then drained. */
static void priority_stable(size_t capacity, int count, uint64_t seed) {
  cv_queue_options o = {.order = CV_PRIORITY, .capacity = capacity,
                        .compare = cmp_key, .compare_arg = &calls_with_arg};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  prio_item *items = malloc((size_t)count * sizeof(*items));
  CHECK(items);
  int put = 0, got = 0;
  while (got < count) {
    bool can_put = put < count && !cv_queue_full(q);
    if (can_put && (test_rand(&seed) % 3 != 0 || cv_queue_empty(q))) {
      items[put].key = (int)(test_rand(&seed) % 16);
      items[put].tag = put;
      CHECK_OK(cv_queue_try_put(q, &items[put]));
      put++;
      continue;
    }
    void *it;
    CHECK_OK(cv_queue_try_get(q, &it));
    prio_item *p = it;
    /* It must be the least (key, tag) of what is queued now. */
    prio_item *least = NULL;
    for (int i = 0; i < put; i++) {
      if (items[i].key >= 0 && (!least || cmp_ref(&items[i], least) < 0))
        least = &items[i];
    }
    CHECK(p == least);
    p->key = -1; /* mark as got */
    got++;
  }
  for (int i = 0; i < count; i++)
    CHECK_EQ(items[i].key, -1); /* each got exactly once */
  CHECK(calls_with_arg > 0);
  free(items);
  CHECK_OK(cv_queue_destroy(q));
}

/* Fill then drain: the full sort, compared with qsort on (key, tag). */
static void priority_sorted(int count, uint64_t seed) {
  cv_queue_options o = {.order = CV_PRIORITY, .compare = cmp_key};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  prio_item *items = malloc((size_t)count * sizeof(*items));
  prio_item *ref = malloc((size_t)count * sizeof(*ref));
  CHECK(items && ref);
  for (int i = 0; i < count; i++) {
    items[i].key = (int)(test_rand(&seed) % 50);
    items[i].tag = i;
    ref[i] = items[i];
    CHECK_OK(cv_queue_put(q, &items[i], CV_FOREVER));
  }
  qsort(ref, (size_t)count, sizeof(*ref), cmp_ref);
  for (int i = 0; i < count; i++) {
    void *it;
    CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
    CHECK_EQ(((prio_item *)it)->key, ref[i].key);
    CHECK_EQ(((prio_item *)it)->tag, ref[i].tag);
  }
  CHECK(cv_queue_empty(q));
  free(items);
  free(ref);
  CHECK_OK(cv_queue_destroy(q));
}

/* NULL is an item like any other: it is queued, counted and handed back. */
static void null_items(void) {
  for (int order = CV_FIFO; order <= CV_PRIORITY; order++) {
    cv_queue_options o = {.order = order, .capacity = 2, .compare = cmp_intptr};
    cv_queue *q;
    CHECK_OK(cv_queue_create(&q, &o));
    CHECK_OK(cv_queue_put(q, NULL, CV_NOWAIT));
    CHECK_OK(cv_queue_put(q, NULL, CV_NOWAIT));
    CHECK_RC(cv_queue_put(q, NULL, CV_NOWAIT), CV_EFULL);
    CHECK_EQ(cv_queue_size(q), 2);
    for (int i = 0; i < 2; i++) {
      void *it = IP(7);
      CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
      CHECK(it == NULL);
    }
    void *it = IP(7);
    CHECK_RC(cv_queue_get(q, &it, CV_NOWAIT), CV_EEMPTY);
    CHECK(it == IP(7));
    CHECK_OK(cv_queue_destroy(q));
  }
}

static void test_main(void) {
  int steps = (int)test_env_long("CV_TEST_STEPS", 20000);
  uint64_t seed = 0x9E3779B97F4A7C15ULL;
  static const size_t caps[] = {1, 2, 3, 7, 64, 65, 0};
  for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
    model_check(CV_FIFO, caps[i], steps, seed + i);
    model_check(CV_LIFO, caps[i], steps, seed + 100 + i);
  }
  growth_keeps_order(CV_FIFO);
  growth_keeps_order(CV_LIFO);
  priority_stable(0, steps / 4, seed);
  priority_stable(5, steps / 4, seed + 1);
  priority_stable(1, 200, seed + 2);
  priority_sorted(steps / 4, seed + 3);
  null_items();
}

int main(void) {
  for_each_impl(test_main);
  printf("queue_order: ok\n");
  return 0;
}
