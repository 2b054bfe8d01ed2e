/* pipeline_filter_split: a filter stage (emits nothing for odd items) and a
 * split stage (emits three new items per input and leaves its input to the
 * pipeline) route every item correctly: each input is destroyed exactly once
 * by its stage's own destroy callback, each output arrives exactly once, and
 * the counters (filtered, split_extra) and the summary add up. */
#include "pipeline_util.h"

#define FANOUT 3

static pl_ledger in_ledger, out_ledger;

static int filter_even(cv_stage_ctx *ctx, void *item) {
  pl_item *it = item;
  if (it->id % 2)
    return CV_OK; /* filtered: the pipeline destroys it */
  return cv_emit(ctx, it);
}

static int split(cv_stage_ctx *ctx, void *item) {
  pl_item *it = item;
  for (int k = 0; k < FANOUT; k++) {
    int rc = cv_emit(ctx, pl_item_new(it->id * FANOUT + k));
    if (rc != CV_OK)
      return rc;
  }
  return CV_OK; /* the input was not emitted: the pipeline destroys it */
}

static void destroy_input(void *item, void *arg) {
  (void)arg;
  pl_item *it = item;
  pl_end(&in_ledger, it->id, PL_DESTROYED);
  pl_item_free(it);
}

static void destroy_output(void *item, void *arg) {
  (void)arg;
  pl_item *it = item;
  pl_end(&out_ledger, it->id, PL_DESTROYED);
  pl_item_free(it);
}

int main(void) {
  long n = pl_size("PIPELINE_ITEMS", 200000, 1000);
  pl_ledger_init(&in_ledger, n);
  pl_ledger_init(&out_ledger, n * FANOUT);
  cv_pipeline_options po = {.item_destroy = destroy_output};
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, &po));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "filter", .fn = filter_even, .workers = 3,
      .destroy = destroy_input}));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "split", .fn = split, .workers = 2, .batch = 4,
      .destroy = destroy_input}));
  CHECK_OK(cv_pipeline_start(p));

  long fed = 0;
  void *item;
  int rc;
  for (;;) {
    /* One thread feeds and reads: put what fits, then take what is out. */
    while (fed < n) {
      pl_item *it = pl_item_new(fed);
      if (cv_pipeline_put(p, it, CV_NOWAIT) != CV_OK) {
        pl_item_free(it); /* refused: still ours */
        break;
      }
      fed++;
    }
    if (fed == n)
      CHECK_OK(cv_pipeline_close_input(p));
    rc = cv_pipeline_get(p, &item, fed == n ? CV_FOREVER : CV_MSEC(1));
    if (rc == CV_ETIMEDOUT)
      continue;
    if (rc != CV_OK)
      break;
    pl_item *it = item;
    CHECK((it->id / FANOUT) % 2 == 0);
    pl_end(&out_ledger, it->id, PL_DELIVERED);
    pl_item_free(it);
  }
  CHECK_RC(rc, CV_ECLOSED);
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));

  long even = (n + 1) / 2, odd = n / 2;
  pl_ledger_check(&in_ledger, n);
  CHECK_EQ(atomic_load(&in_ledger.ended[PL_DESTROYED]), n);
  for (long id = 0; id < n * FANOUT; id++) {
    int want = (id / FANOUT) % 2 == 0 ? PL_DELIVERED : PL_LIVE;
    CHECK_EQ(atomic_load(&out_ledger.fate[id]), want);
  }
  CHECK_EQ(atomic_load(&out_ledger.ended[PL_DELIVERED]), even * FANOUT);

  cv_stage_stats f, s;
  CHECK_OK(cv_pipeline_stage_stats(p, 0, &f));
  CHECK_OK(cv_pipeline_stage_stats(p, 1, &s));
  CHECK_EQ(f.in, n);
  CHECK_EQ(f.succeeded, n);
  CHECK_EQ(f.filtered, odd);
  CHECK_EQ(f.out, even);
  CHECK_EQ(s.in, even);
  CHECK_EQ(s.succeeded, even);
  CHECK_EQ(s.filtered, 0);
  CHECK_EQ(s.out, even * FANOUT);
  cv_pipeline_summary sum;
  CHECK_OK(cv_pipeline_summary_get(p, &sum));
  CHECK_EQ(sum.fed, n);
  CHECK_EQ(sum.filtered, odd);
  CHECK_EQ(sum.split_extra, even * (FANOUT - 1));
  CHECK_EQ(sum.delivered, even * FANOUT);
  CHECK_EQ(sum.failed + sum.cancelled + sum.pending, 0);
  CHECK(cv_pipeline_summary_balanced(&sum));
  CHECK_OK(cv_pipeline_destroy(p));
  CHECK_EQ(atomic_load(&pl_alive), 0);
  pl_ledger_free(&in_ledger);
  pl_ledger_free(&out_ledger);
  return 0;
}
