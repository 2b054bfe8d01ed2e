/* src/time.c - monotonic clock and deadline waits.
 *
 * Every timed wait in conveyor converts its relative timeout to a deadline on
 * CLOCK_MONOTONIC once, then waits on a condition variable bound to the same
 * clock, so that setting the wall clock neither shortens nor stretches it. */
#include <errno.h>
#include <time.h>

#include "conveyor/queue.h"
#include "internal.h"

int64_t cv__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cv__deadline(int64_t timeout_ns) {
  if (timeout_ns == CV_FOREVER)
    return -1;
  int64_t now = cv__now_ns();
  if (timeout_ns < 0)
    return now;
  if (timeout_ns > INT64_MAX - now)
    return -1; /* so far away it is forever */
  return now + timeout_ns;
}

int cv__cond_init(pthread_cond_t *cond) {
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) != 0)
    return CV_ESYS;
  int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (rc == 0)
    rc = pthread_cond_init(cond, &attr);
  pthread_condattr_destroy(&attr);
  return rc == 0 ? CV_OK : CV_ESYS;
}

int cv__cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex,
                  int64_t deadline) {
  if (deadline < 0) {
    pthread_cond_wait(cond, mutex);
    return CV_OK;
  }
  if (cv__now_ns() >= deadline)
    return CV_ETIMEDOUT;
  struct timespec ts;
  ts.tv_sec = (time_t)(deadline / 1000000000);
  ts.tv_nsec = (long)(deadline % 1000000000);
  int rc = pthread_cond_timedwait(cond, mutex, &ts);
  return rc == ETIMEDOUT ? CV_ETIMEDOUT : CV_OK;
}
