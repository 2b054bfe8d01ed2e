/* pipeline_errors: failed items, ordered output and Ctrl-C, together.
 *
 * Usage: pipeline_errors [--fail-fast] [--slow] [ITEMS]
 *
 * Two stages: "fetch" (4 workers) takes a number and pretends to fetch it,
 * taking a different time for each item, and fails every multiple of 7 with
 * a message; "square" (3 workers) turns the number into its square.  The
 * pipeline is ordered, so the results leave in input order although the
 * workers finish them out of order.
 *
 *   default      errors are skipped and reported by the error callback; the
 *                summary shows how many items were delivered and failed.
 *   --fail-fast  the first error cancels the whole pipeline; exit status 1.
 *   --slow       every fetch takes 20 ms: long enough to press Ctrl-C.  The
 *                SIGINT handler calls cv_pipeline_cancel_async(), the only
 *                pipeline call that is async-signal-safe; the pipeline stops
 *                promptly, destroys every item still inside, and the program
 *                exits with status 130.
 *
 * Every item is accounted for: the summary's numbers add up in all three
 * cases ("balanced"), and no item leaks (the example runs under ASan in the
 * tests).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conveyor.h"

static cv_pipeline *pipeline; /* for the signal handler */
static int slow;

static void on_sigint(int sig) {
  (void)sig;
  cv_pipeline_cancel_async(pipeline); /* async-signal-safe */
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

typedef struct item {
  long n;
  long value;
} item;

static int fetch(cv_stage_ctx *ctx, void *arg) {
  item *it = arg;
  /* Out-of-order finishing: later items are often faster. */
  long ms = slow ? 20 : (it->n * 7919) % 5;
  for (long waited = 0; waited < ms; waited++) {
    if (cv_stage_cancelled(ctx))
      return CV_ECANCELED; /* stop early; the pipeline destroys the item */
    sleep_ms(1);
  }
  if (it->n % 7 == 0)
    return cv_stage_fail(ctx, CV_EIO, "item %ld: not found", it->n);
  it->value = it->n;
  return cv_emit(ctx, it); /* passes the item itself on */
}

static int square(cv_stage_ctx *ctx, void *arg) {
  item *it = arg;
  it->value = it->value * it->value;
  return cv_emit(ctx, it);
}

static void on_error(const cv_item_error *e, void *arg) {
  (void)arg;
  printf("error in stage %s: %s (%s)\n", e->stage, e->message,
         cv_err_name(e->code));
  fflush(stdout);
}

static void free_item(void *it, void *arg) {
  (void)arg;
  free(it);
}

int main(int argc, char **argv) {
  int fail_fast = 0;
  long n = 30;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--fail-fast") == 0)
      fail_fast = 1;
    else if (strcmp(argv[i], "--slow") == 0)
      slow = 1;
    else
      n = atol(argv[i]);
  }
  if (slow && argc == 2)
    n = 100000;

  cv_pipeline_options po = {
      .name = "errors",
      .on_error = fail_fast ? CV_ON_ERROR_FAIL_FAST : CV_ON_ERROR_SKIP,
      .error_cb = on_error,
      .item_destroy = free_item,
      .ordered = true,
  };
  if (cv_pipeline_create(&pipeline, &po) != CV_OK ||
      cv_pipeline_add_stage(pipeline, &(cv_stage_options){
          .name = "fetch", .fn = fetch, .workers = 4, .capacity = 16}) ||
      cv_pipeline_add_stage(pipeline, &(cv_stage_options){
          .name = "square", .fn = square, .workers = 3, .capacity = 16})) {
    fprintf(stderr, "pipeline_errors: setup failed\n");
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, NULL);

  if (cv_pipeline_start(pipeline) != CV_OK) {
    fprintf(stderr, "pipeline_errors: start failed\n");
    return 2;
  }
  printf("running %ld items%s\n", n, slow ? "; press Ctrl-C to cancel" : "");
  fflush(stdout);

  /* Feed from a second thread would be usual; here the output is read
   * between puts so that one thread does both. */
  long next = 1;
  int rc = CV_OK;
  for (;;) {
    while (next <= n) {
      item *it = malloc(sizeof(*it));
      if (!it)
        return 2;
      *it = (item){.n = next};
      rc = cv_pipeline_put(pipeline, it, CV_NOWAIT);
      if (rc != CV_OK) {
        free(it); /* not taken: still ours */
        break;
      }
      if (++next > n)
        cv_pipeline_close_input(pipeline);
    }
    void *out;
    rc = cv_pipeline_get(pipeline, &out, next > n ? CV_FOREVER : CV_MSEC(5));
    if (rc == CV_ETIMEDOUT)
      continue;
    if (rc != CV_OK)
      break; /* CV_ECLOSED: all done; CV_ECANCELED: cancelled or failed */
    item *it = out;
    printf("result %ld = %ld\n", it->n, it->value);
    fflush(stdout);
    free(it);
  }
  int status = cv_pipeline_wait(pipeline, CV_FOREVER);
  signal(SIGINT, SIG_DFL);

  cv_pipeline_summary s;
  cv_pipeline_summary_get(pipeline, &s);
  printf("%s: fed %llu, delivered %llu, failed %llu, cancelled %llu (%s)\n",
         status == CV_OK         ? "finished"
         : status == CV_EFAILED ? "failed fast"
                                : "cancelled",
         (unsigned long long)s.fed, (unsigned long long)s.delivered,
         (unsigned long long)s.failed, (unsigned long long)s.cancelled,
         cv_pipeline_summary_balanced(&s) ? "balanced" : "NOT balanced");
  if (s.error_code)
    printf("first error: stage %s: %s\n", s.error_stage, s.error_message);
  int balanced = cv_pipeline_summary_balanced(&s);
  cv_pipeline_destroy(pipeline);
  if (!balanced)
    return 2;
  return status == CV_OK ? 0 : status == CV_EFAILED ? 1 : 130;
}
