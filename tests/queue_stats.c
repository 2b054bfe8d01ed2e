/* queue_stats: the counters - puts, gets, waits, high water, size, capacity,
 * unfinished and discarded - and the momentary size/empty/full answers. */
#include "queue_util.h"

static void test_main(void) {
  cv_queue_options o = {.capacity = 5};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  cv_queue_stats st = qstats(q);
  CHECK_EQ(st.puts, 0);
  CHECK_EQ(st.gets, 0);
  CHECK_EQ(st.get_waits, 0);
  CHECK_EQ(st.put_waits, 0);
  CHECK_EQ(st.discarded, 0);
  CHECK_EQ(st.size, 0);
  CHECK_EQ(st.high_water, 0);
  CHECK_EQ(st.capacity, 5);
  CHECK_EQ(st.unfinished, 0);
  CHECK_EQ(cv_queue_capacity(q), 5);
  CHECK(cv_queue_empty(q));
  CHECK(!cv_queue_full(q));

  void *it;
  for (intptr_t i = 0; i < 5; i++) {
    CHECK_OK(cv_queue_put(q, IP(i), CV_NOWAIT));
    CHECK_EQ(cv_queue_size(q), i + 1);
    CHECK(!cv_queue_empty(q));
  }
  CHECK(cv_queue_full(q));
  for (int i = 0; i < 3; i++)
    CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK(!cv_queue_full(q));
  CHECK_OK(cv_queue_put(q, IP(5), CV_NOWAIT));
  CHECK_OK(cv_queue_task_done_n(q, 2));
  /* Failed calls count nothing. */
  CHECK_OK(cv_queue_put(q, IP(6), CV_NOWAIT));
  CHECK_OK(cv_queue_put(q, IP(7), CV_NOWAIT));
  CHECK_RC(cv_queue_put(q, IP(8), CV_NOWAIT), CV_EFULL);
  st = qstats(q);
  CHECK_EQ(st.puts, 8);
  CHECK_EQ(st.gets, 3);
  CHECK_EQ(st.size, 5);
  CHECK_EQ(st.high_water, 5);
  CHECK_EQ(st.unfinished, 6);
  CHECK_EQ(st.get_waits, 0);
  CHECK_EQ(st.put_waits, 0);

  /* A sleeping putter counts one wait however long it sleeps; a put that
   * times out counts its wait too. */
  CHECK_RC(cv_queue_put(q, IP(9), CV_MSEC(5)), CV_ETIMEDOUT);
  CHECK_EQ(qstats(q).put_waits, 1);
  op p;
  op_start(&p, OP_PUT, q, IP(10), CV_SEC(60));
  wait_sleepers(q, 0, 2);
  for (int i = 0; i < 5; i++)
    CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  op_join(&p);
  CHECK_OK(p.rc);
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK(it == IP(10));
  st = qstats(q);
  CHECK_EQ(st.put_waits, 2);
  CHECK_EQ(st.puts, 9);
  CHECK_EQ(st.gets, 9);
  CHECK_EQ(st.size, 0);

  op g;
  op_start(&g, OP_GET, q, NULL, CV_SEC(60));
  wait_sleepers(q, 1, 2);
  CHECK_OK(cv_queue_put(q, IP(11), CV_NOWAIT));
  op_join(&g);
  CHECK_OK(g.rc);
  CHECK_EQ(qstats(q).get_waits, 1);

  /* Discarded counts what an immediate shutdown removed. */
  CHECK_OK(cv_queue_put(q, IP(12), CV_NOWAIT));
  CHECK_OK(cv_queue_put(q, IP(13), CV_NOWAIT));
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_IMMEDIATE));
  st = qstats(q);
  CHECK_EQ(st.discarded, 2);
  CHECK_EQ(st.size, 0);
  CHECK_EQ(st.puts, 12);
  CHECK_EQ(st.gets, 10);
  CHECK_EQ(st.high_water, 5);
  CHECK_EQ(st.unfinished, 12 - 2 - 2); /* put, done, discarded */
  CHECK_OK(cv_queue_destroy(q));

  /* An unbounded queue reports capacity 0 and is never full. */
  CHECK_OK(cv_queue_create(&q, NULL));
  for (intptr_t i = 0; i < 1000; i++)
    CHECK_OK(cv_queue_put(q, IP(i), CV_NOWAIT));
  CHECK(!cv_queue_full(q));
  CHECK_EQ(cv_queue_capacity(q), 0);
  st = qstats(q);
  CHECK_EQ(st.capacity, 0);
  CHECK_EQ(st.high_water, 1000);
  CHECK_OK(cv_queue_destroy(q));
}

int main(void) {
  for_each_impl(test_main);
  printf("queue_stats: ok\n");
  return 0;
}
