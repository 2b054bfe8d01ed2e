/* pipeline_sink_hold: the last stage's workers keep outputs for a serial
 * sink only as long as the stage is cheap, and never while they sleep.
 * (1) A slow last stage (2 ms per item, one worker): when the function
 * starts item k, the sink has already received every earlier item, also
 * after the worker has measured its cost.  (2) A no-op last stage with two
 * workers, fed in bursts: the sink receives each whole burst before the
 * next is fed (held outputs are handed over before a worker waits for
 * input), and every item exactly once (count, checksum, seen counter). */
#include <time.h>

#include "pipeline_util.h"

static atomic_long sink_count;
static atomic_long late; /* slow stage: items started before the sink had
                            all earlier ones */
static atomic_long started;

static int slow(cv_stage_ctx *ctx, void *item) {
  long k = atomic_fetch_add(&started, 1);
  if (atomic_load(&sink_count) < k)
    atomic_fetch_add(&late, 1);
  struct timespec ts = {0, 2000000};
  nanosleep(&ts, NULL);
  return cv_emit(ctx, item);
}

static int noop(cv_stage_ctx *ctx, void *item) { return cv_emit(ctx, item); }

typedef struct ledger {
  unsigned char *seen;
  long dup, wrong;
  uint64_t sum;
  long n;
} ledger;

static int sink(void *item, void *arg) {
  ledger *l = arg;
  long id = (long)PI(item);
  if (id < 0 || id >= l->n)
    l->wrong++;
  else if (l->seen[id]++)
    l->dup++;
  l->sum += (uint64_t)id;
  atomic_fetch_add(&sink_count, 1);
  return CV_OK;
}

static cv_pipeline *make(cv_stage_fn fn, unsigned workers, size_t batch,
                         ledger *l) {
  cv_pipeline_options po = {.name = "hold", .sink = sink, .sink_arg = l};
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, &po));
  cv_stage_options so = {.name = "first", .fn = noop, .workers = 2};
  CHECK_OK(cv_pipeline_add_stage(p, &so));
  cv_stage_options last = {.name = "last", .fn = fn, .workers = workers,
                           .batch = batch};
  CHECK_OK(cv_pipeline_add_stage(p, &last));
  CHECK_OK(cv_pipeline_start(p));
  return p;
}

static void finish(cv_pipeline *p, ledger *l) {
  CHECK_OK(cv_pipeline_close_input(p));
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK(cv_pipeline_summary_balanced(&s));
  CHECK_EQ(s.delivered, (uint64_t)l->n);
  CHECK_OK(cv_pipeline_destroy(p));
  CHECK_EQ(l->dup, 0);
  CHECK_EQ(l->wrong, 0);
  CHECK_EQ(l->sum, (uint64_t)l->n * (uint64_t)(l->n - 1) / 2);
  for (long i = 0; i < l->n; i++)
    CHECK_EQ(l->seen[i], 1);
}

/* (1) Enough items for the worker to measure its cost (64 per sample). */
static void slow_stage(size_t batch) {
  long n = 200;
  ledger l = {.seen = calloc((size_t)n, 1), .n = n};
  CHECK(l.seen != NULL);
  atomic_store(&sink_count, 0);
  atomic_store(&started, 0);
  atomic_store(&late, 0);
  cv_pipeline *p = make(slow, 1, batch, &l);
  for (long i = 0; i < n; i++)
    CHECK_OK(cv_pipeline_put(p, IP(i), CV_FOREVER));
  finish(p, &l);
  CHECK_EQ(atomic_load(&late), 0);
  free(l.seen);
}

/* (2) Bursts: each must reach the sink while the input stays idle. */
static void bursts(size_t batch) {
  long burst = 500, nb = pl_size("PIPELINE_BURSTS", 40, 8);
  ledger l = {.seen = calloc((size_t)(burst * nb), 1), .n = burst * nb};
  CHECK(l.seen != NULL);
  atomic_store(&sink_count, 0);
  cv_pipeline *p = make(noop, 2, batch, &l);
  for (long b = 0; b < nb; b++) {
    for (long i = 0; i < burst; i++)
      CHECK_OK(cv_pipeline_put(p, IP(b * burst + i), CV_FOREVER));
    int64_t deadline = test_now_ns() + CV_SEC(10);
    while (atomic_load(&sink_count) < (b + 1) * burst &&
           test_now_ns() < deadline) {
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
    }
    CHECK_EQ(atomic_load(&sink_count), (b + 1) * burst);
  }
  finish(p, &l);
  free(l.seen);
}

int main(void) {
  slow_stage(1);
  slow_stage(CV_BATCH_AUTO);
  bursts(1);
  bursts(4);
  bursts(CV_BATCH_AUTO);
  printf("pipeline_sink_hold: ok\n");
  return 0;
}
