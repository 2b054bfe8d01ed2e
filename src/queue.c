/* src/queue.c - the blocking queue (see include/conveyor/queue.h).
 *
 * DESIGN
 *
 * Three implementations stand behind the one API.  A bounded FIFO queue, the
 * shape pipelines use, is the lock-free ring of ring.c on Linux, or, when
 * created with the hints of one producer and one consumer, the
 * single-producer single-consumer ring of spsc.c.  Every
 * other queue (LIFO, priority, unbounded, or any queue in the portable
 * build, CV_LOCKFREE=OFF, which has no futex and no membarrier) is the mutex
 * implementation below.  This file checks arguments for all of them and
 * dispatches.
 *
 * The mutex implementation.  One mutex guards the whole queue; three condition variables, all on
 * CLOCK_MONOTONIC, carry the waits: `not_empty` (getters), `not_full`
 * (putters of a bounded queue) and `all_done` (join).  Each has a count of
 * sleepers, and a state change signals a condition only when somebody sleeps
 * on it, so an uncontended put or get makes no futex call at all.
 *
 * Storage never allocates per item:
 *   - FIFO and LIFO keep a ring of `void *` (head index + count).  FIFO takes
 *     from the head, LIFO from the tail.
 *   - PRIORITY keeps a binary min-heap of (item, sequence) pairs; the
 *     sequence number, taken from a counter at put, breaks ties so that equal
 *     priorities leave in FIFO order.
 * A bounded queue allocates its whole buffer at creation; an unbounded one
 * starts small and doubles (an amortised O(1) realloc, never one per item).
 *
 * States.  OPEN -> CLOSED -> SHUTDOWN -> SHUTDOWN_IMMEDIATE, only forward.
 *   OPEN       puts and gets work.
 *   CLOSED     puts fail (CV_ECLOSED); gets drain, then CV_ECLOSED.
 *   SHUTDOWN   as CLOSED, with CV_ESHUTDOWN (Python 3.13 shutdown()).
 *   IMMEDIATE  gets fail at once; the items are being or have been handed to
 *              the destroy callback.
 * Every transition broadcasts all three conditions, so every sleeper re-reads
 * the state.
 *
 * Invariants (under the mutex): count <= capacity when bounded.  An item
 * counts as unfinished from put until a task_done, or until an immediate
 * shutdown discards it; as in Python, task_done need not follow a get, so
 * unfinished may be below count.
 *
 * Lost signals.  pthread_cond_timedwait may both time out and consume a
 * signal.  A waiter that leaves on a timeout while its condition holds passes
 * the signal on to the next sleeper, so a timed-out waiter never strands
 * another one.
 *
 * Callbacks.  The comparator runs under the mutex (it must not call into the
 * queue).  The destroy callback never does: an immediate shutdown removes
 * items in small batches and destroys each batch with the mutex released.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conveyor/queue.h"
#include "internal.h"
#include "ring.h"
#include "spsc.h"

/* CV_HAVE_RING comes from the build: 1 where the ring and its event count
 * are compiled (Linux, CV_LOCKFREE=ON), 0 for the portable C11 + pthreads
 * build, where every queue is the mutex implementation and the calls into
 * ring.c below are compiled out. */
#ifndef CV_HAVE_RING
#error "CV_HAVE_RING must be defined by the build (src/CMakeLists.txt)"
#endif

const int cv__queue_have_ring = CV_HAVE_RING;

#if !CV_HAVE_RING
/* No spsc.c in this build, so nothing checks the single-producer
 * single-consumer promise (spsc.h); the hint selects the mutex queue. */
const bool cv__spsc_checked = false;
#endif

int cv__queue_force_locked = 0;
int cv__queue_force_symmetric = 0;

enum qstate { Q_OPEN, Q_CLOSED, Q_SHUTDOWN, Q_IMMEDIATE };

typedef struct pq_entry {
  void *item;
  uint64_t seq; /* put order, breaks ties between equal priorities */
} pq_entry;

struct cv_queue {
  cv__ring *fast; /* non-NULL: a bounded FIFO served by ring.c */
  cv__spsc *spsc; /* non-NULL: a bounded FIFO for 1 producer, 1 consumer */
  pthread_mutex_t mu;
  pthread_cond_t not_empty; /* getters sleep here */
  pthread_cond_t not_full;  /* putters sleep here */
  pthread_cond_t all_done;  /* join sleeps here */

  cv_queue_order order;
  size_t capacity; /* 0 = unbounded */
  cv_compare_fn compare;
  void *compare_arg;
  cv_destroy_fn destroy;
  void *destroy_arg;

  /* Storage: `ring` for FIFO/LIFO, `heap` for PRIORITY; `alloc` slots. */
  void **ring;
  pq_entry *heap;
  size_t alloc;
  size_t head;  /* ring index of the oldest item */
  size_t count; /* items queued */
  uint64_t next_seq;

  enum qstate state;
  size_t unfinished; /* put and not yet task_done */

  /* Sleepers on each condition: signal only when non-zero. */
  unsigned get_waiters;
  unsigned put_waiters;
  unsigned join_waiters;

  cv_queue_stats st; /* counters; size/capacity/unfinished filled on read */
};

#define UNBOUNDED_INITIAL 64

/* ---- storage ---------------------------------------------------------- */

static size_t ring_index(const cv_queue *q, size_t i) {
  size_t j = q->head + i;
  return j >= q->alloc ? j - q->alloc : j;
}

/* Makes room for `extra` more items in an unbounded queue. */
static int grow(cv_queue *q, size_t extra) {
  if (q->count + extra <= q->alloc)
    return CV_OK;
  size_t want = q->alloc ? q->alloc : UNBOUNDED_INITIAL;
  while (want < q->count + extra) {
    if (want > SIZE_MAX / 2)
      return CV_ENOMEM;
    want *= 2;
  }
  if (q->order == CV_PRIORITY) {
    if (want > SIZE_MAX / sizeof(pq_entry))
      return CV_ENOMEM;
    pq_entry *h = realloc(q->heap, want * sizeof(pq_entry));
    if (!h)
      return CV_ENOMEM;
    q->heap = h;
  } else {
    if (want > SIZE_MAX / sizeof(void *))
      return CV_ENOMEM;
    void **r = malloc(want * sizeof(void *));
    if (!r)
      return CV_ENOMEM;
    /* Lay the ring out linearly in the new buffer. */
    for (size_t i = 0; i < q->count; i++)
      r[i] = q->ring[ring_index(q, i)];
    free(q->ring);
    q->ring = r;
    q->head = 0;
  }
  q->alloc = want;
  return CV_OK;
}

static bool pq_less(const cv_queue *q, const pq_entry *a, const pq_entry *b) {
  int c = q->compare(a->item, b->item, q->compare_arg);
  return c < 0 || (c == 0 && a->seq < b->seq);
}

static void store_push(cv_queue *q, void *item) {
  if (q->order == CV_PRIORITY) {
    size_t i = q->count;
    pq_entry e = {item, q->next_seq++};
    while (i > 0) {
      size_t parent = (i - 1) / 2;
      if (!pq_less(q, &e, &q->heap[parent]))
        break;
      q->heap[i] = q->heap[parent];
      i = parent;
    }
    q->heap[i] = e;
  } else {
    q->ring[ring_index(q, q->count)] = item;
  }
  q->count++;
}

static void *store_pop(cv_queue *q) {
  void *item;
  switch (q->order) {
  case CV_FIFO:
    item = q->ring[q->head];
    q->head = q->head + 1 == q->alloc ? 0 : q->head + 1;
    q->count--;
    return item;
  case CV_LIFO:
    q->count--;
    return q->ring[ring_index(q, q->count)];
  default: {
    item = q->heap[0].item;
    q->count--;
    if (q->count == 0)
      return item;
    pq_entry last = q->heap[q->count];
    size_t i = 0;
    for (;;) {
      size_t child = 2 * i + 1;
      if (child >= q->count)
        break;
      if (child + 1 < q->count && pq_less(q, &q->heap[child + 1], &q->heap[child]))
        child++;
      if (!pq_less(q, &q->heap[child], &last))
        break;
      q->heap[i] = q->heap[child];
      i = child;
    }
    q->heap[i] = last;
    return item;
  }
  }
}

/* ---- lifecycle -------------------------------------------------------- */

int cv_queue_create(cv_queue **out, const cv_queue_options *opts) {
  return cv__queue_create_ex(out, opts,
                             cv__queue_force_symmetric ? 0 : CV__QUEUE_ASYMMETRIC);
}

int cv__queue_create_ex(cv_queue **out, const cv_queue_options *opts,
                        unsigned flags) {
  if (!out)
    return CV_EINVAL;
  *out = NULL;
  cv_queue_options o = {0};
  if (opts)
    o = *opts;
  if (o.order != CV_FIFO && o.order != CV_LIFO && o.order != CV_PRIORITY)
    return CV_EINVAL;
  if (o.order == CV_PRIORITY && !o.compare)
    return CV_EINVAL;
  if (o.capacity > CV_QUEUE_MAX_CAPACITY)
    return CV_EINVAL;

  cv_queue *q = calloc(1, sizeof(*q));
  if (!q)
    return CV_ENOMEM;
  q->order = o.order;
  q->capacity = o.capacity;
  q->compare = o.compare;
  q->compare_arg = o.compare_arg;
  q->destroy = o.destroy;
  q->destroy_arg = o.destroy_arg;
  q->state = Q_OPEN;

#if CV_HAVE_RING
  if (o.order == CV_FIFO && o.capacity > 0 && !cv__queue_force_locked) {
    bool asym = (flags & CV__QUEUE_ASYMMETRIC) != 0;
    int rc = o.producers == 1 && o.consumers == 1
                 ? cv__spsc_create(&q->spsc, o.capacity, asym)
                 : cv__ring_create(&q->fast, o.capacity, asym);
    if (rc != CV_OK) {
      free(q);
      return rc;
    }
    *out = q;
    return CV_OK;
  }
#else
  CV__UNUSED(flags);
#endif

  int rc = grow(q, o.capacity ? o.capacity : UNBOUNDED_INITIAL);
  if (rc != CV_OK) {
    free(q);
    return rc;
  }
  if (pthread_mutex_init(&q->mu, NULL) != 0)
    goto fail_mutex;
  if (cv__cond_init(&q->not_empty) != CV_OK)
    goto fail_c1;
  if (cv__cond_init(&q->not_full) != CV_OK)
    goto fail_c2;
  if (cv__cond_init(&q->all_done) != CV_OK)
    goto fail_c3;
  *out = q;
  return CV_OK;

fail_c3:
  pthread_cond_destroy(&q->not_full);
fail_c2:
  pthread_cond_destroy(&q->not_empty);
fail_c1:
  pthread_mutex_destroy(&q->mu);
fail_mutex:
  free(q->ring);
  free(q->heap);
  free(q);
  return CV_ESYS;
}

int cv_queue_destroy(cv_queue *q) {
  if (!q)
    return CV_EINVAL;
#if CV_HAVE_RING
  if (q->fast) {
    if (cv__ring_busy(q->fast))
      return CV_EBUSY;
    cv__ring_free(q->fast, q->destroy, q->destroy_arg);
    free(q);
    return CV_OK;
  }
  if (q->spsc) {
    if (cv__spsc_busy(q->spsc))
      return CV_EBUSY;
    cv__spsc_free(q->spsc, q->destroy, q->destroy_arg);
    free(q);
    return CV_OK;
  }
#endif
  pthread_mutex_lock(&q->mu);
  bool busy = q->get_waiters || q->put_waiters || q->join_waiters;
  pthread_mutex_unlock(&q->mu);
  if (busy)
    return CV_EBUSY;
  while (q->count > 0) {
    void *item = store_pop(q);
    if (q->destroy)
      q->destroy(item, q->destroy_arg);
  }
  pthread_cond_destroy(&q->all_done);
  pthread_cond_destroy(&q->not_full);
  pthread_cond_destroy(&q->not_empty);
  pthread_mutex_destroy(&q->mu);
  free(q->ring);
  free(q->heap);
  free(q);
  return CV_OK;
}

/* ---- put -------------------------------------------------------------- */

static int closed_code(const cv_queue *q) {
  return q->state == Q_CLOSED ? CV_ECLOSED : CV_ESHUTDOWN;
}

static size_t room(const cv_queue *q) {
  return q->capacity ? q->capacity - q->count : SIZE_MAX - q->count;
}

/* Wakes getters after `n` items arrived. */
static void wake_getters(cv_queue *q, size_t n) {
  if (q->get_waiters == 0)
    return;
  if (n == 1)
    pthread_cond_signal(&q->not_empty);
  else
    pthread_cond_broadcast(&q->not_empty);
}

/* Wakes putters after `n` slots were freed. */
static void wake_putters(cv_queue *q, size_t n) {
  if (q->put_waiters == 0)
    return;
  if (n == 1)
    pthread_cond_signal(&q->not_full);
  else
    pthread_cond_broadcast(&q->not_full);
}

/* Puts up to n items; the mutex is held.  Sets *done. */
static int put_locked(cv_queue *q, void *const *items, size_t n, size_t *done,
                      int64_t timeout_ns) {
  int64_t deadline = 0;
  bool have_deadline = false, waited = false;
  int rc = CV_OK;
  *done = 0;
  while (*done < n) {
    if (q->state != Q_OPEN) {
      rc = closed_code(q);
      break;
    }
    size_t k = room(q);
    if (k > 0) {
      if (k > n - *done)
        k = n - *done;
      if (!q->capacity && (rc = grow(q, k)) != CV_OK)
        break;
      for (size_t i = 0; i < k; i++)
        store_push(q, items[*done + i]);
      *done += k;
      q->unfinished += k;
      q->st.puts += k;
      if (q->count > q->st.high_water)
        q->st.high_water = q->count;
      wake_getters(q, k);
      continue;
    }
    /* Full. */
    if (timeout_ns == 0) {
      rc = CV_EFULL;
      break;
    }
    if (!have_deadline) {
      deadline = cv__deadline(timeout_ns);
      have_deadline = true;
    }
    if (!waited) {
      q->st.put_waits++;
      waited = true;
    }
    q->put_waiters++;
    int w = cv__cond_wait(&q->not_full, &q->mu, deadline);
    q->put_waiters--;
    if (w == CV_ETIMEDOUT && room(q) == 0) {
      rc = CV_ETIMEDOUT;
      break;
    }
  }
  /* A signal we were meant to act on may have been consumed by a wait that
   * timed out or by a call that stopped early: pass it on. */
  if (rc != CV_OK && q->state == Q_OPEN && room(q) > 0)
    wake_putters(q, 1);
  return rc;
}

int cv_queue_put(cv_queue *q, void *item, int64_t timeout_ns) {
  if (!q || !cv__timeout_ok(timeout_ns))
    return CV_EINVAL;
  size_t done;
#if CV_HAVE_RING
  if (q->fast)
    return cv__ring_put(q->fast, &item, 1, &done, timeout_ns);
  if (q->spsc)
    return cv__spsc_put(q->spsc, &item, 1, &done, timeout_ns);
#endif
  pthread_mutex_lock(&q->mu);
  int rc = put_locked(q, &item, 1, &done, timeout_ns);
  pthread_mutex_unlock(&q->mu);
  return rc;
}

int cv_queue_try_put(cv_queue *q, void *item) {
  return cv_queue_put(q, item, CV_NOWAIT);
}

int cv_queue_put_many(cv_queue *q, void *const *items, size_t n, size_t *nput,
                      int64_t timeout_ns) {
  if (nput)
    *nput = 0;
  if (!q || !items || n == 0 || !cv__timeout_ok(timeout_ns))
    return CV_EINVAL;
  size_t done;
  int rc;
#if CV_HAVE_RING
  if (q->fast) {
    rc = cv__ring_put(q->fast, items, n, &done, timeout_ns);
    if (nput)
      *nput = done;
    return rc;
  }
  if (q->spsc) {
    rc = cv__spsc_put(q->spsc, items, n, &done, timeout_ns);
    if (nput)
      *nput = done;
    return rc;
  }
#endif
  pthread_mutex_lock(&q->mu);
  rc = put_locked(q, items, n, &done, timeout_ns);
  pthread_mutex_unlock(&q->mu);
  if (nput)
    *nput = done;
  return rc;
}

/* ---- get -------------------------------------------------------------- */

/* Takes up to max items once at least one is there; the mutex is held. */
static int get_locked(cv_queue *q, void **items, size_t max, size_t *got,
                      int64_t timeout_ns) {
  int64_t deadline = 0;
  bool have_deadline = false, waited = false;
  int rc = CV_OK;
  *got = 0;
  for (;;) {
    if (q->state == Q_IMMEDIATE) {
      rc = CV_ESHUTDOWN;
      break;
    }
    if (q->count > 0) {
      size_t k = q->count < max ? q->count : max;
      for (size_t i = 0; i < k; i++)
        items[i] = store_pop(q);
      *got = k;
      q->st.gets += k;
      wake_putters(q, k);
      /* Items left and other getters asleep: the signal that woke us may
       * have been meant for them too. */
      if (q->count > 0)
        wake_getters(q, 1);
      return CV_OK;
    }
    if (q->state != Q_OPEN) {
      rc = closed_code(q);
      break;
    }
    if (timeout_ns == 0) {
      rc = CV_EEMPTY;
      break;
    }
    if (!have_deadline) {
      deadline = cv__deadline(timeout_ns);
      have_deadline = true;
    }
    if (!waited) {
      q->st.get_waits++;
      waited = true;
    }
    q->get_waiters++;
    int w = cv__cond_wait(&q->not_empty, &q->mu, deadline);
    q->get_waiters--;
    if (w == CV_ETIMEDOUT && q->count == 0) {
      rc = CV_ETIMEDOUT;
      break;
    }
  }
  return rc;
}

int cv_queue_get(cv_queue *q, void **item, int64_t timeout_ns) {
  if (!q || !item || !cv__timeout_ok(timeout_ns))
    return CV_EINVAL;
  size_t got;
#if CV_HAVE_RING
  if (q->fast)
    return cv__ring_get(q->fast, item, 1, &got, timeout_ns);
  if (q->spsc)
    return cv__spsc_get(q->spsc, item, 1, &got, timeout_ns);
#endif
  pthread_mutex_lock(&q->mu);
  int rc = get_locked(q, item, 1, &got, timeout_ns);
  pthread_mutex_unlock(&q->mu);
  return rc;
}

int cv_queue_try_get(cv_queue *q, void **item) {
  return cv_queue_get(q, item, CV_NOWAIT);
}

int cv_queue_get_many(cv_queue *q, void **items, size_t max, size_t *nget,
                      int64_t timeout_ns) {
  if (nget)
    *nget = 0;
  if (!q || !items || !nget || max == 0 || !cv__timeout_ok(timeout_ns))
    return CV_EINVAL;
#if CV_HAVE_RING
  if (q->fast)
    return cv__ring_get(q->fast, items, max, nget, timeout_ns);
  if (q->spsc)
    return cv__spsc_get(q->spsc, items, max, nget, timeout_ns);
#endif
  pthread_mutex_lock(&q->mu);
  int rc = get_locked(q, items, max, nget, timeout_ns);
  pthread_mutex_unlock(&q->mu);
  return rc;
}

/* ---- task_done / join ------------------------------------------------- */

int cv_queue_task_done_n(cv_queue *q, size_t n) {
  if (!q)
    return CV_EINVAL;
#if CV_HAVE_RING
  if (q->fast)
    return cv__ring_task_done(q->fast, n);
  if (q->spsc)
    return cv__spsc_task_done(q->spsc, n);
#endif
  pthread_mutex_lock(&q->mu);
  int rc = CV_OK;
  /* Python's rule: an error only when there would be more task_done calls
   * than items put (items discarded by an immediate shutdown count as done). */
  if (n > q->unfinished) {
    rc = CV_ETASKDONE;
  } else {
    q->unfinished -= n;
    if (q->unfinished == 0 && q->join_waiters)
      pthread_cond_broadcast(&q->all_done);
  }
  pthread_mutex_unlock(&q->mu);
  return rc;
}

int cv_queue_task_done(cv_queue *q) { return cv_queue_task_done_n(q, 1); }

int cv_queue_join(cv_queue *q, int64_t timeout_ns) {
  if (!q || !cv__timeout_ok(timeout_ns))
    return CV_EINVAL;
#if CV_HAVE_RING
  if (q->fast)
    return cv__ring_join(q->fast, timeout_ns);
  if (q->spsc)
    return cv__spsc_join(q->spsc, timeout_ns);
#endif
  int64_t deadline = cv__deadline(timeout_ns);
  int rc = CV_OK;
  pthread_mutex_lock(&q->mu);
  while (q->unfinished > 0) {
    if (timeout_ns == 0) {
      rc = CV_ETIMEDOUT;
      break;
    }
    q->join_waiters++;
    int w = cv__cond_wait(&q->all_done, &q->mu, deadline);
    q->join_waiters--;
    if (w == CV_ETIMEDOUT && q->unfinished > 0) {
      rc = CV_ETIMEDOUT;
      break;
    }
  }
  pthread_mutex_unlock(&q->mu);
  return rc;
}

/* ---- close / shutdown ------------------------------------------------- */

static void wake_all(cv_queue *q) {
  pthread_cond_broadcast(&q->not_empty);
  pthread_cond_broadcast(&q->not_full);
  pthread_cond_broadcast(&q->all_done);
}

int cv_queue_close(cv_queue *q) {
  if (!q)
    return CV_EINVAL;
#if CV_HAVE_RING
  if (q->fast) {
    cv__ring_close(q->fast, false);
    return CV_OK;
  }
  if (q->spsc) {
    cv__spsc_close(q->spsc, false);
    return CV_OK;
  }
#endif
  pthread_mutex_lock(&q->mu);
  if (q->state == Q_OPEN) {
    q->state = Q_CLOSED;
    wake_all(q);
  }
  pthread_mutex_unlock(&q->mu);
  return CV_OK;
}

#define DISCARD_BATCH 64

int cv_queue_shutdown(cv_queue *q, cv_shutdown_mode mode) {
  if (!q || (mode != CV_SHUTDOWN_DRAIN && mode != CV_SHUTDOWN_IMMEDIATE))
    return CV_EINVAL;
#if CV_HAVE_RING
  if (q->fast) {
    if (mode == CV_SHUTDOWN_IMMEDIATE)
      cv__ring_discard(q->fast, q->destroy, q->destroy_arg);
    else
      cv__ring_close(q->fast, true);
    return CV_OK;
  }
  if (q->spsc) {
    if (mode == CV_SHUTDOWN_IMMEDIATE)
      cv__spsc_discard(q->spsc, q->destroy, q->destroy_arg);
    else
      cv__spsc_close(q->spsc, true);
    return CV_OK;
  }
#endif
  pthread_mutex_lock(&q->mu);
  if (q->state < Q_SHUTDOWN)
    q->state = Q_SHUTDOWN;
  if (mode == CV_SHUTDOWN_IMMEDIATE) {
    q->state = Q_IMMEDIATE;
    /* Getters fail from now on, so nobody takes these items while the
     * mutex is released for the destroy callback. */
    while (q->count > 0) {
      void *batch[DISCARD_BATCH];
      size_t k = q->count < DISCARD_BATCH ? q->count : DISCARD_BATCH;
      for (size_t i = 0; i < k; i++)
        batch[i] = store_pop(q);
      /* task_done may have run ahead of get (Python allows it), so
       * unfinished can be below count: saturate, as Python does. */
      q->unfinished -= k < q->unfinished ? k : q->unfinished;
      q->st.discarded += k;
      if (q->destroy) {
        pthread_mutex_unlock(&q->mu);
        for (size_t i = 0; i < k; i++)
          q->destroy(batch[i], q->destroy_arg);
        pthread_mutex_lock(&q->mu);
      }
    }
  }
  wake_all(q);
  pthread_mutex_unlock(&q->mu);
  return CV_OK;
}

/* ---- queries ---------------------------------------------------------- */

/* The mutex is taken even for reads: a torn or stale size_t would be a data
 * race, and ThreadSanitizer is right to say so. */
#define LOCKED_READ(q, expr, type)                                             \
  do {                                                                         \
    cv_queue *mq_ = (cv_queue *)(q);                                           \
    pthread_mutex_lock(&mq_->mu);                                              \
    type v_ = (expr);                                                          \
    pthread_mutex_unlock(&mq_->mu);                                            \
    return v_;                                                                 \
  } while (0)

size_t cv_queue_size(const cv_queue *q) {
  if (!q)
    return 0;
#if CV_HAVE_RING
  if (q->fast)
    return cv__ring_size(q->fast);
  if (q->spsc)
    return cv__spsc_size(q->spsc);
#endif
  LOCKED_READ(q, q->count, size_t);
}

bool cv_queue_empty(const cv_queue *q) {
  if (!q)
    return true;
#if CV_HAVE_RING
  if (q->fast)
    return cv__ring_size(q->fast) == 0;
  if (q->spsc)
    return cv__spsc_size(q->spsc) == 0;
#endif
  LOCKED_READ(q, q->count == 0, bool);
}

bool cv_queue_full(const cv_queue *q) {
  if (!q)
    return false;
#if CV_HAVE_RING
  if (q->fast)
    return cv__ring_size(q->fast) >= q->capacity;
  if (q->spsc)
    return cv__spsc_size(q->spsc) >= q->capacity;
#endif
  LOCKED_READ(q, q->capacity > 0 && q->count >= q->capacity, bool);
}

size_t cv_queue_capacity(const cv_queue *q) { return q ? q->capacity : 0; }

bool cv_queue_is_closed(const cv_queue *q) {
  if (!q)
    return false;
#if CV_HAVE_RING
  if (q->fast)
    return cv__ring_is_closed(q->fast);
  if (q->spsc)
    return cv__spsc_is_closed(q->spsc);
#endif
  LOCKED_READ(q, q->state != Q_OPEN, bool);
}

int cv_queue_stats_get(const cv_queue *q, cv_queue_stats *out) {
  if (!q || !out)
    return CV_EINVAL;
#if CV_HAVE_RING
  if (q->fast) {
    cv__ring_stats(q->fast, out);
    return CV_OK;
  }
  if (q->spsc) {
    cv__spsc_stats(q->spsc, out);
    return CV_OK;
  }
#endif
  cv_queue *mq = (cv_queue *)q;
  pthread_mutex_lock(&mq->mu);
  *out = mq->st;
  out->size = mq->count;
  out->capacity = mq->capacity;
  out->unfinished = mq->unfinished;
  pthread_mutex_unlock(&mq->mu);
  return CV_OK;
}
