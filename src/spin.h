/* src/spin.h - the adaptive wait a queue side makes before it sleeps: spin
 * about as long as the other side has recently taken to respond, and only
 * while the other side last ran on another CPU; then yield a few times.
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
 * Each side notes the CPU it is on whenever it is about to wait (sched_getcpu: a read of the kernel's rseq area with a recent
 * glibc), and reads the other side's note.  A note can be stale (the peer
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
 * Go's scheduler and WebKit's ParkingLot decide the same way: spin only on
 * a multicore machine with the peer running, briefly, then park.
 *
 * The fields are shared by the threads of one side and updated with
 * relaxed atomics, and written only when they change: a lost update of the
 * average only makes one spin a little longer or shorter.
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
 * the peer runs on another CPU; then SPIN_YIELDS rounds of (yield, check). */
#define CV__SPIN_MIN 16
#define CV__SPIN_MAX 256
#define CV__SPIN_YIELDS 8

/* Each side has two fields, placed by the caller.  `cpu`, the side's CPU
 * when it last waited (-1: unknown, initially), is read by the other side on
 * every wait and written only when this side moves: it belongs on a line
 * that no hot counter shares, or each read would pull the peer's hot line
 * over once per hand-off.  `avg`, the rounds its recent successful spins
 * took (initially CV__SPIN_MIN), is this side's alone: its own line. */

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
                                 _Atomic uint32_t *peer_asleep,
                                 _Atomic uint32_t *avg_p, bool (*ready)(void *),
                                 void *arg) {
  int me = sched_getcpu();
  if (atomic_load_explicit(my_cpu, memory_order_relaxed) != me)
    atomic_store_explicit(my_cpu, me, memory_order_relaxed);
  int other = atomic_load_explicit(peer_cpu, memory_order_relaxed);
  bool running =
      !peer_asleep || atomic_load_explicit(peer_asleep, memory_order_relaxed) == 0;
  if (running && (me < 0 || other < 0 || other != me)) {
    uint32_t avg = atomic_load_explicit(avg_p, memory_order_relaxed), next;
    uint32_t budget = 2 * avg + CV__SPIN_MIN;
    if (budget > CV__SPIN_MAX)
      budget = CV__SPIN_MAX;
    for (uint32_t i = 0; i < budget; i++) {
      if (ready(arg)) {
        next = (uint32_t)((int32_t)avg + ((int32_t)i - (int32_t)avg) / 8);
        if (next != avg)
          atomic_store_explicit(avg_p, next, memory_order_relaxed);
        return true;
      }
      cv__cpu_relax();
    }
    if (avg != 0)
      atomic_store_explicit(avg_p, avg / 2, memory_order_relaxed);
  }
  for (int i = 0; i < CV__SPIN_YIELDS; i++) {
    sched_yield();
    if (ready(arg))
      return true;
  }
  return false;
}

#endif /* CONVEYOR_SPIN_H */
