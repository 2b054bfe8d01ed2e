/* bench/bench.h - the queue interface every benchmarked implementation
 * provides, and the helpers the drivers share.
 *
 * Each implementation (conveyor, the mutex/condvar baseline, GLib, TBB,
 * moodycamel) is one small file that defines the bq_* functions below with
 * external linkage.  The workloads (workloads.c) are compiled once per
 * implementation and linked with that file into one driver executable
 * (bench_<impl>), so every implementation pays exactly one direct function
 * call per operation and nothing else differs between the drivers.
 *
 * Items are pointer-sized integers, never 0 (GAsyncQueue forbids NULL) and
 * never BQ_SENTINEL.  An implementation that meets an error it cannot handle
 * aborts: a benchmark must fail loudly, never report a wrong number.
 */
#ifndef CV_BENCH_H
#define CV_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bq bq;

/* Marks the end of a producer's stream where the workload needs one. */
#define BQ_SENTINEL ((void *)UINTPTR_MAX)

/* The implementation's name as printed in the table ("conveyor"). */
extern const char *const bq_impl_name;
/* True when capacity is honoured; false for unbounded peers (marked so). */
extern const bool bq_impl_bounded;
/* How put_many/get_many are done: "native" or what stands in for them. */
extern const char *const bq_impl_batch;

/* A queue holding at most `capacity` items (ignored when unbounded), used by
 * `producers` threads putting and `consumers` threads getting: a hint that
 * implementations with a single-producer single-consumer mode take. */
bq *bq_create(size_t capacity, int producers, int consumers);
void bq_destroy(bq *q);
/* Blocks while full. */
void bq_put(bq *q, void *item);
/* Blocks while empty. */
void *bq_get(bq *q);
/* Puts all n items, blocking for room as needed. */
void bq_put_many(bq *q, void *const *items, size_t n);
/* Blocks for at least one item, then takes up to max; returns the count. */
size_t bq_get_many(bq *q, void **items, size_t max);

/* ---- helpers shared by the drivers (common.c) ---- */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);
/* CPU time (user + system) this process has used so far, every thread
 * counted, in nanoseconds (getrusage RUSAGE_SELF). */
uint64_t bench_cpu_ns(void);
/* BENCH_PIN=1: pins the calling thread to the next CPU of the process's
 * affinity set, in turn, so that the threads of a workload run on distinct
 * CPUs where there are enough.  A no-op otherwise. */
void bench_pin_self(void);
/* Peak resident set size of this process so far, in KiB. */
long bench_maxrss_kb(void);
/* Prints "bench: <message>" to stderr and exits 1. */
void bench_die(const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;

/* Exactly-once evidence for a stream of items: count, sum and sum of
 * squares (mod 2^64).  Losing one item and duplicating another changes the
 * sum of squares even when it keeps the count and the sum. */
typedef struct bench_sum {
  uint64_t count, sum, sumsq;
} bench_sum;

static inline void bench_sum_add(bench_sum *s, uint64_t v) {
  s->count++;
  s->sum += v;
  s->sumsq += v * v;
}
void bench_sum_merge(bench_sum *into, const bench_sum *from);
/* The sums for the values 1..n. */
bench_sum bench_sum_expected(uint64_t n);
/* Exits 1 with a message naming the workload unless got == expected. */
void bench_sum_check(const char *workload, const bench_sum *got,
                     const bench_sum *want);

/* Command-line options common to the drivers. */
typedef struct bench_opts {
  const char *workload; /* W1 .. W6 (W2 covers any producer/consumer counts) */
  uint64_t items;       /* items (W5: samples) */
  size_t capacity;
  int producers, consumers;
  size_t batch;         /* W6 items per call */
  int stages[8];        /* W4 workers per stage */
  int nstages;
  uint64_t period_ns;   /* W5 producer period */
} bench_opts;

/* Parses --workload W --items N --capacity K --producers P --consumers C
 * --batch B --stages a,b,c --period-us U; exits 2 on a bad option. */
void bench_parse(bench_opts *o, int argc, char **argv);

/* Prints the one result line run.sh reads (tab-separated key=value):
 * wall time and items/s, the CPU time the process spent in the timed
 * interval (cpu_ns; per item: cpu_ns_per_item), the 1-minute load average at
 * the end, peak RSS, and whether the threads were pinned. */
void bench_report(const bench_opts *o, const char *impl, const char *notes,
                  uint64_t items, uint64_t elapsed_ns, uint64_t cpu_ns,
                  const char *extra);

#ifdef __cplusplus
}
#endif
#endif /* CV_BENCH_H */
