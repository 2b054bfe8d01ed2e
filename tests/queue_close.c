/* queue_close: the half-close - puts fail at once, getters drain what is left
 * and then get CV_ECLOSED, and every blocked thread is woken. */
#include "queue_util.h"

static void drains_then_reports_closed(cv_queue_order order) {
  cv_queue_options o = {.order = order, .capacity = 4, .compare = cmp_intptr};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  for (int i = 1; i <= 3; i++)
    CHECK_OK(cv_queue_put(q, IP(i), CV_NOWAIT));
  CHECK(!cv_queue_is_closed(q));
  CHECK_OK(cv_queue_close(q));
  CHECK(cv_queue_is_closed(q));
  CHECK_OK(cv_queue_close(q)); /* idempotent */

  /* Every put form fails, with the room there was. */
  void *items[2] = {IP(8), IP(9)};
  size_t n = 99;
  CHECK_RC(cv_queue_put(q, IP(7), CV_NOWAIT), CV_ECLOSED);
  CHECK_RC(cv_queue_put(q, IP(7), CV_FOREVER), CV_ECLOSED);
  CHECK_RC(cv_queue_try_put(q, IP(7)), CV_ECLOSED);
  CHECK_RC(cv_queue_put_many(q, items, 2, &n, CV_FOREVER), CV_ECLOSED);
  CHECK_EQ(n, 0);
  CHECK_EQ(cv_queue_size(q), 3);

  /* Gets drain in the queue's order, then report closed, in every form,
   * however often they are asked. */
  void *it;
  CHECK_OK(cv_queue_get(q, &it, CV_FOREVER));
  CHECK_EQ((intptr_t)it, order == CV_LIFO ? 3 : 1);
  CHECK_OK(cv_queue_get_many(q, items, 2, &n, CV_FOREVER));
  CHECK_EQ(n, 2);
  CHECK_EQ((intptr_t)items[0], 2);
  CHECK_EQ((intptr_t)items[1], order == CV_LIFO ? 1 : 3);
  for (int i = 0; i < 3; i++) {
    CHECK_RC(cv_queue_get(q, &it, CV_FOREVER), CV_ECLOSED);
    CHECK_RC(cv_queue_get(q, &it, CV_MSEC(10)), CV_ECLOSED);
    CHECK_RC(cv_queue_try_get(q, &it), CV_ECLOSED);
    CHECK_RC(cv_queue_get_many(q, items, 2, &n, CV_FOREVER), CV_ECLOSED);
    CHECK_EQ(n, 0);
  }
  /* task_done and join still work: the items taken are not yet done. */
  CHECK_RC(cv_queue_join(q, CV_NOWAIT), CV_ETIMEDOUT);
  CHECK_OK(cv_queue_task_done_n(q, 3));
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_OK(cv_queue_destroy(q));
}

/* Getters asleep on an empty queue and putters asleep on a full one all wake
 * up at close; the putters' items were not queued. */
static void wakes_blocked_threads(void) {
  enum { GETTERS = 3, PUTTERS = 3 };
  cv_queue_options o = {.capacity = 1};
  cv_queue *empty, *full;
  CHECK_OK(cv_queue_create(&empty, &o));
  CHECK_OK(cv_queue_create(&full, &o));
  CHECK_OK(cv_queue_put(full, IP(100), CV_NOWAIT));
  op g[GETTERS], p[PUTTERS];
  void *many[GETTERS][2];
  for (int i = 0; i < GETTERS; i++) {
    if (i == 0) {
      g[i].items = many[i];
      g[i].n = 2;
      op_start(&g[i], OP_GET_MANY, empty, NULL, CV_FOREVER);
    } else {
      op_start(&g[i], OP_GET, empty, NULL, i == 1 ? CV_FOREVER : CV_SEC(60));
    }
  }
  for (int i = 0; i < PUTTERS; i++)
    op_start(&p[i], OP_PUT, full, IP(i + 1), i == 0 ? CV_FOREVER : CV_SEC(60));
  wait_sleepers(empty, GETTERS, 0);
  wait_sleepers(full, 0, PUTTERS);
  int64_t t0 = test_now_ns();
  CHECK_OK(cv_queue_close(empty));
  CHECK_OK(cv_queue_close(full));
  for (int i = 0; i < GETTERS; i++) {
    op_join(&g[i]);
    CHECK_RC(g[i].rc, CV_ECLOSED);
  }
  for (int i = 0; i < PUTTERS; i++) {
    op_join(&p[i]);
    CHECK_RC(p[i].rc, CV_ECLOSED);
  }
  /* Woken by close, not by their timeouts. */
  CHECK(test_now_ns() - t0 < CV_SEC(30));
  CHECK_EQ(cv_queue_size(full), 1);
  void *it;
  CHECK_OK(cv_queue_get(full, &it, CV_NOWAIT));
  CHECK(it == IP(100));
  CHECK_RC(cv_queue_get(full, &it, CV_NOWAIT), CV_ECLOSED);
  CHECK_EQ(qstats(full).puts, 1);
  CHECK_OK(cv_queue_destroy(empty));
  CHECK_OK(cv_queue_destroy(full));
}

/* A put_many blocked half-way is stopped by close: what went in stays in and
 * is reported, the rest still belongs to the caller. */
static void close_stops_put_many(void) {
  cv_queue_options o = {.capacity = 2};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  void *items[5] = {IP(1), IP(2), IP(3), IP(4), IP(5)};
  op p = {.items = items, .n = 5};
  op_start(&p, OP_PUT_MANY, q, NULL, CV_FOREVER);
  wait_sleepers(q, 0, 1);
  CHECK_OK(cv_queue_close(q));
  op_join(&p);
  CHECK_RC(p.rc, CV_ECLOSED);
  CHECK_EQ(p.done, 2);
  void *it;
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK(it == IP(1));
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK(it == IP(2));
  CHECK_RC(cv_queue_get(q, &it, CV_NOWAIT), CV_ECLOSED);
  CHECK_OK(cv_queue_destroy(q));
}

/* Close is a no-op after shutdown: the queue keeps reporting CV_ESHUTDOWN. */
static void close_after_shutdown(void) {
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &(cv_queue_options){.capacity = 16}));
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_DRAIN));
  CHECK_OK(cv_queue_close(q));
  CHECK(cv_queue_is_closed(q));
  CHECK_RC(cv_queue_put(q, IP(2), CV_NOWAIT), CV_ESHUTDOWN);
  void *it;
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK_RC(cv_queue_get(q, &it, CV_NOWAIT), CV_ESHUTDOWN);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_main(void) {
  drains_then_reports_closed(CV_FIFO);
  drains_then_reports_closed(CV_LIFO);
  drains_then_reports_closed(CV_PRIORITY);
  wakes_blocked_threads();
  close_stops_put_many();
  close_after_shutdown();
}

int main(void) {
  for_each_impl(test_main);
  printf("queue_close: ok\n");
  return 0;
}
