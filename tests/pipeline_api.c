/* pipeline_api: the calls' contracts one by one - argument and state
 * errors, defaults, NULL items, an empty run, a timed wait, worker state
 * from init/finish hooks, the context accessors, unbounded queues read after
 * the end, and leftover outputs destroyed by cv_pipeline_destroy. */
#include "pipeline_util.h"

static int pass(cv_stage_ctx *ctx, void *item) { return cv_emit(ctx, item); }

static void test_args(void) {
  cv_pipeline *p;
  CHECK_RC(cv_pipeline_create(NULL, NULL), CV_EINVAL);
  CHECK_RC(cv_pipeline_create(&p, &(cv_pipeline_options){.on_error = 7}),
           CV_EINVAL);
  CHECK_RC(cv_pipeline_create(
               &p, &(cv_pipeline_options){.progress_interval_ns = -1}),
           CV_EINVAL);
  CHECK_OK(cv_pipeline_create(&p, NULL));
  CHECK_RC(cv_pipeline_add_stage(NULL, &(cv_stage_options){.fn = pass}),
           CV_EINVAL);
  CHECK_RC(cv_pipeline_add_stage(p, NULL), CV_EINVAL);
  CHECK_RC(cv_pipeline_add_stage(p, &(cv_stage_options){0}), CV_EINVAL);
  /* Queue bounds above the queue's maximum (CV_UNBOUNDED aside). */
  CHECK_RC(cv_pipeline_add_stage(
               p, &(cv_stage_options){.fn = pass,
                                      .capacity = CV_QUEUE_MAX_CAPACITY + 1}),
           CV_EINVAL);
  cv_pipeline *bad = IP(1);
  CHECK_RC(cv_pipeline_create(
               &bad, &(cv_pipeline_options){.output_capacity =
                                                CV_QUEUE_MAX_CAPACITY + 1}),
           CV_EINVAL);
  CHECK_RC(cv_pipeline_start(p), CV_EINVAL); /* no stages */
  CHECK_RC(cv_pipeline_start(NULL), CV_EINVAL);
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){.fn = pass}));
  CHECK_EQ(cv_pipeline_stage_count(p), 1);
  CHECK_EQ(cv_pipeline_stage_count(NULL), 0);
  cv_stage_stats st;
  CHECK_OK(cv_pipeline_stage_stats(p, 0, &st));
  CHECK(strcmp(st.name, "stage0") == 0);
  CHECK_EQ(st.workers, 1);
  CHECK_EQ(st.queue_capacity, CV_PIPELINE_DEFAULT_CAPACITY);
  CHECK_EQ(st.in, 0);
  CHECK_RC(cv_pipeline_stage_stats(p, 1, &st), CV_EINVAL);
  /* Before start. */
  void *item;
  size_t n;
  CHECK_RC(cv_pipeline_put(p, IP(1), CV_NOWAIT), CV_ESTATE);
  CHECK_RC(cv_pipeline_put_many(p, &item, 1, &n, CV_NOWAIT), CV_ESTATE);
  CHECK_RC(cv_pipeline_get(p, &item, CV_NOWAIT), CV_ESTATE);
  CHECK_RC(cv_pipeline_close_input(p), CV_ESTATE);
  CHECK_RC(cv_pipeline_wait(p, CV_NOWAIT), CV_ESTATE);
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK(!s.finished);
  CHECK(cv_pipeline_summary_balanced(&s));
  CHECK_RC(cv_pipeline_summary_get(p, NULL), CV_EINVAL);
  CHECK(!cv_pipeline_summary_balanced(NULL));
  CHECK_OK(cv_pipeline_start(p));
  CHECK_RC(cv_pipeline_start(p), CV_ESTATE);
  CHECK_RC(cv_pipeline_add_stage(p, &(cv_stage_options){.fn = pass}),
           CV_ESTATE);
  CHECK_RC(cv_pipeline_get(p, NULL, CV_NOWAIT), CV_EINVAL);
  CHECK_RC(cv_pipeline_get_many(p, &item, 0, &n, CV_NOWAIT), CV_EINVAL);
  CHECK_RC(cv_pipeline_put_many(p, &item, 0, &n, CV_NOWAIT), CV_EINVAL);
  /* Negative timeouts other than CV_FOREVER are refused, never waited on. */
  const int64_t neg[] = {-2, CV_MSEC(-1), INT64_MIN};
  for (size_t i = 0; i < sizeof(neg) / sizeof(neg[0]); i++) {
    CHECK_RC(cv_pipeline_get(p, &item, neg[i]), CV_EINVAL);
    CHECK_RC(cv_pipeline_get_many(p, &item, 1, &n, neg[i]), CV_EINVAL);
    CHECK_RC(cv_pipeline_put(p, IP(1), neg[i]), CV_EINVAL);
    CHECK_RC(cv_pipeline_put_many(p, &item, 1, &n, neg[i]), CV_EINVAL);
    CHECK_RC(cv_pipeline_wait(p, neg[i]), CV_EINVAL);
  }
  CHECK_RC(cv_pipeline_get(p, &item, CV_NOWAIT), CV_EEMPTY);
  /* A timed wait on an open input times out, and not early. */
  int64_t t0 = test_now_ns();
  CHECK_RC(cv_pipeline_wait(p, CV_MSEC(30)), CV_ETIMEDOUT);
  int64_t took = test_now_ns() - t0;
  CHECK(took >= CV_MSEC(30));
  CHECK(took < CV_SEC(5));
  CHECK_RC(cv_pipeline_get(p, &item, CV_MSEC(10)), CV_ETIMEDOUT);
  /* NULL is an item like any other. */
  CHECK_OK(cv_pipeline_put(p, NULL, CV_FOREVER));
  CHECK_OK(cv_pipeline_get(p, &item, CV_FOREVER));
  CHECK(item == NULL);
  CHECK_OK(cv_pipeline_close_input(p));
  CHECK_OK(cv_pipeline_close_input(p)); /* idempotent */
  CHECK_RC(cv_pipeline_put(p, IP(1), CV_NOWAIT), CV_ECLOSED);
  CHECK_RC(cv_pipeline_get(p, &item, CV_FOREVER), CV_ECLOSED);
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));
  CHECK_OK(cv_pipeline_wait(p, CV_NOWAIT)); /* again */
  CHECK_OK(cv_pipeline_cancel(p)); /* after the end: no effect */
  CHECK_OK(cv_pipeline_wait(p, CV_NOWAIT));
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK_EQ(s.status, CV_OK);
  CHECK_EQ(s.fed, 1);
  CHECK_EQ(s.delivered, 1);
  CHECK(cv_pipeline_summary_balanced(&s));
  CHECK_OK(cv_pipeline_destroy(p));
  CHECK_RC(cv_pipeline_destroy(NULL), CV_EINVAL);
  CHECK_RC(cv_pipeline_cancel(NULL), CV_EINVAL);
  CHECK_RC(cv_pipeline_cancel_async(NULL), CV_EINVAL);
  CHECK_RC(cv_emit(NULL, NULL), CV_EINVAL);
  CHECK_RC(cv_stage_fail(NULL, CV_OK, NULL), CV_EFAILED);
}

static int src(cv_stage_ctx *ctx, void *arg) {
  (void)ctx;
  (void)arg;
  return CV_OK;
}
static int snk(void *item, void *arg) {
  (void)item;
  (void)arg;
  return CV_OK;
}

/* With a source, put and close are refused; with a sink, get is. */
static void test_source_sink_state(void) {
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(
      &p, &(cv_pipeline_options){.source = src, .sink = snk}));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){.fn = pass}));
  CHECK_OK(cv_pipeline_start(p));
  void *item;
  CHECK_RC(cv_pipeline_put(p, IP(1), CV_NOWAIT), CV_ESTATE);
  CHECK_RC(cv_pipeline_close_input(p), CV_ESTATE);
  CHECK_RC(cv_pipeline_get(p, &item, CV_NOWAIT), CV_ESTATE);
  CHECK_OK(cv_pipeline_wait(p, CV_SEC(30))); /* empty source: done */
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK_EQ(s.fed, 0);
  CHECK(s.finished);
  CHECK(cv_pipeline_summary_balanced(&s));
  CHECK_OK(cv_pipeline_destroy(p));
}

/* Per-worker state: init gives each worker a counter, the function counts
 * into it, finish adds it to the total. */
static atomic_long total, inits, finishes;
static atomic_uint seen_workers;
static int w_init(void *arg, unsigned worker, void **state) {
  CHECK(arg == IP(42));
  CHECK(*state == NULL);
  long *c = calloc(1, sizeof(long));
  CHECK(c != NULL);
  *state = c;
  atomic_fetch_or(&seen_workers, 1u << worker);
  atomic_fetch_add(&inits, 1);
  return CV_OK;
}
static void w_finish(void *arg, unsigned worker, void *state) {
  CHECK(arg == IP(42));
  (void)worker;
  atomic_fetch_add(&total, *(long *)state);
  atomic_fetch_add(&finishes, 1);
  free(state);
}
static int count(cv_stage_ctx *ctx, void *item) {
  long *c = cv_stage_worker_state(ctx);
  (*c)++;
  CHECK(cv_stage_arg(ctx) == IP(42));
  CHECK(cv_stage_worker_index(ctx) < 5);
  CHECK(strcmp(cv_stage_name(ctx), "counter") == 0);
  CHECK(cv_stage_pipeline(ctx) != NULL);
  CHECK(!cv_stage_cancelled(ctx));
  return cv_emit(ctx, item);
}

static void test_worker_state(void) {
  long n = pl_size("PIPELINE_ITEMS", 20000, 500);
  pl_ledger l;
  pl_ledger_init(&l, n);
  cv_pipeline *p;
  /* Unbounded everywhere: feed everything, wait, then read it all. */
  CHECK_OK(cv_pipeline_create(
      &p, &(cv_pipeline_options){.output_capacity = CV_UNBOUNDED,
                                 .item_destroy = pl_destroy_item,
                                 .item_destroy_arg = &l}));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "counter", .fn = count, .arg = IP(42), .workers = 5,
      .capacity = CV_UNBOUNDED, .worker_init = w_init,
      .worker_finish = w_finish}));
  CHECK_OK(cv_pipeline_start(p));
  CHECK_EQ(atomic_load(&inits), 5); /* start returns after every init */
  CHECK_EQ(atomic_load(&seen_workers), 0x1f);
  for (long i = 0; i < n; i++)
    CHECK_OK(cv_pipeline_put(p, pl_item_new(i), CV_NOWAIT));
  CHECK_OK(cv_pipeline_close_input(p));
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));
  CHECK_EQ(atomic_load(&finishes), 5);
  CHECK_EQ(atomic_load(&total), n);
  cv_stage_stats st;
  CHECK_OK(cv_pipeline_stage_stats(p, 0, &st));
  CHECK_EQ(st.queue_capacity, 0);
  CHECK_EQ(st.queue_high_water > 0, 1);
  /* Read half; destroy hands the rest to the destroy callback. */
  for (long i = 0; i < n / 2; i++) {
    void *item;
    CHECK_OK(cv_pipeline_get(p, &item, CV_NOWAIT));
    pl_end(&l, ((pl_item *)item)->id, PL_DELIVERED);
    pl_item_free(item);
  }
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK_EQ(s.pending, n - n / 2);
  CHECK(cv_pipeline_summary_balanced(&s));
  CHECK_OK(cv_pipeline_destroy(p));
  pl_ledger_check(&l, n);
  CHECK_EQ(atomic_load(&l.ended[PL_DESTROYED]), n - n / 2);
  CHECK_EQ(atomic_load(&pl_alive), 0);
  pl_ledger_free(&l);
}

/* A stage function that fails with CV_OK through cv_stage_fail still
 * fails (as CV_EFAILED), and the message is kept. */
static int fail_ok(cv_stage_ctx *ctx, void *item) {
  (void)item;
  return cv_stage_fail(ctx, CV_OK, "%s %d", "odd", 3);
}

static void test_fail_ok(void) {
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, NULL));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){.fn = fail_ok}));
  CHECK_OK(cv_pipeline_start(p));
  CHECK_OK(cv_pipeline_put(p, IP(5), CV_FOREVER));
  CHECK_OK(cv_pipeline_close_input(p));
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK_EQ(s.failed, 1);
  CHECK_EQ(s.error_code, CV_EFAILED);
  CHECK(strcmp(s.error_message, "odd 3") == 0);
  CHECK(strcmp(s.error_stage, "stage0") == 0);
  CHECK(cv_pipeline_summary_balanced(&s));
  CHECK_OK(cv_pipeline_destroy(p));
}

int main(void) {
  test_args();
  test_source_sink_state();
  test_worker_state();
  test_fail_ok();
  return 0;
}
