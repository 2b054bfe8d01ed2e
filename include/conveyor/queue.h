/* conveyor/queue.h - a thread-safe blocking queue: FIFO, LIFO or priority.
 *
 * One queue type whose order is chosen at creation.  Items are `void *` and
 * travel through out-parameters, so NULL is a legal item.  A queue is bounded
 * (put blocks while it holds `capacity` items: back-pressure) or unbounded
 * (capacity 0).
 *
 * Everything Python's `queue` module offers is here with the same meaning
 * (put/get with block and timeout, qsize/empty/full, task_done/join, 3.13's
 * shutdown), plus close (a half-close: puts fail, getters drain what is left
 * and then get CV_ECLOSED), join with a timeout, batch put/get, and counters.
 *
 * Timeouts are relative, in nanoseconds: CV_FOREVER blocks until the call can
 * complete, CV_NOWAIT never blocks, any positive value is a limit measured on
 * CLOCK_MONOTONIC, so wall-clock jumps do not shorten or stretch it.  Any
 * other negative value is CV_EINVAL (as Python's ValueError for a negative
 * timeout): a `deadline - now` that went negative must not become a wait
 * without end.  A blocked thread sleeps: it uses no CPU.
 *
 * Ownership.  The queue never looks inside an item.  An item put belongs to the
 * queue until a get hands it to the caller.  The queue frees items only in two
 * places, and only through the `destroy` callback given at creation:
 * cv_queue_shutdown(CV_SHUTDOWN_IMMEDIATE) hands it every item it discards,
 * and cv_queue_destroy() hands it every item still queued.  Without a destroy
 * callback those items are simply dropped (fine for items that own nothing).
 *
 * Thread safety.  Every call may be made from any thread at any time, except
 * cv_queue_destroy(): it must be the last call on the queue, made when no
 * thread is blocked in or about to enter a call on it.  It detects threads
 * that are still blocked and refuses with CV_EBUSY, but it cannot see a thread
 * that is just about to call in; that is a use-after-free the caller must
 * prevent (close or shut down, then join the threads, then destroy).
 */
#ifndef CONVEYOR_QUEUE_H
#define CONVEYOR_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conveyor/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Timeouts, in nanoseconds, relative to the moment of the call. */
#define CV_FOREVER ((int64_t)-1)
#define CV_NOWAIT ((int64_t)0)
#define CV_USEC(n) ((int64_t)(n) * 1000)
#define CV_MSEC(n) ((int64_t)(n) * 1000000)
#define CV_SEC(n) ((int64_t)(n) * 1000000000)

/* The largest capacity a bounded queue may have (2^30 items, 16 GiB of
 * slots for a FIFO queue): larger ones are CV_EINVAL, refused before
 * anything is allocated.  An unbounded queue (capacity 0) has no limit but
 * memory. */
#define CV_QUEUE_MAX_CAPACITY ((size_t)1 << 30)

typedef struct cv_queue cv_queue;

typedef enum cv_queue_order {
  CV_FIFO = 0,    /* first in, first out (Python's Queue) */
  CV_LIFO = 1,    /* last in, first out (Python's LifoQueue) */
  CV_PRIORITY = 2 /* smallest first by `compare`; ties leave in FIFO order
                     (Python's PriorityQueue, made stable) */
} cv_queue_order;

/* Returns <0, 0 or >0 as a sorts before, equal to, or after b. */
typedef int (*cv_compare_fn)(const void *a, const void *b, void *arg);

/* Frees (or otherwise disposes of) one item the queue discards. */
typedef void (*cv_destroy_fn)(void *item, void *arg);

/* Creation options.  A zeroed struct (or NULL) is an unbounded FIFO queue. */
typedef struct cv_queue_options {
  cv_queue_order order;  /* CV_FIFO, CV_LIFO or CV_PRIORITY */
  size_t capacity;       /* most items held at once, at most
                            CV_QUEUE_MAX_CAPACITY; 0 = unbounded */
  cv_compare_fn compare; /* required for CV_PRIORITY, ignored otherwise */
  void *compare_arg;     /* passed to compare */
  cv_destroy_fn destroy; /* optional: disposes of discarded items */
  void *destroy_arg;     /* passed to destroy */
  /* Hints: how many threads put (producers) and get (consumers); 0 = any
   * number.  producers = 1 and consumers = 1 on a bounded FIFO queue is a
   * promise that at most one thread at a time is inside put, try_put or
   * put_many, and at most one inside get, try_get or get_many (they may be
   * different threads each time, as long as the calls of one side do not
   * overlap).  The queue then runs on a single-producer single-consumer ring
   * that needs no atomic read-modify-write per item; every other call
   * (close, shutdown, task_done, join, size, stats, destroy) stays safe from
   * any thread, and the blocking, close, shutdown, join and stats behaviour
   * is the same.  Debug builds (NDEBUG undefined) abort with a message when
   * two calls of one side overlap; release builds do not check, and broken
   * promises lose or duplicate items.  Other values change nothing today. */
  unsigned producers;
  unsigned consumers;
} cv_queue_options;

/* Which kind of shutdown, for cv_queue_shutdown(). */
typedef enum cv_shutdown_mode {
  /* Puts fail with CV_ESHUTDOWN; getters drain what is queued, then get
   * CV_ESHUTDOWN.  join still waits for every item to be task_done. */
  CV_SHUTDOWN_DRAIN = 0,
  /* As above, and every queued item is removed at once, counted as done,
   * and handed to the destroy callback: getters get CV_ESHUTDOWN at once and
   * join returns when the items already taken are done. */
  CV_SHUTDOWN_IMMEDIATE = 1
} cv_shutdown_mode;

/* Counters, read with cv_queue_stats().  Cumulative since creation. */
typedef struct cv_queue_stats {
  uint64_t puts;       /* items that entered the queue */
  uint64_t gets;       /* items handed to getters */
  uint64_t get_waits;  /* times a getter found it empty and had to sleep */
  uint64_t put_waits;  /* times a putter found it full and had to sleep */
  uint64_t discarded;  /* items removed by shutdown(immediate) or destroy */
  size_t size;         /* items queued now */
  size_t high_water;   /* most items ever queued at once */
  size_t capacity;     /* as created; 0 = unbounded */
  size_t unfinished;   /* items put and not yet task_done */
} cv_queue_stats;

/* Creates a queue.  `opts` may be NULL (unbounded FIFO).  A bounded queue
 * allocates its whole buffer here; an unbounded one grows in amortised steps.
 * Returns CV_OK and sets *out, or CV_EINVAL (out NULL, unknown order,
 * CV_PRIORITY without compare, capacity above CV_QUEUE_MAX_CAPACITY), or
 * CV_ENOMEM. */
CV_EXTERN int cv_queue_create(cv_queue **out, const cv_queue_options *opts);

/* Frees the queue.  Items still queued go to the destroy callback.
 * Returns CV_OK, CV_EINVAL (q NULL), or CV_EBUSY if a thread is still blocked
 * in a call on q (nothing is freed then).  See "Thread safety" above. */
CV_EXTERN int cv_queue_destroy(cv_queue *q);

/* Puts one item.  Blocks while the queue is full, up to `timeout_ns`.
 * Returns CV_OK, CV_EFULL (CV_NOWAIT and full), CV_ETIMEDOUT, CV_ECLOSED,
 * CV_ESHUTDOWN (also when woken by close/shutdown while blocked: the item
 * was not queued and still belongs to the caller), CV_ENOMEM (unbounded
 * queue could not grow), CV_EINVAL (q NULL, a negative timeout other than
 * CV_FOREVER). */
CV_EXTERN int cv_queue_put(cv_queue *q, void *item, int64_t timeout_ns);

/* Takes one item into *item.  Blocks while the queue is empty, up to
 * `timeout_ns`.  A closed or shut-down queue still hands out what it holds;
 * once empty it returns CV_ECLOSED or CV_ESHUTDOWN.
 * Returns CV_OK, CV_EEMPTY (CV_NOWAIT and empty), CV_ETIMEDOUT, CV_ECLOSED,
 * CV_ESHUTDOWN, CV_EINVAL. */
CV_EXTERN int cv_queue_get(cv_queue *q, void **item, int64_t timeout_ns);

/* Never-blocking forms, as Python's put_nowait/get_nowait. */
CV_EXTERN int cv_queue_try_put(cv_queue *q, void *item);
CV_EXTERN int cv_queue_try_get(cv_queue *q, void **item);

/* Puts n items in order, blocking for room as needed, up to `timeout_ns` for
 * the whole call.  *nput (may be NULL) receives how many went in: on CV_OK all
 * n did; on any error the first *nput did and the rest still belong to the
 * caller.  Returns as cv_queue_put, and CV_EINVAL for n == 0 or items NULL.
 * A count of 0 is refused by both batch calls alike: get_many cannot wait
 * for "at least one" of none, and an error (rather than CV_OK with nothing
 * done) keeps a loop fed a zero count from spinning without end. */
CV_EXTERN int cv_queue_put_many(cv_queue *q, void *const *items, size_t n,
                                size_t *nput, int64_t timeout_ns);

/* Waits (up to `timeout_ns`) for at least one item, then takes as many as are
 * there, up to max, into items[].  *nget receives the count (0 on error).
 * Returns as cv_queue_get, and CV_EINVAL for max == 0 or items or nget
 * NULL (see put_many). */
CV_EXTERN int cv_queue_get_many(cv_queue *q, void **items, size_t max,
                                size_t *nget, int64_t timeout_ns);

/* Marks one item (or n items) taken by get as processed, for join.
 * Returns CV_OK, CV_ETASKDONE if that would make more task_done calls than
 * items put (nothing is changed then; Python raises ValueError), CV_EINVAL. */
CV_EXTERN int cv_queue_task_done(cv_queue *q);
CV_EXTERN int cv_queue_task_done_n(cv_queue *q, size_t n);

/* Blocks until every item ever put has been task_done (or discarded by an
 * immediate shutdown), up to `timeout_ns`.  CV_OK means the count of
 * unfinished items was 0 at one moment during the call.  Returns CV_OK,
 * CV_ETIMEDOUT, CV_EINVAL (q NULL, a negative timeout other than
 * CV_FOREVER). */
CV_EXTERN int cv_queue_join(cv_queue *q, int64_t timeout_ns);

/* Half-closes the queue: puts fail with CV_ECLOSED from now on; getters,
 * however many, drain what is left and then get CV_ECLOSED.  Wakes every
 * blocked thread.  Idempotent; a no-op on a queue already shut down.
 * Returns CV_OK or CV_EINVAL. */
CV_EXTERN int cv_queue_close(cv_queue *q);

/* Python 3.13's Queue.shutdown(immediate).  See cv_shutdown_mode.  Wakes every
 * thread blocked in put, get or join.  May be called again, e.g. DRAIN then
 * IMMEDIATE.  Returns CV_OK or CV_EINVAL. */
CV_EXTERN int cv_queue_shutdown(cv_queue *q, cv_shutdown_mode mode);

/* Momentary answers: true when asked, possibly false by the time the caller
 * acts on them (another thread may put or get in between).  A NULL queue
 * reads as size 0, empty, not full. */
CV_EXTERN size_t cv_queue_size(const cv_queue *q);
CV_EXTERN bool cv_queue_empty(const cv_queue *q);
CV_EXTERN bool cv_queue_full(const cv_queue *q);
CV_EXTERN size_t cv_queue_capacity(const cv_queue *q);
/* True once close() or shutdown() was called. */
CV_EXTERN bool cv_queue_is_closed(const cv_queue *q);

/* Copies a consistent snapshot of the counters.  Returns CV_OK or
 * CV_EINVAL. */
CV_EXTERN int cv_queue_stats_get(const cv_queue *q, cv_queue_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* CONVEYOR_QUEUE_H */
