/* queue_shutdown: Python 3.13's shutdown - drain mode lets getters finish the
 * queue, immediate mode hands every queued item to the destroy callback,
 * exactly once, and counts it as done for join. */
#include "queue_util.h"

enum { MANY = 1000 }; /* more than one batch of discarded items */

typedef struct discard_log {
  cv_queue *q;
  int seen[MANY + 1];  /* times each item was destroyed */
  int calls;
  int reentered;       /* the callback could call into the queue */
} discard_log;

static void on_destroy(void *item, void *arg) {
  discard_log *log = arg;
  intptr_t i = (intptr_t)item;
  CHECK(i >= 0 && i <= MANY);
  log->seen[i]++;
  log->calls++;
  /* The callback runs without the queue's mutex: calling back in must not
   * deadlock. */
  cv_queue_stats st;
  if (log->q && cv_queue_stats_get(log->q, &st) == CV_OK && cv_queue_size(log->q) == 0)
    log->reentered++;
}

static void drain_mode(void) {
  cv_queue_options o = {.capacity = 3};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  CHECK_OK(cv_queue_put(q, IP(2), CV_NOWAIT));
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_DRAIN));
  CHECK(cv_queue_is_closed(q));
  CHECK_RC(cv_queue_put(q, IP(3), CV_FOREVER), CV_ESHUTDOWN);
  CHECK_RC(cv_queue_try_put(q, IP(3)), CV_ESHUTDOWN);
  void *it;
  CHECK_OK(cv_queue_get(q, &it, CV_FOREVER));
  CHECK(it == IP(1));
  /* join waits for every item, including the one still queued. */
  CHECK_OK(cv_queue_task_done(q));
  CHECK_RC(cv_queue_join(q, CV_MSEC(1)), CV_ETIMEDOUT);
  CHECK_OK(cv_queue_get(q, &it, CV_FOREVER));
  CHECK(it == IP(2));
  CHECK_RC(cv_queue_get(q, &it, CV_FOREVER), CV_ESHUTDOWN);
  CHECK_RC(cv_queue_try_get(q, &it), CV_ESHUTDOWN);
  CHECK_RC(cv_queue_join(q, CV_NOWAIT), CV_ETIMEDOUT);
  CHECK_OK(cv_queue_task_done(q));
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_EQ(qstats(q).discarded, 0);
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_DRAIN)); /* again: no-op */
  CHECK_OK(cv_queue_destroy(q));
}

/* Blocked getters, putters and joiners all wake at an immediate shutdown. */
static void immediate_wakes_everyone(void) {
  discard_log *log = calloc(1, sizeof(*log));
  CHECK(log);
  cv_queue_options o = {.capacity = 2, .destroy = on_destroy, .destroy_arg = log};
  cv_queue *empty, *full;
  CHECK_OK(cv_queue_create(&empty, &o));
  CHECK_OK(cv_queue_create(&full, &o));
  CHECK_OK(cv_queue_put(full, IP(1), CV_NOWAIT));
  CHECK_OK(cv_queue_put(full, IP(2), CV_NOWAIT));
  op g, p, j;
  op_start(&g, OP_GET, empty, NULL, CV_FOREVER);
  op_start(&p, OP_PUT, full, IP(3), CV_FOREVER);
  op_start(&j, OP_JOIN, full, NULL, CV_FOREVER);
  wait_sleepers(empty, 1, 0);
  wait_sleepers(full, 0, 1);
  test_sleep_ms(10);
  CHECK(!op_finished(&j));
  CHECK_OK(cv_queue_shutdown(empty, CV_SHUTDOWN_IMMEDIATE));
  CHECK_OK(cv_queue_shutdown(full, CV_SHUTDOWN_IMMEDIATE));
  op_join(&g);
  op_join(&p);
  op_join(&j);
  CHECK_RC(g.rc, CV_ESHUTDOWN);
  CHECK_RC(p.rc, CV_ESHUTDOWN); /* item 3 was not queued: not destroyed */
  CHECK_OK(j.rc); /* both queued items were discarded, hence done */
  CHECK_EQ(log->calls, 2);
  CHECK_EQ(log->seen[1], 1);
  CHECK_EQ(log->seen[2], 1);
  CHECK_EQ(log->seen[3], 0);
  cv_queue_stats st = qstats(full);
  CHECK_EQ(st.discarded, 2);
  CHECK_EQ(st.size, 0);
  CHECK_EQ(st.unfinished, 0);
  CHECK_EQ(st.gets, 0);
  CHECK_OK(cv_queue_destroy(empty));
  CHECK_OK(cv_queue_destroy(full));
  CHECK_EQ(log->calls, 2); /* destroy found nothing left to discard */
  free(log);
}

/* Many items (several discard batches) in every order: each is destroyed
 * exactly once, none is handed to a getter afterwards, and items already
 * taken still hold join until they are done. */
static void immediate_discards_exactly_once(cv_queue_order order) {
  discard_log *log = calloc(1, sizeof(*log));
  CHECK(log);
  cv_queue_options o = {.order = order, .capacity = MANY, .compare = cmp_intptr,
                        .destroy = on_destroy, .destroy_arg = log};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  log->q = q;
  for (intptr_t i = 1; i <= MANY; i++)
    CHECK_OK(cv_queue_put(q, IP(i), CV_NOWAIT));
  /* Take two; finish one of them. */
  void *taken[2];
  CHECK_OK(cv_queue_get(q, &taken[0], CV_NOWAIT));
  CHECK_OK(cv_queue_get(q, &taken[1], CV_NOWAIT));
  CHECK_OK(cv_queue_task_done(q));

  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_IMMEDIATE));
  CHECK_EQ(log->calls, MANY - 2);
  CHECK(log->reentered > 0); /* the last batch saw the queue empty */
  for (intptr_t i = 1; i <= MANY; i++) {
    bool was_taken = IP(i) == taken[0] || IP(i) == taken[1];
    CHECK_EQ(log->seen[i], was_taken ? 0 : 1);
  }
  void *it;
  CHECK_RC(cv_queue_get(q, &it, CV_FOREVER), CV_ESHUTDOWN);
  CHECK_RC(cv_queue_put(q, IP(0), CV_FOREVER), CV_ESHUTDOWN);
  cv_queue_stats st = qstats(q);
  CHECK_EQ(st.discarded, MANY - 2);
  CHECK_EQ(st.unfinished, 1);
  CHECK_RC(cv_queue_join(q, CV_MSEC(1)), CV_ETIMEDOUT);
  CHECK_OK(cv_queue_task_done(q));
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_RC(cv_queue_task_done(q), CV_ETASKDONE);
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_IMMEDIATE)); /* again: nothing */
  CHECK_OK(cv_queue_destroy(q));
  CHECK_EQ(log->calls, MANY - 2);
  free(log);
}

/* DRAIN, then IMMEDIATE: the second discards what the first left queued. */
static void drain_then_immediate(void) {
  discard_log *log = calloc(1, sizeof(*log));
  CHECK(log);
  cv_queue_options o = {.capacity = 8, .destroy = on_destroy, .destroy_arg = log};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  for (intptr_t i = 1; i <= 3; i++)
    CHECK_OK(cv_queue_put(q, IP(i), CV_NOWAIT));
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_DRAIN));
  void *it;
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK(it == IP(1));
  CHECK_EQ(log->calls, 0);
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_IMMEDIATE));
  CHECK_EQ(log->calls, 2);
  CHECK_EQ(log->seen[2], 1);
  CHECK_EQ(log->seen[3], 1);
  CHECK_RC(cv_queue_get(q, &it, CV_NOWAIT), CV_ESHUTDOWN);
  CHECK_EQ(qstats(q).unfinished, 1);
  CHECK_OK(cv_queue_task_done(q));
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_OK(cv_queue_destroy(q));
  free(log);
}

/* Python allows task_done before get; an immediate shutdown then must not
 * count below zero (it saturates, as Python's does). */
static void task_done_ahead_of_get(void) {
  cv_queue *q;
  cv_queue_options o = {.capacity = 8}; /* no destroy callback: dropped */
  CHECK_OK(cv_queue_create(&q, &o));
  for (intptr_t i = 1; i <= 3; i++)
    CHECK_OK(cv_queue_put(q, IP(i), CV_NOWAIT));
  CHECK_OK(cv_queue_task_done_n(q, 2));
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_IMMEDIATE));
  cv_queue_stats st = qstats(q);
  CHECK_EQ(st.unfinished, 0);
  CHECK_EQ(st.discarded, 3);
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_RC(cv_queue_task_done(q), CV_ETASKDONE);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_main(void) {
  drain_mode();
  immediate_wakes_everyone();
  immediate_discards_exactly_once(CV_FIFO);
  immediate_discards_exactly_once(CV_LIFO);
  immediate_discards_exactly_once(CV_PRIORITY);
  drain_then_immediate();
  task_done_ahead_of_get();
}

int main(void) {
  for_each_impl(test_main);
  printf("queue_shutdown: ok\n");
  return 0;
}
