/* bench/probe.c - how long a cache line takes to go from one CPU to another
 * and back, right now.
 *
 * Two threads, pinned to the first two CPUs this process may use, pass a
 * counter back and forth through one cache line.  It prints
 *
 *   probe <TAB> rt_ns=<median round trip in ns> <TAB> cpus=<a>,<b>
 *
 * (rt_ns=-1 with fewer than two CPUs).  bench/run.sh and bench/w4.sh run it
 * before every repetition: on a virtual machine the host moves the virtual
 * CPUs between cores, and the cost of a transfer between them changes with
 * that by a factor of four or more from one minute to the next.  Every
 * hand-off between threads on different CPUs pays it, so a result is read
 * beside the round trip measured just before it (docs/benchmarks.md,
 * "Inter-CPU round trip").  About 5 ms. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BLOCKS 7
#define TRIPS 2000 /* round trips per block */

static alignas(64) _Atomic long ball;
static int cpu_b;

static void pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Answers every odd value with the next even one. */
static void *answer(void *arg) {
  (void)arg;
  pin(cpu_b);
  for (long v = 1; v < 2L * BLOCKS * TRIPS; v += 2) {
    while (atomic_load_explicit(&ball, memory_order_acquire) != v) {
    }
    atomic_store_explicit(&ball, v + 1, memory_order_release);
  }
  return NULL;
}

static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

int main(void) {
  cpu_set_t allowed;
  int cpus[2], n = 0;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
      if (CPU_ISSET(c, &allowed))
        cpus[n++] = c;
  if (n < 2) {
    printf("probe\trt_ns=-1\tcpus=-\n");
    return 0;
  }
  cpu_b = cpus[1];
  pin(cpus[0]);
  pthread_t t;
  if (pthread_create(&t, NULL, answer, NULL) != 0) {
    fprintf(stderr, "probe: pthread_create failed\n");
    return 1;
  }
  long per[BLOCKS];
  long v = 0;
  for (int b = 0; b < BLOCKS; b++) {
    long t0 = now_ns();
    for (int i = 0; i < TRIPS; i++, v += 2) {
      while (atomic_load_explicit(&ball, memory_order_acquire) != v) {
      }
      atomic_store_explicit(&ball, v + 1, memory_order_release);
    }
    per[b] = (now_ns() - t0) / TRIPS;
  }
  pthread_join(t, NULL);
  qsort(per, BLOCKS, sizeof per[0], cmp_long);
  printf("probe\trt_ns=%ld\tcpus=%d,%d\n", per[BLOCKS / 2], cpus[0], cpus[1]);
  return 0;
}
