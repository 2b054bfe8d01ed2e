/* tests/queue_util.h - helpers shared by the queue tests: a comparator, a
 * thread that makes one queue call and records its outcome, and waits for a
 * thread to be asleep inside the queue. */
#ifndef CV_QUEUE_UTIL_H
#define CV_QUEUE_UTIL_H

#include <pthread.h>

#include "ring.h" /* cv__queue_force_locked */
#include "test.h"

/* A bounded FIFO queue has two implementations: the lock-free ring (Linux)
 * and the mutex one that serves every other queue; the ring comes with two
 * barrier pairings (asymmetric, what cv_queue_create gives, and symmetric,
 * what pipelines use).  Runs `body` once with each, or only with the one
 * CV_TEST_IMPL names ("ring", "ring-symmetric" or "locked").  The portable
 * build (CV_LOCKFREE=OFF) has no ring: there only "locked" runs. */
static inline void for_each_impl(void (*body)(void)) {
  const char *only = getenv("CV_TEST_IMPL");
  static const char *const names[] = {"ring", "ring-symmetric", "locked"};
  for (int i = 0; i < 3; i++) {
    if (only && *only && strcmp(only, names[i]) != 0)
      continue;
    if (i < 2 && !cv__queue_have_ring)
      continue;
    cv__queue_force_symmetric = i == 1;
    cv__queue_force_locked = i == 2;
    body();
  }
  cv__queue_force_symmetric = 0;
  cv__queue_force_locked = 0;
}

/* Orders items that are small integers stored in the pointer. */
static inline int cmp_intptr(const void *a, const void *b, void *arg) {
  (void)arg;
  intptr_t x = (intptr_t)a, y = (intptr_t)b;
  return (x > y) - (x < y);
}

#define IP(n) ((void *)(intptr_t)(n))

static inline cv_queue_stats qstats(const cv_queue *q) {
  cv_queue_stats st;
  CHECK_OK(cv_queue_stats_get(q, &st));
  return st;
}

/* Waits until `n` getters (or putters) have gone to sleep on q in total, as
 * counted by the get_waits (put_waits) counter.  The counter is raised under
 * the queue's mutex just before the caller sleeps on the condition variable,
 * and the sleep releases the mutex atomically, so once this returns the
 * thread is asleep (or already woken).  Fails after 10 s. */
static inline void wait_sleepers(const cv_queue *q, uint64_t gets,
                                 uint64_t puts) {
  int64_t give_up = test_now_ns() + 10 * 1000000000LL;
  for (;;) {
    cv_queue_stats st = qstats(q);
    if (st.get_waits >= gets && st.put_waits >= puts)
      return;
    if (test_now_ns() > give_up) {
      fprintf(stderr, "wait_sleepers: still %" PRIu64 "/%" PRIu64
              " getters and %" PRIu64 "/%" PRIu64 " putters asleep\n",
              st.get_waits, gets, st.put_waits, puts);
      exit(1);
    }
    test_sleep_ms(1);
  }
}

/* One queue call made on its own thread. */
enum op_kind { OP_GET, OP_PUT, OP_JOIN, OP_PUT_MANY, OP_GET_MANY };

typedef struct op {
  enum op_kind kind;
  cv_queue *q;
  int64_t timeout;
  void *item;       /* OP_PUT: the item; OP_GET: what was got */
  void **items;     /* OP_PUT_MANY / OP_GET_MANY */
  size_t n;         /* how many to put / most to get */
  size_t done;      /* *nput / *nget */
  int rc;
  int64_t elapsed;  /* ns spent in the call */
  int64_t cpu;      /* thread CPU ns spent in the call */
  int finished;     /* set (atomically) when the call returned */
  pthread_t th;
} op;

static inline void *op_run(void *arg) {
  op *o = arg;
  int64_t t0 = test_now_ns(), c0 = test_thread_cpu_ns();
  switch (o->kind) {
  case OP_GET:
    o->rc = cv_queue_get(o->q, &o->item, o->timeout);
    break;
  case OP_PUT:
    o->rc = cv_queue_put(o->q, o->item, o->timeout);
    break;
  case OP_JOIN:
    o->rc = cv_queue_join(o->q, o->timeout);
    break;
  case OP_PUT_MANY:
    o->rc = cv_queue_put_many(o->q, o->items, o->n, &o->done, o->timeout);
    break;
  case OP_GET_MANY:
    o->rc = cv_queue_get_many(o->q, o->items, o->n, &o->done, o->timeout);
    break;
  }
  o->cpu = test_thread_cpu_ns() - c0;
  o->elapsed = test_now_ns() - t0;
  __atomic_store_n(&o->finished, 1, __ATOMIC_RELEASE);
  return NULL;
}

static inline void op_start(op *o, enum op_kind kind, cv_queue *q,
                            void *item, int64_t timeout) {
  o->kind = kind;
  o->q = q;
  o->item = item;
  o->timeout = timeout;
  o->rc = 1; /* not a CV_ code: "never returned" */
  o->finished = 0;
  CHECK(pthread_create(&o->th, NULL, op_run, o) == 0);
}

static inline bool op_finished(op *o) {
  return __atomic_load_n(&o->finished, __ATOMIC_ACQUIRE) != 0;
}

static inline void op_join(op *o) { CHECK(pthread_join(o->th, NULL) == 0); }

#endif /* CV_QUEUE_UTIL_H */
