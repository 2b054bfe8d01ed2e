/* tests/pipeline_util.h - helpers shared by the pipeline tests: sizes that
 * scale down under sanitizers and valgrind, and a per-item ledger that proves
 * every item ended exactly once (delivered, destroyed, or handed back). */
#ifndef CV_PIPELINE_UTIL_H
#define CV_PIPELINE_UTIL_H

#include <pthread.h>
#include <stdatomic.h>

#include <valgrind/valgrind.h>

#include "test.h"

#if defined(__SANITIZE_THREAD__)
#define PL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PL_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define PL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PL_ASAN 1
#endif
#endif

/* A size for this build: `plain` in the plain build, divided by 4 under
 * ASan, 8 under TSan and 100 under valgrind (never below `min`), so every
 * build runs in a few seconds.  The environment variable `env` overrides it
 * (soak runs: PIPELINE_ITEMS=10000000). */
static inline long pl_size(const char *env, long plain, long min) {
  long div = 1;
#if defined(PL_TSAN)
  div = 8;
#elif defined(PL_ASAN)
  div = 4;
#endif
  if (RUNNING_ON_VALGRIND)
    div = 100;
  long n = plain / div;
  if (n < min)
    n = min;
  return test_env_long(env, n);
}

/* The fate of each item: 0 not yet ended, else one of PL_*.  Recording a
 * second end for an item is the bug these tests look for. */
enum { PL_LIVE = 0, PL_DELIVERED = 1, PL_DESTROYED = 2, PL_RETURNED = 3 };

typedef struct pl_ledger {
  long n;
  _Atomic unsigned char *fate;
  atomic_long ended[4];
  atomic_long twice; /* items that ended more than once */
} pl_ledger;

static inline void pl_ledger_init(pl_ledger *l, long n) {
  l->n = n;
  l->fate = calloc((size_t)n, 1);
  CHECK(l->fate != NULL);
  for (int i = 0; i < 4; i++)
    atomic_init(&l->ended[i], 0);
  atomic_init(&l->twice, 0);
}

static inline void pl_ledger_free(pl_ledger *l) { free((void *)l->fate); }

static inline void pl_end(pl_ledger *l, long id, unsigned char how) {
  CHECK(id >= 0 && id < l->n);
  unsigned char want = PL_LIVE;
  if (!atomic_compare_exchange_strong(&l->fate[id], &want, how)) {
    fprintf(stderr, "item %ld ended twice: %d then %d\n", id, want, how);
    atomic_fetch_add(&l->twice, 1);
  }
  atomic_fetch_add(&l->ended[how], 1);
}

/* Every one of the first `fed` ids ended exactly once. */
static inline void pl_ledger_check(pl_ledger *l, long fed) {
  CHECK_EQ(atomic_load(&l->twice), 0);
  for (long i = 0; i < fed; i++) {
    if (atomic_load(&l->fate[i]) == PL_LIVE) {
      fprintf(stderr, "item %ld never ended (lost or leaked)\n", i);
      exit(1);
    }
  }
}

/* Items the tests allocate: an id and a scratch value.  The live counter
 * counts allocations minus frees, and its maximum. */
typedef struct pl_item {
  long id;
  long value;
} pl_item;

static atomic_long pl_alive, pl_alive_max;

static inline pl_item *pl_item_new(long id) {
  pl_item *it = malloc(sizeof(*it));
  CHECK(it != NULL);
  it->id = id;
  it->value = 0;
  long a = atomic_fetch_add(&pl_alive, 1) + 1;
  long m = atomic_load(&pl_alive_max);
  while (a > m && !atomic_compare_exchange_weak(&pl_alive_max, &m, a)) {
  }
  return it;
}

static inline void pl_item_free(pl_item *it) {
  atomic_fetch_sub(&pl_alive, 1);
  free(it);
}

static inline void pl_alive_reset(void) {
  atomic_store(&pl_alive, 0);
  atomic_store(&pl_alive_max, 0);
}

/* A destroy callback for pl_items that records them in the ledger `arg`. */
static inline void pl_destroy_item(void *item, void *arg) {
  pl_item *it = item;
  if (arg)
    pl_end((pl_ledger *)arg, it->id, PL_DESTROYED);
  pl_item_free(it);
}

/* A feeder thread (pthread_create(&t, NULL, pl_feed, &feeder)): puts
 * pl_items 0..n-1, then closes the pipeline's input.  A refused put must be
 * CV_ECANCELED; that item is still the feeder's, so it is recorded as
 * PL_RETURNED in the ledger and freed, and feeding stops.  `fed` counts the
 * puts that succeeded. */
typedef struct pl_feeder {
  cv_pipeline *p;
  long n;
  pl_ledger *ledger;
  atomic_long fed;
} pl_feeder;

static inline void *pl_feed(void *arg) {
  pl_feeder *f = arg;
  for (long i = 0; i < f->n; i++) {
    pl_item *it = pl_item_new(i);
    int rc = cv_pipeline_put(f->p, it, CV_FOREVER);
    if (rc != CV_OK) {
      CHECK_RC(rc, CV_ECANCELED);
      pl_end(f->ledger, i, PL_RETURNED);
      pl_item_free(it);
      break;
    }
    atomic_fetch_add(&f->fed, 1);
  }
  cv_pipeline_close_input(f->p);
  return NULL;
}

#define IP(n) ((void *)(intptr_t)(n))
#define PI(p) ((intptr_t)(p))

#endif /* CV_PIPELINE_UTIL_H */
