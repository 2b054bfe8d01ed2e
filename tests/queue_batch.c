/* queue_batch: put_many and get_many - order, partial results on timeout,
 * batches larger than the capacity, and waking every thread a batch serves. */
#include "queue_util.h"

static void order_and_counts(cv_queue_order order, size_t capacity) {
  cv_queue_options o = {.order = order, .capacity = capacity,
                        .compare = cmp_intptr};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  /* Two batches, so that the priority order differs from put order. */
  void *a[4] = {IP(5), IP(7), IP(6), IP(8)}, *b[3] = {IP(1), IP(3), IP(2)};
  size_t n;
  CHECK_OK(cv_queue_put_many(q, a, 4, &n, CV_NOWAIT));
  CHECK_EQ(n, 4);
  CHECK_OK(cv_queue_put_many(q, b, 3, &n, CV_NOWAIT));
  CHECK_EQ(n, 3);
  CHECK_EQ(cv_queue_size(q), 7);
  static const intptr_t fifo[] = {5, 7, 6, 8, 1, 3, 2};
  static const intptr_t lifo[] = {2, 3, 1, 8, 6, 7, 5};
  static const intptr_t prio[] = {1, 2, 3, 5, 6, 7, 8};
  const intptr_t *want = order == CV_FIFO ? fifo : order == CV_LIFO ? lifo : prio;
  void *out[8];
  CHECK_OK(cv_queue_get_many(q, out, 3, &n, CV_NOWAIT)); /* max limits */
  CHECK_EQ(n, 3);
  CHECK_OK(cv_queue_get_many(q, out + 3, 8, &n, CV_NOWAIT)); /* what is there */
  CHECK_EQ(n, 4);
  for (int i = 0; i < 7; i++)
    CHECK_EQ((intptr_t)out[i], want[i]);
  CHECK_RC(cv_queue_get_many(q, out, 8, &n, CV_NOWAIT), CV_EEMPTY);
  CHECK_EQ(n, 0);
  cv_queue_stats st = qstats(q);
  CHECK_EQ(st.puts, 7);
  CHECK_EQ(st.gets, 7);
  CHECK_EQ(st.unfinished, 7);
  CHECK_OK(cv_queue_task_done_n(q, 7));
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_OK(cv_queue_destroy(q));
}

/* A batch that does not fit in time: the first *nput went in, in order, the
 * rest did not. */
static void partial_on_timeout(void) {
  cv_queue_options o = {.capacity = 3};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  void *items[5] = {IP(1), IP(2), IP(3), IP(4), IP(5)};
  size_t n = 99;
  int64_t t0 = test_now_ns();
  CHECK_RC(cv_queue_put_many(q, items, 5, &n, CV_MSEC(50)), CV_ETIMEDOUT);
  CHECK(test_now_ns() - t0 >= CV_MSEC(50));
  CHECK_EQ(n, 3);
  CHECK_RC(cv_queue_put_many(q, items + 3, 2, &n, CV_NOWAIT), CV_EFULL);
  CHECK_EQ(n, 0);
  /* Without nput, the call still works. */
  CHECK_RC(cv_queue_put_many(q, items + 3, 2, NULL, CV_NOWAIT), CV_EFULL);
  void *out[5];
  CHECK_OK(cv_queue_get_many(q, out, 5, &n, CV_NOWAIT));
  CHECK_EQ(n, 3);
  for (int i = 0; i < 3; i++)
    CHECK(out[i] == items[i]);
  CHECK_EQ(qstats(q).puts, 3);
  CHECK_OK(cv_queue_destroy(q));
}

/* A batch ten times the capacity goes through a slow consumer in order,
 * blocking for room as needed, and nothing else is lost. */
typedef struct drain_arg {
  cv_queue *q;
  intptr_t expect; /* items 0..expect-1, in order */
  int ok;
} drain_arg;

static void *drainer(void *arg) {
  drain_arg *d = arg;
  void *out[4];
  size_t n;
  intptr_t next = 0;
  d->ok = 1;
  while (next < d->expect) {
    CHECK_OK(cv_queue_get_many(d->q, out, 4, &n, CV_SEC(30)));
    CHECK(n >= 1 && n <= 4);
    for (size_t i = 0; i < n; i++) {
      if ((intptr_t)out[i] != next++)
        d->ok = 0;
    }
  }
  return NULL;
}

static void larger_than_capacity(void) {
  enum { CAP = 5, N = 50 };
  cv_queue_options o = {.capacity = CAP};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  void *items[N];
  for (int i = 0; i < N; i++)
    items[i] = IP(i);
  drain_arg d = {q, N, 0};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, drainer, &d) == 0);
  size_t n;
  CHECK_OK(cv_queue_put_many(q, items, N, &n, CV_SEC(30)));
  CHECK_EQ(n, N);
  CHECK(pthread_join(th, NULL) == 0);
  CHECK(d.ok);
  cv_queue_stats st = qstats(q);
  CHECK_EQ(st.puts, N);
  CHECK_EQ(st.gets, N);
  CHECK(st.high_water <= CAP);
  CHECK_OK(cv_queue_destroy(q));
}

/* One batch serves several sleepers: a put_many of three wakes all three
 * blocked getters, a get_many that frees three slots wakes all three
 * blocked putters. */
static void batch_wakes_all_it_serves(void) {
  enum { K = 3 };
  cv_queue_options o = {.capacity = K};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  op g[K];
  for (int i = 0; i < K; i++)
    op_start(&g[i], OP_GET, q, NULL, CV_SEC(60));
  wait_sleepers(q, K, 0);
  void *items[K] = {IP(1), IP(2), IP(3)};
  CHECK_OK(cv_queue_put_many(q, items, K, NULL, CV_NOWAIT));
  intptr_t sum = 0;
  for (int i = 0; i < K; i++) {
    op_join(&g[i]);
    CHECK_OK(g[i].rc);
    sum += (intptr_t)g[i].item;
  }
  CHECK_EQ(sum, 6);

  CHECK_OK(cv_queue_put_many(q, items, K, NULL, CV_NOWAIT));
  op p[K];
  for (int i = 0; i < K; i++)
    op_start(&p[i], OP_PUT, q, IP(10 + i), CV_SEC(60));
  wait_sleepers(q, K, K);
  void *out[K];
  size_t n;
  CHECK_OK(cv_queue_get_many(q, out, K, &n, CV_NOWAIT));
  CHECK_EQ(n, K);
  for (int i = 0; i < K; i++) {
    op_join(&p[i]);
    CHECK_OK(p[i].rc);
  }
  CHECK_OK(cv_queue_get_many(q, out, K, &n, CV_NOWAIT));
  CHECK_EQ(n, K);
  sum = 0;
  for (int i = 0; i < K; i++)
    sum += (intptr_t)out[i];
  CHECK_EQ(sum, 10 + 11 + 12);
  CHECK_OK(cv_queue_destroy(q));
}

/* A get_many asleep on an empty queue returns as soon as one item comes. */
static void get_many_wakes_for_one(void) {
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &(cv_queue_options){.capacity = 16}));
  void *out[8];
  op g = {.items = out, .n = 8};
  op_start(&g, OP_GET_MANY, q, NULL, CV_SEC(60));
  wait_sleepers(q, 1, 0);
  CHECK_OK(cv_queue_put(q, IP(9), CV_NOWAIT));
  op_join(&g);
  CHECK_OK(g.rc);
  CHECK_EQ(g.done, 1);
  CHECK(out[0] == IP(9));
  CHECK_OK(cv_queue_destroy(q));
}

static void test_main(void) {
  for (int order = CV_FIFO; order <= CV_PRIORITY; order++) {
    order_and_counts(order, 0);
    order_and_counts(order, 7);
  }
  partial_on_timeout();
  larger_than_capacity();
  batch_wakes_all_it_serves();
  get_many_wakes_for_one();
}

int main(void) {
  for_each_impl(test_main);
  printf("queue_batch: ok\n");
  return 0;
}
