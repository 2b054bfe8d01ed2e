/* src/event.h - an event count: sleep until "something changed", without a
 * lock and without a system call when nobody sleeps.
 *
 * DESIGN
 *
 * A waiter registers (waiters++), takes a ticket (the current epoch), re-checks
 * its condition, and only then sleeps on the futex word `epoch` while it still
 * equals the ticket.  A notifier first makes the condition true with a
 * seq_cst store or read-modify-write (or release stores followed by
 * cv__event_fence), then reads `waiters`; only if it is non-zero does it bump
 * the epoch and wake sleepers.
 *
 * Why no wake-up is lost: the waiter's registration and the notifier's
 * publication are both in the single total order of seq_cst operations (the
 * store-buffering pattern), so either the waiter's re-check sees the new state
 * or the notifier sees the waiter.  A notification that lands between the
 * ticket and the sleep changes the epoch, so the futex call returns at once.
 *
 * Cost: a notifier with no sleepers pays one load of a read-mostly cache line.
 * Waiters never spin here; callers spin briefly before they register.
 *
 * Linux only (futex); elsewhere the queue uses its mutex implementation.
 */
#ifndef CONVEYOR_EVENT_H
#define CONVEYOR_EVENT_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct cv__event {
  _Atomic uint32_t epoch;   /* futex word; bumped by every notification */
  _Atomic uint32_t waiters; /* threads between prepare and the end of wait */
} cv__event;

static inline void cv__event_init(cv__event *e) {
  atomic_init(&e->epoch, 0);
  atomic_init(&e->waiters, 0);
}

/* Registers the caller as a waiter and returns its ticket.  The caller must
 * re-check its condition afterwards, then call cv__event_wait or
 * cv__event_cancel. */
static inline uint32_t cv__event_prepare(cv__event *e) {
  atomic_fetch_add_explicit(&e->waiters, 1, memory_order_seq_cst);
  return atomic_load_explicit(&e->epoch, memory_order_seq_cst);
}

static inline void cv__event_cancel(cv__event *e) {
  atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_seq_cst);
}

/* Sleeps until notified after `ticket` was taken or until the absolute
 * CLOCK_MONOTONIC `deadline` in ns (-1: none), then deregisters.  May return
 * early (spuriously): callers re-check.  Returns CV_OK or CV_ETIMEDOUT. */
int cv__event_wait(cv__event *e, uint32_t ticket, int64_t deadline);

/* Wakes up to n sleepers (n <= 0: all) if there are any. */
void cv__event_wake(cv__event *e, int n);

/* Call after the seq_cst operation that made the waited-for state true. */
static inline void cv__event_notify(cv__event *e, int n) {
  if (atomic_load_explicit(&e->waiters, memory_order_seq_cst) != 0)
    cv__event_wake(e, n);
}

/* Orders earlier release stores before a following cv__event_notify, for a
 * notifier that published with several release stores (a batch). */
static inline void cv__event_fence(void) {
  atomic_thread_fence(memory_order_seq_cst);
}

static inline uint32_t cv__event_waiters(cv__event *e) {
  return atomic_load_explicit(&e->waiters, memory_order_seq_cst);
}

#endif /* CONVEYOR_EVENT_H */
