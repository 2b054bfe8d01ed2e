/* src/internal.h - declarations shared between conveyor's source files.
 * Nothing here is part of the public API; internal non-static symbols carry
 * the cv__ prefix. */
#ifndef CONVEYOR_INTERNAL_H
#define CONVEYOR_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "conveyor/error.h"

#define CV__UNUSED(x) ((void)(x))

/* Nanoseconds on CLOCK_MONOTONIC, from an arbitrary origin. */
int64_t cv__now_ns(void);

/* True for the timeouts the API takes: CV_FOREVER, CV_NOWAIT or > 0 ns.
 * Every public call with a timeout checks it first (CV_EINVAL). */
static inline bool cv__timeout_ok(int64_t timeout_ns) {
  return timeout_ns >= 0 || timeout_ns == -1 /* CV_FOREVER */;
}

/* Converts a relative timeout (CV_FOREVER, CV_NOWAIT or > 0 ns) into an
 * absolute CLOCK_MONOTONIC deadline in ns; CV_FOREVER stays -1.  Computed
 * once per call, so spurious wake-ups never extend the total wait.  Any
 * other negative timeout (the callers refuse them) is a deadline already
 * past, never "forever". */
int64_t cv__deadline(int64_t timeout_ns);

/* Initialises a condition variable that waits on CLOCK_MONOTONIC.
 * Returns CV_OK or CV_ESYS. */
int cv__cond_init(pthread_cond_t *cond);

/* Waits on cond until signalled or until the absolute `deadline` (from
 * cv__deadline; -1 = no limit).  Returns CV_OK (woken, possibly spuriously:
 * callers re-check their predicate) or CV_ETIMEDOUT. */
int cv__cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex,
                  int64_t deadline);

#endif /* CONVEYOR_INTERNAL_H */
