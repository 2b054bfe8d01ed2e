/* queue_join: task_done/join - join waits for every item put to be marked
 * done (not merely taken), wakes every joiner, and extra task_done calls are
 * refused without changing anything. */
#include "queue_util.h"

static void counting_rules(void) {
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &(cv_queue_options){.capacity = 16}));
  CHECK_OK(cv_queue_join(q, CV_NOWAIT)); /* nothing put: nothing to wait for */
  CHECK_OK(cv_queue_join(q, CV_FOREVER));
  CHECK_RC(cv_queue_task_done(q), CV_ETASKDONE);
  CHECK_OK(cv_queue_task_done_n(q, 0));
  for (intptr_t i = 0; i < 5; i++)
    CHECK_OK(cv_queue_put(q, IP(i), CV_NOWAIT));
  CHECK_EQ(qstats(q).unfinished, 5);
  /* Taking items does not finish them. */
  void *it;
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK_EQ(qstats(q).unfinished, 5);
  CHECK_RC(cv_queue_join(q, CV_NOWAIT), CV_ETIMEDOUT);
  /* One too many is refused, and changes nothing. */
  CHECK_RC(cv_queue_task_done_n(q, 6), CV_ETASKDONE);
  CHECK_EQ(qstats(q).unfinished, 5);
  CHECK_OK(cv_queue_task_done_n(q, 3));
  CHECK_EQ(qstats(q).unfinished, 2);
  CHECK_RC(cv_queue_task_done_n(q, 3), CV_ETASKDONE);
  CHECK_EQ(qstats(q).unfinished, 2);
  CHECK_RC(cv_queue_join(q, CV_NOWAIT), CV_ETIMEDOUT);
  CHECK_OK(cv_queue_task_done(q));
  CHECK_OK(cv_queue_task_done(q));
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_RC(cv_queue_task_done(q), CV_ETASKDONE);
  /* Items still queued do not count as done: join is about task_done, as
   * in Python (here all five were marked done though three are queued). */
  CHECK_EQ(cv_queue_size(q), 3);
  CHECK_OK(cv_queue_destroy(q));
}

/* Several joiners sleep through every task_done but the last, then all
 * wake; an item put while they wait holds them too. */
static void joiners_wait_for_the_last(void) {
  enum { JOINERS = 4 };
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &(cv_queue_options){.capacity = 16}));
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  CHECK_OK(cv_queue_put(q, IP(2), CV_NOWAIT));
  op j[JOINERS];
  for (int i = 0; i < JOINERS; i++)
    op_start(&j[i], OP_JOIN, q, NULL, i % 2 ? CV_FOREVER : CV_SEC(60));
  test_sleep_ms(20);
  CHECK_OK(cv_queue_put(q, IP(3), CV_NOWAIT));
  CHECK_OK(cv_queue_task_done_n(q, 2));
  test_sleep_ms(20);
  for (int i = 0; i < JOINERS; i++)
    CHECK(!op_finished(&j[i]));
  CHECK_OK(cv_queue_task_done(q));
  for (int i = 0; i < JOINERS; i++) {
    op_join(&j[i]);
    CHECK_OK(j[i].rc);
  }
  CHECK_OK(cv_queue_destroy(q));
}

/* The seed's pattern with several consumers: the producer's join returns
 * only after every item was processed; `processed` is read after join and
 * must be complete. */
typedef struct consumer_arg {
  cv_queue *q;
  long *processed; /* per-item counters, written before task_done */
} consumer_arg;

static void *consumer(void *arg) {
  consumer_arg *c = arg;
  void *it;
  while (cv_queue_get(c->q, &it, CV_FOREVER) == CV_OK) {
    c->processed[(intptr_t)it]++;
    CHECK_OK(cv_queue_task_done(c->q));
  }
  return NULL;
}

static void join_sees_all_work(void) {
  enum { CONSUMERS = 3 };
  long items = test_env_long("CV_TEST_ITEMS", 2000);
  cv_queue_options o = {.capacity = 8};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  long *processed = calloc((size_t)items, sizeof(*processed));
  CHECK(processed);
  consumer_arg c = {q, processed};
  pthread_t th[CONSUMERS];
  for (int i = 0; i < CONSUMERS; i++)
    CHECK(pthread_create(&th[i], NULL, consumer, &c) == 0);
  for (long round = 0; round < 2; round++) {
    for (long i = 0; i < items; i++)
      CHECK_OK(cv_queue_put(q, IP(i), CV_FOREVER));
    CHECK_OK(cv_queue_join(q, CV_FOREVER));
    /* Read right after join, before anything else synchronises. */
    for (long i = 0; i < items; i++)
      CHECK_EQ(processed[i], round + 1);
  }
  CHECK_OK(cv_queue_close(q));
  for (int i = 0; i < CONSUMERS; i++)
    CHECK(pthread_join(th[i], NULL) == 0);
  free(processed);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_main(void) {
  counting_rules();
  joiners_wait_for_the_last();
  join_sees_all_work();
}

int main(void) {
  for_each_impl(test_main);
  printf("queue_join: ok\n");
  return 0;
}
