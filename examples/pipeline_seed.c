/* pipeline_seed: the seed's download -> resize -> upload pipeline with 3 / 4
 * / 5 workers per stage, written on the pipeline API instead of hand-wired
 * queues and threads (compare seed_pipeline.c).
 *
 * Usage: pipeline_seed [ITEMS [STAGE_US]]   defaults: 1000 items, no delay.
 * STAGE_US makes every stage call sleep that long, standing in for I/O.
 *
 * What the pipeline takes off our hands: no start_threads/stop_threads, no
 * sentinels, no closing and joining stage by stage.  We declare the stages,
 * feed the items, close the input and wait; closing propagates stage to
 * stage by itself.  Finished photos go to a sink callback (one thread, so it
 * needs no lock), which checks that each went through the three stages in
 * order and frees it.  Then we print "1000 items finished", as the post does,
 * and the per-stage statistics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "conveyor.h"

struct photo {
  long id;
  int stage; /* stages done: 0 none, 1 downloaded, 2 resized, 3 uploaded */
};

static long stage_us;

static void check(int rc, const char *what) {
  if (rc != CV_OK) {
    fprintf(stderr, "pipeline_seed: %s: %s\n", what, cv_strerror(rc));
    exit(1);
  }
}

/* One stage's work: simulated I/O, then mark the photo and pass it on.  The
 * photo is changed in place and emitted itself, so the pipeline keeps it. */
static int advance(cv_stage_ctx *ctx, void *item, int from) {
  if (stage_us > 0) {
    struct timespec ts = {stage_us / 1000000, (stage_us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0) {
    }
  }
  struct photo *p = item;
  if (p->stage != from)
    return cv_stage_fail(ctx, CV_ESTATE, "photo %ld reached %s after stage %d",
                         p->id, cv_stage_name(ctx), p->stage);
  p->stage = from + 1;
  return cv_emit(ctx, p);
}

static int download(cv_stage_ctx *ctx, void *item) { return advance(ctx, item, 0); }
static int resize(cv_stage_ctx *ctx, void *item) { return advance(ctx, item, 1); }
static int upload(cv_stage_ctx *ctx, void *item) { return advance(ctx, item, 2); }

static long finished, misrouted;

/* Called by the upload workers, one call at a time; owns each photo it gets. */
static int done(void *item, void *arg) {
  (void)arg;
  struct photo *p = item;
  if (p->stage == 3)
    finished++;
  else
    misrouted++;
  free(p);
  return CV_OK;
}

static void free_photo(void *item, void *arg) {
  (void)arg;
  free(item);
}

int main(int argc, char **argv) {
  long items = argc > 1 ? atol(argv[1]) : 1000;
  stage_us = argc > 2 ? atol(argv[2]) : 0;

  cv_pipeline *p;
  cv_pipeline_options po = {.name = "seed",
                            .item_destroy = free_photo,
                            .sink = done};
  check(cv_pipeline_create(&p, &po), "create");
  check(cv_pipeline_add_stage(p, &(cv_stage_options){
            .name = "download", .fn = download, .workers = 3}), "add download");
  check(cv_pipeline_add_stage(p, &(cv_stage_options){
            .name = "resize", .fn = resize, .workers = 4}), "add resize");
  check(cv_pipeline_add_stage(p, &(cv_stage_options){
            .name = "upload", .fn = upload, .workers = 5}), "add upload");
  check(cv_pipeline_start(p), "start");

  for (long i = 0; i < items; i++) {
    struct photo *ph = malloc(sizeof(*ph));
    if (!ph)
      check(CV_ENOMEM, "malloc");
    *ph = (struct photo){.id = i, .stage = 0};
    check(cv_pipeline_put(p, ph, CV_FOREVER), "put");
  }
  check(cv_pipeline_close_input(p), "close_input");
  check(cv_pipeline_wait(p, CV_FOREVER), "wait");

  /* wait() returned: the workers that called the sink were joined, so its
   * counts are ours. */
  printf("%ld items finished\n", finished);
  cv_pipeline_stats_print(p, stdout);
  cv_pipeline_summary s;
  cv_pipeline_summary_get(p, &s);
  int ok = finished == items && misrouted == 0 && s.failed == 0 &&
           cv_pipeline_summary_balanced(&s);
  cv_pipeline_destroy(p);
  if (!ok) {
    fprintf(stderr, "pipeline_seed: %ld of %ld finished, %ld misrouted\n",
            finished, items, misrouted);
    return 1;
  }
  return 0;
}
