/* A program outside the project that links the installed conveyor_redis:
 * a broker set on a pipeline, and a bad URL refused. */
#include <conveyor.h>
#include <conveyor/distributed.h>
#include <stdio.h>

static int pass(cv_stage_ctx *ctx, void *item) { return cv_emit(ctx, item); }

int main(void) {
  cv_pipeline *p;
  if (cv_pipeline_create(&p, NULL) != CV_OK)
    return 1;
  cv_stage_options so = {.name = "pass", .fn = pass, .workers = 1};
  int ok = cv_pipeline_add_stage(p, &so) == CV_OK;
  cv_broker_options bad = {.url = "http://nowhere", .run = "r"};
  ok = ok && cv_pipeline_set_broker(p, &bad) == CV_EINVAL;
  cv_broker_options bo = {.url = "redis://127.0.0.1:1", .run = "r",
                          .coordinator = true};
  ok = ok && cv_pipeline_set_broker(p, &bo) == CV_OK;
  ok = cv_pipeline_destroy(p) == CV_OK && ok;
  printf("conveyor_redis %s: installed and usable\n", cv_version_string());
  return ok ? 0 : 1;
}
