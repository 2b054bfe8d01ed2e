/* bench/common.c - clocks (wall and CPU), pinning, peak RSS, exactly-once
 * sums, options and the result line shared by every benchmark driver. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_cpu_ns(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return 0;
  return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
         ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static bool pinned;

void bench_pin_self(void) {
  static atomic_int next;
  const char *e = getenv("BENCH_PIN");
  if (!e || *e != '1')
    return;
  cpu_set_t allowed, one;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
    return;
  int n = CPU_COUNT(&allowed);
  if (n < 2)
    return; /* one CPU: nothing to spread over */
  int k = atomic_fetch_add(&next, 1) % n, cpu = -1;
  for (int c = 0; c < CPU_SETSIZE && k >= 0; c++)
    if (CPU_ISSET(c, &allowed) && k-- == 0)
      cpu = c;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0)
    pinned = true;
}

long bench_maxrss_kb(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return -1;
  return ru.ru_maxrss; /* KiB on Linux */
}

void bench_die(const char *fmt, ...) {
  va_list ap;
  fputs("bench: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

void bench_sum_merge(bench_sum *into, const bench_sum *from) {
  into->count += from->count;
  into->sum += from->sum;
  into->sumsq += from->sumsq;
}

bench_sum bench_sum_expected(uint64_t n) {
  bench_sum s = {0, 0, 0};
  for (uint64_t v = 1; v <= n; v++)
    bench_sum_add(&s, v);
  return s;
}

void bench_sum_check(const char *workload, const bench_sum *got,
                     const bench_sum *want) {
  if (got->count != want->count || got->sum != want->sum ||
      got->sumsq != want->sumsq)
    bench_die("%s: CHECKSUM MISMATCH: got count=%llu sum=%llu sumsq=%llu, "
              "want count=%llu sum=%llu sumsq=%llu",
              workload, (unsigned long long)got->count,
              (unsigned long long)got->sum, (unsigned long long)got->sumsq,
              (unsigned long long)want->count, (unsigned long long)want->sum,
              (unsigned long long)want->sumsq);
}

static const char *label;

static uint64_t parse_u64(const char *opt, const char *s) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (*s == '\0' || *end != '\0' || *s == '-') {
    fprintf(stderr, "bench: %s wants a non-negative integer, got '%s'\n", opt,
            s);
    exit(2);
  }
  return v;
}

void bench_parse(bench_opts *o, int argc, char **argv) {
  memset(o, 0, sizeof *o);
  o->workload = "W1";
  o->items = 1000000;
  o->capacity = 1024;
  o->producers = 1;
  o->consumers = 1;
  o->batch = 64;
  o->stages[0] = 3, o->stages[1] = 4, o->stages[2] = 5, o->nstages = 3;
  o->period_ns = 1000000;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      fprintf(stderr, "bench: %s needs a value\n", a);
      exit(2);
    }
    i++;
    if (!strcmp(a, "--workload"))
      o->workload = v;
    else if (!strcmp(a, "--label"))
      label = v;
    else if (!strcmp(a, "--items"))
      o->items = parse_u64(a, v);
    else if (!strcmp(a, "--capacity"))
      o->capacity = (size_t)parse_u64(a, v);
    else if (!strcmp(a, "--producers"))
      o->producers = (int)parse_u64(a, v);
    else if (!strcmp(a, "--consumers"))
      o->consumers = (int)parse_u64(a, v);
    else if (!strcmp(a, "--batch"))
      o->batch = (size_t)parse_u64(a, v);
    else if (!strcmp(a, "--period-us"))
      o->period_ns = parse_u64(a, v) * 1000;
    else if (!strcmp(a, "--stages")) {
      char buf[128];
      snprintf(buf, sizeof buf, "%s", v);
      o->nstages = 0;
      for (char *tok = strtok(buf, ","); tok && o->nstages < 8;
           tok = strtok(NULL, ","))
        o->stages[o->nstages++] = (int)parse_u64(a, tok);
    } else {
      fprintf(stderr, "bench: unknown option %s\n", a);
      exit(2);
    }
  }
  if (o->items == 0 || o->capacity == 0 || o->producers < 1 ||
      o->consumers < 1 || o->batch == 0 || o->nstages < 1) {
    fprintf(stderr, "bench: items, capacity, producers, consumers, batch and "
                    "stages must be positive\n");
    exit(2);
  }
  for (int s = 0; s < o->nstages; s++)
    if (o->stages[s] < 1) {
      fprintf(stderr, "bench: every stage needs at least one worker\n");
      exit(2);
    }
}

void bench_report(const bench_opts *o, const char *impl, const char *notes,
                  uint64_t items, uint64_t elapsed_ns, uint64_t cpu_ns,
                  const char *extra) {
  double secs = (double)elapsed_ns / 1e9;
  double load[1] = {-1};
  if (getloadavg(load, 1) != 1)
    load[0] = -1;
  printf("result\tworkload=%s\timpl=%s\titems=%llu\tsecs=%.6f\trate=%.1f"
         "\tcpu_ns=%llu\tcpu_ns_per_item=%.2f\tload1=%.2f\tpinned=%d"
         "\trss_kb=%ld\tcapacity=%zu\tproducers=%d\tconsumers=%d\tnotes=%s%s%s\n",
         label ? label : o->workload, impl, (unsigned long long)items, secs,
         secs > 0 ? (double)items / secs : 0.0, (unsigned long long)cpu_ns,
         items ? (double)cpu_ns / (double)items : 0.0, load[0], pinned ? 1 : 0,
         bench_maxrss_kb(), o->capacity,
         o->producers, o->consumers, notes && *notes ? notes : "-",
         extra && *extra ? "\t" : "", extra ? extra : "");
  fflush(stdout);
}
