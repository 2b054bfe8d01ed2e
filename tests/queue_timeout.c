/* queue_timeout: timed put, get and join wait at least their timeout and not
 * much longer, end early when they can complete, and sleep without CPU. */
#include "queue_util.h"

#define TIMEOUT_MS 100
/* Generous: a loaded CI machine, valgrind and sanitizers all slow wake-ups. */
#define SLACK_MS 2000

static void check_window(const char *what, int64_t elapsed, int64_t lo_ms,
                         int64_t hi_ms) {
  if (elapsed < lo_ms * 1000000 || elapsed > hi_ms * 1000000) {
    fprintf(stderr, "%s took %.1f ms, expected between %lld and %lld ms\n",
            what, (double)elapsed / 1e6, (long long)lo_ms, (long long)hi_ms);
    exit(1);
  }
}

/* A timed call that cannot complete waits the whole timeout, then reports
 * CV_ETIMEDOUT, and leaves the queue as it was. */
static void times_out(void) {
  cv_queue_options o = {.capacity = 1};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  void *it = IP(5), *items[2];
  size_t n;

  int64_t t0 = test_now_ns();
  CHECK_RC(cv_queue_get(q, &it, CV_MSEC(TIMEOUT_MS)), CV_ETIMEDOUT);
  check_window("get on empty", test_now_ns() - t0, TIMEOUT_MS,
               TIMEOUT_MS + SLACK_MS);
  CHECK(it == IP(5));

  t0 = test_now_ns();
  CHECK_RC(cv_queue_get_many(q, items, 2, &n, CV_MSEC(TIMEOUT_MS)),
           CV_ETIMEDOUT);
  check_window("get_many on empty", test_now_ns() - t0, TIMEOUT_MS,
               TIMEOUT_MS + SLACK_MS);

  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  t0 = test_now_ns();
  CHECK_RC(cv_queue_put(q, IP(2), CV_MSEC(TIMEOUT_MS)), CV_ETIMEDOUT);
  check_window("put on full", test_now_ns() - t0, TIMEOUT_MS,
               TIMEOUT_MS + SLACK_MS);

  items[0] = IP(2);
  items[1] = IP(3);
  t0 = test_now_ns();
  CHECK_RC(cv_queue_put_many(q, items, 2, &n, CV_MSEC(TIMEOUT_MS)),
           CV_ETIMEDOUT);
  check_window("put_many on full", test_now_ns() - t0, TIMEOUT_MS,
               TIMEOUT_MS + SLACK_MS);
  CHECK_EQ(n, 0);

  t0 = test_now_ns();
  CHECK_RC(cv_queue_join(q, CV_MSEC(TIMEOUT_MS)), CV_ETIMEDOUT);
  check_window("join with an unfinished item", test_now_ns() - t0, TIMEOUT_MS,
               TIMEOUT_MS + SLACK_MS);

  cv_queue_stats st = qstats(q);
  CHECK_EQ(st.size, 1);
  CHECK_EQ(st.puts, 1);
  CHECK_EQ(st.gets, 0);
  CHECK_EQ(st.get_waits, 2);
  CHECK_EQ(st.put_waits, 2);
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK(it == IP(1));
  CHECK_OK(cv_queue_destroy(q));
}

/* A timed get that an item arrives for returns it at once, long before its
 * timeout, and a timed put returns as soon as there is room. */
static void ends_early(void) {
  cv_queue_options o = {.capacity = 1};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  op g;
  op_start(&g, OP_GET, q, NULL, CV_SEC(30));
  wait_sleepers(q, 1, 0);
  test_sleep_ms(20);
  CHECK(!op_finished(&g));
  CHECK_OK(cv_queue_put(q, IP(42), CV_NOWAIT));
  op_join(&g);
  CHECK_OK(g.rc);
  CHECK(g.item == IP(42));
  check_window("get woken by a put", g.elapsed, 20, 20 + SLACK_MS);

  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  op p;
  op_start(&p, OP_PUT, q, IP(2), CV_SEC(30));
  wait_sleepers(q, 1, 1);
  test_sleep_ms(20);
  CHECK(!op_finished(&p));
  void *it;
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK(it == IP(1));
  op_join(&p);
  CHECK_OK(p.rc);
  check_window("put woken by a get", p.elapsed, 20, 20 + SLACK_MS);
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK(it == IP(2));

  /* join, woken by the last task_done. */
  CHECK_OK(cv_queue_task_done_n(q, 2)); /* of the 3 put, one left */
  op j;
  op_start(&j, OP_JOIN, q, NULL, CV_SEC(30));
  test_sleep_ms(20);
  CHECK(!op_finished(&j));
  CHECK_OK(cv_queue_task_done(q));
  op_join(&j);
  CHECK_OK(j.rc);
  /* The joiner may have started late: no lower bound. */
  check_window("join woken by task_done", j.elapsed, 0, 20 + SLACK_MS);
  CHECK_OK(cv_queue_destroy(q));
}

/* A blocked getter sleeps: it burns (almost) no CPU however long it waits.
 * A polling loop like the seed's first program would burn all of it. */
static void sleeps_without_cpu(void) {
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &(cv_queue_options){.capacity = 16}));
  op g;
  op_start(&g, OP_GET, q, NULL, CV_FOREVER);
  wait_sleepers(q, 1, 0);
  test_sleep_ms(300);
  CHECK_OK(cv_queue_put(q, IP(1), CV_FOREVER));
  op_join(&g);
  CHECK_OK(g.rc);
  CHECK(g.elapsed >= 300 * 1000000LL);
  if (g.cpu > 30 * 1000000LL) {
    fprintf(stderr, "blocked getter used %.1f ms of CPU in %.1f ms\n",
            (double)g.cpu / 1e6, (double)g.elapsed / 1e6);
    exit(1);
  }
  CHECK_OK(cv_queue_destroy(q));
}

/* Timeouts so large that now + timeout overflows mean "no limit", not "already
 * expired". */
static void huge_timeouts(void) {
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &(cv_queue_options){.capacity = 16}));
  op g;
  op_start(&g, OP_GET, q, NULL, INT64_MAX);
  wait_sleepers(q, 1, 0);
  test_sleep_ms(20);
  CHECK(!op_finished(&g));
  CHECK_OK(cv_queue_put(q, IP(3), INT64_MAX));
  op_join(&g);
  CHECK_OK(g.rc);
  CHECK(g.item == IP(3));
  CHECK_OK(cv_queue_task_done(q));
  CHECK_OK(cv_queue_join(q, INT64_MAX));
  CHECK_OK(cv_queue_destroy(q));
}

static void test_main(void) {
  times_out();
  ends_early();
  sleeps_without_cpu();
  huge_timeouts();
}

int main(void) {
  for_each_impl(test_main);
  printf("queue_timeout: ok\n");
  return 0;
}
