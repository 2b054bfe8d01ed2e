/* pipeline_alloc_fault: every allocation that building and starting a
 * pipeline makes may fail, and each failure is a clean CV_ENOMEM (from
 * create, add_stage or start) that leaks nothing (valgrind, LSan) and leaves
 * a pipeline that can still be waited on and destroyed.  And the hot path
 * allocates nothing: once warmed up, moving items through the pipeline
 * (including an ordered stage) makes no allocation at all.
 *
 * Allocations are counted, and the Nth made to fail, by the wrappers of
 * tests/alloc_fault.h. */
#include "pipeline_util.h"

#include "alloc_fault.h"

static int pass(cv_stage_ctx *ctx, void *item) { return cv_emit(ctx, item); }

static int build(cv_pipeline **p) {
  int rc = cv_pipeline_create(p, &(cv_pipeline_options){.name = "fault"});
  if (rc != CV_OK)
    return rc;
  rc = cv_pipeline_add_stage(*p, &(cv_stage_options){
      .name = "a", .fn = pass, .workers = 2, .capacity = 8, .batch = 4});
  if (rc == CV_OK)
    rc = cv_pipeline_add_stage(*p, &(cv_stage_options){
        .name = "ordered", .fn = pass, .workers = 3, .capacity = 8,
        .ordered = true, .reorder_window = 4});
  if (rc == CV_OK)
    rc = cv_pipeline_add_stage(*p, &(cv_stage_options){
        .name = "c", .fn = pass, .workers = 2, .capacity = CV_UNBOUNDED});
  return rc;
}

/* Moves n items through a started pipeline, one thread putting and getting
 * alternately (capacities allow it), and checks their sum. */
static void move(cv_pipeline *p, long from, long n) {
  uint64_t sum = 0, want = 0;
  for (long i = from; i < from + n; i++) {
    CHECK_OK(cv_pipeline_put(p, IP(i), CV_FOREVER));
    want += (uint64_t)i;
    void *item;
    CHECK_OK(cv_pipeline_get(p, &item, CV_FOREVER));
    sum += (uint64_t)PI(item);
  }
  CHECK(sum == want);
}

int main(void) {
  long steps = 0;
  for (long n = 1;; n++) {
    cv_pipeline *p = NULL;
    arm(n);
    int rc = build(&p);
    if (rc == CV_OK)
      rc = cv_pipeline_start(p);
    disarm();
    if (fault_failures() == 0) {
      CHECK_OK(rc); /* got past every allocation */
      move(p, 0, 100);
      CHECK_OK(cv_pipeline_close_input(p));
      void *item;
      CHECK_RC(cv_pipeline_get(p, &item, CV_FOREVER), CV_ECLOSED);
      CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));
      CHECK_OK(cv_pipeline_destroy(p));
      steps = n - 1;
      break;
    }
    CHECK_RC(rc, CV_ENOMEM);
    if (p) {
      /* A failed start leaves a failed pipeline, or none started. */
      int w = cv_pipeline_wait(p, CV_SEC(10));
      CHECK(w == CV_EFAILED || w == CV_ESTATE);
      CHECK_RC(cv_pipeline_put(p, IP(1), CV_NOWAIT),
               w == CV_EFAILED ? CV_ECANCELED : CV_ESTATE);
      CHECK_OK(cv_pipeline_destroy(p));
    }
  }
  printf("building and starting made %ld allocations; each failed in turn\n",
         steps);
  CHECK(steps >= 10);

  /* The hot path: no allocation once every queue and reorder slot has been
   * used once. */
  cv_pipeline *p;
  CHECK_OK(build(&p));
  CHECK_OK(cv_pipeline_start(p));
  move(p, 0, 200);
  long n = pl_size("PIPELINE_ITEMS", 20000, 500);
  arm(0);
  move(p, 200, n);
  disarm();
  printf("%ld items moved with %ld allocations\n", n, fault_allocs());
  CHECK_EQ(fault_allocs(), 0);
  CHECK_OK(cv_pipeline_close_input(p));
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));
  CHECK_OK(cv_pipeline_destroy(p));
  return 0;
}
