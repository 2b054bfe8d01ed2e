/* pipeline_autotune: automatic workers (CV_WORKERS_AUTO).  Every item ends
 * exactly once with automatic stages (with a get loop, with a sink, with an
 * ordered stage), cancellation at random moments while workers come and go,
 * the thread budget is never exceeded (from the statistics and from
 * /proc/self/task), and a bottleneck that moves (stage 1 slow for the first
 * half of the items, stage 3 for the second) moves the workers after it.
 * The slow stages sleep, so the test does not depend on free CPUs.
 * PIPELINE_AUTO_ITEMS sets the size of the moving-bottleneck run. */
#include <dirent.h>
#include <string.h>

#include "pipeline_util.h"

#define TICK_NS CV_MSEC(10)

static pl_ledger ledger;

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

static int threads_now(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* ---- exactly once ----------------------------------------------------- */

/* Adds the id (checksum) and passes the item on; every 64th item sleeps, so
 * that the stages' load is uneven and the controller has work to do. */
static int step(cv_stage_ctx *ctx, void *item) {
  pl_item *it = item;
  it->value += it->id;
  if (it->id % 64 == (long)cv_stage_worker_index(ctx) % 64)
    sleep_us(200);
  return cv_emit(ctx, it);
}

static atomic_long sink_sum, sink_n, sink_inside;

static int sink(void *item, void *arg) {
  (void)arg;
  pl_item *it = item;
  /* One call at a time (the default contract). */
  CHECK_EQ(atomic_fetch_add(&sink_inside, 1), 0);
  atomic_fetch_add(&sink_sum, it->value);
  atomic_fetch_add(&sink_n, 1);
  pl_end(&ledger, it->id, PL_DELIVERED);
  atomic_fetch_sub(&sink_inside, 1);
  pl_item_free(it);
  return CV_OK;
}

static void test_exactly_once(bool use_sink, bool ordered) {
  long n = pl_size("PIPELINE_AUTO_ONCE_ITEMS", 100000, 2000);
  pl_ledger_init(&ledger, n);
  atomic_store(&sink_sum, 0);
  atomic_store(&sink_n, 0);
  cv_pipeline *p;
  cv_pipeline_options po = {.item_destroy = pl_destroy_item,
                            .item_destroy_arg = &ledger,
                            .sink = use_sink ? sink : NULL,
                            .max_workers = 6,
                            .tune_interval_ns = TICK_NS};
  CHECK_OK(cv_pipeline_create(&p, &po));
  for (int s = 0; s < 3; s++)
    CHECK_OK(cv_pipeline_add_stage(
        p, &(cv_stage_options){.fn = step,
                               .workers = CV_WORKERS_AUTO,
                               .max_workers = s == 2 ? 2 : 0,
                               .capacity = 32,
                               .ordered = ordered && s == 1}));
  CHECK_OK(cv_pipeline_start(p));
  pl_feeder f = {.p = p, .n = n, .ledger = &ledger};
  pthread_t ft;
  CHECK_EQ(pthread_create(&ft, NULL, pl_feed, &f), 0);
  long got = 0, sum = 0;
  if (!use_sink) {
    void *item;
    int rc;
    while ((rc = cv_pipeline_get(p, &item, CV_FOREVER)) == CV_OK) {
      pl_item *it = item;
      got++;
      sum += it->value;
      pl_end(&ledger, it->id, PL_DELIVERED);
      pl_item_free(it);
    }
    CHECK_RC(rc, CV_ECLOSED);
  }
  pthread_join(ft, NULL);
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));
  if (use_sink) {
    got = atomic_load(&sink_n);
    sum = atomic_load(&sink_sum);
  }
  CHECK_EQ(got, n);
  CHECK_EQ(sum, 3 * (n * (n - 1) / 2));
  pl_ledger_check(&ledger, n);
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK(cv_pipeline_summary_balanced(&s));
  CHECK_EQ(s.delivered, (uint64_t)n);
  for (size_t i = 0; i < 3; i++) {
    cv_stage_stats st;
    CHECK_OK(cv_pipeline_stage_stats(p, i, &st));
    CHECK(st.workers_auto);
    CHECK(st.workers_peak >= 1 && st.workers_peak <= (i == 2 ? 2 : 6));
    CHECK_EQ(st.taken, (uint64_t)n);
  }
  CHECK_OK(cv_pipeline_destroy(p));
  pl_ledger_free(&ledger);
  printf("exactly once (%s%s): %ld items\n", use_sink ? "sink" : "get",
         ordered ? ", ordered" : "", n);
}

/* ---- cancellation ----------------------------------------------------- */

static int slow_step(cv_stage_ctx *ctx, void *item) {
  pl_item *it = item;
  if (it->id % 4 == 0)
    sleep_us(300);
  return cv_emit(ctx, it);
}

static void test_cancel(int rounds) {
  uint64_t rng =
      (uint64_t)test_env_long("PIPELINE_SEED", (long)(test_now_ns() | 1));
  printf("PIPELINE_SEED=%llu\n", (unsigned long long)rng);
  for (int r = 0; r < rounds; r++) {
    long n = 20000;
    pl_ledger_init(&ledger, n);
    cv_pipeline *p;
    cv_pipeline_options po = {.item_destroy = pl_destroy_item,
                              .item_destroy_arg = &ledger,
                              .sink = sink,
                              .max_workers = 8,
                              .tune_interval_ns = CV_MSEC(2)};
    CHECK_OK(cv_pipeline_create(&p, &po));
    for (int s = 0; s < 3; s++)
      CHECK_OK(cv_pipeline_add_stage(
          p, &(cv_stage_options){.fn = slow_step,
                                 .workers = CV_WORKERS_AUTO,
                                 .capacity = 16}));
    CHECK_OK(cv_pipeline_start(p));
    pl_feeder f = {.p = p, .n = n, .ledger = &ledger};
    pthread_t ft;
    CHECK_EQ(pthread_create(&ft, NULL, pl_feed, &f), 0);
    test_sleep_ms((int)(test_rand(&rng) % 60));
    CHECK_OK(cv_pipeline_cancel(p));
    pthread_join(ft, NULL);
    int rc = cv_pipeline_wait(p, CV_SEC(30));
    CHECK(rc == CV_ECANCELED || rc == CV_OK); /* OK: it had finished */
    cv_pipeline_summary s;
    CHECK_OK(cv_pipeline_summary_get(p, &s));
    CHECK(cv_pipeline_summary_balanced(&s));
    CHECK_EQ(s.fed, (uint64_t)atomic_load(&f.fed));
    CHECK_OK(cv_pipeline_destroy(p));
    pl_ledger_check(&ledger, atomic_load(&f.fed) +
                                 (atomic_load(&f.fed) < n ? 1 : 0));
    pl_ledger_free(&ledger);
  }
  printf("cancel: %d rounds\n", rounds);
}

/* ---- the budget ------------------------------------------------------- */

static int io_step(cv_stage_ctx *ctx, void *item) {
  sleep_us(500);
  return cv_emit(ctx, item);
}

static void test_budget(void) {
  const unsigned budget = 5;
  long n = pl_size("PIPELINE_AUTO_BUDGET_ITEMS", 4000, 600);
  cv_pipeline *p;
  cv_pipeline_options po = {.max_workers = budget,
                            .tune_interval_ns = TICK_NS};
  CHECK_OK(cv_pipeline_create(&p, &po));
  for (int s = 0; s < 3; s++)
    CHECK_OK(cv_pipeline_add_stage(
        p, &(cv_stage_options){.fn = io_step, .workers = CV_WORKERS_AUTO,
                               .capacity = 64}));
  CHECK_OK(cv_pipeline_start(p));
  /* Threads that are not the pipeline's: this one, and whatever a sanitizer
   * runtime started with the first thread.  Now the pipeline runs one
   * worker per stage and its monitor. */
  int base = threads_now() - 3 - 1;
  CHECK(base >= 1);
  long fed = 0;
  unsigned most = 0;
  int most_threads = 0;
  void *got[64];
  long out = 0;
  while (out < n) {
    while (fed < n && cv_pipeline_put(p, IP(fed + 1), CV_NOWAIT) == CV_OK)
      fed++;
    if (fed == n)
      cv_pipeline_close_input(p);
    size_t k = 0;
    int rc = cv_pipeline_get_many(p, got, 64, &k, CV_MSEC(1));
    CHECK(rc == CV_OK || rc == CV_ETIMEDOUT);
    out += (long)k;
    unsigned sum = 0;
    for (size_t i = 0; i < 3; i++) {
      cv_stage_stats st;
      CHECK_OK(cv_pipeline_stage_stats(p, i, &st));
      CHECK(st.workers >= 1);
      sum += st.workers;
    }
    CHECK(sum <= budget);
    if (sum > most)
      most = sum;
    /* Workers + the monitor + the others. */
    int t = threads_now();
    CHECK(t <= base + (int)budget + 1);
    if (t > most_threads)
      most_threads = t;
  }
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));
  /* The limit was reached, so the checks above were not vacuous. */
  CHECK_EQ(most, budget);
  CHECK_OK(cv_pipeline_destroy(p));
  printf("budget %u: at most %u workers, %d threads (base %d)\n", budget,
         most, most_threads, base);
}

/* ---- the moving bottleneck -------------------------------------------- */

static long half;

/* Stage s sleeps 2 ms on items of its half (stage 0 the first, stage 2 the
 * second), 20 us otherwise. */
static int moving(cv_stage_ctx *ctx, void *item) {
  long id = PI(item);
  size_t s = (size_t)(intptr_t)cv_stage_arg(ctx);
  bool slow = (s == 0 && id < half) || (s == 2 && id >= half);
  sleep_us(slow ? 2000 : 20);
  return cv_emit(ctx, item);
}

static atomic_int moves[3][2]; /* grows per stage, per half */
static atomic_long delivered;

static void on_tune(cv_pipeline *p, const cv_tune_event *e, void *arg) {
  (void)p;
  (void)arg;
  int h = atomic_load(&delivered) >= half;
  printf("  %s: %u -> %u (%s)\n", e->stage, e->from, e->to, e->reason);
  CHECK(e->stage_index < 3 && e->to >= 1 && e->from != e->to);
  if (e->to > e->from)
    atomic_fetch_add(&moves[e->stage_index][h], 1);
}

static int count_sink(void *item, void *arg) {
  (void)item;
  (void)arg;
  atomic_fetch_add(&delivered, 1);
  return CV_OK;
}

static void test_moving(void) {
  long n = pl_size("PIPELINE_AUTO_ITEMS", 3000, 600);
  half = n / 2;
  cv_pipeline *p;
  cv_pipeline_options po = {.sink = count_sink,
                            .max_workers = 10,
                            .tune_cb = on_tune,
                            .tune_interval_ns = TICK_NS};
  CHECK_OK(cv_pipeline_create(&p, &po));
  for (intptr_t s = 0; s < 3; s++)
    CHECK_OK(cv_pipeline_add_stage(
        p, &(cv_stage_options){.fn = moving, .arg = (void *)s,
                               .workers = CV_WORKERS_AUTO, .capacity = 32}));
  CHECK_OK(cv_pipeline_start(p));
  /* Most workers of stages 0 and 2 seen while each was the slow one. */
  unsigned peak0 = 0, peak2 = 0, late0 = 99;
  for (long id = 0; id < n; id++) {
    CHECK_OK(cv_pipeline_put(p, IP(id), CV_FOREVER));
    cv_stage_stats s0, s2;
    CHECK_OK(cv_pipeline_stage_stats(p, 0, &s0));
    CHECK_OK(cv_pipeline_stage_stats(p, 2, &s2));
    if (id < half && s0.workers > peak0)
      peak0 = s0.workers;
    if (atomic_load(&delivered) > half && s2.workers > peak2)
      peak2 = s2.workers;
    if (id == n - 1)
      late0 = s0.workers;
  }
  CHECK_OK(cv_pipeline_close_input(p));
  for (;;) {
    cv_stage_stats s2;
    CHECK_OK(cv_pipeline_stage_stats(p, 2, &s2));
    if (atomic_load(&delivered) > half && s2.workers > peak2)
      peak2 = s2.workers;
    if (cv_pipeline_wait(p, CV_MSEC(5)) != CV_ETIMEDOUT)
      break;
  }
  CHECK_OK(cv_pipeline_stats_print(p, stdout));
  CHECK_EQ(atomic_load(&delivered), n);
  printf("moving bottleneck: stage 0 up to %u workers in the first half, "
         "%u at the end of the feed; stage 2 up to %u in the second half\n",
         peak0, late0, peak2);
  if (RUNNING_ON_VALGRIND) {
    /* One thread at a time and 50x slower: the direction is not measured. */
    CHECK_OK(cv_pipeline_destroy(p));
    return;
  }
  /* Stage 0 grew while it was slow, stage 2 grew while it was slow. */
  CHECK(peak0 >= 3);
  CHECK(peak2 >= 3);
  CHECK(atomic_load(&moves[0][0]) >= 1);
  CHECK(atomic_load(&moves[2][1]) >= 1);
  cv_stage_stats st;
  CHECK_OK(cv_pipeline_stage_stats(p, 2, &st));
  CHECK(st.workers_peak >= 3 && st.workers_peak <= 10 - 2);
  CHECK_OK(cv_pipeline_destroy(p));
}

/* Contracts: a bad interval is refused; before start an automatic stage
 * reports the one worker it will start with; explicit counts stay. */
static void test_api(void) {
  cv_pipeline *p;
  CHECK_RC(cv_pipeline_create(&p, &(cv_pipeline_options){.tune_interval_ns = -1}),
           CV_EINVAL);
  CHECK_OK(cv_pipeline_create(&p, &(cv_pipeline_options){.max_workers = 4}));
  CHECK_OK(cv_pipeline_add_stage(
      p, &(cv_stage_options){.fn = step, .workers = CV_WORKERS_AUTO}));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){.fn = step, .workers = 3}));
  cv_stage_stats st;
  CHECK_OK(cv_pipeline_stage_stats(p, 0, &st));
  CHECK(st.workers_auto && st.workers == 1 && st.workers_peak == 1);
  CHECK_OK(cv_pipeline_stage_stats(p, 1, &st));
  CHECK(!st.workers_auto && st.workers == 3 && st.workers_peak == 3);
  CHECK_OK(cv_pipeline_destroy(p));
}

int main(void) {
  test_api();
  test_budget();
  test_exactly_once(false, false);
  test_exactly_once(true, false);
  test_exactly_once(false, true);
  test_cancel((int)pl_size("PIPELINE_AUTO_CANCEL_ROUNDS", 40, 5));
  test_moving();
  return 0;
}
