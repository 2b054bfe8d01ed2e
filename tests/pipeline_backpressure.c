/* pipeline_backpressure: a fast feeder in front of a stage that sleeps, all
 * queues of capacity 8: the number of items alive at once (allocations minus
 * frees, counted exactly) never exceeds the bound the design promises, while
 * 100,000 items pass (scaled down under sanitizers; PIPELINE_BP_ITEMS).
 *
 * The bound.  An item is alive from the feeder's malloc to the consumer's
 * free.  It can be: in the feeder's hand (1, blocked in put); in a stage's
 * input queue (<= its capacity); in a worker's hands (<= batch per worker:
 * its taken inputs, and the emits it buffers are the same objects since the
 * stages pass items through); in an ordered stage, between take and release
 * (<= reorder_window in total for the stage, which replaces its workers'
 * share); in the output queue (<= output_capacity); in the consumer's hand
 * (1).  So
 *   alive <= 1 + sum(capacity) + sum(workers x batch, or window if ordered)
 *            + output_capacity + 1
 * and the test also checks that the queues in front of the slow stage did
 * fill, or the bound would prove nothing. */
#include "pipeline_util.h"

static long n_items;

static int pass(cv_stage_ctx *ctx, void *item) { return cv_emit(ctx, item); }

/* Sleeps 0.2 ms every `sleep_every` items: every 32nd in the plain build;
 * under sanitizers and valgrind, where the pass-through stages are many
 * times slower, more often, so that this stage stays the slow one. */
static long sleep_every = 32;

static int slow(cv_stage_ctx *ctx, void *item) {
  pl_item *it = item;
  if (it->id % sleep_every == 0) {
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
  }
  return cv_emit(ctx, item);
}

static void *feed(void *arg) {
  cv_pipeline *p = arg;
  for (long i = 0; i < n_items; i++)
    CHECK_OK(cv_pipeline_put(p, pl_item_new(i), CV_FOREVER));
  CHECK_OK(cv_pipeline_close_input(p));
  return NULL;
}

static void run(size_t batch, bool ordered, size_t window) {
  pl_alive_reset();
  const size_t cap = 8, out_cap = 8;
  const unsigned workers[3] = {2, 3, 2};
  cv_pipeline_options po = {.output_capacity = out_cap};
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, &po));
  size_t bound = 1 + out_cap + 1;
  for (int k = 0; k < 3; k++) {
    cv_stage_options so = {.fn = k == 1 ? slow : pass,
                           .workers = workers[k],
                           .capacity = cap,
                           .batch = batch};
    if (k == 1 && ordered) {
      so.ordered = true;
      so.reorder_window = window;
    }
    CHECK_OK(cv_pipeline_add_stage(p, &so));
    bound += cap + ((k == 1 && ordered) ? window : workers[k] * batch);
  }
  CHECK_OK(cv_pipeline_start(p));
  pthread_t th;
  CHECK(pthread_create(&th, NULL, feed, p) == 0);
  long got = 0, next = 0, out_of_order = 0;
  void *item;
  int rc;
  while ((rc = cv_pipeline_get(p, &item, CV_FOREVER)) == CV_OK) {
    pl_item *it = item;
    if (it->id != next++)
      out_of_order++;
    got++;
    pl_item_free(it);
  }
  CHECK_RC(rc, CV_ECLOSED);
  CHECK(pthread_join(th, NULL) == 0);
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));
  long max_alive = atomic_load(&pl_alive_max);
  printf("batch %zu%s: max alive %ld, bound %zu, sum of stage capacities %zu\n",
         batch, ordered ? ", ordered" : "", max_alive, bound, 3 * cap);
  CHECK_EQ(got, n_items);
  CHECK_EQ(atomic_load(&pl_alive), 0);
  CHECK(max_alive <= (long)bound);
  /* The queues in front of the slow stage did fill (behind it the reader
   * keeps them short), so the bound was put to the test. */
  CHECK(max_alive >= (long)(2 * cap));
  cv_stage_stats st;
  CHECK_OK(cv_pipeline_stage_stats(p, 1, &st));
  CHECK_EQ(st.queue_high_water, cap);
  CHECK_OK(cv_pipeline_stage_stats(p, 0, &st));
  CHECK_EQ(st.queue_high_water, cap);
  CHECK(st.blocked_ns > 0); /* stage 0 waited on the slow stage */
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK(cv_pipeline_summary_balanced(&s));
  CHECK_OK(cv_pipeline_destroy(p));
  (void)out_of_order; /* stage 0 and 2 are unordered: order not promised */
}

int main(void) {
  n_items = pl_size("PIPELINE_BP_ITEMS", 100000, 2000);
#if defined(PL_TSAN) || defined(PL_ASAN)
  sleep_every = 4;
#endif
  if (RUNNING_ON_VALGRIND)
    sleep_every = 2;
  run(1, false, 0);
  run(4, false, 0);
  run(1, true, 5);
  return 0;
}
