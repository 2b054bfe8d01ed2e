/* pipeline_error_policy: the two error policies and every place an error can come
 * from.  Skip-and-report: failed items are counted per stage, reported once
 * each with their message, destroyed once, and the rest are delivered.
 * Fail-fast: the first failure cancels everything, wait returns CV_EFAILED,
 * the summary names the code, stage and message, and every item fed ends
 * exactly once.  Also: a failing source, a failing sink, and a failing
 * worker_init (start returns its code, the other workers' finish hooks run). */
#include "pipeline_util.h"

static pl_ledger ledger;
static atomic_long reported, bad_report;

static int pass(cv_stage_ctx *ctx, void *item) { return cv_emit(ctx, item); }

/* Fails ids that are 3 mod 10, with a message; ids 5 mod 10 fail with a bare
 * code (message from cv_strerror). */
static int check_item(cv_stage_ctx *ctx, void *item) {
  pl_item *it = item;
  if (it->id % 10 == 3)
    return cv_stage_fail(ctx, CV_EIO, "item %ld is bad", it->id);
  if (it->id % 10 == 5)
    return CV_ENOTFOUND;
  return cv_emit(ctx, it);
}

static void on_error(const cv_item_error *e, void *arg) {
  (void)arg;
  atomic_fetch_add(&reported, 1);
  const pl_item *it = e->item;
  char want[64];
  if (!it || strcmp(e->stage, "check") != 0 || e->stage_index != 1) {
    atomic_fetch_add(&bad_report, 1);
    return;
  }
  if (it->id % 10 == 3) {
    snprintf(want, sizeof(want), "item %ld is bad", it->id);
    if (e->code != CV_EIO || strcmp(e->message, want) != 0)
      atomic_fetch_add(&bad_report, 1);
  } else if (e->code != CV_ENOTFOUND ||
             strcmp(e->message, cv_strerror(CV_ENOTFOUND)) != 0) {
    atomic_fetch_add(&bad_report, 1);
  }
}

/* Reads the output to the end; returns the final code. */
static int drain(cv_pipeline *p) {
  void *item;
  int rc;
  while ((rc = cv_pipeline_get(p, &item, CV_FOREVER)) == CV_OK) {
    pl_item *it = item;
    pl_end(&ledger, it->id, PL_DELIVERED);
    pl_item_free(it);
  }
  return rc;
}

static cv_pipeline *make(cv_error_policy policy) {
  cv_pipeline_options po = {.on_error = policy,
                            .error_cb = on_error,
                            .item_destroy = pl_destroy_item,
                            .item_destroy_arg = &ledger};
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, &po));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "pass", .fn = pass, .workers = 2}));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "check", .fn = check_item, .workers = 3}));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "after", .fn = pass, .workers = 2}));
  return p;
}

static void test_skip(long n) {
  pl_ledger_init(&ledger, n);
  atomic_store(&reported, 0);
  cv_pipeline *p = make(CV_ON_ERROR_SKIP);
  CHECK_OK(cv_pipeline_start(p));
  pthread_t th;
  pl_feeder f = {.p = p, .n = n, .ledger = &ledger};
  CHECK(pthread_create(&th, NULL, pl_feed, &f) == 0);
  CHECK_RC(drain(p), CV_ECLOSED);
  CHECK(pthread_join(th, NULL) == 0);
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));

  long bad = 0;
  for (long i = 0; i < n; i++)
    bad += i % 10 == 3 || i % 10 == 5;
  CHECK_EQ(atomic_load(&f.fed), n);
  pl_ledger_check(&ledger, n);
  CHECK_EQ(atomic_load(&ledger.ended[PL_DESTROYED]), bad);
  CHECK_EQ(atomic_load(&ledger.ended[PL_DELIVERED]), n - bad);
  for (long i = 0; i < n; i++)
    CHECK_EQ(atomic_load(&ledger.fate[i]),
             i % 10 == 3 || i % 10 == 5 ? PL_DESTROYED : PL_DELIVERED);
  CHECK_EQ(atomic_load(&reported), bad);
  CHECK_EQ(atomic_load(&bad_report), 0);
  cv_stage_stats st;
  CHECK_OK(cv_pipeline_stage_stats(p, 1, &st));
  CHECK_EQ(st.failed, bad);
  CHECK_EQ(st.out, n - bad);
  CHECK_OK(cv_pipeline_stage_stats(p, 0, &st));
  CHECK_EQ(st.failed, 0);
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK_EQ(s.status, CV_OK);
  CHECK_EQ(s.failed, bad);
  CHECK_EQ(s.delivered, n - bad);
  CHECK(cv_pipeline_summary_balanced(&s));
  /* Skip still records the first error. */
  CHECK(s.error_code == CV_EIO || s.error_code == CV_ENOTFOUND);
  CHECK(strcmp(s.error_stage, "check") == 0);
  CHECK_OK(cv_pipeline_destroy(p));
  CHECK_EQ(atomic_load(&pl_alive), 0);
  pl_ledger_free(&ledger);
}

/* Only id `bad_id` fails. */
static long bad_id;
static int fail_one(cv_stage_ctx *ctx, void *item) {
  pl_item *it = item;
  if (it->id == bad_id)
    return cv_stage_fail(ctx, CV_EIO, "item %ld is bad", it->id);
  return cv_emit(ctx, it);
}

static void test_fail_fast(long n, long bad, bool read_output) {
  pl_ledger_init(&ledger, n);
  atomic_store(&reported, 0);
  bad_id = bad;
  cv_pipeline_options po = {.on_error = CV_ON_ERROR_FAIL_FAST,
                            .item_destroy = pl_destroy_item,
                            .item_destroy_arg = &ledger,
                            /* Without a reader, only an unbounded output
                             * lets the items reach the failing one. */
                            .output_capacity = read_output ? 4 : CV_UNBOUNDED};
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, &po));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "pass", .fn = pass, .workers = 2, .capacity = 8}));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "check", .fn = fail_one, .workers = 3, .capacity = 8}));
  CHECK_OK(cv_pipeline_start(p));
  pthread_t th;
  pl_feeder f = {.p = p, .n = n, .ledger = &ledger};
  CHECK(pthread_create(&th, NULL, pl_feed, &f) == 0);
  if (read_output)
    CHECK_RC(drain(p), CV_ECANCELED);
  CHECK_RC(cv_pipeline_wait(p, CV_SEC(30)), CV_EFAILED);
  CHECK(pthread_join(th, NULL) == 0);
  if (!read_output)
    CHECK_RC(drain(p), CV_ECANCELED);

  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK_EQ(s.status, CV_EFAILED);
  CHECK_EQ(s.error_code, CV_EIO);
  CHECK(strcmp(s.error_stage, "check") == 0);
  char want[64];
  snprintf(want, sizeof(want), "item %ld is bad", bad);
  CHECK(strcmp(s.error_message, want) == 0);
  CHECK_EQ(s.failed, 1);
  CHECK(s.fed > (uint64_t)bad);
  CHECK_EQ(s.fed, atomic_load(&f.fed));
  CHECK_EQ(s.pending, 0);
  CHECK(cv_pipeline_summary_balanced(&s));
  pl_ledger_check(&ledger, atomic_load(&f.fed));
  CHECK_EQ(atomic_load(&ledger.fate[bad]), PL_DESTROYED);
  CHECK_EQ(atomic_load(&ledger.ended[PL_DESTROYED]), s.failed + s.cancelled);
  CHECK_EQ(atomic_load(&ledger.ended[PL_DELIVERED]), s.delivered);
  pl_item *late = pl_item_new(0);
  CHECK_RC(cv_pipeline_put(p, late, CV_NOWAIT), CV_ECANCELED);
  pl_item_free(late); /* refused: still ours */
  CHECK_OK(cv_pipeline_destroy(p));
  pl_ledger_free(&ledger);
}

/* A source that fails after `n` items, and a sink that fails every 5th. */
static int failing_source(cv_stage_ctx *ctx, void *arg) {
  long n = (long)PI(arg);
  for (long i = 0; i < n; i++)
    if (cv_emit(ctx, pl_item_new(i)) != CV_OK)
      return CV_ECANCELED;
  return cv_stage_fail(ctx, CV_EIO, "source ran dry after %ld", n);
}

static atomic_long sink_ok;
static int picky_sink(void *item, void *arg) {
  (void)arg;
  pl_item *it = item;
  int rc = it->id % 5 == 0 ? CV_EIO : CV_OK;
  pl_end(&ledger, it->id, rc == CV_OK ? PL_DELIVERED : PL_DESTROYED);
  pl_item_free(it);
  if (rc == CV_OK)
    atomic_fetch_add(&sink_ok, 1);
  return rc;
}

static void test_source_sink(long n, cv_error_policy policy) {
  pl_ledger_init(&ledger, n);
  atomic_store(&sink_ok, 0);
  cv_pipeline_options po = {.on_error = policy,
                            .item_destroy = pl_destroy_item,
                            .item_destroy_arg = &ledger,
                            .source = failing_source,
                            .source_arg = IP(n),
                            .sink = picky_sink};
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, &po));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .fn = pass, .workers = 2}));
  CHECK_OK(cv_pipeline_start(p));
  int rc = cv_pipeline_wait(p, CV_SEC(30));
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK(cv_pipeline_summary_balanced(&s));
  pl_ledger_check(&ledger, (long)s.fed);
  CHECK_EQ(atomic_load(&ledger.ended[PL_DELIVERED]), s.delivered);
  CHECK_EQ(s.delivered, atomic_load(&sink_ok));
  if (policy == CV_ON_ERROR_SKIP) {
    CHECK_OK(rc);
    CHECK_EQ(s.fed, n);
    CHECK_EQ(s.failed, n / 5); /* the sink's failures */
    CHECK_EQ(s.delivered, n - n / 5);
    CHECK_EQ(s.cancelled, 0);
  } else {
    /* The sink fails item 0 first, or the source fails at the end:
     * either way the pipeline fails fast. */
    CHECK_RC(rc, CV_EFAILED);
    CHECK(s.error_code == CV_EIO);
    CHECK(strcmp(s.error_stage, "sink") == 0 ||
          strcmp(s.error_stage, "source") == 0);
  }
  CHECK_OK(cv_pipeline_destroy(p));
  CHECK_EQ(atomic_load(&pl_alive), 0);
  pl_ledger_free(&ledger);
}

/* worker_init: worker 2 of stage "b" fails. */
static atomic_int inits_ok, finishes;
static int init_hook(void *arg, unsigned worker, void **state) {
  if (arg && worker == 2)
    return CV_ENOMEM;
  *state = malloc(16);
  CHECK(*state != NULL);
  atomic_fetch_add(&inits_ok, 1);
  return CV_OK;
}
static void finish_hook(void *arg, unsigned worker, void *state) {
  (void)arg;
  (void)worker;
  free(state);
  atomic_fetch_add(&finishes, 1);
}

static void test_init_failure(void) {
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, NULL));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "a", .fn = pass, .workers = 3, .worker_init = init_hook,
      .worker_finish = finish_hook}));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "b", .fn = pass, .workers = 4, .arg = IP(1),
      .worker_init = init_hook, .worker_finish = finish_hook}));
  CHECK_RC(cv_pipeline_start(p), CV_ENOMEM);
  CHECK_RC(cv_pipeline_put(p, IP(1), CV_NOWAIT), CV_ECANCELED);
  CHECK_RC(cv_pipeline_wait(p, CV_SEC(30)), CV_EFAILED);
  CHECK_EQ(atomic_load(&inits_ok), 6);
  CHECK_EQ(atomic_load(&finishes), 6);
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK_EQ(s.status, CV_EFAILED);
  CHECK_EQ(s.error_code, CV_ENOMEM);
  CHECK(strcmp(s.error_stage, "b") == 0);
  CHECK(strstr(s.error_message, "worker_init") != NULL);
  CHECK_OK(cv_pipeline_destroy(p));
}

int main(void) {
  long n = pl_size("PIPELINE_ITEMS", 100000, 1000);
  test_skip(n);
  for (int round = 0; round < 3; round++) {
    test_fail_fast(n, n / 3, true);
    test_fail_fast(n, 10 + round, false);
  }
  test_source_sink(n / 10, CV_ON_ERROR_SKIP);
  test_source_sink(n / 10, CV_ON_ERROR_FAIL_FAST);
  test_init_failure();
  return 0;
}
