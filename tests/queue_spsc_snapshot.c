/* queue_spsc_snapshot: join and stats.unfinished on the single-producer
 * single-consumer ring answer from counters read in the one safe order
 * (task_done/discard count first, then puts): a test build of src/spsc.c
 * runs a whole put, get and task_done between the two reads, the
 * interleaving that made the ring's join return early, and join must still
 * see the item that was taken and never task_done. */
#include "queue_util.h"
#include "spsc.h"

static cv_queue *q;
static int hook_runs;

/* Another item goes all the way through while unfinished() is between its
 * reads.  Disarms itself first: the calls below read the counters too. */
static void put_get_done(void) {
  cv__spsc_test_between_reads = NULL;
  void *it;
  CHECK_OK(cv_queue_put(q, IP(2), CV_NOWAIT));
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK_EQ((intptr_t)it, 2);
  CHECK_OK(cv_queue_task_done(q));
  hook_runs++;
}

int main(void) {
  cv_queue_options o = {.capacity = 4, .producers = 1, .consumers = 1};
  CHECK_OK(cv_queue_create(&q, &o));
  void *it;
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT)); /* taken, never task_done */

  cv__spsc_test_between_reads = put_get_done;
  CHECK_RC(cv_queue_join(q, CV_NOWAIT), CV_ETIMEDOUT);
  CHECK_EQ(hook_runs, 1);

  cv__spsc_test_between_reads = put_get_done;
  CHECK_EQ(qstats(q).unfinished, 1);
  CHECK_EQ(hook_runs, 2);

  /* A joiner asleep is not woken as if done either. */
  op j;
  op_start(&j, OP_JOIN, q, NULL, CV_MSEC(100));
  op_join(&j);
  CHECK_RC(j.rc, CV_ETIMEDOUT);

  CHECK_OK(cv_queue_task_done(q));
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_OK(cv_queue_destroy(q));
  printf("queue_spsc_snapshot: ok\n");
  return 0;
}
