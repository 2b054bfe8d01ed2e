/* pipeline_cancel: cancellation at random moments - before start, mid-stream,
 * while every stage is blocked on a full queue, during the drain after the
 * input closed, from inside a stage function, from a SIGINT handler, and in
 * ordered stages waiting on their reorder window.  Each time: the call
 * returns promptly, wait returns CV_ECANCELED, and every item fed ends
 * exactly once (delivered, or handed to the destroy callback; a refused put
 * leaves the item with the caller).  PIPELINE_CANCEL_ROUNDS sets how many
 * random rounds run, PIPELINE_SEED replays a run. */
#include <signal.h>

#include "pipeline_util.h"

#define PROMPT_NS CV_SEC(2) /* generous: cancel to wait() returning */

static pl_ledger ledger;
static uint64_t rng;

static unsigned rnd(unsigned n) { return (unsigned)(test_rand(&rng) % n); }

/* Sleeps 0 to 3 steps of 50 us per item, giving up when cancelled. */
static int work(cv_stage_ctx *ctx, void *item) {
  pl_item *it = item;
  long us = 50 * (long)((it->id * 2654435761u) % 4);
  while (us > 0) {
    if (cv_stage_cancelled(ctx))
      return CV_ECANCELED;
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
    us -= 50;
  }
  return cv_emit(ctx, it);
}

static long cancel_at_id = -1;
static int work_or_cancel(cv_stage_ctx *ctx, void *item) {
  pl_item *it = item;
  if (it->id == cancel_at_id)
    cv_pipeline_cancel(cv_stage_pipeline(ctx));
  return work(ctx, item);
}

/* A stage that takes long (up to 5 s) unless it notices cancellation. */
static int long_work(cv_stage_ctx *ctx, void *item) {
  for (int i = 0; i < 5000; i++) {
    if (cv_stage_cancelled(ctx))
      return CV_ECANCELED;
    test_sleep_ms(1);
  }
  return cv_emit(ctx, item);
}

enum when { MID_STREAM, BLOCKED, DRAIN, IN_STAGE, LONG_WORK, SIGNAL, N_WHEN };
static const char *when_name[] = {"mid-stream", "blocked on full queues",
                                  "during drain", "from a stage function",
                                  "during long work", "from a signal handler"};

static cv_pipeline *sig_pipeline;
static void on_sigint(int sig) {
  (void)sig;
  cv_pipeline_cancel_async(sig_pipeline);
}

static bool queues_full(cv_pipeline *p) {
  for (size_t i = 0; i < cv_pipeline_stage_count(p); i++) {
    cv_stage_stats st;
    CHECK_OK(cv_pipeline_stage_stats(p, i, &st));
    if (st.queue_depth < st.queue_capacity)
      return false;
  }
  return true;
}

static void round_once(enum when when, bool ordered, long n) {
  pl_ledger_init(&ledger, n);
  cv_pipeline_options po = {.item_destroy = pl_destroy_item,
                            .item_destroy_arg = &ledger,
                            .ordered = ordered,
                            .output_capacity = 4};
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, &po));
  cv_stage_fn mid = when == IN_STAGE ? work_or_cancel
                    : when == LONG_WORK ? long_work
                                        : work;
  cancel_at_id = when == IN_STAGE ? (long)rnd((unsigned)n) : -1;
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "a", .fn = work, .workers = 3, .capacity = 8,
      .batch = 1 + rnd(3)}));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "b", .fn = mid, .workers = 4, .capacity = 8,
      .reorder_window = ordered ? 2 + rnd(6) : 0}));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "c", .fn = work, .workers = 2, .capacity = 8}));
  CHECK_OK(cv_pipeline_start(p));
  pl_feeder f = {.p = p, .n = n, .ledger = &ledger};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, pl_feed, &f) == 0);

  long stop_after = when == MID_STREAM ? 1 + (long)rnd((unsigned)n / 2) : -1;
  long got = 0;
  int64_t t_cancel = 0;
  void *item;
  int rc = CV_OK;
  if (when == BLOCKED) {
    /* Read nothing: wait until every queue is full and stays full (a
     * worker still finishing a batch can take from a full queue for a
     * moment, which the feeder or the stage before then refills), then
     * cancel with every stage blocked. */
    int64_t give_up = test_now_ns() + CV_SEC(10);
    int streak = 0;
    while (streak < 5 && test_now_ns() < give_up) {
      streak = queues_full(p) ? streak + 1 : 0;
      test_sleep_ms(1);
    }
    CHECK(streak >= 5);
    t_cancel = test_now_ns();
    CHECK_OK(cv_pipeline_cancel(p));
  } else if (when == DRAIN) {
    /* Let the feeder finish and close, then cancel while items drain. */
    while (atomic_load(&f.fed) < n)
      if ((rc = cv_pipeline_get(p, &item, CV_MSEC(1))) == CV_OK) {
        pl_end(&ledger, ((pl_item *)item)->id, PL_DELIVERED);
        pl_item_free(item);
      }
    t_cancel = test_now_ns();
    CHECK_OK(cv_pipeline_cancel(p));
  } else if (when == LONG_WORK || when == SIGNAL) {
    test_sleep_ms(5 + rnd(20));
    t_cancel = test_now_ns();
    if (when == SIGNAL) {
      sig_pipeline = p;
      raise(SIGINT);
    } else {
      CHECK_OK(cv_pipeline_cancel(p));
    }
  }
  while ((rc = cv_pipeline_get(p, &item, CV_FOREVER)) == CV_OK) {
    pl_end(&ledger, ((pl_item *)item)->id, PL_DELIVERED);
    pl_item_free(item);
    if (++got == stop_after) {
      t_cancel = test_now_ns();
      CHECK_OK(cv_pipeline_cancel(p));
    }
  }
  if (when == IN_STAGE && t_cancel == 0)
    t_cancel = test_now_ns(); /* cancelled by the stage: time from here */
  int w = cv_pipeline_wait(p, CV_SEC(30));
  int64_t took = test_now_ns() - t_cancel;
  CHECK(pthread_join(th, NULL) == 0);
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  if (w != CV_ECANCELED || rc != CV_ECANCELED || took > PROMPT_NS ||
      !cv_pipeline_summary_balanced(&s)) {
    fprintf(stderr,
            "%s%s: wait %s, last get %s, %.1f ms after cancel, fed %" PRIu64
            " delivered %" PRIu64 " cancelled %" PRIu64 " pending %" PRIu64
            "\n",
            when_name[when], ordered ? " (ordered)" : "", cv_err_name(w),
            cv_err_name(rc), (double)took / 1e6, s.fed, s.delivered,
            s.cancelled, s.pending);
    exit(1);
  }
  CHECK_EQ(s.fed, atomic_load(&f.fed));
  CHECK_EQ(s.status, CV_ECANCELED);
  CHECK_EQ(s.failed, 0);
  CHECK_EQ(s.pending, 0);
  pl_ledger_check(&ledger, (long)s.fed);
  CHECK_EQ(atomic_load(&ledger.ended[PL_DELIVERED]), s.delivered);
  CHECK_EQ(atomic_load(&ledger.ended[PL_DESTROYED]), s.cancelled);
  CHECK_EQ(atomic_load(&ledger.ended[PL_DELIVERED]) +
               atomic_load(&ledger.ended[PL_DESTROYED]),
           s.fed);
  CHECK_OK(cv_pipeline_destroy(p));
  CHECK_EQ(atomic_load(&pl_alive), 0);
  pl_ledger_free(&ledger);
}

static void before_start(bool async) {
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, NULL));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){.fn = work}));
  if (async)
    CHECK_OK(cv_pipeline_cancel_async(p));
  else
    CHECK_OK(cv_pipeline_cancel(p));
  CHECK_RC(cv_pipeline_start(p), CV_ECANCELED);
  CHECK_RC(cv_pipeline_put(p, IP(1), CV_NOWAIT), CV_ECANCELED);
  void *item;
  CHECK_RC(cv_pipeline_get(p, &item, CV_NOWAIT), CV_ECANCELED);
  CHECK_RC(cv_pipeline_wait(p, CV_NOWAIT), CV_ECANCELED);
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK(s.finished);
  CHECK_EQ(s.fed, 0);
  CHECK(cv_pipeline_summary_balanced(&s));
  CHECK_OK(cv_pipeline_destroy(p));
}

/* Destroying a running pipeline cancels it and frees every item. */
static void destroy_running(long n) {
  pl_ledger_init(&ledger, n);
  cv_pipeline_options po = {.item_destroy = pl_destroy_item,
                            .item_destroy_arg = &ledger,
                            .output_capacity = CV_UNBOUNDED};
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, &po));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .fn = work, .workers = 2, .capacity = CV_UNBOUNDED}));
  CHECK_OK(cv_pipeline_start(p));
  for (long i = 0; i < n; i++)
    CHECK_OK(cv_pipeline_put(p, pl_item_new(i), CV_NOWAIT));
  test_sleep_ms(2);
  CHECK_OK(cv_pipeline_destroy(p)); /* input still open */
  CHECK_EQ(atomic_load(&ledger.ended[PL_DESTROYED]), n);
  pl_ledger_check(&ledger, n);
  CHECK_EQ(atomic_load(&pl_alive), 0);
  pl_ledger_free(&ledger);
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  CHECK(sigaction(SIGINT, &sa, NULL) == 0);

  /* Random moments from a seed that is printed, so that a failure can be
   * replayed with PIPELINE_SEED. */
  rng = (uint64_t)test_env_long("PIPELINE_SEED", (long)(test_now_ns() | 1));
  printf("PIPELINE_SEED=%llu\n", (unsigned long long)rng);
  long n = pl_size("PIPELINE_CANCEL_ITEMS", 3000, 300);
  /* Rounds are short: every build but valgrind runs all of them. */
  long rounds = test_env_long("PIPELINE_CANCEL_ROUNDS",
                              RUNNING_ON_VALGRIND ? 12 : 36);
  before_start(false);
  before_start(true);
  destroy_running(n / 10);
  for (long r = 0; r < rounds; r++) {
    enum when w = (enum when)(r % N_WHEN);
    round_once(w, (r / N_WHEN) % 2 == 1, n);
  }
  printf("%ld rounds of %ld items\n", rounds, n);
  return 0;
}
