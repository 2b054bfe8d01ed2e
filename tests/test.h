/* tests/test.h - assertion macros and small helpers for conveyor's tests.
 *
 * The macros print both sides and the location, survive NDEBUG, and exit 1 on
 * the first failure.  Exit codes: 0 pass, 1 fail, 77 skip. */
#ifndef CV_TEST_H
#define CV_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conveyor.h"

#define CV_TEST_SKIP 77

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

/* Compares two integers of any integer type, printing both on failure. */
#define CHECK_EQ(a, b)                                                         \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    if (a_ != b_) {                                                            \
      fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld vs %lld)\n",     \
              __FILE__, __LINE__, #a, #b, a_, b_);                             \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

/* Checks a conveyor call's result code, naming both codes on failure. */
#define CHECK_RC(expr, want)                                                   \
  do {                                                                         \
    int got_ = (expr), want_ = (want);                                         \
    if (got_ != want_) {                                                       \
      fprintf(stderr, "%s:%d: %s returned CV_%s, expected CV_%s\n", __FILE__,  \
              __LINE__, #expr, cv_err_name(got_), cv_err_name(want_));         \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, CV_OK)

/* An integer from the environment (sizes for soak runs), or `dflt`. */
static inline long test_env_long(const char *name, long dflt) {
  const char *v = getenv(name);
  if (!v || !*v)
    return dflt;
  char *end;
  long x = strtol(v, &end, 10);
  return *end ? dflt : x;
}

static inline int64_t test_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t test_thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void test_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* A small, fast, thread-local-friendly PRNG (xorshift64*). */
static inline uint64_t test_rand(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

#endif /* CV_TEST_H */
