/* queue_ring_wake: the ring never leaves an item (a free slot) behind while a
 * getter (a putter) sleeps, when a thread is slow between claiming its
 * position and publishing (freeing) it.
 *
 * This test builds its own copy of src/ring.c with CV_RING_TEST_HOOKS, which
 * calls cv__ring_test_after_claim between a claim and its publication; the
 * hook stops the one thread the test marks as slow until the test releases
 * it.  That makes interleavings deterministic that otherwise need a
 * preemption inside a window of a few instructions:
 *
 *   getters   G1, G2 sleep on an empty queue.  Producer A claims position 0
 *             and stops.  B puts position 1; its wake-up reaches G1, which
 *             cannot take position 1 before position 0 and sleeps again.  A
 *             publishes position 0; its wake-up serves G2.  Item 1 must
 *             still reach G1.
 *   close     G1, G2 sleep; A claims position 0 and stops; the queue is
 *             closed (the getters wake, find A's item still owed, sleep
 *             again).  A publishes; one getter takes the item, and the other
 *             must then see CV_ECLOSED.
 *   putters   the mirror image of "getters" on a full queue of two: consumer
 *             C claims position 0 and stops, D frees position 1 (its wake-up
 *             reaches P1, which cannot claim position 2 before C frees slot
 *             0), C frees slot 0 and wakes P2.  P1 must still get position
 *             3.
 *   destroy   a getter woken by a put is stopped while it takes the item:
 *             it no longer sleeps, but destroy must still refuse (CV_EBUSY)
 *             rather than free the ring under it.
 *
 * The mutex queue has no such window; this test is about the ring only. */
#include <stdatomic.h>

#include "queue_util.h"

/* Far more than a wake-up takes, even under a sanitizer or valgrind. */
#define STUCK_MS 3000
/* Long enough for a woken thread to find nothing and go back to sleep. */
#define SETTLE_MS 100

static _Thread_local bool slow; /* this thread stops after its claim */
static atomic_int stopped, release_slow;

static void after_claim(void) {
  if (!slow)
    return;
  atomic_store(&stopped, 1);
  while (!atomic_load(&release_slow))
    test_sleep_ms(1);
}

typedef struct slow_op {
  cv_queue *q;
  bool put;
  void *item;
  int rc;
  pthread_t th;
} slow_op;

static void *slow_run(void *arg) {
  slow_op *s = arg;
  slow = true;
  if (s->put)
    s->rc = cv_queue_put(s->q, s->item, CV_FOREVER);
  else
    s->rc = cv_queue_get(s->q, &s->item, CV_FOREVER);
  return NULL;
}

static void slow_spawn(slow_op *s, cv_queue *q, bool put, void *item) {
  atomic_store(&stopped, 0);
  atomic_store(&release_slow, 0);
  s->q = q;
  s->put = put;
  s->item = item;
  s->rc = 1;
  CHECK(pthread_create(&s->th, NULL, slow_run, s) == 0);
}

static void slow_wait_stopped(void) {
  int64_t give_up = test_now_ns() + CV_MSEC(STUCK_MS);
  while (!atomic_load(&stopped)) {
    CHECK(test_now_ns() < give_up);
    test_sleep_ms(1);
  }
}

/* Starts a slow put (get) and waits until it has claimed its position. */
static void slow_start(slow_op *s, cv_queue *q, bool put, void *item) {
  slow_spawn(s, q, put, item);
  slow_wait_stopped();
}

static void slow_finish(slow_op *s) {
  atomic_store(&release_slow, 1);
  CHECK(pthread_join(s->th, NULL) == 0);
  CHECK_OK(s->rc);
}

/* Waits for both calls to return; fails, saying so, if one stays asleep. */
static void wait_both(op *a, op *b, const char *what) {
  int64_t give_up = test_now_ns() + CV_MSEC(STUCK_MS);
  while (!op_finished(a) || !op_finished(b)) {
    if (test_now_ns() > give_up) {
      fprintf(stderr, "%s: a waiter is still asleep after %d ms (%zu queued)\n",
              what, STUCK_MS, cv_queue_size(a->q));
      exit(1);
    }
    test_sleep_ms(1);
  }
  op_join(a);
  op_join(b);
}

static cv_queue *make(size_t capacity) {
  cv_queue *q;
  cv_queue_options o = {.order = CV_FIFO, .capacity = capacity};
  CHECK_OK(cv_queue_create(&q, &o));
  return q;
}

static void getters_left_behind(void) {
  cv_queue *q = make(8);
  op g1, g2;
  op_start(&g1, OP_GET, q, NULL, CV_FOREVER);
  wait_sleepers(q, 1, 0);
  op_start(&g2, OP_GET, q, NULL, CV_FOREVER);
  wait_sleepers(q, 2, 0);
  slow_op a;
  slow_start(&a, q, true, IP(1)); /* holds position 0 */
  CHECK_OK(cv_queue_put(q, IP(2), CV_NOWAIT)); /* position 1 */
  test_sleep_ms(SETTLE_MS);
  slow_finish(&a);
  wait_both(&g1, &g2, "getters");
  CHECK_OK(g1.rc);
  CHECK_OK(g2.rc);
  /* Each item exactly once. */
  CHECK((g1.item == IP(1) && g2.item == IP(2)) ||
        (g1.item == IP(2) && g2.item == IP(1)));
  CHECK_EQ(cv_queue_size(q), (size_t)0);
  CHECK_OK(cv_queue_destroy(q));
}

static void close_with_item_owed(void) {
  cv_queue *q = make(8);
  op g1, g2;
  op_start(&g1, OP_GET, q, NULL, CV_FOREVER);
  wait_sleepers(q, 1, 0);
  op_start(&g2, OP_GET, q, NULL, CV_FOREVER);
  wait_sleepers(q, 2, 0);
  slow_op a;
  slow_start(&a, q, true, IP(7)); /* claimed before the close */
  CHECK_OK(cv_queue_close(q));
  test_sleep_ms(SETTLE_MS);
  slow_finish(&a); /* its put succeeds: it claimed before the close */
  wait_both(&g1, &g2, "close");
  op *got = g1.rc == CV_OK ? &g1 : &g2, *other = got == &g1 ? &g2 : &g1;
  CHECK_OK(got->rc);
  CHECK(got->item == IP(7));
  CHECK_RC(other->rc, CV_ECLOSED);
  CHECK_OK(cv_queue_destroy(q));
}

static void putters_left_behind(void) {
  cv_queue *q = make(2);
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  CHECK_OK(cv_queue_put(q, IP(2), CV_NOWAIT));
  op p1, p2;
  op_start(&p1, OP_PUT, q, IP(3), CV_FOREVER);
  wait_sleepers(q, 0, 1);
  op_start(&p2, OP_PUT, q, IP(4), CV_FOREVER);
  wait_sleepers(q, 0, 2);
  slow_op c;
  slow_start(&c, q, false, NULL); /* holds slot 0 (item 1) */
  void *it;
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT)); /* frees slot 1 */
  CHECK(it == IP(2));
  test_sleep_ms(SETTLE_MS);
  slow_finish(&c);
  CHECK(c.item == IP(1));
  wait_both(&p1, &p2, "putters");
  CHECK_OK(p1.rc);
  CHECK_OK(p2.rc);
  CHECK_EQ(cv_queue_size(q), (size_t)2);
  void *x, *y;
  CHECK_OK(cv_queue_get(q, &x, CV_NOWAIT));
  CHECK_OK(cv_queue_get(q, &y, CV_NOWAIT));
  CHECK((x == IP(3) && y == IP(4)) || (x == IP(4) && y == IP(3)));
  CHECK_OK(cv_queue_destroy(q));
}

static void destroy_while_leaving(void) {
  cv_queue *q = make(8);
  slow_op g;
  slow_spawn(&g, q, false, NULL);
  wait_sleepers(q, 1, 0);
  CHECK_OK(cv_queue_put(q, IP(5), CV_NOWAIT)); /* wakes g, which takes it */
  slow_wait_stopped();
  /* g no longer sleeps but is still inside its get: freeing now would pull
   * the ring from under it. */
  CHECK_RC(cv_queue_destroy(q), CV_EBUSY);
  slow_finish(&g);
  CHECK(g.item == IP(5));
  CHECK_OK(cv_queue_destroy(q));
}

int main(void) {
  const char *only = getenv("CV_TEST_IMPL");
  if (only && strcmp(only, "locked") == 0)
    return CV_TEST_SKIP;
  cv__ring_test_after_claim = after_claim;
  cv__queue_force_locked = 0;
  getters_left_behind();
  close_with_item_owed();
  putters_left_behind();
  destroy_while_leaving();
  return 0;
}
