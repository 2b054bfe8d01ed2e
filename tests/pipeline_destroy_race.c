/* pipeline_destroy_race: cv_pipeline_cancel_async racing cv_pipeline_destroy
 * (a signal handler on another thread while the pipeline is torn down).
 * Each round finishes a pipeline with items left in its output queue, then
 * destroys it while a canceller thread calls cv_pipeline_cancel_async in a
 * loop.  Destroy hands the leftover items to their destroy callback after it
 * has begun; the first such callback waits until the canceller has been told
 * CV_ESHUTDOWN and has stopped, so the canceller's calls overlap destroy but
 * none can follow it.  Checks: calls during destroy return CV_ESHUTDOWN (a
 * call from inside destroy too), every item is destroyed exactly once, no
 * SIGPIPE (left at its default: it would kill the test), and under TSan and
 * ASan no race on the pipe and no use after free.  PIPELINE_DESTROY_ROUNDS
 * sets the number of rounds. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "pipeline_util.h"

#define ITEMS 4

static atomic_int destroyed;      /* items given to the destroy callback */
static atomic_int canceller_done; /* the canceller saw CV_ESHUTDOWN and left */
static atomic_int inside_rc;      /* a cancel_async from inside destroy */
static _Atomic(cv_pipeline *) current;

static void *canceller(void *arg) {
  cv_pipeline *p = arg;
  long calls = 0;
  int rc;
  while ((rc = cv_pipeline_cancel_async(p)) == CV_OK)
    calls++;
  CHECK_RC(rc, CV_ESHUTDOWN);
  atomic_store(&canceller_done, 1);
  return (void *)(intptr_t)calls;
}

/* Runs inside cv_pipeline_destroy, for the items left in the output. */
static void on_destroy(void *item, void *arg) {
  (void)arg;
  CHECK((intptr_t)item >= 1 && (intptr_t)item <= ITEMS);
  if (atomic_fetch_add(&destroyed, 1) == 0) {
    atomic_store(&inside_rc, cv_pipeline_cancel_async(atomic_load(&current)));
    int64_t deadline = test_now_ns() + CV_SEC(30);
    while (!atomic_load(&canceller_done)) {
      if (test_now_ns() > deadline) {
        fprintf(stderr, "cancel_async never returned CV_ESHUTDOWN during destroy\n");
        exit(1);
      }
      sched_yield();
    }
  }
}

static int pass(cv_stage_ctx *ctx, void *item) { return cv_emit(ctx, item); }

int main(void) {
  long rounds = pl_size("PIPELINE_DESTROY_ROUNDS", 200, 20);
  long overlapped = 0;
  for (long r = 0; r < rounds; r++) {
    atomic_store(&destroyed, 0);
    atomic_store(&canceller_done, 0);
    atomic_store(&inside_rc, 0);
    cv_pipeline *p;
    CHECK_OK(cv_pipeline_create(&p, &(cv_pipeline_options){.name = "destroy-race",
                                                           .item_destroy = on_destroy}));
    CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
        .name = "pass", .fn = pass, .workers = 2, .capacity = 8}));
    CHECK_OK(cv_pipeline_start(p));
    for (intptr_t i = 1; i <= ITEMS; i++)
      CHECK_OK(cv_pipeline_put(p, (void *)i, CV_FOREVER));
    CHECK_OK(cv_pipeline_close_input(p));
    CHECK_OK(cv_pipeline_wait(p, CV_FOREVER)); /* the items wait in the output */
    atomic_store(&current, p);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, canceller, p) == 0);
    if (r % 2)
      sched_yield(); /* sometimes let the canceller get going first */
    CHECK_OK(cv_pipeline_destroy(p));
    void *calls;
    CHECK(pthread_join(t, &calls) == 0);
    CHECK(atomic_load(&canceller_done));
    CHECK_EQ(atomic_load(&destroyed), ITEMS);
    CHECK_RC(atomic_load(&inside_rc), CV_ESHUTDOWN);
    if ((intptr_t)calls > 0)
      overlapped++;
  }
  printf("pipeline_destroy_race: %ld rounds, %ld with async cancels before destroy\n", rounds,
         overlapped);
  return 0;
}
