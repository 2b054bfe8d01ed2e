/* bench/pipeline_autotune.c - the moving bottleneck: three stages, where
 * stage 1 is slow for the first half of the items and stage 3 for the
 * second half (stage 2 is always fast), run with automatic workers or with
 * a fixed layout.  bench/moving.sh runs every layout of one thread count
 * against automatic workers with that many threads at most.
 *
 *   bench_pipeline_autotune --kind cpu|sleep --layout auto|A,B,C
 *       [--items N] [--slow-us U] [--fast-us U] [--max-workers T]
 *       [--spin-per-us K] [--capacity C] [--calibrate] [--log] [--live MS]
 *
 * cpu: a stage's work is a fixed number of loop iterations (K per
 * microsecond, measured once by --calibrate and passed to every run, so
 * every layout does the same work); sleep: nanosleep, as a stage waiting on
 * I/O.  The main thread feeds 0..N-1 with cv_pipeline_put and a sink checks
 * count and sum.  Prints one line:
 *   result kind= layout= items= secs= rate= cpu_secs= csw= peak=A/B/C threads=
 * (cpu_secs: user + system time of the process; csw: voluntary +
 * involuntary context switches; peak: most workers per stage; threads: the
 * layout's, or <= the automatic budget).  --log prints every decision of the
 * controller on stderr, --live MS the statistics table every MS ms. */
#include <conveyor.h>
#include <conveyor/pipeline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static long items = 16000, slow_us = 200, fast_us = 20;
static double spin_per_us = 0;
static int sleep_kind;
static long half;
static volatile unsigned long sink_guard;

static void die(const char *msg, const char *arg) {
  fprintf(stderr, "bench_pipeline_autotune: %s%s\n", msg, arg ? arg : "");
  exit(1);
}

static void spin(double iters) {
  unsigned long x = 1;
  for (long i = 0; i < (long)iters; i++)
    x = x * 6364136223846793005UL + 1442695040888963407UL;
  sink_guard += x;
}

static void work(long us) {
  if (sleep_kind) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
  } else {
    spin((double)us * spin_per_us);
  }
}

static int stage(cv_stage_ctx *ctx, void *item) {
  long id = (long)(intptr_t)item - 1;
  intptr_t s = (intptr_t)cv_stage_arg(ctx);
  bool slow = (s == 0 && id < half) || (s == 2 && id >= half);
  work(slow ? slow_us : fast_us);
  return cv_emit(ctx, item);
}

static unsigned long long got_n, got_sum; /* the sink: one call at a time */

static int sink(void *item, void *arg) {
  (void)arg;
  got_n++;
  got_sum += (unsigned long long)(uintptr_t)item;
  return CV_OK;
}

static void on_tune(cv_pipeline *p, const cv_tune_event *e, void *arg) {
  (void)arg;
  cv_pipeline_summary s;
  cv_pipeline_summary_get(p, &s);
  fprintf(stderr, "%8.3f s  %-7s %u -> %u  %s\n", (double)s.elapsed_ns / 1e9,
          e->stage, e->from, e->to, e->reason);
}

static long ncpu(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? n : 1;
}

static void on_progress(cv_pipeline *p, const cv_pipeline_summary *s,
                        void *arg) {
  (void)s;
  (void)arg;
  cv_pipeline_stats_print(p, stderr);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(const struct rusage *r) {
  return (double)r->ru_utime.tv_sec + (double)r->ru_utime.tv_usec / 1e6 +
         (double)r->ru_stime.tv_sec + (double)r->ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  const char *layout = "auto", *kind = "cpu";
  unsigned max_workers = 0;
  size_t capacity = 64;
  int calibrate = 0, log = 0;
  long live_ms = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--calibrate")) { calibrate = 1; continue; }
    if (!strcmp(a, "--log")) { log = 1; continue; }
    if (!v)
      die("missing value for ", a);
    i++;
    if (!strcmp(a, "--kind")) kind = v;
    else if (!strcmp(a, "--layout")) layout = v;
    else if (!strcmp(a, "--items")) items = atol(v);
    else if (!strcmp(a, "--slow-us")) slow_us = atol(v);
    else if (!strcmp(a, "--fast-us")) fast_us = atol(v);
    else if (!strcmp(a, "--max-workers")) max_workers = (unsigned)atoi(v);
    else if (!strcmp(a, "--spin-per-us")) spin_per_us = atof(v);
    else if (!strcmp(a, "--capacity")) capacity = (size_t)atol(v);
    else if (!strcmp(a, "--live")) live_ms = atol(v);
    else die("unknown option ", a);
  }
  if (calibrate) {
    /* Iterations per microsecond of this thread's CPU: the best of 5. */
    double best = 0;
    for (int r = 0; r < 5; r++) {
      struct timespec a, b;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
      spin(2e7);
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
      double us = (double)(b.tv_sec - a.tv_sec) * 1e6 +
                  (double)(b.tv_nsec - a.tv_nsec) / 1e3;
      if (us > 0 && 2e7 / us > best)
        best = 2e7 / us;
    }
    printf("%.1f\n", best);
    return 0;
  }
  sleep_kind = !strcmp(kind, "sleep");
  if (!sleep_kind && strcmp(kind, "cpu"))
    die("--kind is cpu or sleep, not ", kind);
  if (!sleep_kind && spin_per_us <= 0)
    die("--kind cpu needs --spin-per-us (from --calibrate)", NULL);
  if (items < 2)
    die("--items must be at least 2", NULL);
  half = items / 2;
  unsigned workers[3];
  bool is_auto = !strcmp(layout, "auto");
  if (!is_auto && sscanf(layout, "%u,%u,%u", &workers[0], &workers[1],
                         &workers[2]) != 3)
    die("--layout is auto or A,B,C, not ", layout);

  cv_pipeline *p;
  cv_pipeline_options po = {.name = "moving", .sink = sink,
                            .max_workers = max_workers,
                            .tune_cb = log ? on_tune : NULL,
                            .progress = live_ms > 0 ? on_progress : NULL,
                            .progress_interval_ns = CV_MSEC(live_ms)};
  if (cv_pipeline_create(&p, &po) != CV_OK)
    die("create failed", NULL);
  static const char *names[] = {"first", "middle", "last"};
  for (intptr_t s = 0; s < 3; s++) {
    cv_stage_options so = {.name = names[s], .fn = stage, .arg = (void *)s,
                           .workers = is_auto ? CV_WORKERS_AUTO : workers[s],
                           .capacity = capacity};
    if (cv_pipeline_add_stage(p, &so) != CV_OK)
      die("add_stage failed", NULL);
  }
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  double t0 = now_s();
  if (cv_pipeline_start(p) != CV_OK)
    die("start failed", NULL);
  for (long v = 1; v <= items; v++)
    if (cv_pipeline_put(p, (void *)(intptr_t)v, CV_FOREVER) != CV_OK)
      die("put failed", NULL);
  cv_pipeline_close_input(p);
  if (cv_pipeline_wait(p, CV_FOREVER) != CV_OK)
    die("wait failed", NULL);
  double secs = now_s() - t0;
  getrusage(RUSAGE_SELF, &r1);
  unsigned long long want = (unsigned long long)items * (items + 1) / 2;
  if (got_n != (unsigned long long)items || got_sum != want)
    die("CHECKSUM MISMATCH", NULL);
  if (log)
    cv_pipeline_stats_print(p, stderr);
  unsigned peak[3];
  for (size_t s = 0; s < 3; s++) {
    cv_stage_stats st;
    cv_pipeline_stage_stats(p, s, &st);
    peak[s] = st.workers_peak;
  }
  cv_pipeline_destroy(p);
  long csw = (r1.ru_nvcsw - r0.ru_nvcsw) + (r1.ru_nivcsw - r0.ru_nivcsw);
  printf("result\tkind=%s\tlayout=%s\titems=%ld\tsecs=%.4f\trate=%.1f"
         "\tcpu_secs=%.4f\tcsw=%ld\tpeak=%u/%u/%u\tthreads=%s%u\n",
         kind, layout, items, secs, (double)items / secs,
         cpu_s(&r1) - cpu_s(&r0), csw, peak[0], peak[1], peak[2],
         is_auto ? "<=" : "",
         is_auto ? (max_workers ? max_workers : 8 * (unsigned)ncpu())
                 : workers[0] + workers[1] + workers[2]);
  return 0;
}
