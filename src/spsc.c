/* src/spsc.c - the bounded FIFO for one producer and one consumer (see
 * spsc.h).
 *
 * DESIGN
 *
 * A ring of `cap` item pointers and two counters that only grow: `tail`,
 * the items ever published, written by the producer alone, and `head`, the
 * items ever taken, written by the consumer alone (and, once the consumer is
 * shut out, by an immediate shutdown).  The items between head and tail are
 * queued.  With one writer per counter no read-modify-write is needed on the
 * hot path: the producer writes its items into the slots, then publishes
 * them with one release store of tail; the consumer reads them, then frees
 * the slots with one release store of head.
 *
 * Cached indices.  Each side keeps, on its own cache line, a private copy of
 * the other side's counter and reads the shared one only when the copy says
 * full (empty).  In a stream the counters' lines then cross between the
 * cores about once per ring's worth of items instead of once per item.
 * Batched publication: put_many writes every item that fits and publishes
 * them with one store; get_many frees everything it took with one store.
 * Each side also keeps its own slot index, so the capacity is exact (any
 * size) without a division per item.
 *
 * Memory is fixed at creation: the slots plus this struct.
 *
 * Cache lines.  The producer's fields, the consumer's, the state (read by
 * every call, written by close only), each event count, and the counters
 * written on slow paths (waits, task_done) each have a line of their own:
 * a sleep or a task_done must not evict a line every put or get reads.
 * That is also why each side keeps its own copy of cap and the slots
 * pointer.
 *
 * Blocking.  A side that finds the ring full (empty) waits for the peer in
 * three steps: it spins on the peer's counter, then gives up its CPU a few
 * times, then sleeps on the event count `not_full` (`not_empty`, see
 * event.h): an idle queue costs no CPU.  Every publication is followed by
 * cv__event_notify, a load when nobody sleeps.
 *
 * How long to spin, and whether to spin at all, adapts to how fast the
 * peer has recently responded and to whether it runs on another CPU: see
 * spin.h.  That keeps a capacity-1 hand-off fast both when the two threads
 * have a core each and when they share one.
 *
 * Close and shutdown.  Any thread may close; only the producer moves tail.
 * A close must therefore learn the final tail without racing a put that
 * already looked at the state: the producer marks itself `in_put` around the
 * section that checks the state and publishes (it never blocks inside it),
 * and the closer, after raising `state`, waits until no put is inside.  The
 * pair "store in_put, barrier, load state" / "store state, barrier, load
 * in_put" is the store-buffering pattern: either the put sees the close (and
 * fails) or the closer sees the put (and waits for it).  The producer's
 * barrier is the cheap half of event.h's asymmetric pair (the closer calls
 * membarrier) where the kernel has it.  Then `ended` is set: tail is final,
 * and a getter that finds head == tail reports CV_ECLOSED / CV_ESHUTDOWN.
 * The consumer marks itself `in_get` the same way, so that an immediate
 * shutdown can take the remaining items over from it: after it, getters fail
 * at once and only discarders (claiming with a CAS on head) move head.
 * close and shutdown are serialised by `ctl`.
 *
 * task_done/join.  unfinished = tail - finished, where `finished` counts
 * task_done calls and discarded items together in one counter (a discard
 * adds no more than takes it to tail: task_done may have run ahead of get),
 * and is read before tail.  finished only grows and never passes tail, so
 * the difference read that way is at least the true count at the moment
 * tail was read, and 0 only if the true count was 0 then: join never
 * returns early.  finished is read again after tail, and while it did not
 * move the difference is exact (stats).  task_done
 * advances finished with a CAS after checking n <= tail - finished with the
 * same order of reads, so it accepts only what was valid when it took
 * effect and refuses only what was invalid when tail was read.
 *
 * High-water mark.  Only the producer raises it, after a publication: tail -
 * (its cached head) bounds the size from above, and head itself is read only
 * when that bound exceeds the mark, which stops once the mark is the
 * capacity.
 *
 * The promise.  One thread at a time may call the put family, and one the
 * get family; any thread may call the rest.  Debug builds count the threads
 * inside each family and abort on an overlap, which is the misuse that
 * would corrupt the ring.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "event.h"
#include "internal.h"
#include "spin.h"
#include "spsc.h"

#define CACHE_LINE 64

#if !defined(NDEBUG) || defined(CV_SPSC_CHECK)
#define SPSC_CHECK 1
const bool cv__spsc_checked = true;
#else
#define SPSC_CHECK 0
const bool cv__spsc_checked = false;
#endif

enum sstate { S_OPEN, S_CLOSED, S_SHUTDOWN, S_IMMEDIATE };

struct cv__spsc {
  /* The producer's line. */
  alignas(CACHE_LINE) _Atomic uint64_t tail; /* items published */
  uint64_t head_cache;          /* a past value of head */
  size_t pidx;                  /* slot of position tail */
  _Atomic uint32_t in_put;      /* a put is between its state check and publication */
  _Atomic uint64_t high_water;  /* most items queued at once */
  cv__spin pspin;               /* the producer's wait state (spin.h) */
  uint64_t pcap;                /* cap and slots, copied onto each side's */
  void **pslots;                /* line: see "Cache lines" in DESIGN */

  /* The consumer's line. */
  alignas(CACHE_LINE) _Atomic uint64_t head; /* items taken or discarded */
  uint64_t tail_cache;          /* a past value of tail */
  size_t cidx;                  /* slot of position head */
  _Atomic uint32_t in_get;      /* a get is between its state check and freeing */
  cv__spin cspin;               /* the consumer's wait state */
  uint64_t ccap;
  void **cslots;

  alignas(CACHE_LINE) cv__event not_empty; /* the getter sleeps here */
  alignas(CACHE_LINE) cv__event not_full;  /* the putter sleeps here */
  alignas(CACHE_LINE) cv__event all_done;  /* join sleeps here */

  /* Read by every put and get, written only by close and shutdown. */
  alignas(CACHE_LINE) _Atomic int state; /* enum sstate, only grows */
  _Atomic int ended;          /* closed and tail is final */
  _Atomic int pcpu, ccpu;     /* each side's CPU when it last waited (spin.h) */

  /* Cold: written on slow paths (sleeps, task_done, shutdown) only. */
  alignas(CACHE_LINE) uint64_t cap;
  void **slots;
  _Atomic uint64_t finished;  /* task_done calls + discarded items */
  _Atomic uint64_t discarded; /* items removed by an immediate shutdown */
  _Atomic uint64_t get_waits;
  _Atomic uint64_t put_waits;
  _Atomic uint32_t blocked;   /* calls between their first sleep and return */
  pthread_mutex_t ctl;        /* serialises close, shutdown and stats */
#if SPSC_CHECK
  _Atomic uint32_t putters, getters; /* threads inside each family */
#endif
};

static int closed_code(cv__spsc *s) {
  int st = atomic_load_explicit(&s->state, memory_order_seq_cst);
  return st >= S_SHUTDOWN ? CV_ESHUTDOWN : CV_ECLOSED;
}

#ifdef CV_SPSC_TEST_HOOKS
/* Test builds only (tests/queue_spsc_snapshot.c): called between the read
 * of `finished` and the read of `tail` that unfinished() and stats make. */
void (*cv__spsc_test_between_reads)(void);
#define BETWEEN_READS()                                                        \
  do {                                                                         \
    if (cv__spsc_test_between_reads)                                           \
      cv__spsc_test_between_reads();                                           \
  } while (0)
#else
#define BETWEEN_READS() ((void)0)
#endif

/* ---- the promise, checked in debug builds ----------------------------- */

#if SPSC_CHECK
static void enter(_Atomic uint32_t *inside, const char *family) {
  if (atomic_fetch_add_explicit(inside, 1, memory_order_acq_rel) != 0) {
    fprintf(stderr,
            "conveyor: two threads in cv_queue %s calls at once on a queue "
            "created with %s = 1\n",
            family, family[0] == 'p' ? "producers" : "consumers");
    abort();
  }
}
static void leave(_Atomic uint32_t *inside) {
  atomic_fetch_sub_explicit(inside, 1, memory_order_acq_rel);
}
#define ENTER(s, side, family) enter(&(s)->side, family)
#define LEAVE(s, side) leave(&(s)->side)
#else
#define ENTER(s, side, family) ((void)0)
#define LEAVE(s, side) ((void)0)
#endif

/* ---- lifecycle -------------------------------------------------------- */

int cv__spsc_create(cv__spsc **out, size_t capacity, bool asymmetric) {
  cv__event_global_init();
  if (capacity == 0 || capacity > ((uint64_t)1 << 40) ||
      capacity > SIZE_MAX / sizeof(void *))
    return CV_ENOMEM;
  size_t size = (sizeof(cv__spsc) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
  cv__spsc *s = aligned_alloc(CACHE_LINE, size);
  if (!s)
    return CV_ENOMEM;
  s->slots = calloc(capacity, sizeof(void *));
  if (!s->slots) {
    free(s);
    return CV_ENOMEM;
  }
  s->cap = s->pcap = s->ccap = capacity;
  s->pslots = s->cslots = s->slots;
  atomic_init(&s->tail, 0);
  s->head_cache = 0;
  s->pidx = 0;
  atomic_init(&s->in_put, 0);
  atomic_init(&s->high_water, 0);
  atomic_init(&s->head, 0);
  s->tail_cache = 0;
  s->cidx = 0;
  atomic_init(&s->in_get, 0);
  cv__spin_init(&s->pspin, capacity);
  cv__spin_init(&s->cspin, capacity);
  atomic_init(&s->pcpu, -1);
  atomic_init(&s->ccpu, -1);
  atomic_init(&s->state, S_OPEN);
  atomic_init(&s->ended, 0);
  atomic_init(&s->finished, 0);
  atomic_init(&s->discarded, 0);
  atomic_init(&s->get_waits, 0);
  atomic_init(&s->put_waits, 0);
  atomic_init(&s->blocked, 0);
#if SPSC_CHECK
  atomic_init(&s->putters, 0);
  atomic_init(&s->getters, 0);
#endif
  if (pthread_mutex_init(&s->ctl, NULL) != 0)
    goto fail_ctl;
  if (cv__event_init(&s->not_empty, asymmetric) != CV_OK)
    goto fail_e1;
  if (cv__event_init(&s->not_full, asymmetric) != CV_OK)
    goto fail_e2;
  if (cv__event_init(&s->all_done, asymmetric) != CV_OK)
    goto fail_e3;
  *out = s;
  return CV_OK;

fail_e3:
  cv__event_destroy(&s->not_full);
fail_e2:
  cv__event_destroy(&s->not_empty);
fail_e1:
  pthread_mutex_destroy(&s->ctl);
fail_ctl:
  free(s->slots);
  free(s);
  return CV_ESYS;
}

/* As ring.c: a call that went to sleep counts in `blocked` until it
 * returns, so that destroy never frees the ring under a woken thread. */
bool cv__spsc_busy(cv__spsc *s) {
  return atomic_load_explicit(&s->blocked, memory_order_seq_cst) != 0 ||
         cv__event_inside(&s->not_empty) || cv__event_inside(&s->not_full) ||
         cv__event_inside(&s->all_done);
}

static void hold(cv__spsc *s, bool *held) {
  if (!*held) {
    *held = true;
    atomic_fetch_add_explicit(&s->blocked, 1, memory_order_seq_cst);
  }
}

static int release(cv__spsc *s, bool held, int rc) {
  if (held)
    atomic_fetch_sub_explicit(&s->blocked, 1, memory_order_seq_cst);
  return rc;
}

/* ---- put -------------------------------------------------------------- */

/* Raises the high-water mark after a publication up to `end`; see DESIGN. */
static void mark(cv__spsc *s, uint64_t end) {
  uint64_t hw = atomic_load_explicit(&s->high_water, memory_order_relaxed);
  if (hw >= s->pcap || end - s->head_cache <= hw)
    return;
  s->head_cache = atomic_load_explicit(&s->head, memory_order_acquire);
  uint64_t size = end - s->head_cache;
  if (size > hw)
    atomic_store_explicit(&s->high_water, size, memory_order_relaxed);
}

/* One attempt, by the producer: > 0 items published, 0 full, < 0 a final
 * code. */
static long try_put(cv__spsc *s, void *const *items, size_t n) {
  atomic_store_explicit(&s->in_put, 1, memory_order_relaxed);
  cv__event_light_barrier(&s->not_empty);
  if (atomic_load_explicit(&s->state, memory_order_relaxed) != S_OPEN) {
    atomic_store_explicit(&s->in_put, 0, memory_order_release);
    return closed_code(s);
  }
  uint64_t t = atomic_load_explicit(&s->tail, memory_order_relaxed);
  uint64_t room = s->pcap - (t - s->head_cache);
  if (room < n) {
    s->head_cache = atomic_load_explicit(&s->head, memory_order_acquire);
    room = s->pcap - (t - s->head_cache);
    if (room == 0) {
      atomic_store_explicit(&s->in_put, 0, memory_order_release);
      return 0;
    }
  }
  size_t k = n < room ? n : (size_t)room;
  size_t i = s->pidx;
  for (size_t j = 0; j < k; j++) {
    s->pslots[i] = items[j];
    if (++i == s->pcap)
      i = 0;
  }
  s->pidx = i;
  atomic_store_explicit(&s->tail, t + k, memory_order_release);
  atomic_store_explicit(&s->in_put, 0, memory_order_release);
  cv__event_notify(&s->not_empty, 1);
  mark(s, t + k);
  return (long)k;
}

/* True once a try_put would do something: a slot is free, or the queue is
 * being closed (the put then fails at once). */
static bool room_now(void *arg) {
  cv__spsc *s = arg;
  uint64_t t = atomic_load_explicit(&s->tail, memory_order_relaxed);
  return t - atomic_load_explicit(&s->head, memory_order_acquire) < s->pcap ||
         atomic_load_explicit(&s->state, memory_order_relaxed) != S_OPEN;
}

static int put(cv__spsc *s, void *const *items, size_t n, size_t *done,
               int64_t timeout_ns, bool *held) {
  int64_t deadline = -1;
  bool have_deadline = false, waited = false;
  *done = 0;
  for (;;) {
    long k = try_put(s, items + *done, n - *done);
    if (k < 0)
      return (int)k;
    if (k > 0) {
      *done += (size_t)k;
      if (*done == n)
        return CV_OK;
      continue;
    }
    if (timeout_ns == 0)
      return CV_EFULL;
    if (cv__spin_wait(&s->pcpu, &s->ccpu, &s->not_empty.inside, &s->pspin,
                      room_now, s))
      continue;
    if (!have_deadline) {
      deadline = cv__deadline(timeout_ns);
      have_deadline = true;
    }
    cv__waiter w;
    hold(s, held);
    cv__event_prepare(&s->not_full, &w);
    k = try_put(s, items + *done, n - *done);
    if (k != 0) {
      cv__event_cancel(&s->not_full, &w);
      if (k < 0)
        return (int)k;
      *done += (size_t)k;
      if (*done == n)
        return CV_OK;
      continue;
    }
    if (!waited) {
      waited = true;
      atomic_fetch_add_explicit(&s->put_waits, 1, memory_order_relaxed);
    }
    if (cv__event_wait(&s->not_full, &w, deadline) == CV_ETIMEDOUT) {
      k = try_put(s, items + *done, n - *done); /* a last try */
      if (k < 0)
        return (int)k;
      if (k == 0)
        return CV_ETIMEDOUT;
      *done += (size_t)k;
      if (*done == n)
        return CV_OK;
    }
  }
}

int cv__spsc_put(cv__spsc *s, void *const *items, size_t n, size_t *done,
                 int64_t timeout_ns) {
  bool held = false;
  ENTER(s, putters, "put");
  int rc = put(s, items, n, done, timeout_ns, &held);
  LEAVE(s, putters);
  return release(s, held, rc);
}

/* ---- get -------------------------------------------------------------- */

/* One attempt, by the consumer: > 0 items taken, 0 nothing yet, < 0 a
 * final code. */
static long try_get(cv__spsc *s, void **items, size_t max) {
  atomic_store_explicit(&s->in_get, 1, memory_order_relaxed);
  cv__event_light_barrier(&s->not_full);
  if (atomic_load_explicit(&s->state, memory_order_relaxed) == S_IMMEDIATE) {
    atomic_store_explicit(&s->in_get, 0, memory_order_release);
    return CV_ESHUTDOWN;
  }
  uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed);
  uint64_t avail = s->tail_cache - h;
  if (avail < max) { /* take what is there, not only what the copy knows */
    s->tail_cache = atomic_load_explicit(&s->tail, memory_order_acquire);
    avail = s->tail_cache - h;
    if (avail == 0) {
      atomic_store_explicit(&s->in_get, 0, memory_order_release);
      /* ended is set only once tail is final; read tail after it. */
      if (atomic_load_explicit(&s->ended, memory_order_acquire) &&
          atomic_load_explicit(&s->tail, memory_order_acquire) == h)
        return closed_code(s);
      return 0;
    }
  }
  size_t k = max < avail ? max : (size_t)avail;
  size_t i = s->cidx;
  for (size_t j = 0; j < k; j++) {
    items[j] = s->cslots[i];
    if (++i == s->ccap)
      i = 0;
  }
  s->cidx = i;
  atomic_store_explicit(&s->head, h + k, memory_order_release);
  atomic_store_explicit(&s->in_get, 0, memory_order_release);
  cv__event_notify(&s->not_full, 1);
  return (long)k;
}

/* True once a try_get would do something: an item is there, or the queue
 * has ended (a close waits for a put in flight before it ends the queue, so
 * the state alone would have the getter spin through that wait). */
static bool work_now(void *arg) {
  cv__spsc *s = arg;
  uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed);
  return atomic_load_explicit(&s->tail, memory_order_acquire) != h ||
         atomic_load_explicit(&s->ended, memory_order_acquire) != 0;
}

static int get(cv__spsc *s, void **items, size_t max, size_t *got,
               int64_t timeout_ns, bool *held) {
  int64_t deadline = -1;
  bool have_deadline = false, waited = false;
  long k;
  *got = 0;
  for (;;) {
    k = try_get(s, items, max);
    if (k != 0)
      break;
    if (timeout_ns == 0)
      return CV_EEMPTY;
    if (cv__spin_wait(&s->ccpu, &s->pcpu, &s->not_full.inside, &s->cspin,
                      work_now, s))
      continue;
    if (!have_deadline) {
      deadline = cv__deadline(timeout_ns);
      have_deadline = true;
    }
    cv__waiter w;
    hold(s, held);
    cv__event_prepare(&s->not_empty, &w);
    k = try_get(s, items, max);
    if (k != 0) {
      cv__event_cancel(&s->not_empty, &w);
      break;
    }
    if (!waited) {
      waited = true;
      atomic_fetch_add_explicit(&s->get_waits, 1, memory_order_relaxed);
    }
    if (cv__event_wait(&s->not_empty, &w, deadline) == CV_ETIMEDOUT) {
      k = try_get(s, items, max);
      if (k == 0)
        return CV_ETIMEDOUT;
      break;
    }
  }
  if (k < 0)
    return (int)k;
  *got = (size_t)k;
  return CV_OK;
}

int cv__spsc_get(cv__spsc *s, void **items, size_t max, size_t *got,
                 int64_t timeout_ns) {
  bool held = false;
  ENTER(s, getters, "get");
  int rc = get(s, items, max, got, timeout_ns, &held);
  LEAVE(s, getters);
  return release(s, held, rc);
}

/* ---- task_done / join ------------------------------------------------- */

/* See DESIGN: finished first, then tail, so that the answer is never below
 * the true count when tail was read.  finished is read again after tail;
 * while it did not move, the answer is exact at that moment (stats report a
 * queue that was); under a stream of task_done calls the last reading
 * stays an upper bound, which is all join needs. */
static uint64_t unfinished(cv__spsc *s) {
  uint64_t f = atomic_load_explicit(&s->finished, memory_order_seq_cst), t;
  for (int tries = 0;; tries++) {
    BETWEEN_READS();
    t = atomic_load_explicit(&s->tail, memory_order_seq_cst);
    uint64_t again = atomic_load_explicit(&s->finished, memory_order_seq_cst);
    if (again == f || tries == 16)
      break;
    f = again;
  }
  return t - f;
}

int cv__spsc_task_done(cv__spsc *s, size_t n) {
  uint64_t f = atomic_load_explicit(&s->finished, memory_order_seq_cst);
  for (;;) {
    uint64_t t = atomic_load_explicit(&s->tail, memory_order_seq_cst);
    if (n > t - f)
      return CV_ETASKDONE;
    if (atomic_compare_exchange_weak_explicit(&s->finished, &f, f + n,
                                              memory_order_seq_cst,
                                              memory_order_seq_cst))
      break;
  }
  if (unfinished(s) == 0)
    cv__event_notify(&s->all_done, 0);
  return CV_OK;
}

int cv__spsc_join(cv__spsc *s, int64_t timeout_ns) {
  if (unfinished(s) == 0)
    return CV_OK;
  if (timeout_ns == 0)
    return CV_ETIMEDOUT;
  int64_t deadline = cv__deadline(timeout_ns);
  bool held = false;
  hold(s, &held);
  for (;;) {
    cv__waiter w;
    cv__event_prepare(&s->all_done, &w);
    if (unfinished(s) == 0) {
      cv__event_cancel(&s->all_done, &w);
      return release(s, held, CV_OK);
    }
    if (cv__event_wait(&s->all_done, &w, deadline) == CV_ETIMEDOUT)
      return release(s, held, unfinished(s) == 0 ? CV_OK : CV_ETIMEDOUT);
  }
}

/* ---- close / shutdown ------------------------------------------------- */

static void wake_everyone(cv__spsc *s) {
  cv__event_notify(&s->not_empty, 0);
  cv__event_notify(&s->not_full, 0);
  cv__event_notify(&s->all_done, 0);
}

/* Raises the state, then waits for the sides named to leave their
 * sections (see DESIGN); ctl is held. */
static void stop(cv__spsc *s, int to, bool getter_too) {
  int st = atomic_load_explicit(&s->state, memory_order_seq_cst);
  if (st < to)
    atomic_store_explicit(&s->state, to, memory_order_seq_cst);
  cv__event_heavy_barrier(&s->not_empty);
  /* Neither section blocks: each is a few loads and stores away from its
   * end, unless its thread was preempted there. */
  while (atomic_load_explicit(&s->in_put, memory_order_acquire) ||
         (getter_too && atomic_load_explicit(&s->in_get, memory_order_acquire)))
    sched_yield();
  atomic_store_explicit(&s->ended, 1, memory_order_release);
}

void cv__spsc_close(cv__spsc *s, bool shutdown) {
  pthread_mutex_lock(&s->ctl);
  stop(s, shutdown ? S_SHUTDOWN : S_CLOSED, false);
  pthread_mutex_unlock(&s->ctl);
  wake_everyone(s);
}

void cv__spsc_discard(cv__spsc *s, cv_destroy_fn destroy, void *arg) {
  pthread_mutex_lock(&s->ctl);
  stop(s, S_IMMEDIATE, true);
  pthread_mutex_unlock(&s->ctl);
  wake_everyone(s); /* the getter leaves at once; the putter sees the close */
  /* tail is final and the consumer is shut out: the items between head and
   * tail stay put until claimed here (a CAS, since a second immediate
   * shutdown may be claiming too). */
  uint64_t t = atomic_load_explicit(&s->tail, memory_order_acquire);
  for (;;) {
    void *batch[64];
    uint64_t h = atomic_load_explicit(&s->head, memory_order_acquire);
    if (h >= t)
      break;
    size_t k = t - h < 64 ? (size_t)(t - h) : 64;
    for (size_t j = 0; j < k; j++)
      batch[j] = s->slots[(h + j) % s->cap];
    pthread_mutex_lock(&s->ctl); /* stats see head and discarded move together */
    bool mine = atomic_compare_exchange_strong_explicit(
        &s->head, &h, h + k, memory_order_acq_rel, memory_order_acquire);
    if (mine) {
      atomic_fetch_add_explicit(&s->discarded, k, memory_order_seq_cst);
      /* Each discarded item counts as done, but finished never passes
       * tail: task_done may have run ahead of get for some of them (Python
       * saturates the same way). */
      uint64_t f = atomic_load_explicit(&s->finished, memory_order_seq_cst), to;
      do
        to = t - f < k ? t : f + k;
      while (!atomic_compare_exchange_weak_explicit(
          &s->finished, &f, to, memory_order_seq_cst, memory_order_seq_cst));
    }
    pthread_mutex_unlock(&s->ctl);
    if (mine && destroy)
      for (size_t j = 0; j < k; j++)
        destroy(batch[j], arg);
  }
  cv__event_notify(&s->all_done, 0);
  cv__event_notify(&s->not_full, 0);
}

void cv__spsc_free(cv__spsc *s, cv_destroy_fn destroy, void *arg) {
  uint64_t t = atomic_load_explicit(&s->tail, memory_order_acquire);
  uint64_t h = atomic_load_explicit(&s->head, memory_order_acquire);
  for (; destroy && h < t; h++)
    destroy(s->slots[h % s->cap], arg);
  cv__event_destroy(&s->not_empty);
  cv__event_destroy(&s->not_full);
  cv__event_destroy(&s->all_done);
  pthread_mutex_destroy(&s->ctl);
  free(s->slots);
  free(s);
}

/* ---- queries ---------------------------------------------------------- */

/* tail and head as they were at one moment: tail is read on both sides of
 * head, and while it did not move, tail - head is the size when head was
 * read.  Under a stream of puts the last reading is clamped into
 * [0, cap]. */
static void positions(cv__spsc *s, uint64_t *put, uint64_t *taken) {
  uint64_t t = atomic_load_explicit(&s->tail, memory_order_seq_cst), h;
  for (int tries = 0;; tries++) {
    h = atomic_load_explicit(&s->head, memory_order_seq_cst);
    uint64_t again = atomic_load_explicit(&s->tail, memory_order_seq_cst);
    bool stable = again == t;
    t = again;
    if (stable || tries == 16)
      break;
  }
  if (t - h > s->cap)
    h = t - s->cap;
  *put = t;
  *taken = h;
}

size_t cv__spsc_size(cv__spsc *s) {
  uint64_t t, h;
  positions(s, &t, &h);
  return (size_t)(t - h);
}

/* `ended`, not `state`: a put already past its check of the state can
 * still succeed until the close has waited for it, and only then is ended
 * set, so true here means "puts fail". */
bool cv__spsc_is_closed(cv__spsc *s) {
  return atomic_load_explicit(&s->ended, memory_order_seq_cst) != 0;
}

void cv__spsc_stats(cv__spsc *s, cv_queue_stats *out) {
  pthread_mutex_lock(&s->ctl); /* holds discarded and head together */
  uint64_t x = atomic_load_explicit(&s->discarded, memory_order_seq_cst);
  uint64_t t, h;
  positions(s, &t, &h);
  uint64_t left = unfinished(s); /* exact when read, see unfinished() */
  pthread_mutex_unlock(&s->ctl);
  out->puts = t;
  out->gets = h - x; /* discarded items were taken over, not handed out */
  out->get_waits = atomic_load_explicit(&s->get_waits, memory_order_relaxed);
  out->put_waits = atomic_load_explicit(&s->put_waits, memory_order_relaxed);
  out->discarded = x;
  out->size = (size_t)(t - h);
  out->high_water = (size_t)atomic_load_explicit(&s->high_water, memory_order_relaxed);
  if (out->high_water < out->size)
    out->high_water = out->size; /* the mark trails a publication in flight */
  out->capacity = (size_t)s->cap;
  out->unfinished = (size_t)left;
}
