/* src/ring.c - the bounded FIFO queue without a lock (see ring.h).
 *
 * DESIGN
 *
 * A bounded multi-producer multi-consumer ring of `cap` slots, after Dmitry
 * Vyukov's sequence-numbered design.  Each slot carries a sequence number
 * that says whose turn it is:
 *   slot.seq == 2*pos           free for the producer of position pos
 *   slot.seq == 2*pos + 1       holds the item of position pos
 *   slot.seq == 2*(pos + cap)   freed by the consumer of pos, free for the
 *                               producer of pos + cap
 * (Doubling keeps "holds pos" and "free for pos + cap" apart even for a
 * capacity of 1, where the classic pos / pos + 1 numbering collides.)
 * Producers claim positions with a CAS on `enq`, consumers on `deq`; a claim
 * may take a run of consecutive ready slots at once (batch put/get).  The
 * claimer then owns the slots: it writes or reads the item and publishes the
 * new sequence with a release store.  Positions are 64-bit and never wrap in
 * practice.  The capacity is exact (any size, not only powers of two): a put
 * into a full queue fails or waits even if capacity is 3.
 *
 * Memory is fixed at creation: cap slots of (sequence, item) plus a constant.
 * Producer state (`enq`), consumer state (`deq`) and each event count sit on
 * cache lines of their own so that producers and consumers do not slow each
 * other down through false sharing.
 *
 * Blocking.  Nothing here ever polls.  A thread that finds the ring full
 * (empty) waits for the slot at its side's position to turn, reading it
 * without claiming: it spins about as long as the other side has recently
 * taken to respond, and only while the other side last ran on another CPU,
 * then yields a few times (spin.h; with several threads per side, one of
 * them asleep says nothing about the others, so the ring does not use
 * spin.h's "peer asleep" test); then it sleeps on the event count
 * `not_full` (`not_empty`), see event.h.  Every publication is a
 * release store followed by cv__event_notify, which makes a system call only
 * when someone sleeps and, on an asymmetric ring where membarrier(2)
 * exists, costs no fence; a symmetric ring (pipelines) pays a full barrier
 * per notification instead of an inter-processor interrupt per sleep.  A
 * publication wakes as many sleepers as it brought items (slots), and a
 * thread that took items (slots) passes one wake-up on while more are ready
 * (see pass_on_get): positions are taken in order, so a wake-up can reach a
 * sleeper that cannot use it yet.
 *
 * Close and shutdown.  Closing sets bit 63 of `enq` (CLOSED), so no producer
 * can claim a position after it; the value below the bit is then the final
 * number of items ever put.  A producer that claimed a position before the
 * close still publishes its item, and getters drain until `deq` reaches that
 * final number: only then do they report CV_ECLOSED / CV_ESHUTDOWN.  `state`
 * (OPEN < CLOSED < SHUTDOWN < IMMEDIATE) only grows, is set before the
 * CLOSED bit, and picks the code.  An immediate shutdown makes getters fail
 * at once and claims every remaining item for the destroy callback.
 *
 * task_done/join.  Putting costs nothing extra: the number of items put is
 * `enq`, and `finished` counts task_done calls plus the items an immediate
 * shutdown discarded, so unfinished = put - finished.  Both counters only
 * grow, and finished <= put at every moment: task_done adds only what it saw
 * room for in a put count read *after* finished (put can only have grown by
 * the time its CAS succeeds), and a discard adds at most what is left of the
 * final put count (an item task_done ran ahead of get for is not counted
 * twice; Python saturates the same way).  The order of the two reads is what
 * makes the answers right while other threads run:
 *   - finished first, then put: put - finished is at least the true count at
 *     the moment put was read (finished can only have grown), so it is 0
 *     only when the queue really was all done then.  The other order could
 *     miss a put and see its task_done, and join would return early.
 *   - task_done refuses only when even that upper bound has no room, so a
 *     task_done for an item really taken is never refused; and one counter
 *     for done and discarded leaves no second read that an immediate
 *     shutdown could move in between.
 * join sleeps on the event count `all_done`; the task_done (discard) that
 * brings the count to 0 wakes it.  A 0 that lasts less than a joiner's
 * re-check can be missed, as with Python's condition variable: only the
 * state at the re-check counts.
 *
 * High-water mark.  Computing the size after every put would read `deq`, the
 * consumers' hot cache line.  A stale copy of `deq` gives an upper bound on
 * the size (deq only grows), so the fresh value is read only when that bound
 * exceeds the mark, which stops once the mark reaches capacity.  The mark
 * is taken after the publication, so with consumers running it can trail a
 * peak that lasted only until the next get (the mutex queue's mark is
 * exact).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "event.h"
#include "internal.h"
#include "ring.h"
#include "spin.h"

#define CLOSED_BIT ((uint64_t)1 << 63)
#define CACHE_LINE 64

/* A non-blocking call that finds a peer in the middle of publishing or
 * freeing the slot it needs grants it SPIN_PAUSES rounds with a pause
 * instruction, then SPIN_YIELDS after giving up the CPU.  A blocking call
 * waits with the adaptive spin of spin.h instead (see "Blocking"). */
#define SPIN_PAUSES 8
#define SPIN_YIELDS 8

enum rstate { R_OPEN, R_CLOSED, R_SHUTDOWN, R_IMMEDIATE };

typedef struct slot {
  _Atomic uint64_t seq;
  void *item; /* owned by whoever the sequence says; no atomics needed */
} slot;

struct cv__ring {
  /* Producers' line. */
  alignas(CACHE_LINE) _Atomic uint64_t enq; /* next position | CLOSED_BIT */
  _Atomic uint64_t deq_seen;   /* a past value of deq, for the mark */
  _Atomic uint64_t high_water; /* most items queued at once */
  cv__spin pspin;              /* producers' wait state (spin.h) */

  /* Consumers' line. */
  alignas(CACHE_LINE) _Atomic uint64_t deq; /* next position to take */
  cv__spin cspin;                           /* consumers' wait state */

  /* Where each side last waited (spin.h): read on every wait, written
   * only when a side moves. */
  alignas(CACHE_LINE) _Atomic int pcpu;
  _Atomic int ccpu;

  alignas(CACHE_LINE) cv__event not_empty; /* getters sleep here */
  alignas(CACHE_LINE) cv__event not_full;  /* putters sleep here */
  alignas(CACHE_LINE) cv__event all_done;  /* join sleeps here */

  /* Read by every call, written only by close and shutdown. */
  alignas(CACHE_LINE) uint64_t cap;
  uint64_t mask; /* cap - 1 when cap is a power of two, else 0 */
  slot *slots;
  _Atomic int state;

  /* Written on slow paths (sleeps, task_done, shutdown) only: apart from
   * the line above, so that a sleep or a task_done does not take away a
   * line every put and get reads. */
  alignas(CACHE_LINE) _Atomic uint64_t finished;  /* task_done calls + items discarded, <= enq */
  _Atomic uint64_t discarded; /* items removed by an immediate shutdown */
  _Atomic uint32_t discarding; /* discards between their claim and count */
  _Atomic uint64_t get_waits;
  _Atomic uint64_t put_waits;
  _Atomic uint32_t blocked; /* calls between their first sleep and return */
};

_Static_assert(sizeof(slot) == 16, "a slot is a sequence and a pointer");

#ifdef CV_RING_TEST_HOOKS
void (*cv__ring_test_after_claim)(void);
void (*cv__ring_test_mid_count)(void);
#define AFTER_CLAIM()                                                          \
  do {                                                                         \
    if (cv__ring_test_after_claim)                                             \
      cv__ring_test_after_claim();                                             \
  } while (0)
#define MID_COUNT()                                                            \
  do {                                                                         \
    if (cv__ring_test_mid_count)                                               \
      cv__ring_test_mid_count();                                               \
  } while (0)
#else
#define AFTER_CLAIM() ((void)0)
#define MID_COUNT() ((void)0)
#endif

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static inline slot *slot_at(cv__ring *r, uint64_t pos) {
  return &r->slots[r->mask ? (pos & r->mask) : (pos % r->cap)];
}

static inline uint64_t load_enq(cv__ring *r) {
  return atomic_load_explicit(&r->enq, memory_order_seq_cst);
}

static inline uint64_t load_deq(cv__ring *r) {
  return atomic_load_explicit(&r->deq, memory_order_seq_cst);
}

static int closed_code(cv__ring *r) {
  int s = atomic_load_explicit(&r->state, memory_order_seq_cst);
  return s >= R_SHUTDOWN ? CV_ESHUTDOWN : CV_ECLOSED;
}

/* ---- lifecycle -------------------------------------------------------- */

int cv__ring_create(cv__ring **out, size_t capacity, bool asymmetric) {
  cv__event_global_init();
  /* queue.c refuses capacities above CV_QUEUE_MAX_CAPACITY; the second
   * test matters only where size_t is 32 bits. */
  if (capacity == 0 || capacity > CV_QUEUE_MAX_CAPACITY ||
      capacity > SIZE_MAX / sizeof(slot))
    return CV_ENOMEM;
  size_t size = (sizeof(cv__ring) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
  cv__ring *r = aligned_alloc(CACHE_LINE, size);
  if (!r)
    return CV_ENOMEM;
  r->slots = malloc(capacity * sizeof(slot));
  if (!r->slots) {
    free(r);
    return CV_ENOMEM;
  }
  r->cap = capacity;
  /* For capacity 1 the mask is 0 and slot_at takes pos % 1: also right. */
  r->mask = (capacity & (capacity - 1)) == 0 ? capacity - 1 : 0;
  for (uint64_t i = 0; i < capacity; i++) {
    atomic_init(&r->slots[i].seq, 2 * i);
    r->slots[i].item = NULL;
  }
  atomic_init(&r->enq, 0);
  atomic_init(&r->deq_seen, 0);
  atomic_init(&r->high_water, 0);
  atomic_init(&r->deq, 0);
  cv__spin_init(&r->pspin, capacity);
  cv__spin_init(&r->cspin, capacity);
  atomic_init(&r->pcpu, -1);
  atomic_init(&r->ccpu, -1);
  if (cv__event_init(&r->not_empty, asymmetric) != CV_OK)
    goto fail_e1;
  if (cv__event_init(&r->not_full, asymmetric) != CV_OK)
    goto fail_e2;
  if (cv__event_init(&r->all_done, asymmetric) != CV_OK)
    goto fail_e3;
  atomic_init(&r->state, R_OPEN);
  atomic_init(&r->finished, 0);
  atomic_init(&r->discarded, 0);
  atomic_init(&r->discarding, 0);
  atomic_init(&r->get_waits, 0);
  atomic_init(&r->put_waits, 0);
  atomic_init(&r->blocked, 0);
  *out = r;
  return CV_OK;

fail_e3:
  cv__event_destroy(&r->not_full);
fail_e2:
  cv__event_destroy(&r->not_empty);
fail_e1:
  free(r->slots);
  free(r);
  return CV_ESYS;
}

/* A call that went to sleep counts in `blocked` until it returns, not only
 * while it sleeps: a thread woken by a put or a close still takes its item
 * (reads the state) on its way out, and destroy must not free the ring under
 * it.  (The mutex queue gets the same from its lock: destroy cannot look at
 * the waiter counts before the woken thread has let go of the mutex.) */
bool cv__ring_busy(cv__ring *r) {
  return atomic_load_explicit(&r->blocked, memory_order_seq_cst) != 0 ||
         cv__event_inside(&r->not_empty) || cv__event_inside(&r->not_full) ||
         cv__event_inside(&r->all_done);
}

/* Counts the caller in `blocked` before its first sleep. */
static void hold(cv__ring *r, bool *held) {
  if (!*held) {
    *held = true;
    atomic_fetch_add_explicit(&r->blocked, 1, memory_order_seq_cst);
  }
}

/* The last access a blocking call makes to the ring. */
static int release(cv__ring *r, bool held, int rc) {
  if (held)
    atomic_fetch_sub_explicit(&r->blocked, 1, memory_order_seq_cst);
  return rc;
}

/* ---- claiming --------------------------------------------------------- */

/* Claims up to n consecutive free slots at the enqueue position.  Returns
 * how many (0: full, or a consumer is still freeing the next slot), or a
 * negative code once closed. */
static long claim_enq(cv__ring *r, size_t n, uint64_t *start) {
  uint64_t pos = atomic_load_explicit(&r->enq, memory_order_relaxed);
  for (;;) {
    if (pos & CLOSED_BIT)
      return closed_code(r);
    uint64_t seq = atomic_load_explicit(&slot_at(r, pos)->seq, memory_order_seq_cst);
    int64_t diff = (int64_t)(seq - 2 * pos);
    if (diff == 0) {
      size_t k = 1;
      while (k < n && k < r->cap &&
             atomic_load_explicit(&slot_at(r, pos + k)->seq, memory_order_acquire) ==
                 2 * (pos + k))
        k++;
      if (atomic_compare_exchange_weak_explicit(&r->enq, &pos, pos + k,
                                                memory_order_seq_cst,
                                                memory_order_relaxed)) {
        *start = pos;
        return (long)k;
      }
    } else if (diff < 0) {
      return 0;
    } else {
      pos = atomic_load_explicit(&r->enq, memory_order_relaxed);
    }
  }
}

/* Claims up to n consecutive published items at the dequeue position.
 * Returns how many (0: empty, or a producer is still publishing). */
static size_t claim_deq(cv__ring *r, size_t n, uint64_t *start) {
  uint64_t pos = atomic_load_explicit(&r->deq, memory_order_relaxed);
  for (;;) {
    uint64_t seq = atomic_load_explicit(&slot_at(r, pos)->seq, memory_order_seq_cst);
    int64_t diff = (int64_t)(seq - (2 * pos + 1));
    if (diff == 0) {
      size_t k = 1;
      while (k < n && k < r->cap &&
             atomic_load_explicit(&slot_at(r, pos + k)->seq, memory_order_acquire) ==
                 2 * (pos + k) + 1)
        k++;
      if (atomic_compare_exchange_weak_explicit(&r->deq, &pos, pos + k,
                                                memory_order_seq_cst,
                                                memory_order_relaxed)) {
        *start = pos;
        return k;
      }
    } else if (diff < 0) {
      return 0;
    } else {
      pos = atomic_load_explicit(&r->deq, memory_order_relaxed);
    }
  }
}

/* Passing wake-ups on.  A wake-up for a published item (a freed slot) can
 * reach a sleeper that cannot use it yet: positions are taken in order, and
 * an earlier position may still be between its claim and its publication
 * (its freeing).  That sleeper goes back to sleep, and when the earlier
 * position is done, its own wake-up serves one sleeper only: two items (two
 * slots) ready, one sleeper woken, the other one stranded.  And a getter that
 * slept on a closed queue while a producer still owed an item is woken by
 * that one item only, while every other getter must then see the end.  So a
 * thread that took items (slots) wakes one more sleeper while any are left,
 * and every getter once a closed queue is drained.  Costs one load of
 * nwaiters (the same barrier pair as cv__event_notify) when nobody sleeps. */
static void pass_on_get(cv__ring *r) {
  if (!cv__event_waiting(&r->not_empty))
    return;
  uint64_t e = load_enq(r), d = load_deq(r);
  if (d < (e & ~CLOSED_BIT))
    cv__event_wake(&r->not_empty, 1);
  else if (e & CLOSED_BIT)
    cv__event_wake(&r->not_empty, 0);
}

static void pass_on_put(cv__ring *r) {
  if (!cv__event_waiting(&r->not_full))
    return;
  /* deq first: enq read later is never below it, and an overestimate of the
   * size only skips a wake-up the consumer that frees the room will make. */
  uint64_t d = load_deq(r), e = load_enq(r);
  if (!(e & CLOSED_BIT) && e - d < r->cap)
    cv__event_wake(&r->not_full, 1);
}

/* Writes k claimed items, publishes them and wakes getters. */
static void publish(cv__ring *r, uint64_t start, void *const *items, size_t k) {
  AFTER_CLAIM();
  if (k == 1) {
    slot *s = slot_at(r, start);
    s->item = items[0];
    atomic_store_explicit(&s->seq, 2 * start + 1, memory_order_release);
  } else {
    for (size_t j = 0; j < k; j++) {
      slot *s = slot_at(r, start + j);
      s->item = items[j];
      atomic_store_explicit(&s->seq, 2 * (start + j) + 1, memory_order_release);
    }
  }
  cv__event_notify(&r->not_empty, (int)(k < 1024 ? k : 1024));
  pass_on_put(r);

  /* The high-water mark; see DESIGN. */
  uint64_t end = start + k;
  uint64_t hw = atomic_load_explicit(&r->high_water, memory_order_relaxed);
  if (hw >= r->cap)
    return;
  uint64_t seen = atomic_load_explicit(&r->deq_seen, memory_order_relaxed);
  if (end - seen <= hw)
    return;
  seen = atomic_load_explicit(&r->deq, memory_order_relaxed);
  atomic_store_explicit(&r->deq_seen, seen, memory_order_relaxed);
  uint64_t size = end > seen ? end - seen : 0;
  while (size > hw && !atomic_compare_exchange_weak_explicit(
                          &r->high_water, &hw, size, memory_order_relaxed,
                          memory_order_relaxed)) {
  }
}

/* Reads k claimed items, frees their slots and wakes putters. */
static void consume(cv__ring *r, uint64_t start, void **items, size_t k) {
  AFTER_CLAIM();
  if (k == 1) {
    slot *s = slot_at(r, start);
    items[0] = s->item;
    atomic_store_explicit(&s->seq, 2 * (start + r->cap), memory_order_release);
  } else {
    for (size_t j = 0; j < k; j++) {
      slot *s = slot_at(r, start + j);
      items[j] = s->item;
      atomic_store_explicit(&s->seq, 2 * (start + j + r->cap), memory_order_release);
    }
  }
  cv__event_notify(&r->not_full, (int)(k < 1024 ? k : 1024));
}

/* True once closed and every item ever put has been taken. */
static bool drained(cv__ring *r) {
  uint64_t e = load_enq(r);
  return (e & CLOSED_BIT) && load_deq(r) == (e & ~CLOSED_BIT);
}

/* A peer is between its claim and its publication: the ring looks full
 * (empty) by the slot but not by the positions.  Non-blocking calls give the
 * peer a moment rather than report a state the queue is not really in. */
static bool backoff(unsigned *round) {
  if (*round >= SPIN_PAUSES + SPIN_YIELDS)
    return false;
  if (*round < SPIN_PAUSES)
    cpu_relax();
  else
    sched_yield();
  (*round)++;
  return true;
}

/* What a blocked call waits for, read without claiming anything: the slot
 * at its side's position turned (freed, published), or the queue ended. */
static bool put_ready(void *arg) {
  cv__ring *r = arg;
  uint64_t pos = atomic_load_explicit(&r->enq, memory_order_relaxed);
  if (pos & CLOSED_BIT)
    return true;
  uint64_t seq = atomic_load_explicit(&slot_at(r, pos)->seq, memory_order_acquire);
  return (int64_t)(seq - 2 * pos) >= 0;
}

static bool get_ready(void *arg) {
  cv__ring *r = arg;
  uint64_t pos = atomic_load_explicit(&r->deq, memory_order_relaxed);
  uint64_t seq = atomic_load_explicit(&slot_at(r, pos)->seq, memory_order_acquire);
  return (int64_t)(seq - (2 * pos + 1)) >= 0 ||
         atomic_load_explicit(&r->state, memory_order_relaxed) != R_OPEN;
}

/* ---- put -------------------------------------------------------------- */

/* One attempt: > 0 items put (claimed and published), 0 full, < 0 a final
 * code. */
static long try_put(cv__ring *r, void *const *items, size_t n) {
  uint64_t start;
  long k = claim_enq(r, n, &start);
  if (k > 0)
    publish(r, start, items, (size_t)k);
  return k;
}

static int put(cv__ring *r, void *const *items, size_t n, size_t *done,
               int64_t timeout_ns, bool *held) {
  int64_t deadline = 0;
  bool have_deadline = false, waited = false;
  unsigned midop = 0;
  *done = 0;
  for (;;) {
    long k = try_put(r, items + *done, n - *done);
    if (k < 0)
      return (int)k;
    if (k == 0) { /* full */
      if (timeout_ns == 0) {
        /* deq first: enq read after it is never below it, so `used` cannot
         * wrap around to "full" while a consumer is still freeing a slot. */
        uint64_t d = load_deq(r);
        uint64_t used = (load_enq(r) & ~CLOSED_BIT) - d;
        if (used < r->cap && backoff(&midop))
          continue;
        return CV_EFULL;
      }
      if (cv__spin_wait(&r->pcpu, &r->ccpu, NULL, &r->pspin, put_ready, r))
        continue;
      if (!have_deadline) {
        deadline = cv__deadline(timeout_ns);
        have_deadline = true;
      }
      cv__waiter w;
      hold(r, held);
      cv__event_prepare(&r->not_full, &w);
      k = try_put(r, items + *done, n - *done);
      if (k != 0) {
        cv__event_cancel(&r->not_full, &w);
        if (k < 0)
          return (int)k;
        goto progress;
      }
      if (!waited) {
        waited = true;
        atomic_fetch_add_explicit(&r->put_waits, 1, memory_order_relaxed);
      }
      if (cv__event_wait(&r->not_full, &w, deadline) != CV_ETIMEDOUT)
        continue;
      k = try_put(r, items + *done, n - *done); /* a last try */
      if (k < 0)
        return (int)k;
      if (k == 0)
        return CV_ETIMEDOUT;
    }
  progress:
    *done += (size_t)k;
    if (*done == n)
      return CV_OK;
  }
}

/* ---- get -------------------------------------------------------------- */

/* One attempt: > 0 items taken, 0 nothing yet, < 0 a final code. */
static long try_get(cv__ring *r, void **items, size_t max) {
  int st = atomic_load_explicit(&r->state, memory_order_seq_cst);
  if (st == R_IMMEDIATE)
    return CV_ESHUTDOWN;
  uint64_t start;
  size_t k = claim_deq(r, max, &start);
  if (k > 0) {
    consume(r, start, items, k);
    pass_on_get(r);
    return (long)k;
  }
  /* An open queue cannot be drained: close raises the state before it
   * marks enq, so a getter that read R_OPEN above is ordered before the
   * close, and its caller waits on the state word, which the close wakes.
   * Not reading enq here matters for a hand-off: a getter that finds the
   * ring empty would otherwise pull the producers' line over once per item,
   * and the producer's next claim would have to take it back. */
  if (st != R_OPEN && drained(r))
    return closed_code(r);
  return 0;
}

static int get(cv__ring *r, void **items, size_t max, size_t *got,
               int64_t timeout_ns, bool *held) {
  int64_t deadline = 0;
  bool have_deadline = false, waited = false;
  unsigned midop = 0;
  long k;
  *got = 0;
  for (;;) {
    k = try_get(r, items, max);
    if (k != 0)
      goto out;
    if (timeout_ns == 0) {
      uint64_t d = load_deq(r); /* first, as in put */
      if ((load_enq(r) & ~CLOSED_BIT) > d && backoff(&midop))
        continue;
      return CV_EEMPTY;
    }
    if (cv__spin_wait(&r->ccpu, &r->pcpu, NULL, &r->cspin, get_ready, r))
      continue;
    if (!have_deadline) {
      deadline = cv__deadline(timeout_ns);
      have_deadline = true;
    }
    cv__waiter w;
    hold(r, held);
    cv__event_prepare(&r->not_empty, &w);
    k = try_get(r, items, max);
    if (k != 0) {
      cv__event_cancel(&r->not_empty, &w);
      goto out;
    }
    if (!waited) {
      waited = true;
      atomic_fetch_add_explicit(&r->get_waits, 1, memory_order_relaxed);
    }
    if (cv__event_wait(&r->not_empty, &w, deadline) == CV_ETIMEDOUT) {
      k = try_get(r, items, max);
      if (k == 0)
        return CV_ETIMEDOUT;
      goto out;
    }
  }
out:
  if (k < 0)
    return (int)k;
  *got = (size_t)k;
  return CV_OK;
}

int cv__ring_put(cv__ring *r, void *const *items, size_t n, size_t *done,
                 int64_t timeout_ns) {
  bool held = false;
  int rc = put(r, items, n, done, timeout_ns, &held);
  return release(r, held, rc);
}

int cv__ring_get(cv__ring *r, void **items, size_t max, size_t *got,
                 int64_t timeout_ns) {
  bool held = false;
  int rc = get(r, items, max, got, timeout_ns, &held);
  return release(r, held, rc);
}

/* ---- task_done / join ------------------------------------------------- */

/* Items put and not yet finished: exact, or above the truth, at the moment
 * enq is read, and never 0 unless the queue was all done then (see DESIGN). */
static uint64_t unfinished(cv__ring *r) {
  uint64_t f = atomic_load_explicit(&r->finished, memory_order_seq_cst);
  MID_COUNT();
  return (load_enq(r) & ~CLOSED_BIT) - f;
}

int cv__ring_task_done(cv__ring *r, size_t n) {
  uint64_t f = atomic_load_explicit(&r->finished, memory_order_seq_cst);
  for (;;) {
    MID_COUNT();
    uint64_t put = load_enq(r) & ~CLOSED_BIT; /* after f: see DESIGN */
    if (n > put - f)
      return CV_ETASKDONE;
    if (atomic_compare_exchange_weak_explicit(&r->finished, &f, f + n,
                                              memory_order_seq_cst,
                                              memory_order_seq_cst))
      break;
  }
  if (unfinished(r) == 0)
    cv__event_notify(&r->all_done, 0);
  return CV_OK;
}

/* An immediate shutdown discarded k items: each counts as done, but the
 * count never exceeds the items put (task_done may have run ahead of get
 * for some of them).  enq is final: the CLOSED bit is set. */
static void finish_discarded(cv__ring *r, uint64_t k) {
  uint64_t put = load_enq(r) & ~CLOSED_BIT;
  uint64_t f = atomic_load_explicit(&r->finished, memory_order_seq_cst);
  uint64_t to;
  do
    to = put - f < k ? put : f + k;
  while (!atomic_compare_exchange_weak_explicit(
      &r->finished, &f, to, memory_order_seq_cst, memory_order_seq_cst));
}

int cv__ring_join(cv__ring *r, int64_t timeout_ns) {
  if (unfinished(r) == 0)
    return CV_OK;
  if (timeout_ns == 0)
    return CV_ETIMEDOUT;
  int64_t deadline = cv__deadline(timeout_ns);
  bool held = false;
  hold(r, &held);
  for (;;) {
    cv__waiter w;
    cv__event_prepare(&r->all_done, &w);
    if (unfinished(r) == 0) {
      cv__event_cancel(&r->all_done, &w);
      return release(r, held, CV_OK);
    }
    if (cv__event_wait(&r->all_done, &w, deadline) == CV_ETIMEDOUT)
      return release(r, held, unfinished(r) == 0 ? CV_OK : CV_ETIMEDOUT);
  }
}

/* ---- close / shutdown ------------------------------------------------- */

static void raise_state(cv__ring *r, int to) {
  int s = atomic_load_explicit(&r->state, memory_order_seq_cst);
  while (s < to && !atomic_compare_exchange_weak_explicit(
                       &r->state, &s, to, memory_order_seq_cst,
                       memory_order_seq_cst)) {
  }
}

static void wake_everyone(cv__ring *r) {
  cv__event_notify(&r->not_empty, 0);
  cv__event_notify(&r->not_full, 0);
  cv__event_notify(&r->all_done, 0);
}

void cv__ring_close(cv__ring *r, bool shutdown) {
  raise_state(r, shutdown ? R_SHUTDOWN : R_CLOSED);
  atomic_fetch_or_explicit(&r->enq, CLOSED_BIT, memory_order_seq_cst);
  wake_everyone(r);
}

void cv__ring_discard(cv__ring *r, cv_destroy_fn destroy, void *arg) {
  raise_state(r, R_IMMEDIATE);
  atomic_fetch_or_explicit(&r->enq, CLOSED_BIT, memory_order_seq_cst);
  wake_everyone(r); /* getters leave at once; putters see the close */
  for (;;) {
    void *batch[64];
    uint64_t start;
    /* `discarding` covers the claim until `discarded` counts it, so that
     * stats never sees the claimed positions as gets (see cv__ring_stats). */
    atomic_fetch_add_explicit(&r->discarding, 1, memory_order_seq_cst);
    size_t k = claim_deq(r, 64, &start);
    if (k > 0) {
      consume(r, start, batch, k);
      atomic_fetch_add_explicit(&r->discarded, k, memory_order_seq_cst);
      atomic_fetch_sub_explicit(&r->discarding, 1, memory_order_seq_cst);
      finish_discarded(r, k);
      if (destroy)
        for (size_t i = 0; i < k; i++)
          destroy(batch[i], arg);
      continue;
    }
    atomic_fetch_sub_explicit(&r->discarding, 1, memory_order_seq_cst);
    if (drained(r))
      break;
    sched_yield(); /* a producer is publishing its last claimed item */
  }
  cv__event_notify(&r->all_done, 0);
}

void cv__ring_free(cv__ring *r, cv_destroy_fn destroy, void *arg) {
  uint64_t end = load_enq(r) & ~CLOSED_BIT;
  for (uint64_t pos = load_deq(r); pos < end; pos++) {
    slot *s = slot_at(r, pos);
    if (destroy && atomic_load_explicit(&s->seq, memory_order_acquire) == 2 * pos + 1)
      destroy(s->item, arg);
  }
  cv__event_destroy(&r->not_empty);
  cv__event_destroy(&r->not_full);
  cv__event_destroy(&r->all_done);
  free(r->slots);
  free(r);
}

/* ---- queries ---------------------------------------------------------- */

/* Items put and items taken as they were at one moment.  Read one after the
 * other, the two counters can describe a queue that never was (deq, then enq
 * after more puts and gets: a size above the capacity).  enq is read on both
 * sides of deq, and while it did not move, enq - deq is the size at the
 * moment deq was read: 0 <= put - taken <= cap.  Under a stream of puts that
 * keeps moving enq, the last reading is clamped into that range. */
static void positions(cv__ring *r, uint64_t *put, uint64_t *taken) {
  uint64_t e = load_enq(r) & ~CLOSED_BIT, d;
  for (int tries = 0;; tries++) {
    d = load_deq(r);
    uint64_t again = load_enq(r) & ~CLOSED_BIT; /* >= d: read after it */
    bool stable = again == e;
    e = again;
    if (stable || tries == 16)
      break;
  }
  if (e - d > r->cap)
    d = e - r->cap;
  *put = e;
  *taken = d;
}

size_t cv__ring_size(cv__ring *r) {
  uint64_t e, d;
  positions(r, &e, &d);
  return (size_t)(e - d);
}

/* The CLOSED bit, not `state`: close sets the state first, and a put can
 * still succeed until the bit is set, so only the bit means "puts fail". */
bool cv__ring_is_closed(cv__ring *r) { return (load_enq(r) & CLOSED_BIT) != 0; }

/* put - finished as it was at one moment: finished read on both sides of
 * enq, and while it did not move the difference is exact at the moment enq
 * was read.  Under a stream of task_done calls, the upper bound of
 * unfinished() (never 0 while an item is unfinished). */
static uint64_t unfinished_exact(cv__ring *r) {
  uint64_t f = atomic_load_explicit(&r->finished, memory_order_seq_cst);
  for (int tries = 0;; tries++) {
    MID_COUNT();
    uint64_t put = load_enq(r) & ~CLOSED_BIT;
    uint64_t again = atomic_load_explicit(&r->finished, memory_order_seq_cst);
    if (again == f || tries == 16)
      return put - f; /* f <= put: read before it */
    f = again;
  }
}

void cv__ring_stats(cv__ring *r, cv_queue_stats *out) {
  /* gets = deq - discarded, and an immediate shutdown moves deq (its claim)
   * before `discarded` (its count): read in between, the claimed items
   * would look like gets.  `discarded` is read on both sides of the
   * positions, and `discarding` (raised before the claim, lowered after the
   * count) after them: a discard that claimed before deq was read has then
   * either counted (discarded moved) or not (discarding is not 0).  Read
   * first, `discarded` never exceeds deq, so gets cannot wrap around.  A
   * discarder preempted in that window for all 16 tries leaves gets up to
   * one batch (64) too high in this one snapshot; stats does not wait for
   * another thread. */
  uint64_t x, e, d;
  for (int tries = 0;; tries++) {
    x = atomic_load_explicit(&r->discarded, memory_order_seq_cst);
    positions(r, &e, &d);
    bool stable =
        atomic_load_explicit(&r->discarding, memory_order_seq_cst) == 0 &&
        atomic_load_explicit(&r->discarded, memory_order_seq_cst) == x;
    if (stable || tries == 16)
      break;
    sched_yield(); /* a discard is between two instructions */
  }
  out->puts = e;
  out->gets = d - x; /* discarded items were claimed, not handed out */
  out->get_waits = atomic_load_explicit(&r->get_waits, memory_order_relaxed);
  out->put_waits = atomic_load_explicit(&r->put_waits, memory_order_relaxed);
  out->discarded = x;
  out->size = (size_t)(e - d);
  out->high_water = (size_t)atomic_load_explicit(&r->high_water, memory_order_relaxed);
  out->capacity = (size_t)r->cap;
  out->unfinished = (size_t)unfinished_exact(r);
}
