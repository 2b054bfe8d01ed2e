/* src/event.c - the sleeping half of the event count (see event.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "internal.h"

_Atomic int cv__event_asymmetric = 0;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void) {
  long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
    return;
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0)
    return;
  atomic_store(&cv__event_asymmetric, 1);
}

void cv__event_global_init(void) { pthread_once(&global_once, global_init); }

/* The waiter's half of the barrier pair (see event.h). */
void cv__event_heavy_barrier(const cv__event *e) {
  if (e->asymmetric &&
      syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
    return;
  atomic_thread_fence(memory_order_seq_cst);
}

int cv__event_init(cv__event *e, bool asymmetric) {
  /* Asymmetric only where membarrier is registered (global_init ran). */
  e->asymmetric =
      asymmetric && atomic_load_explicit(&cv__event_asymmetric, memory_order_relaxed);
  atomic_init(&e->nwaiters, 0);
  atomic_init(&e->inside, 0);
  e->head = e->tail = NULL;
  return pthread_mutex_init(&e->mu, NULL) == 0 ? CV_OK : CV_ESYS;
}

void cv__event_destroy(cv__event *e) { pthread_mutex_destroy(&e->mu); }

/* The mutex is held. */
static void unlink_waiter(cv__event *e, cv__waiter *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    e->head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    e->tail = w->prev;
  w->listed = false;
  atomic_fetch_sub_explicit(&e->nwaiters, 1, memory_order_seq_cst);
}

void cv__event_prepare(cv__event *e, cv__waiter *w) {
  atomic_fetch_add_explicit(&e->inside, 1, memory_order_seq_cst);
  atomic_init(&w->notified, 0);
  w->next = NULL;
  pthread_mutex_lock(&e->mu);
  w->prev = e->tail;
  if (e->tail)
    e->tail->next = w;
  else
    e->head = w;
  e->tail = w;
  w->listed = true;
  atomic_fetch_add_explicit(&e->nwaiters, 1, memory_order_seq_cst);
  pthread_mutex_unlock(&e->mu);
  cv__event_heavy_barrier(e);
}

static void leave(cv__event *e, cv__waiter *w) {
  pthread_mutex_lock(&e->mu);
  if (w->listed)
    unlink_waiter(e, w);
  pthread_mutex_unlock(&e->mu);
  atomic_fetch_sub_explicit(&e->inside, 1, memory_order_seq_cst);
}

void cv__event_cancel(cv__event *e, cv__waiter *w) { leave(e, w); }

int cv__event_wait(cv__event *e, cv__waiter *w, int64_t deadline) {
  int rc = CV_OK;
  struct timespec ts, *tsp = NULL;
  if (deadline >= 0) {
    ts.tv_sec = (time_t)(deadline / 1000000000);
    ts.tv_nsec = (long)(deadline % 1000000000);
    tsp = &ts;
  }
  while (atomic_load_explicit(&w->notified, memory_order_acquire) == 0) {
    if (deadline >= 0 && cv__now_ns() >= deadline) {
      rc = CV_ETIMEDOUT;
      break;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout, so the
     * deadline holds across spurious wake-ups. */
    long r = syscall(SYS_futex, (uint32_t *)&w->notified,
                     FUTEX_WAIT_BITSET_PRIVATE, 0, tsp, NULL,
                     FUTEX_BITSET_MATCH_ANY);
    if (r == -1 && errno == ETIMEDOUT &&
        atomic_load_explicit(&w->notified, memory_order_acquire) == 0) {
      rc = CV_ETIMEDOUT;
      break;
    }
  }
  leave(e, w);
  return rc;
}

void cv__event_wake(cv__event *e, int n) {
  bool all = n <= 0;
  pthread_mutex_lock(&e->mu);
  for (; e->head && (all || n > 0); n--) {
    cv__waiter *w = e->head;
    unlink_waiter(e, w);
    atomic_store_explicit(&w->notified, 1, memory_order_release);
    /* Under the mutex: the waiter takes it before returning, so its frame
     * is still alive here. */
    syscall(SYS_futex, (uint32_t *)&w->notified, FUTEX_WAKE_PRIVATE, 1, NULL,
            NULL, 0);
  }
  pthread_mutex_unlock(&e->mu);
}
