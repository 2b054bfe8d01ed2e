/* pipeline_exactly_once: N items (1,000,000 in the plain build) through three
 * stages of 3 / 4 / 5 workers arrive exactly once: count, checksum, and a
 * per-item seen counter; each stage stamps the item so that a stage skipped
 * or run twice shows.  Variants: put/get one at a time; put_many/get_many
 * with batched workers; a source and a sink; and the locked queue
 * implementation under the pipeline.  PIPELINE_ITEMS sets N.
 * With --redis, the first three variants run on a private redis-server, the
 * stages' workers in this process as workers of a distributed run
 * (PIPELINE_REDIS_ITEMS sets N), and no key may be left behind; that mode
 * is built (CV_TEST_REDIS) into the distributed_exactly_once executable,
 * which links conveyor_redis. */
#include "pipeline_util.h"
#ifdef CV_TEST_REDIS
#include "redis_util.h"
#endif
#include "ring.h" /* cv__queue_force_locked */

#ifdef CV_TEST_REDIS
static rs_server *redis; /* --redis */
#endif

#define MARK_SHIFT 40
#define ID_MASK ((INT64_C(1) << MARK_SHIFT) - 1)

static long n_items;
static atomic_long bad_stamp;

/* Stage k accepts items stamped k and stamps them k + 1. */
static int stamp(cv_stage_ctx *ctx, void *item) {
  intptr_t v = PI(item);
  intptr_t want = (intptr_t)PI(cv_stage_arg(ctx));
  if ((v >> MARK_SHIFT) != want)
    atomic_fetch_add(&bad_stamp, 1);
  return cv_emit(ctx, IP(v + (INT64_C(1) << MARK_SHIFT)));
}

typedef struct result {
  unsigned char *seen;
  long count;
  uint64_t sum;
  long dup, wrong;
} result;

static void account(result *r, void *item) {
  intptr_t v = PI(item);
  long id = (long)(v & ID_MASK);
  if ((v >> MARK_SHIFT) != 3 || id < 0 || id >= n_items) {
    r->wrong++;
    return;
  }
  if (r->seen[id]++)
    r->dup++;
  r->count++;
  r->sum += (uint64_t)id;
}

static int sink(void *item, void *arg) {
  account(arg, item);
  return CV_OK;
}

static int source(cv_stage_ctx *ctx, void *arg) {
  (void)arg;
  for (long i = 0; i < n_items; i++)
    if (cv_emit(ctx, IP(i)) != CV_OK)
      return CV_ECANCELED;
  return CV_OK;
}

typedef struct feeder {
  cv_pipeline *p;
  size_t batch;
} feeder;

static void *feed(void *arg) {
  feeder *f = arg;
  void *buf[64];
  for (long i = 0; i < n_items;) {
    if (f->batch <= 1) {
      CHECK_OK(cv_pipeline_put(f->p, IP(i), CV_FOREVER));
      i++;
      continue;
    }
    size_t k = 0;
    while (k < f->batch && k < 64 && i < n_items)
      buf[k++] = IP(i++);
    size_t nput = 0;
    CHECK_OK(cv_pipeline_put_many(f->p, buf, k, &nput, CV_FOREVER));
    CHECK_EQ(nput, k);
  }
  CHECK_OK(cv_pipeline_close_input(f->p));
  return NULL;
}

enum mode { ONE_BY_ONE, BATCHED, SOURCE_SINK };

static void run(enum mode mode, const char *label) {
  int64_t t0 = test_now_ns();
  result r = {.seen = calloc((size_t)n_items, 1)};
  CHECK(r.seen != NULL);
  atomic_store(&bad_stamp, 0);
  size_t batch = mode == BATCHED ? 16 : mode == SOURCE_SINK ? 4 : 1;
  cv_pipeline_options po = {.name = label};
  if (mode == SOURCE_SINK) {
    po.source = source;
    po.sink = sink;
    po.sink_arg = &r;
  }
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, &po));
  static const char *names[] = {"download", "resize", "upload"};
  for (int k = 0; k < 3; k++) {
    cv_stage_options so = {.name = names[k], .fn = stamp, .arg = IP(k),
                           .workers = 3 + (unsigned)k, .batch = batch};
    CHECK_OK(cv_pipeline_add_stage(p, &so));
  }
#ifdef CV_TEST_REDIS
  if (redis) {
    char run_name[32];
    snprintf(run_name, sizeof(run_name), "exactly-once-%d", (int)mode);
    /* A short lease: the run's end marker expires after one. */
    cv_broker_options bo = {.url = redis->url, .run = run_name,
                            .coordinator = true, .lease_ns = CV_MSEC(500)};
    CHECK_OK(cv_pipeline_set_broker(p, &bo));
  }
#endif
  CHECK_OK(cv_pipeline_start(p));
  pthread_t th;
  feeder f = {p, batch};
  if (mode != SOURCE_SINK) {
    CHECK(pthread_create(&th, NULL, feed, &f) == 0);
    void *items[64];
    for (;;) {
      size_t n = 0;
      int rc;
      if (mode == ONE_BY_ONE) {
        rc = cv_pipeline_get(p, items, CV_FOREVER);
        n = rc == CV_OK;
      } else {
        rc = cv_pipeline_get_many(p, items, 64, &n, CV_FOREVER);
      }
      if (rc == CV_ECLOSED)
        break;
      CHECK_OK(rc);
      for (size_t i = 0; i < n; i++)
        account(&r, items[i]);
    }
    CHECK(pthread_join(th, NULL) == 0);
  }
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));

  CHECK_EQ(r.wrong, 0);
  CHECK_EQ(r.dup, 0);
  CHECK_EQ(atomic_load(&bad_stamp), 0);
  if (r.count != n_items)
    cv_pipeline_stats_print(p, stderr); /* where did they go */
  CHECK_EQ(r.count, n_items);
  CHECK(r.sum == (uint64_t)n_items * (uint64_t)(n_items - 1) / 2);
  for (long i = 0; i < n_items; i++)
    CHECK_EQ(r.seen[i], 1);

  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK(s.finished);
  CHECK_EQ(s.status, CV_OK);
  CHECK_EQ(s.fed, n_items);
  CHECK_EQ(s.delivered, n_items);
  CHECK_EQ(s.failed + s.filtered + s.cancelled + s.pending + s.split_extra, 0);
  CHECK(cv_pipeline_summary_balanced(&s));
  for (size_t k = 0; k < 3; k++) {
    cv_stage_stats st;
    CHECK_OK(cv_pipeline_stage_stats(p, k, &st));
    CHECK_EQ(st.in, n_items);
    CHECK_EQ(st.taken, n_items);
    CHECK_EQ(st.succeeded, n_items);
    CHECK_EQ(st.out, n_items);
    CHECK_EQ(st.workers, 3 + k);
    CHECK_EQ(st.queue_depth, 0);
    CHECK(st.queue_high_water <= CV_PIPELINE_DEFAULT_CAPACITY);
  }
  CHECK_OK(cv_pipeline_destroy(p));
#ifdef CV_TEST_REDIS
  if (redis)
    rs_check_empty(redis, 2000);
#endif
  free(r.seen);
  printf("%-28s %ld items in %.0f ms\n", label, n_items,
         (double)(test_now_ns() - t0) / 1e6);
}

int main(int argc, char **argv) {
#ifdef CV_TEST_REDIS
  if (argc > 1 && strcmp(argv[1], "--redis") == 0) {
    static rs_server server;
    rs_start(&server, NULL, false);
    redis = &server;
    n_items = pl_size("PIPELINE_REDIS_ITEMS", 20000, 1000);
    run(ONE_BY_ONE, "redis: one by one");
    run(BATCHED, "redis: batched (16)");
    run(SOURCE_SINK, "redis: source and sink");
    rs_stop(&server);
    return 0;
  }
#else
  (void)argc;
  (void)argv;
#endif
  n_items = pl_size("PIPELINE_ITEMS", 1000000, 2000);
  run(ONE_BY_ONE, "one by one");
  run(BATCHED, "batched (16)");
  run(SOURCE_SINK, "source and sink");
  /* The mutex queue is slower: a quarter of the items is enough. */
  cv__queue_force_locked = 1;
  n_items = n_items / 4 > 1000 ? n_items / 4 : n_items;
  run(ONE_BY_ONE, "one by one, locked queue");
  cv__queue_force_locked = 0;
  return 0;
}
