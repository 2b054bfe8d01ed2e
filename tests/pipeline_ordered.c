/* pipeline_ordered: ordered stages under random per-item delays deliver in
 * input order: one stage with many workers; a small reorder window with
 * batched takes; three ordered stages in a row; a split (the outputs of one
 * input stay together, in emit order) and a filter inside ordered stages;
 * and a sink.  Also: a window smaller than the worker count still finishes
 * (a worker that runs ahead waits instead of deadlocking). */
#include "pipeline_util.h"

static long n_items;

/* Sleeps 0..max_us, a different amount for each (item, stage). */
static void jitter(intptr_t v, intptr_t salt, long max_us) {
  uint64_t h = (uint64_t)(v * 2654435761u) ^ (uint64_t)(salt * 40503u);
  h = h * 0x9E3779B97F4A7C15ULL;
  long us = (long)((h >> 33) % (uint64_t)(max_us + 1));
  if (us > 0) {
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
  }
}

static int delay(cv_stage_ctx *ctx, void *item) {
  jitter(PI(item), PI(cv_stage_arg(ctx)), 300);
  return cv_emit(ctx, item);
}

/* item v -> 2v, 2v+1 */
static int split2(cv_stage_ctx *ctx, void *item) {
  jitter(PI(item), 7, 300);
  intptr_t v = PI(item);
  int rc = cv_emit(ctx, IP(2 * v));
  if (rc == CV_OK)
    rc = cv_emit(ctx, IP(2 * v + 1));
  return rc;
}

/* Drops multiples of 3. */
static int drop3(cv_stage_ctx *ctx, void *item) {
  jitter(PI(item), 11, 300);
  return PI(item) % 3 == 0 ? CV_OK : cv_emit(ctx, item);
}

typedef struct expect {
  intptr_t next_in; /* for the reference sequence */
  long got, wrong;
  int kind;         /* 0 identity, 1 split, 2 filter */
  intptr_t want;
} expect;

/* The i-th expected output for each kind. */
static void next_want(expect *e) {
  switch (e->kind) {
  case 0:
    e->want = e->next_in++;
    break;
  case 1:
    e->want = e->next_in++;
    break; /* over 0..2n-1 */
  default:
    do
      e->want = e->next_in++;
    while (e->want % 3 == 0);
  }
}

static void check_one(expect *e, void *item) {
  next_want(e);
  if (PI(item) != e->want && e->wrong++ < 5)
    fprintf(stderr, "output %ld: got %ld, expected %ld\n", e->got,
            (long)PI(item), (long)e->want);
  e->got++;
}

static int sink(void *item, void *arg) {
  check_one(arg, item);
  return CV_OK;
}

static void *feed(void *arg) {
  cv_pipeline *p = arg;
  for (long i = 0; i < n_items; i++)
    CHECK_OK(cv_pipeline_put(p, IP(i), CV_FOREVER));
  CHECK_OK(cv_pipeline_close_input(p));
  return NULL;
}

typedef struct spec {
  const char *label;
  int nstages;
  cv_stage_fn fn[3];
  unsigned workers[3];
  size_t window[3], batch[3];
  bool all_ordered; /* through cv_pipeline_options.ordered */
  bool use_sink;
  int kind;
} spec;

static void run(const spec *sp) {
  expect e = {.kind = sp->kind};
  cv_pipeline_options po = {.ordered = sp->all_ordered};
  if (sp->use_sink) {
    po.sink = sink;
    po.sink_arg = &e;
  }
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, &po));
  for (int k = 0; k < sp->nstages; k++) {
    cv_stage_options so = {.fn = sp->fn[k],
                           .arg = IP(k),
                           .workers = sp->workers[k],
                           .ordered = true,
                           .reorder_window = sp->window[k],
                           .batch = sp->batch[k],
                           .capacity = 16};
    if (sp->all_ordered)
      so.ordered = false; /* the pipeline option orders every stage */
    CHECK_OK(cv_pipeline_add_stage(p, &so));
  }
  CHECK_OK(cv_pipeline_start(p));
  pthread_t th;
  CHECK(pthread_create(&th, NULL, feed, p) == 0);
  if (!sp->use_sink) {
    void *item;
    int rc;
    while ((rc = cv_pipeline_get(p, &item, CV_FOREVER)) == CV_OK)
      check_one(&e, item);
    CHECK_RC(rc, CV_ECLOSED);
  }
  CHECK(pthread_join(th, NULL) == 0);
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));
  long want = sp->kind == 0   ? n_items
              : sp->kind == 1 ? 2 * n_items
                              : n_items - (n_items + 2) / 3;
  printf("%-34s %ld outputs, %ld out of order\n", sp->label, e.got, e.wrong);
  CHECK_EQ(e.wrong, 0);
  CHECK_EQ(e.got, want);
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK(cv_pipeline_summary_balanced(&s));
  CHECK_EQ(s.delivered, want);
  CHECK_OK(cv_pipeline_destroy(p));
}

int main(void) {
  n_items = pl_size("PIPELINE_ORDERED_ITEMS", 6000, 300);
  const spec specs[] = {
      {"one stage, 6 workers", 1, {delay}, {6}, {0}, {1}, false, false, 0},
      {"window 3, batch 2, 5 workers", 1, {delay}, {5}, {3}, {2}, false,
       false, 0},
      {"window 1 (serial hand-off)", 1, {delay}, {4}, {1}, {1}, false, false,
       0},
      {"three ordered stages", 3, {delay, delay, delay}, {3, 4, 5},
       {0, 0, 0}, {1, 1, 1}, true, false, 0},
      {"split in an ordered stage", 2, {split2, delay}, {4, 3}, {0, 0},
       {1, 1}, true, false, 1},
      {"filter, with a sink", 2, {delay, drop3}, {3, 4}, {0, 5}, {1, 3},
       false, true, 2},
  };
  for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
    run(&specs[i]);
  return 0;
}
