/* queue_alloc_fault: every allocation the queue makes may fail, and each
 * failure is a clean CV_ENOMEM that leaks nothing and loses no item; bounded
 * queues never allocate after creation, unbounded ones rarely.
 *
 * Allocations are counted, and the Nth made to fail, by the wrappers of
 * tests/alloc_fault.h. */
#include "queue_util.h"

#include "alloc_fault.h"

/* Creation fails cleanly at each of its allocations in turn. */
static void create_fails_cleanly(const cv_queue_options *o) {
  long n;
  for (n = 1;; n++) {
    cv_queue *q = IP(1);
    arm(n);
    int rc = cv_queue_create(&q, o);
    disarm();
    if (fault_failures() == 0) {
      CHECK_OK(rc); /* got past every allocation */
      CHECK_OK(cv_queue_destroy(q));
      break;
    }
    CHECK_RC(rc, CV_ENOMEM);
    CHECK(q == NULL);
  }
  CHECK(n >= 2); /* the queue and its buffer at least */
}

/* An unbounded queue that cannot grow refuses the put with CV_ENOMEM, keeps
 * what it holds, and accepts the item once memory is back: fail each growth
 * in turn, with the ring wrapped around so that growing must relay it out. */
static void growth_fails_cleanly(cv_queue_order order) {
  enum { N = 3000 };
  cv_queue_options o = {.order = order, .compare = cmp_intptr};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  /* Wrap the ring: put 40, take 30 (FIFO takes from the head). */
  intptr_t next = 0;
  void *it;
  for (int i = 0; i < 40; i++)
    CHECK_OK(cv_queue_put(q, IP(next++), CV_NOWAIT));
  for (int i = 0; i < 30; i++)
    CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  intptr_t oldest = order == CV_LIFO ? 0 : 30; /* LIFO took 39..10 */
  long growths_failed = 0;
  while (next < N) {
    arm(1); /* fail the next allocation, if the put makes one */
    int rc = cv_queue_put(q, IP(next), CV_NOWAIT);
    disarm();
    if (fault_failures()) {
      CHECK_RC(rc, CV_ENOMEM);
      growths_failed++;
      cv_queue_stats st = qstats(q);
      CHECK_EQ(st.size, (size_t)(next - 30));
      CHECK_EQ(st.puts, (uint64_t)next);
      CHECK_EQ(st.unfinished, (size_t)next);
      /* A batch that needs to grow fails whole, before putting any. */
      void *batch[3] = {IP(next), IP(next + 1), IP(next + 2)};
      size_t nput = 99;
      arm(1);
      CHECK_RC(cv_queue_put_many(q, batch, 3, &nput, CV_NOWAIT), CV_ENOMEM);
      disarm();
      CHECK_EQ(nput, 0);
      CHECK_EQ(cv_queue_size(q), (size_t)(next - 30));
      /* Memory is back: the same item goes in. */
      rc = cv_queue_put(q, IP(next), CV_NOWAIT);
    }
    CHECK_OK(rc);
    next++;
  }
  CHECK(growths_failed >= 5); /* 64 -> 128 -> ... -> 4096 */
  /* Nothing was lost or duplicated, and the order held. */
  if (order == CV_FIFO) {
    for (intptr_t i = oldest; i < N; i++) {
      CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
      CHECK_EQ((intptr_t)it, i);
    }
  } else if (order == CV_LIFO) {
    for (intptr_t i = N - 1; i >= 40; i--) {
      CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
      CHECK_EQ((intptr_t)it, i);
    }
    for (intptr_t i = 9; i >= 0; i--) {
      CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
      CHECK_EQ((intptr_t)it, i);
    }
  } else {
    /* The priority queue took the 30 smallest first. */
    for (intptr_t i = 30; i < N; i++) {
      CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
      CHECK_EQ((intptr_t)it, i);
    }
  }
  CHECK_RC(cv_queue_get(q, &it, CV_NOWAIT), CV_EEMPTY);
  CHECK_OK(cv_queue_destroy(q));
}

/* No allocation per item: a bounded queue allocates nothing after creation;
 * an unbounded one a handful of times while it grows, then nothing. */
static void hot_path_does_not_allocate(cv_queue_order order, bool spsc) {
  enum { N = 20000, CAP = 100 };
  cv_queue_options o = {.order = order, .capacity = CAP, .compare = cmp_intptr};
  if (spsc) /* one thread makes every call here: the promise holds */
    o.producers = o.consumers = 1;
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  void *it, *batch[10];
  size_t n;
  arm(0);
  for (intptr_t i = 0; i < N; i++) {
    CHECK_OK(cv_queue_put(q, IP(i), CV_NOWAIT));
    if (i % 2) {
      CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
      CHECK_OK(cv_queue_task_done(q));
    }
    if (cv_queue_full(q)) {
      CHECK_OK(cv_queue_get_many(q, batch, 10, &n, CV_NOWAIT));
      CHECK_OK(cv_queue_put_many(q, batch, 5, &n, CV_NOWAIT));
    }
  }
  CHECK_OK(cv_queue_close(q));
  disarm();
  CHECK_EQ(fault_allocs(), 0);
  CHECK_OK(cv_queue_destroy(q));

  o.capacity = 0;
  CHECK_OK(cv_queue_create(&q, &o));
  arm(0);
  for (intptr_t i = 0; i < N; i++)
    CHECK_OK(cv_queue_put(q, IP(i), CV_NOWAIT));
  disarm();
  CHECK(fault_allocs() >= 1 && fault_allocs() <= 10); /* 64 doubling to 32768 */
  long growing = fault_allocs();
  arm(0);
  for (int round = 0; round < 3; round++) {
    for (intptr_t i = 0; i < N; i++)
      CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
    for (intptr_t i = 0; i < N; i++)
      CHECK_OK(cv_queue_put(q, IP(i), CV_NOWAIT));
  }
  disarm();
  CHECK_EQ(fault_allocs(), 0); /* the grown buffer is reused */
  CHECK(growing > 0);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_main(void) {
  /* If the wrappers were not in the library's path, no failure would ever
   * fire and create_fails_cleanly() would fail its n >= 2 check. */
  for (int order = CV_FIFO; order <= CV_PRIORITY; order++) {
    cv_queue_options unbounded = {.order = order, .compare = cmp_intptr};
    cv_queue_options bounded = {.order = order, .capacity = 1000,
                                .compare = cmp_intptr};
    create_fails_cleanly(&unbounded);
    create_fails_cleanly(&bounded);
    growth_fails_cleanly(order);
    hot_path_does_not_allocate(order, false);
  }
  /* The single-producer single-consumer ring. */
  cv_queue_options spsc = {.capacity = 1000, .producers = 1, .consumers = 1};
  create_fails_cleanly(&spsc);
  hot_path_does_not_allocate(CV_FIFO, true);
}

int main(void) {
  for_each_impl(test_main);
  printf("queue_alloc_fault: ok\n");
  return 0;
}
