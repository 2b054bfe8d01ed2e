/* queue_ring_accounting: the ring's count of unfinished items is right when
 * another thread's put, get, task_done or immediate shutdown falls between
 * the two counter reads that make it.
 *
 * This test builds its own copy of src/ring.c with CV_RING_TEST_HOOKS, which
 * calls cv__ring_test_mid_count between those reads; the hook runs the other
 * thread's calls right there, once, so two interleavings that a stress test
 * meets once in millions of calls happen on every run:
 *
 *   join early   an item is taken and never task_done.  join(CV_NOWAIT)
 *                reads one counter; a put, a get and a task_done of a
 *                second item land; join reads the other.  It must still say
 *                CV_ETIMEDOUT, and stats.unfinished must stay 1.
 *   task_done    item A is taken.  Its task_done reads one counter; a second
 *   refused      item is put and an immediate shutdown discards it; the
 *                task_done reads the other.  It must succeed (A was really
 *                taken), and join must then return CV_OK at once.
 *
 * Both tests reproduce in one run what the stress repros in
 * queue_accounting_race catch only sometimes.  The mutex queue counts under
 * its lock; this test is about the ring only. */
#include "queue_util.h"

static cv_queue *target;
static void (*pending)(void); /* what the hook runs, once */
static int hook_runs;

static void mid_count(void) {
  void (*f)(void) = pending;
  if (!f)
    return;
  pending = NULL; /* the calls below count too: no recursion */
  hook_runs++;
  f();
}

static void put_get_done(void) {
  void *it;
  CHECK_OK(cv_queue_put(target, IP(2), CV_NOWAIT));
  CHECK_OK(cv_queue_get(target, &it, CV_NOWAIT));
  CHECK(it == IP(2));
  CHECK_OK(cv_queue_task_done(target));
}

static void put_then_discard(void) {
  CHECK_OK(cv_queue_put(target, IP(2), CV_NOWAIT));
  CHECK_OK(cv_queue_shutdown(target, CV_SHUTDOWN_IMMEDIATE));
}

static cv_queue *new_ring(void) {
  cv_queue *q;
  cv_queue_options o = {.order = CV_FIFO, .capacity = 4};
  CHECK_OK(cv_queue_create(&q, &o));
  return q;
}

static void join_early(void) {
  cv_queue *q = target = new_ring();
  void *held;
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  CHECK_OK(cv_queue_get(q, &held, CV_NOWAIT)); /* never task_done */
  hook_runs = 0;
  pending = put_get_done;
  CHECK_RC(cv_queue_join(q, CV_NOWAIT), CV_ETIMEDOUT);
  CHECK_EQ(hook_runs, 1);
  /* The same interleaving inside a timed join and inside stats. */
  pending = put_get_done;
  CHECK_RC(cv_queue_join(q, CV_MSEC(20)), CV_ETIMEDOUT);
  CHECK_EQ(hook_runs, 2);
  pending = put_get_done;
  CHECK_EQ(qstats(q).unfinished, 1);
  CHECK_EQ(hook_runs, 3);
  CHECK_OK(cv_queue_task_done(q));
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_OK(cv_queue_destroy(q));
}

static void task_done_refused(void) {
  cv_queue *q = target = new_ring();
  void *a;
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  CHECK_OK(cv_queue_get(q, &a, CV_NOWAIT));
  hook_runs = 0;
  pending = put_then_discard;
  CHECK_OK(cv_queue_task_done(q));
  CHECK_EQ(hook_runs, 1);
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  cv_queue_stats st = qstats(q);
  CHECK_EQ(st.puts, 2);
  CHECK_EQ(st.gets, 1);
  CHECK_EQ(st.discarded, 1);
  CHECK_EQ(st.unfinished, 0);
  CHECK_RC(cv_queue_task_done(q), CV_ETASKDONE); /* and no more */
  CHECK_OK(cv_queue_destroy(q));
}

static const char *only_replay; /* argv[1]: "join" or "task_done" */

static void body(void) {
  if (!only_replay || strcmp(only_replay, "join") == 0)
    join_early();
  if (!only_replay || strcmp(only_replay, "task_done") == 0)
    task_done_refused();
}

int main(int argc, char **argv) {
  only_replay = argc > 1 ? argv[1] : NULL;
  cv__ring_test_mid_count = mid_count;
  const char *only = getenv("CV_TEST_IMPL");
  if (only && *only && strcmp(only, "ring") != 0 &&
      strcmp(only, "ring-symmetric") != 0)
    return CV_TEST_SKIP;
  /* The ring only, with both barrier pairings. */
  cv__queue_force_locked = 0;
  for (int sym = 0; sym < 2; sym++) {
    cv__queue_force_symmetric = sym;
    body();
  }
  printf("both interleavings replayed on both ring pairings\n");
  return 0;
}
