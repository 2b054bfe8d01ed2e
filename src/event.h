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
 * Why no wake-up is lost: a waiter first enqueues itself (nwaiters++, a
 * seq_cst read-modify-write), then re-checks its condition with seq_cst
 * loads, and only then sleeps.  A notifier first makes the condition true
 * with a seq_cst store (or release stores followed by cv__event_fence), then
 * reads nwaiters.  Both sides are in the single total order of seq_cst
 * operations (the store-buffering pattern), so either the waiter's re-check
 * sees the new state or the notifier sees the waiter in the list.
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
  _Atomic uint32_t inside;   /* threads between prepare and the end of wait */
  pthread_mutex_t mu;        /* guards the list */
  cv__waiter *head, *tail;   /* oldest first */
} cv__event;

int cv__event_init(cv__event *e);
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

/* Call after the seq_cst operation that made the waited-for state true. */
static inline void cv__event_notify(cv__event *e, int n) {
  if (atomic_load_explicit(&e->nwaiters, memory_order_seq_cst) != 0)
    cv__event_wake(e, n);
}

/* Orders earlier release stores before a following cv__event_notify, for a
 * notifier that published with several release stores (a batch). */
static inline void cv__event_fence(void) {
  atomic_thread_fence(memory_order_seq_cst);
}

/* Threads inside a prepare/wait or prepare/cancel pair. */
static inline uint32_t cv__event_inside(cv__event *e) {
  return atomic_load_explicit(&e->inside, memory_order_seq_cst);
}

#endif /* CONVEYOR_EVENT_H */
