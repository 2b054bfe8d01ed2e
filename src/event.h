/* src/event.h - wait for "something changed" without a lock or a system call
 * on the fast path: the notifier of a state change pays one load when nobody
 * sleeps.
 *
 * DESIGN
 *
 * Sleepers queue up in a list (each on its own stack frame) guarded by a
 * mutex, and each sleeps on a futex word of its own.  A notifier that wakes
 * n threads takes the n oldest sleepers off the list, marks them notified and
 * wakes exactly those: no thundering herd, and once the list is empty the
 * next notification costs only the load of `nwaiters`.
 *
 * Why no wake-up is lost: a waiter first enqueues itself (nwaiters++), then
 * a full barrier, then re-checks its condition, and only then sleeps.  A
 * notifier first makes the condition true (a release store or a
 * read-modify-write), then a full barrier, then reads nwaiters.  This is the
 * store-buffering pattern: with a barrier on both sides, either the waiter's
 * re-check sees the new state or the notifier sees the waiter in the list.
 *
 * The notifier's side of that pattern is on the hot path of every put and
 * get, so it is made nearly free with an asymmetric fence where Linux offers
 * one: a waiter, about to sleep anyway, calls membarrier(2), which runs a
 * full barrier on every thread of the process that is running at that
 * moment; the notifier then needs only a compiler barrier between its
 * release store and its load of nwaiters (the pairing liburcu and folly's
 * asymmetric fences use).  Without membarrier (old kernels, valgrind) the
 * notifier uses a seq_cst fence instead.
 *
 * A woken thread always takes the mutex once before it returns, so the
 * notifier (which wakes under the mutex) is done with the waiter's stack
 * frame before it goes away.
 *
 * Linux only (futex); elsewhere the queue uses its mutex implementation.
 */
#ifndef CONVEYOR_EVENT_H
#define CONVEYOR_EVENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct cv__waiter {
  _Atomic uint32_t notified; /* futex word: 0 asleep, 1 notified */
  struct cv__waiter *next, *prev;
  bool listed; /* on the event's list (guarded by the event's mutex) */
} cv__waiter;

typedef struct cv__event {
  _Atomic uint32_t nwaiters; /* length of the list, for the lock-free check */
  bool asymmetric;           /* fixed at init: membarrier pairing (below) */
  _Atomic uint32_t inside;   /* threads between prepare and the end of wait */
  pthread_mutex_t mu;        /* guards the list */
  cv__waiter *head, *tail;   /* oldest first */
} cv__event;

/* `asymmetric` chooses the barrier pairing for this event, once and for
 * all, so that its waiters and notifiers always agree: true puts the
 * barrier's cost on the sleepers (membarrier, when the kernel has it), false
 * on every notification (a full barrier).  The first suits queues whose
 * threads rarely sleep; the second queues served by many more threads than
 * cores, which sleep and wake all the time and would pay an inter-processor
 * interrupt for every sleep. */
int cv__event_init(cv__event *e, bool asymmetric);
void cv__event_destroy(cv__event *e);

/* Enqueues the caller as a waiter.  The caller must re-check its condition
 * afterwards, then call cv__event_wait or cv__event_cancel. */
void cv__event_prepare(cv__event *e, cv__waiter *w);
void cv__event_cancel(cv__event *e, cv__waiter *w);

/* Sleeps until notified or until the absolute CLOCK_MONOTONIC `deadline` in
 * ns (-1: none), then leaves the list.  Returns CV_OK or CV_ETIMEDOUT.
 * Callers re-check their condition either way. */
int cv__event_wait(cv__event *e, cv__waiter *w, int64_t deadline);

/* Wakes up to n sleepers (n <= 0: all).  The slow half of cv__event_notify. */
void cv__event_wake(cv__event *e, int n);

/* A full memory barrier.  On x86 a locked add to the stack is one, and
 * costs about half of mfence (the Linux kernel's smp_mb() uses it). */
static inline void cv__full_barrier(void) {
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CV__TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CV__TSAN 1
#endif
/* ThreadSanitizer models C11 fences, not inline assembly. */
#if defined(__x86_64__) && !defined(CV__TSAN)
  __asm__ __volatile__("lock; addl $0,-8(%%rsp)" ::: "memory", "cc");
#else
  atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* Non-zero once membarrier(2) is registered: notifiers need only a
 * compiler barrier.  Set once, by cv__event_global_init. */
extern _Atomic int cv__event_asymmetric;

/* Decides, once per process, whether the asymmetric fence is available. */
void cv__event_global_init(void);

/* The two halves of a barrier pair, as the event's waiters and notifiers
 * use them, for other store-buffering handshakes on the same threads: the
 * light half on the hot path (a compiler barrier when asymmetric), the heavy
 * half on the rare one (membarrier when asymmetric).  Either way a store
 * before one half and a load after it cannot both miss the other side's. */
static inline void cv__event_light_barrier(const cv__event *e) {
  if (e->asymmetric)
    atomic_signal_fence(memory_order_seq_cst);
  else
    cv__full_barrier();
}
void cv__event_heavy_barrier(const cv__event *e);

/* The notifier's half of the barrier pair, then the load of nwaiters: true
 * if someone sleeps (or is about to).  Call after the store or
 * read-modify-write that made the waited-for state true. */
static inline bool cv__event_waiting(cv__event *e) {
  cv__event_light_barrier(e);
  return atomic_load_explicit(&e->nwaiters, memory_order_relaxed) != 0;
}

/* Call after the store or read-modify-write that made the waited-for state
 * true.  Costs a load (plus, without membarrier, a fence) when nobody
 * sleeps. */
static inline void cv__event_notify(cv__event *e, int n) {
  if (cv__event_waiting(e))
    cv__event_wake(e, n);
}

/* Threads inside a prepare/wait or prepare/cancel pair. */
static inline uint32_t cv__event_inside(cv__event *e) {
  return atomic_load_explicit(&e->inside, memory_order_seq_cst);
}

#endif /* CONVEYOR_EVENT_H */
