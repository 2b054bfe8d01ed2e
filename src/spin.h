/* src/spin.h - the adaptive wait a queue side makes before it sleeps: spin
 * about as long as the other side has recently taken to respond, and only
 * while the other side last ran on another CPU; then yield a few times, or,
 * when the two keep sharing one CPU, sleep now and then.
 *
 * DESIGN
 *
 * A thread that finds a queue full (empty) is usually waiting for a thread
 * on the other side that is a moment from making room (an item).  Where
 * that thread runs decides what the wait should be:
 *   - on another CPU: spin.  A hand-off between cores takes a cache-line
 *     round trip or two, far less than a sleep and a wake-up (two system
 *     calls and a context switch each way).
 *   - on this CPU: spinning cannot help, since the peer cannot run until
 *     this thread stops; give the CPU up at once.
 *   - asleep (inside its event count's wait, or woken and not yet running):
 *     it is the scheduler that decides when it responds; do not spin.
 * On a machine with more runnable threads than CPUs the last case is the
 * common one, and spinning there only takes CPU from the thread awaited.
 * Each side notes the CPU it is on whenever it is about to wait
 * (sched_getcpu: a read of the kernel's rseq area with a recent glibc), and
 * reads the other side's note.  A note can be stale (the peer
 * moved, or was preempted); the spin budget bounds what a wrong guess
 * costs.
 *
 * How long to spin adapts as glibc's adaptive mutex does: a moving average
 * (weight 1/8) of how many rounds the successful spins took, and a budget
 * of twice that plus SPIN_MIN, at most SPIN_MAX.  A spin that runs out
 * halves the average: a peer slower than the budget is better waited for
 * asleep, and the budget then shrinks towards SPIN_MIN instead of growing
 * towards SPIN_MAX on every slow item (glibc's rule, which lets the average
 * climb to the maximum, burns CPU on a slow consumer).
 *
 * Hand-offs.  In a queue of at most CV__SPIN_HANDOFF_CAP items every item
 * waits for the other side, so a wait there is usually a round trip in
 * progress.  Its budget never falls below CV__SPIN_FLOOR rounds (about
 * 7 us) while the side's recent waits did not all end asleep: about what a
 * sleep and a wake-up cost here, the classic bound for spinning (spin no
 * longer than blocking would cost, and no wait costs more than twice the
 * best choice).  Without it, a capacity-1 hand-off often fell into a slow
 * mode that could last a whole run: one hiccup longer than the shrunken
 * budget put a side to sleep, the other then waited the 5-10 us of its
 * wake-up, longer than its own budget, and slept too, and so on (thousands
 * of context switches per 200,000 items and 1-5M items/s, against 10-50
 * and 11-14M when both keep spinning).  A hand-off between two virtual
 * CPUs still slows down whenever the host does not run both of them at
 * once.  Larger queues keep the plain budget: a long wait there means the
 * other side has stalled, and with more threads than CPUs (a pipeline's
 * workers) a floor only took CPU time from the threads awaited (W4 with
 * automatic batching: 26M -> 21M items/s, 76 -> 95 ns of CPU per item).
 *
 * Go's scheduler and WebKit's ParkingLot decide the same way: spin only on
 * a multicore machine with the peer running, briefly, then park.
 *
 * Sharing a CPU.  Two threads that hand items to each other through a
 * small queue tend to end up on one CPU: a wake-up often places the woken
 * thread beside its waker, and once there, neither of them ever leaves the
 * run queue while they yield to each other, so the load balancer, which
 * does not move a task that ran a moment ago, keeps them together even when
 * the other CPU falls idle.  Each hand-off then costs two context switches
 * (some 2 us each on this project's virtual machines) where two running
 * threads would take a cache-line round trip: a 10-to-30-fold slowdown that
 * can last a whole run.  Only a thread that sleeps is placed anew when it
 * wakes, and the scheduler then picks an idle CPU if there is one.  So a
 * side that keeps finding the peer on its own CPU sleeps instead of
 * yielding on the SPIN_SAME_FIRST-th wait in a row, then on every power of
 * two after it, and at most every SPIN_SAME_EVERY-th: a pair that can be
 * split is split within a few dozen hand-offs, and a pair confined to one
 * CPU (by affinity, or a busy machine) pays for a futile sleep less and
 * less often.
 *
 * The fields are shared by the threads of one side and updated with
 * relaxed atomics: a lost update of the average only makes one spin a
 * little longer or shorter, one of the streak only moves a sleep.
 *
 * On this project's virtual machines a pause instruction takes about 60 ns
 * (AMD, under a hypervisor that may also exit on long pause loops), so
 * SPIN_MAX rounds are some 15 us: the most a wait spins before it yields.
 */
#ifndef CONVEYOR_SPIN_H
#define CONVEYOR_SPIN_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Rounds of (check, pause): at least SPIN_MIN and at most SPIN_MAX when
 * the peer runs on another CPU; then SPIN_YIELDS rounds of (yield, check).
 * Of the waits in a row that find the peer on this CPU, the SPIN_SAME_FIRST-th
 * and every power of two after it, up to every SPIN_SAME_EVERY-th, sleep at
 * once instead of yielding (see "Sharing a CPU" in DESIGN). */
#define CV__SPIN_MIN 16
#define CV__SPIN_FLOOR 128 /* see DESIGN: about a sleep and a wake-up */
#define CV__SPIN_HANDOFF_CAP 4
#define CV__SPIN_MAX 256
#define CV__SPIN_YIELDS 8
#define CV__SPIN_SAME_FIRST 8
#define CV__SPIN_SAME_EVERY 1024
/* After CV__SPIN_SLEPT_FIRST waits in a row that ended asleep, a hand-off's
 * budget may fall below CV__SPIN_FLOOR (see "Hand-offs" in DESIGN). */
#define CV__SPIN_SLEPT_FIRST 4

/* True if the n-th wait in a row on the peer's CPU should sleep. */
static inline bool cv__spin_same_sleeps(uint32_t n) {
  if (n < CV__SPIN_SAME_FIRST)
    return false;
  if (n >= CV__SPIN_SAME_EVERY)
    return n % CV__SPIN_SAME_EVERY == 0;
  return (n & (n - 1)) == 0;
}

/* One side's wait state, on a line of that side's own: `avg`, the rounds
 * its recent successful spins took (initially CV__SPIN_MIN), and `same`,
 * how many waits in a row found the peer on this side's CPU. */
typedef struct cv__spin {
  _Atomic uint32_t avg;
  _Atomic uint32_t same;
  _Atomic uint32_t slept; /* waits in a row that ended asleep */
  uint32_t floor;         /* the least budget (0 or CV__SPIN_FLOOR), fixed */
} cv__spin;

/* `capacity`: the queue's, which decides the floor (see "Hand-offs"). */
static inline void cv__spin_init(cv__spin *s, uint64_t capacity) {
  atomic_init(&s->avg, CV__SPIN_MIN);
  atomic_init(&s->same, 0);
  atomic_init(&s->slept, 0);
  s->floor = capacity <= CV__SPIN_HANDOFF_CAP ? CV__SPIN_FLOOR : 0;
}

/* The caller goes to sleep: counts the wait in the streak of `slept`. */
static inline bool cv__spin_gave_up(cv__spin *sp, uint32_t slept) {
  atomic_store_explicit(&sp->slept, slept + 1, memory_order_relaxed);
  return false;
}

/* Something came without sleeping: ends the streak. */
static inline bool cv__spin_came(cv__spin *sp, uint32_t slept) {
  if (slept != 0)
    atomic_store_explicit(&sp->slept, 0, memory_order_relaxed);
  return true;
}

/* Each side also has `cpu`, the side's CPU when it last waited (-1:
 * unknown, initially), placed by the caller.  It is read by the other side
 * on every wait and written only when this side moves: it belongs on a line
 * that no hot counter shares, or each read would pull the peer's hot line
 * over once per hand-off. */

static inline void cv__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* Waits without sleeping until ready(arg) is true, as DESIGN says.  Returns
 * false if it did not come: the caller goes to sleep.  `peer_asleep` (NULL:
 * not known) is the `inside` count of the event count the other side sleeps
 * on: while it is not 0, the other side is asleep or not yet back from a
 * sleep, so spinning would wait for the scheduler, not for the peer. */
static inline bool cv__spin_wait(_Atomic int *my_cpu, const _Atomic int *peer_cpu,
                                 _Atomic uint32_t *peer_asleep, cv__spin *sp,
                                 bool (*ready)(void *), void *arg) {
  int me = sched_getcpu();
  if (atomic_load_explicit(my_cpu, memory_order_relaxed) != me)
    atomic_store_explicit(my_cpu, me, memory_order_relaxed);
  int other = atomic_load_explicit(peer_cpu, memory_order_relaxed);
  uint32_t same = atomic_load_explicit(&sp->same, memory_order_relaxed);
  uint32_t slept = atomic_load_explicit(&sp->slept, memory_order_relaxed);
  if (me >= 0 && other == me) {
    /* Sharing a CPU: yield to the peer, but now and then sleep instead,
     * so that the wake-up can move one of the two to an idle CPU. */
    atomic_store_explicit(&sp->same, same + 1, memory_order_relaxed);
    if (cv__spin_same_sleeps(same + 1))
      return cv__spin_gave_up(sp, slept);
  } else {
    if (same != 0)
      atomic_store_explicit(&sp->same, 0, memory_order_relaxed);
    bool running =
        !peer_asleep || atomic_load_explicit(peer_asleep, memory_order_relaxed) == 0;
    if (running) {
      uint32_t avg = atomic_load_explicit(&sp->avg, memory_order_relaxed), next;
      uint32_t budget = 2 * avg + CV__SPIN_MIN;
      if (budget < sp->floor && slept < CV__SPIN_SLEPT_FIRST)
        budget = sp->floor;
      if (budget > CV__SPIN_MAX)
        budget = CV__SPIN_MAX;
      for (uint32_t i = 0; i < budget; i++) {
        if (ready(arg)) {
          next = (uint32_t)((int32_t)avg + ((int32_t)i - (int32_t)avg) / 8);
          if (next != avg)
            atomic_store_explicit(&sp->avg, next, memory_order_relaxed);
          return cv__spin_came(sp, slept);
        }
        cv__cpu_relax();
      }
      if (avg != 0)
        atomic_store_explicit(&sp->avg, avg / 2, memory_order_relaxed);
    }
  }
  for (int i = 0; i < CV__SPIN_YIELDS; i++) {
    sched_yield();
    if (ready(arg))
      return cv__spin_came(sp, slept);
  }
  return cv__spin_gave_up(sp, slept);
}

#endif /* CONVEYOR_SPIN_H */
