/* src/event.c - futex calls behind the event count (see event.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "internal.h"

int cv__event_wait(cv__event *e, uint32_t ticket, int64_t deadline) {
  int rc = CV_OK;
  struct timespec ts, *tsp = NULL;
  if (deadline >= 0) {
    if (cv__now_ns() >= deadline) {
      cv__event_cancel(e);
      return CV_ETIMEDOUT;
    }
    ts.tv_sec = (time_t)(deadline / 1000000000);
    ts.tv_nsec = (long)(deadline % 1000000000);
    tsp = &ts;
  }
  /* FUTEX_WAIT_BITSET takes an absolute timeout on CLOCK_MONOTONIC, so the
   * deadline computed once by the caller holds across spurious wake-ups. */
  long r = syscall(SYS_futex, (uint32_t *)&e->epoch, FUTEX_WAIT_BITSET_PRIVATE,
                   ticket, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
  if (r == -1 && errno == ETIMEDOUT)
    rc = CV_ETIMEDOUT;
  cv__event_cancel(e);
  return rc;
}

void cv__event_wake(cv__event *e, int n) {
  atomic_fetch_add_explicit(&e->epoch, 1, memory_order_seq_cst);
  syscall(SYS_futex, (uint32_t *)&e->epoch, FUTEX_WAKE_PRIVATE,
          n <= 0 ? INT_MAX : n, NULL, NULL, 0);
}
