/* bench/pipeline_conveyor.c - W4 on conveyor's pipeline API: the seed's
 * three stages (3, 4 and 5 workers) whose functions pass their item on
 * unchanged, each stage's input queue bounded at --capacity, a sink that
 * checks what arrives.  The main thread feeds 1..N with cv_pipeline_put(),
 * closes the input and waits: no sentinels, no stop_threads.
 *
 * The clock starts once cv_pipeline_start() has returned (every worker is
 * running, as the hand-wired drivers start it after their start barrier)
 * and stops when cv_pipeline_wait() has joined everything.  The stages keep
 * the library's default `batch` (CV_BATCH_AUTO: take sizes follow the
 * measured cost per item) and the main thread feeds one item per
 * cv_pipeline_put(), as the seed does.  BENCH_PIPELINE_BATCH=n instead sets
 * every stage's `batch` option to n (1: strictly one item per take, like the
 * hand-wired pipelines) and, for n > 1, feeds n items per
 * cv_pipeline_put_many() call; the result is then reported as
 * conveyor-pipeline-b<n>.  BENCH_PIPELINE_WORKERS=auto gives every stage
 * CV_WORKERS_AUTO instead of the seed's fixed counts (the pipeline picks
 * them within its thread budget, see docs/pipeline.md), reported as
 * conveyor-pipeline-auto[-b<n>].  BENCH_PIPELINE_STATS=1 prints the
 * statistics table on stderr. */
#include "bench.h"

#include <conveyor.h>
#include <conveyor/pipeline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bench_sum got; /* the sink runs on one thread: no lock needed */

static int pass_on(cv_stage_ctx *ctx, void *item) { return cv_emit(ctx, item); }

static int sink(void *item, void *arg) {
  (void)arg;
  bench_sum_add(&got, (uint64_t)(uintptr_t)item);
  return CV_OK;
}

static void check(int rc, const char *what) {
  if (rc != CV_OK)
    bench_die("conveyor pipeline: %s: %s", what, cv_strerror(rc));
}

int main(int argc, char **argv) {
  bench_opts o;
  bench_parse(&o, argc, argv);
  const char *b = getenv("BENCH_PIPELINE_BATCH");
  size_t batch = b && *b ? (size_t)strtoul(b, NULL, 10) : CV_BATCH_AUTO;
  const char *wk = getenv("BENCH_PIPELINE_WORKERS");
  bool auto_workers = wk && !strcmp(wk, "auto");
  if (wk && *wk && !auto_workers)
    bench_die("BENCH_PIPELINE_WORKERS: only \"auto\" is known, not \"%s\"", wk);
  static const char *const names[] = {"download", "resize", "upload", "s3",
                                      "s4", "s5", "s6", "s7"};
  cv_pipeline *p;
  cv_pipeline_options po = {.name = "seed", .sink = sink};
  check(cv_pipeline_create(&p, &po), "create");
  for (int s = 0; s < o.nstages; s++) {
    cv_stage_options so = {.name = names[s], .fn = pass_on,
                           .workers = auto_workers ? CV_WORKERS_AUTO
                                                   : (unsigned)o.stages[s],
                           .capacity = o.capacity, .batch = batch};
    check(cv_pipeline_add_stage(p, &so), "add_stage");
  }
  check(cv_pipeline_start(p), "start");
  uint64_t cpu0 = bench_cpu_ns(), t0 = bench_now_ns();
  if (batch <= 1) {
    for (uint64_t v = 1; v <= o.items; v++)
      check(cv_pipeline_put(p, (void *)(uintptr_t)v, CV_FOREVER), "put");
  } else {
    void **buf = calloc(batch, sizeof *buf);
    if (!buf)
      bench_die("out of memory");
    for (uint64_t v = 1; v <= o.items;) {
      size_t n = 0, done = 0;
      while (n < batch && v <= o.items)
        buf[n++] = (void *)(uintptr_t)v++;
      check(cv_pipeline_put_many(p, buf, n, &done, CV_FOREVER), "put_many");
      if (done != n)
        bench_die("W4: put_many took %zu of %zu", done, n);
    }
    free(buf);
  }
  check(cv_pipeline_close_input(p), "close_input");
  check(cv_pipeline_wait(p, CV_FOREVER), "wait");
  uint64_t elapsed = bench_now_ns() - t0, cpu = bench_cpu_ns() - cpu0;

  if (getenv("BENCH_PIPELINE_STATS")) /* where the time went, on stderr */
    cv_pipeline_stats_print(p, stderr);
  cv_pipeline_summary sum;
  check(cv_pipeline_summary_get(p, &sum), "summary");
  if (!cv_pipeline_summary_balanced(&sum) || sum.fed != o.items ||
      sum.delivered != o.items)
    bench_die("W4: summary: fed %llu delivered %llu (want %llu), balanced %d",
              (unsigned long long)sum.fed, (unsigned long long)sum.delivered,
              (unsigned long long)o.items, cv_pipeline_summary_balanced(&sum));
  unsigned peak[8] = {0};
  for (int s = 0; s < o.nstages; s++) {
    cv_stage_stats ss;
    check(cv_pipeline_stage_stats(p, (size_t)s, &ss), "stage_stats");
    peak[s] = ss.workers_peak;
  }
  check(cv_pipeline_destroy(p), "destroy");
  bench_sum want = bench_sum_expected(o.items);
  bench_sum_check("W4", &got, &want);

  /* Named after the configuration: conveyor-pipeline[-auto][-b<n>]. */
  char name[64], notes[48], extra[64];
  snprintf(name, sizeof name, "conveyor-pipeline%s", auto_workers ? "-auto" : "");
  if (batch == CV_BATCH_AUTO) {
    snprintf(notes, sizeof notes, "%sbatch=auto", auto_workers ? "workers=auto," : "");
  } else {
    size_t len = strlen(name);
    snprintf(name + len, sizeof name - len, "-b%zu", batch);
    snprintf(notes, sizeof notes, "%sbatch=%zu", auto_workers ? "workers=auto," : "", batch);
  }
  size_t len = (size_t)snprintf(extra, sizeof extra, "stages=");
  for (int s = 0; s < o.nstages && len < sizeof extra; s++)
    len += (size_t)snprintf(extra + len, sizeof extra - len, "%s%d",
                            s ? "/" : "", o.stages[s]);
  if (auto_workers) /* the most workers each stage ran at once */
    for (int s = 0; s < o.nstages && len < sizeof extra; s++)
      len += (size_t)snprintf(extra + len, sizeof extra - len, "%s%u",
                              s ? "/" : "\tpeak=", peak[s]);
  bench_report(&o, name, notes, o.items, elapsed, cpu, extra);
  return 0;
}
