/* queue_signals: a state change wakes somebody only when somebody sleeps -
 * uncontended puts, gets, task_done and join make no wake-up call at all, and
 * one item for one or several sleeping getters makes one.
 *
 * The test is linked with -Wl,--wrap= for pthread_cond_signal,
 * pthread_cond_broadcast (the mutex queue) and syscall (the ring's futex
 * wake-ups), so the wrappers below count every wake-up the library makes. */
#include <stdarg.h>
#include <stdatomic.h>

#include <linux/futex.h>
#include <sys/syscall.h>

#include "queue_util.h"

int __real_pthread_cond_signal(pthread_cond_t *c);
int __real_pthread_cond_broadcast(pthread_cond_t *c);
long __real_syscall(long number, ...);
int __wrap_pthread_cond_signal(pthread_cond_t *c);
int __wrap_pthread_cond_broadcast(pthread_cond_t *c);
long __wrap_syscall(long number, ...);

static atomic_long wakes; /* condition signals, broadcasts and futex wakes */

int __wrap_pthread_cond_signal(pthread_cond_t *c) {
  atomic_fetch_add(&wakes, 1);
  return __real_pthread_cond_signal(c);
}

int __wrap_pthread_cond_broadcast(pthread_cond_t *c) {
  atomic_fetch_add(&wakes, 1);
  return __real_pthread_cond_broadcast(c);
}

long __wrap_syscall(long number, ...) {
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (int i = 0; i < 6; i++)
    a[i] = va_arg(ap, long);
  va_end(ap);
  if (number == SYS_futex && (a[1] & FUTEX_CMD_MASK) == FUTEX_WAKE)
    atomic_fetch_add(&wakes, 1);
  return __real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* Everything one thread can do without ever having to wait. */
static void busy_alone(cv_queue *q) {
  void *it, *batch[4] = {IP(1), IP(2), IP(3), IP(4)};
  size_t n;
  for (int i = 0; i < 500; i++) {
    CHECK_OK(cv_queue_put(q, IP(i + 1), CV_FOREVER));
    CHECK_OK(cv_queue_try_put(q, IP(i + 1)));
    CHECK_OK(cv_queue_put_many(q, batch, 4, &n, CV_MSEC(10)));
    CHECK_OK(cv_queue_get(q, &it, CV_FOREVER));
    CHECK_OK(cv_queue_try_get(q, &it));
    CHECK_OK(cv_queue_get_many(q, batch, 4, &n, CV_MSEC(10)));
    CHECK_EQ(n, 4);
    CHECK_OK(cv_queue_task_done_n(q, 6));
    CHECK_OK(cv_queue_join(q, CV_FOREVER));
    CHECK_RC(cv_queue_try_get(q, &it), CV_EEMPTY);
  }
}

static void check_queue(const cv_queue_options *o, const char *what) {
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, o));

  atomic_store(&wakes, 0);
  busy_alone(q);
  if (atomic_load(&wakes) != 0) {
    fprintf(stderr, "%s: %ld wake-ups with nobody asleep\n", what,
            atomic_load(&wakes));
    exit(1);
  }

  /* One getter asleep: one put wakes it, with one wake-up call. */
  op g;
  op_start(&g, OP_GET, q, NULL, CV_SEC(60));
  wait_sleepers(q, 1, 0);
  atomic_store(&wakes, 0);
  CHECK_OK(cv_queue_put(q, IP(7), CV_NOWAIT));
  op_join(&g);
  CHECK_OK(g.rc);
  CHECK(g.item == IP(7));
  if (atomic_load(&wakes) != 1) {
    fprintf(stderr, "%s: %ld wake-ups for one sleeping getter\n", what,
            atomic_load(&wakes));
    exit(1);
  }
  CHECK_OK(cv_queue_task_done(q));

  /* Three getters asleep and one item: one wake-up, not three (no
   * thundering herd); the two others sleep on until their items come. */
  enum { K = 3 };
  op gs[K];
  for (int i = 0; i < K; i++)
    op_start(&gs[i], OP_GET, q, NULL, CV_SEC(60));
  wait_sleepers(q, 1 + K, 0);
  atomic_store(&wakes, 0);
  CHECK_OK(cv_queue_put(q, IP(8), CV_NOWAIT));
  int64_t give_up = test_now_ns() + CV_SEC(10);
  int finished = 0;
  while (finished == 0) {
    CHECK(test_now_ns() < give_up);
    test_sleep_ms(1);
    for (int i = 0; i < K; i++)
      finished += op_finished(&gs[i]);
  }
  test_sleep_ms(20);
  finished = 0;
  for (int i = 0; i < K; i++)
    finished += op_finished(&gs[i]);
  CHECK_EQ(finished, 1);
  if (atomic_load(&wakes) != 1) {
    fprintf(stderr, "%s: %ld wake-ups for one item and %d sleeping getters\n",
            what, atomic_load(&wakes), K);
    exit(1);
  }
  void *two[2] = {IP(9), IP(10)};
  CHECK_OK(cv_queue_put_many(q, two, 2, NULL, CV_NOWAIT));
  intptr_t sum = 0;
  for (int i = 0; i < K; i++) {
    op_join(&gs[i]);
    CHECK_OK(gs[i].rc);
    sum += (intptr_t)gs[i].item;
  }
  CHECK_EQ(sum, 8 + 9 + 10);
  CHECK_OK(cv_queue_task_done_n(q, K));

  /* Once they left, nobody is woken again. */
  atomic_store(&wakes, 0);
  busy_alone(q);
  CHECK_EQ(atomic_load(&wakes), 0);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_main(void) {
  cv_queue_options fifo = {.capacity = 64};
  cv_queue_options unbounded = {0};
  cv_queue_options lifo = {.order = CV_LIFO, .capacity = 64};
  cv_queue_options prio = {.order = CV_PRIORITY, .compare = cmp_intptr};
  check_queue(&fifo, cv__queue_force_locked ? "bounded fifo (locked)"
                                            : "bounded fifo (ring)");
  check_queue(&unbounded, "unbounded fifo");
  check_queue(&lifo, "lifo");
  check_queue(&prio, "priority");
}

int main(void) {
  for_each_impl(test_main);
  printf("queue_signals: ok\n");
  return 0;
}
