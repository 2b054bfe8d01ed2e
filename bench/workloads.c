/* bench/workloads.c - the benchmark workloads, written once against the bq_*
 * interface of bench.h and linked with one implementation per driver.
 *
 *   W1, W2, W3  stream: P producers put the values 1..N (each its own slice),
 *               C consumers take them.  With one consumer it takes exactly N
 *               items; with several, each producer ends its stream with C
 *               sentinels and each consumer stops at its P-th sentinel.
 *               W1 is 1P1C cap 1024, W2 4P4C (and 16P16C) cap 1024, W3 1P1C
 *               cap 1: the options choose, the code is the same.
 *   W4          the seed's pipeline wired by hand: stage s has
 *               stages[s] workers reading queue s, applying a no-op function
 *               and putting the result on queue s+1; the last stage is the
 *               sink.  The main thread feeds N items and one sentinel per
 *               first-stage worker; a worker stops at its k-th sentinel, k
 *               being the number of threads feeding its queue, and then puts
 *               one sentinel per worker of the next stage.
 *
 * Sentinels are counted per sender rather than sent once per receiver after
 * the senders have finished (as the seed's stop_threads does) because
 * moodycamel's queue keeps order only per producer: a receiver could meet a
 * late sender's sentinel before earlier senders' items.  Counting works for
 * every implementation: all sentinels are taken, and each one comes after
 * its sender's items.
 *   W5          wake-up latency: the consumer waits in get on an empty
 *               queue; the producer puts its clock reading every period and
 *               the consumer records now - then.
 *   W6          batches: the producer puts `batch` items per call, the
 *               consumer takes up to `batch` per call.
 *
 * Every workload checks count, sum and sum of squares of what arrived
 * against 1..N (W5: the count and increasing timestamps), and a single
 * producer's order where one consumer sees its whole stream.  The clock
 * starts when every thread is waiting at the start gate, just before the
 * gate opens, and stops when the last one is joined.
 */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bench_opts opt;
static bq *queues[9];
static pthread_mutex_t sum_lock = PTHREAD_MUTEX_INITIALIZER;
static bench_sum total;

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n, size);
  if (!p)
    bench_die("out of memory");
  return p;
}

/* The start gate: threads wait in gate_pass() until the main thread, having
 * seen all of them arrive, reads the clock and opens it.  Reading the clock
 * before the threads run matters on 2 cores: a main thread that read it
 * after being released with them could be scheduled only once they are
 * done. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_arrived = PTHREAD_COND_INITIALIZER;
static pthread_cond_t gate_opened = PTHREAD_COND_INITIALIZER;
static int gate_waiting;
static bool gate_open;

static void gate_pass(void) {
  bench_pin_self();
  pthread_mutex_lock(&gate_lock);
  gate_waiting++;
  pthread_cond_signal(&gate_arrived);
  while (!gate_open)
    pthread_cond_wait(&gate_opened, &gate_lock);
  pthread_mutex_unlock(&gate_lock);
}

/* The process's CPU time when the gate opened: the result reports what the
 * timed interval used, thread creation left out. */
static uint64_t cpu_at_start;

/* Waits for n threads at the gate, then opens it; returns the start time. */
static uint64_t gate_release(int n) {
  pthread_mutex_lock(&gate_lock);
  while (gate_waiting < n)
    pthread_cond_wait(&gate_arrived, &gate_lock);
  cpu_at_start = bench_cpu_ns();
  uint64_t t0 = bench_now_ns();
  gate_open = true;
  pthread_cond_broadcast(&gate_opened);
  pthread_mutex_unlock(&gate_lock);
  return t0;
}

/* Stops both clocks once the last thread is joined; returns the wall time. */
static uint64_t cpu_used;
static uint64_t stop_clock(uint64_t t0) {
  uint64_t elapsed = bench_now_ns() - t0;
  cpu_used = bench_cpu_ns() - cpu_at_start;
  return elapsed;
}

static void start_threads(pthread_t *t, int n, void *(*fn)(void *),
                          uintptr_t first_arg) {
  for (int i = 0; i < n; i++)
    if (pthread_create(&t[i], NULL, fn, (void *)(first_arg + (uintptr_t)i)))
      bench_die("pthread_create failed");
}

static void join_threads(pthread_t *t, int n) {
  for (int i = 0; i < n; i++)
    pthread_join(t[i], NULL);
}

static void add_total(const bench_sum *s) {
  pthread_mutex_lock(&sum_lock);
  bench_sum_merge(&total, s);
  pthread_mutex_unlock(&sum_lock);
}

/* ---- W1 / W2 / W3: streams ---- */

static void *stream_producer(void *arg) {
  uintptr_t p = (uintptr_t)arg;
  uint64_t n = opt.items, np = (uint64_t)opt.producers;
  uint64_t lo = n * p / np, hi = n * (p + 1) / np;
  bq *q = queues[0];
  /* BENCH_INJECT_FAULT=1 sends the first producer's second value twice and
   * its first never: shows that the checks catch a broken queue. */
  const char *fault = getenv("BENCH_INJECT_FAULT");
  bool dup = p == 0 && fault && *fault == '1' && hi - lo >= 2;
  gate_pass();
  if (dup)
    bq_put(q, (void *)(uintptr_t)(lo + 2)), lo++;
  for (uint64_t v = lo + 1; v <= hi; v++)
    bq_put(q, (void *)(uintptr_t)v);
  if (opt.consumers > 1)
    for (int i = 0; i < opt.consumers; i++)
      bq_put(q, BQ_SENTINEL);
  return NULL;
}

static void *stream_consumer(void *arg) {
  (void)arg;
  bq *q = queues[0];
  bench_sum s = {0, 0, 0};
  bool one_producer = opt.producers == 1;
  uint64_t prev = 0;
  gate_pass();
  if (opt.consumers == 1) {
    for (uint64_t i = 0; i < opt.items; i++) {
      uint64_t v = (uint64_t)(uintptr_t)bq_get(q);
      if (one_producer && v != prev + 1)
        bench_die("%s: ORDER: got %llu after %llu", opt.workload,
                  (unsigned long long)v, (unsigned long long)prev);
      prev = v;
      bench_sum_add(&s, v);
    }
  } else {
    int sentinels = 0;
    for (;;) {
      void *item = bq_get(q);
      if (item == BQ_SENTINEL) {
        if (++sentinels == opt.producers)
          break;
        continue;
      }
      uint64_t v = (uint64_t)(uintptr_t)item;
      if (one_producer && v <= prev)
        bench_die("%s: ORDER: got %llu after %llu", opt.workload,
                  (unsigned long long)v, (unsigned long long)prev);
      prev = v;
      bench_sum_add(&s, v);
    }
  }
  add_total(&s);
  return NULL;
}

static uint64_t run_stream(void) {
  int np = opt.producers, nc = opt.consumers;
  pthread_t *tp = xcalloc((size_t)np, sizeof *tp);
  pthread_t *tc = xcalloc((size_t)nc, sizeof *tc);
  queues[0] = bq_create(opt.capacity, np, nc);
  start_threads(tc, nc, stream_consumer, 0);
  start_threads(tp, np, stream_producer, 0);
  uint64_t t0 = gate_release(np + nc);
  join_threads(tp, np);
  join_threads(tc, nc);
  uint64_t elapsed = stop_clock(t0);
  bq_destroy(queues[0]);
  free(tp);
  free(tc);
  return elapsed;
}

/* ---- W6: batches, 1P1C ---- */

static void *batch_producer(void *arg) {
  (void)arg;
  bq *q = queues[0];
  size_t b = opt.batch;
  void **buf = xcalloc(b, sizeof *buf);
  uint64_t v = 1;
  gate_pass();
  while (v <= opt.items) {
    size_t n = 0;
    while (n < b && v <= opt.items)
      buf[n++] = (void *)(uintptr_t)v++;
    bq_put_many(q, buf, n);
  }
  free(buf);
  return NULL;
}

static void *batch_consumer(void *arg) {
  (void)arg;
  bq *q = queues[0];
  size_t b = opt.batch;
  void **buf = xcalloc(b, sizeof *buf);
  bench_sum s = {0, 0, 0};
  uint64_t prev = 0;
  gate_pass();
  while (s.count < opt.items) {
    size_t want = opt.items - s.count < b ? (size_t)(opt.items - s.count) : b;
    size_t n = bq_get_many(q, buf, want);
    if (n == 0 || n > want)
      bench_die("W6: get_many returned %zu (asked for up to %zu)", n, want);
    for (size_t i = 0; i < n; i++) {
      uint64_t v = (uint64_t)(uintptr_t)buf[i];
      if (v != prev + 1)
        bench_die("W6: ORDER: got %llu after %llu", (unsigned long long)v,
                  (unsigned long long)prev);
      prev = v;
      bench_sum_add(&s, v);
    }
  }
  add_total(&s);
  free(buf);
  return NULL;
}

static uint64_t run_batch(void) {
  pthread_t t[2];
  queues[0] = bq_create(opt.capacity, 1, 1);
  start_threads(&t[0], 1, batch_consumer, 0);
  start_threads(&t[1], 1, batch_producer, 0);
  uint64_t t0 = gate_release(2);
  join_threads(t, 2);
  uint64_t elapsed = stop_clock(t0);
  bq_destroy(queues[0]);
  return elapsed;
}

/* ---- W4: the seed's pipeline, wired by hand ---- */

/* The stage functions do nothing, as in the seed (download, resize, upload
 * each return their item); called through a pointer so that the call
 * stays. */
static void *noop_stage(void *item) { return item; }
static void *(*volatile stage_fn)(void *) = noop_stage;

static void *stage_worker(void *arg) {
  uintptr_t s = (uintptr_t)arg;
  bq *in = queues[s];
  bq *out = (int)s + 1 < opt.nstages ? queues[s + 1] : NULL;
  void *(*fn)(void *) = stage_fn;
  bench_sum sum = {0, 0, 0};
  int senders = s == 0 ? 1 : opt.stages[s - 1], sentinels = 0;
  gate_pass();
  for (;;) {
    void *item = bq_get(in);
    if (item == BQ_SENTINEL) {
      if (++sentinels == senders)
        break;
      continue;
    }
    item = fn(item);
    if (out)
      bq_put(out, item);
    else
      bench_sum_add(&sum, (uint64_t)(uintptr_t)item);
  }
  if (out)
    for (int i = 0; i < opt.stages[s + 1]; i++)
      bq_put(out, BQ_SENTINEL);
  else
    add_total(&sum);
  return NULL;
}

static uint64_t run_pipeline(void) {
  int ns = opt.nstages, nthreads = 0;
  pthread_t *t[8];
  for (int s = 0; s < ns; s++) {
    queues[s] = bq_create(opt.capacity, s == 0 ? 1 : opt.stages[s - 1],
                          opt.stages[s]);
    t[s] = xcalloc((size_t)opt.stages[s], sizeof **t);
    nthreads += opt.stages[s];
  }
  for (int s = 0; s < ns; s++)
    for (int w = 0; w < opt.stages[s]; w++)
      if (pthread_create(&t[s][w], NULL, stage_worker, (void *)(uintptr_t)s))
        bench_die("pthread_create failed");
  uint64_t t0 = gate_release(nthreads);
  for (uint64_t v = 1; v <= opt.items; v++)
    bq_put(queues[0], (void *)(uintptr_t)v);
  for (int w = 0; w < opt.stages[0]; w++)
    bq_put(queues[0], BQ_SENTINEL);
  for (int s = 0; s < ns; s++)
    join_threads(t[s], opt.stages[s]);
  uint64_t elapsed = stop_clock(t0);
  for (int s = 0; s < ns; s++) {
    bq_destroy(queues[s]);
    free(t[s]);
  }
  return elapsed;
}

/* ---- W5: wake-up latency ---- */

static uint64_t *lat;

static void *latency_producer(void *arg) {
  (void)arg;
  bq *q = queues[0];
  gate_pass();
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (uint64_t i = 0; i < opt.items; i++) {
    next.tv_nsec += (long)opt.period_ns;
    while (next.tv_nsec >= 1000000000L) {
      next.tv_nsec -= 1000000000L;
      next.tv_sec++;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0) {
    }
    bq_put(q, (void *)(uintptr_t)bench_now_ns());
  }
  return NULL;
}

static void *latency_consumer(void *arg) {
  (void)arg;
  bq *q = queues[0];
  uint64_t prev = 0;
  gate_pass();
  for (uint64_t i = 0; i < opt.items; i++) {
    uint64_t sent = (uint64_t)(uintptr_t)bq_get(q);
    uint64_t now = bench_now_ns();
    if (sent <= prev || sent > now)
      bench_die("W5: timestamp %llu out of order (previous %llu, now %llu)",
                (unsigned long long)sent, (unsigned long long)prev,
                (unsigned long long)now);
    prev = sent;
    lat[i] = now - sent;
  }
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t run_latency(char *extra, size_t extra_size) {
  pthread_t t[2];
  lat = xcalloc(opt.items, sizeof *lat);
  queues[0] = bq_create(opt.capacity, 1, 1);
  start_threads(&t[0], 1, latency_consumer, 0);
  start_threads(&t[1], 1, latency_producer, 0);
  uint64_t t0 = gate_release(2);
  join_threads(t, 2);
  uint64_t elapsed = stop_clock(t0);
  bq_destroy(queues[0]);
  uint64_t n = opt.items;
  qsort(lat, n, sizeof *lat, cmp_u64);
  snprintf(extra, extra_size, "p50_ns=%llu\tp99_ns=%llu\tmax_ns=%llu",
           (unsigned long long)lat[n * 50 / 100],
           (unsigned long long)lat[n * 99 / 100],
           (unsigned long long)lat[n - 1]);
  free(lat);
  return elapsed;
}

int main(int argc, char **argv) {
  bench_parse(&opt, argc, argv);
  char notes[128], extra[256] = "";
  const char *w = opt.workload;
  bool batch = !strcmp(w, "W6"), pipeline = !strcmp(w, "W4");
  snprintf(notes, sizeof notes, "%s%s%s%s%s",
           bq_impl_bounded ? "" : "unbounded",
           (batch || pipeline) && !bq_impl_bounded ? "," : "",
           batch ? "batch=" : "", batch ? bq_impl_batch : "",
           pipeline ? "hand-wired" : "");
  uint64_t elapsed;
  if (!strcmp(w, "W1") || !strcmp(w, "W2") || !strcmp(w, "W3")) {
    elapsed = run_stream();
  } else if (!strcmp(w, "W4")) {
    elapsed = run_pipeline();
    size_t len = 0;
    len += (size_t)snprintf(extra, sizeof extra, "stages=");
    for (int s = 0; s < opt.nstages && len < sizeof extra; s++)
      len += (size_t)snprintf(extra + len, sizeof extra - len, "%s%d",
                              s ? "/" : "", opt.stages[s]);
  } else if (!strcmp(w, "W5")) {
    elapsed = run_latency(extra, sizeof extra);
  } else if (batch) {
    elapsed = run_batch();
  } else {
    fprintf(stderr, "bench: unknown workload %s (W1..W6)\n", w);
    return 2;
  }
  if (strcmp(w, "W5") != 0) {
    bench_sum want = bench_sum_expected(opt.items);
    bench_sum_check(w, &total, &want);
  }
  bench_report(&opt, bq_impl_name, notes, opt.items, elapsed, cpu_used, extra);
  return 0;
}
