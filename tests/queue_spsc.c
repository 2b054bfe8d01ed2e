/* queue_spsc: a bounded FIFO created with producers = 1 and consumers = 1
 * (the single-producer single-consumer ring) keeps the queue's whole
 * contract: order, exact capacity, batches across the wrap, timeouts,
 * close, shutdown (drain and immediate), task_done/join, stats, destroy;
 * and debug builds abort when two threads overlap on one side. */
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue_util.h"
#include "spsc.h" /* cv__spsc_checked */

static cv_queue *make(size_t cap, cv_destroy_fn destroy, void *arg) {
  cv_queue_options o = {.capacity = cap, .producers = 1, .consumers = 1,
                        .destroy = destroy, .destroy_arg = arg};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  return q;
}

/* FIFO order, an exact capacity of 3, and batches that wrap around. */
static void order_capacity_batches(void) {
  cv_queue *q = make(3, NULL, NULL);
  void *it, *buf[8];
  size_t n;
  CHECK_RC(cv_queue_try_get(q, &it), CV_EEMPTY);
  for (int i = 1; i <= 3; i++)
    CHECK_OK(cv_queue_try_put(q, IP(i)));
  CHECK_RC(cv_queue_try_put(q, IP(4)), CV_EFULL);
  CHECK(cv_queue_full(q));
  CHECK_EQ(cv_queue_size(q), 3);
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK_EQ((intptr_t)it, 1);
  /* put_many of 4 into 1 free slot: 1 goes in, then CV_EFULL. */
  void *more[4] = {IP(4), IP(5), IP(6), IP(7)};
  CHECK_RC(cv_queue_put_many(q, more, 4, &n, CV_NOWAIT), CV_EFULL);
  CHECK_EQ(n, 1);
  CHECK_OK(cv_queue_get_many(q, buf, 8, &n, CV_NOWAIT));
  CHECK_EQ(n, 3);
  for (size_t i = 0; i < n; i++)
    CHECK_EQ((intptr_t)buf[i], (intptr_t)i + 2);
  /* Round after round across the wrap: positions move on, order holds. */
  intptr_t next_in = 5, next_out = 5;
  for (int round = 0; round < 1000; round++) {
    size_t k = (size_t)(round % 3) + 1;
    void *in[3];
    for (size_t i = 0; i < k; i++)
      in[i] = IP(next_in++);
    CHECK_OK(cv_queue_put_many(q, in, k, &n, CV_NOWAIT));
    CHECK_EQ(n, k);
    CHECK_OK(cv_queue_get_many(q, buf, 2, &n, CV_NOWAIT));
    for (size_t i = 0; i < n; i++)
      CHECK_EQ((intptr_t)buf[i], next_out++);
    while (cv_queue_size(q) > 1) {
      CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
      CHECK_EQ((intptr_t)it, next_out++);
    }
  }
  cv_queue_stats st = qstats(q);
  CHECK_EQ(st.capacity, 3);
  CHECK_EQ(st.high_water, 3);
  CHECK_EQ(st.puts, (uint64_t)(next_in - 1));
  CHECK_EQ(st.gets, (uint64_t)(next_out - 1));
  CHECK_EQ(st.size, cv_queue_size(q));
  CHECK_EQ(st.unfinished, st.puts);
  CHECK_OK(cv_queue_destroy(q));
}

/* Timeouts on a full and an empty queue, measured on both sides. */
static void timeouts(void) {
  cv_queue *q = make(1, NULL, NULL);
  void *it;
  int64_t t0 = test_now_ns();
  CHECK_RC(cv_queue_get(q, &it, CV_MSEC(30)), CV_ETIMEDOUT);
  int64_t el = test_now_ns() - t0;
  CHECK(el >= CV_MSEC(30) && el < CV_SEC(10));
  CHECK_OK(cv_queue_put(q, IP(1), CV_MSEC(30)));
  t0 = test_now_ns();
  CHECK_RC(cv_queue_put(q, IP(2), CV_MSEC(30)), CV_ETIMEDOUT);
  el = test_now_ns() - t0;
  CHECK(el >= CV_MSEC(30) && el < CV_SEC(10));
  cv_queue_stats st = qstats(q);
  CHECK_EQ(st.get_waits, 1);
  CHECK_EQ(st.put_waits, 1);
  CHECK_OK(cv_queue_destroy(q));
}

/* A getter asleep on an empty queue is woken by a put, and a putter asleep
 * on a full one by a get; both sleep rather than spin. */
static void blocking_hand_off(void) {
  cv_queue *q = make(1, NULL, NULL);
  op g;
  op_start(&g, OP_GET, q, NULL, CV_FOREVER);
  wait_sleepers(q, 1, 0);
  CHECK(!op_finished(&g));
  CHECK_OK(cv_queue_put(q, IP(42), CV_FOREVER));
  op_join(&g);
  CHECK_OK(g.rc);
  CHECK_EQ((intptr_t)g.item, 42);

  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  op p;
  op_start(&p, OP_PUT, q, IP(2), CV_FOREVER);
  wait_sleepers(q, 1, 1);
  test_sleep_ms(50);
  CHECK(!op_finished(&p));
  void *it;
  CHECK_OK(cv_queue_get(q, &it, CV_FOREVER));
  CHECK_EQ((intptr_t)it, 1);
  op_join(&p);
  CHECK_OK(p.rc);
  CHECK(p.cpu < p.elapsed / 2); /* asleep, not spinning, while blocked */
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK_EQ((intptr_t)it, 2);
  CHECK_OK(cv_queue_destroy(q));
}

/* close: puts fail at once, the getter drains and then gets CV_ECLOSED; a
 * sleeping getter and a sleeping putter are woken. */
static void close_contract(void) {
  cv_queue *q = make(2, NULL, NULL);
  op g;
  op_start(&g, OP_GET, q, NULL, CV_FOREVER);
  wait_sleepers(q, 1, 0);
  CHECK(!cv_queue_is_closed(q));
  CHECK_OK(cv_queue_close(q));
  op_join(&g);
  CHECK_RC(g.rc, CV_ECLOSED);
  CHECK(cv_queue_is_closed(q));
  CHECK_OK(cv_queue_destroy(q));

  q = make(2, NULL, NULL);
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  CHECK_OK(cv_queue_put(q, IP(2), CV_NOWAIT));
  op p;
  op_start(&p, OP_PUT, q, IP(3), CV_FOREVER);
  wait_sleepers(q, 0, 1);
  CHECK_OK(cv_queue_close(q));
  op_join(&p);
  CHECK_RC(p.rc, CV_ECLOSED);
  CHECK_RC(cv_queue_try_put(q, IP(4)), CV_ECLOSED);
  void *it;
  CHECK_OK(cv_queue_get(q, &it, CV_FOREVER));
  CHECK_EQ((intptr_t)it, 1);
  CHECK_OK(cv_queue_get(q, &it, CV_FOREVER));
  CHECK_EQ((intptr_t)it, 2);
  CHECK_RC(cv_queue_get(q, &it, CV_FOREVER), CV_ECLOSED);
  CHECK_RC(cv_queue_try_get(q, &it), CV_ECLOSED);
  CHECK_OK(cv_queue_close(q)); /* idempotent */
  CHECK_OK(cv_queue_destroy(q));
}

static atomic_long destroyed, destroyed_sum;
static void count_destroy(void *item, void *arg) {
  (void)arg;
  atomic_fetch_add(&destroyed, 1);
  atomic_fetch_add(&destroyed_sum, (long)(intptr_t)item);
}

/* shutdown(DRAIN) reports CV_ESHUTDOWN after the drain; shutdown(IMMEDIATE)
 * hands every queued item to destroy, counts them done, wakes join, and
 * gets fail at once; destroy disposes of what is left. */
static void shutdown_contract(void) {
  cv_queue *q = make(4, count_destroy, NULL);
  void *it;
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_DRAIN));
  CHECK_RC(cv_queue_put(q, IP(2), CV_NOWAIT), CV_ESHUTDOWN);
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK_RC(cv_queue_get(q, &it, CV_NOWAIT), CV_ESHUTDOWN);
  CHECK_OK(cv_queue_close(q)); /* no-op after a shutdown */
  CHECK_RC(cv_queue_get(q, &it, CV_NOWAIT), CV_ESHUTDOWN);
  CHECK_OK(cv_queue_task_done(q));
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_OK(cv_queue_destroy(q));

  atomic_store(&destroyed, 0);
  atomic_store(&destroyed_sum, 0);
  q = make(4, count_destroy, NULL);
  for (int i = 1; i <= 4; i++)
    CHECK_OK(cv_queue_put(q, IP(i), CV_NOWAIT));
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT)); /* 1, taken, not yet done */
  op j;
  op_start(&j, OP_JOIN, q, NULL, CV_FOREVER);
  test_sleep_ms(20);
  CHECK(!op_finished(&j));
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_IMMEDIATE));
  CHECK_EQ(atomic_load(&destroyed), 3);
  CHECK_EQ(atomic_load(&destroyed_sum), 2 + 3 + 4);
  CHECK_RC(cv_queue_get(q, &it, CV_NOWAIT), CV_ESHUTDOWN);
  CHECK_RC(cv_queue_put(q, IP(5), CV_NOWAIT), CV_ESHUTDOWN);
  cv_queue_stats st = qstats(q);
  CHECK_EQ(st.discarded, 3);
  CHECK_EQ(st.gets, 1);
  CHECK_EQ(st.size, 0);
  CHECK_EQ(st.unfinished, 1);
  CHECK(!op_finished(&j)); /* item 1 is still unfinished */
  CHECK_OK(cv_queue_task_done(q));
  op_join(&j);
  CHECK_OK(j.rc);
  CHECK_RC(cv_queue_task_done(q), CV_ETASKDONE);
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_IMMEDIATE)); /* again: nothing left */
  CHECK_EQ(atomic_load(&destroyed), 3);
  CHECK_OK(cv_queue_destroy(q));

  /* task_done ahead of get, then the item discarded: counted done once. */
  q = make(4, count_destroy, NULL);
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  CHECK_OK(cv_queue_put(q, IP(2), CV_NOWAIT));
  CHECK_OK(cv_queue_task_done_n(q, 2));
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_IMMEDIATE));
  st = qstats(q);
  CHECK_EQ(st.discarded, 2);
  CHECK_EQ(st.unfinished, 0);
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_RC(cv_queue_task_done(q), CV_ETASKDONE);
  CHECK_OK(cv_queue_destroy(q));

  atomic_store(&destroyed, 0);
  q = make(8, count_destroy, NULL);
  for (int i = 1; i <= 5; i++)
    CHECK_OK(cv_queue_put(q, IP(i), CV_NOWAIT));
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK_OK(cv_queue_destroy(q));
  CHECK_EQ(atomic_load(&destroyed), 4);
}

/* task_done/join as Python counts them: put adds, task_done subtracts, and
 * more task_done calls than puts are refused without changing anything. */
static void task_done_join(void) {
  cv_queue *q = make(8, NULL, NULL);
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_RC(cv_queue_task_done(q), CV_ETASKDONE);
  void *in[3] = {IP(1), IP(2), IP(3)};
  size_t n;
  CHECK_OK(cv_queue_put_many(q, in, 3, &n, CV_NOWAIT));
  CHECK_RC(cv_queue_join(q, CV_MSEC(10)), CV_ETIMEDOUT);
  CHECK_RC(cv_queue_task_done_n(q, 4), CV_ETASKDONE);
  CHECK_EQ(qstats(q).unfinished, 3);
  CHECK_OK(cv_queue_task_done_n(q, 2)); /* task_done need not follow get */
  CHECK_EQ(qstats(q).unfinished, 1);
  op j;
  op_start(&j, OP_JOIN, q, NULL, CV_FOREVER);
  test_sleep_ms(20);
  CHECK(!op_finished(&j));
  CHECK_OK(cv_queue_task_done(q));
  op_join(&j);
  CHECK_OK(j.rc);
  CHECK_OK(cv_queue_destroy(q));
}

/* destroy refuses while a thread is blocked in a call. */
static void destroy_busy(void) {
  cv_queue *q = make(1, NULL, NULL);
  op g;
  op_start(&g, OP_GET, q, NULL, CV_FOREVER);
  wait_sleepers(q, 1, 0);
  CHECK_RC(cv_queue_destroy(q), CV_EBUSY);
  CHECK_OK(cv_queue_close(q));
  op_join(&g);
  CHECK_RC(g.rc, CV_ECLOSED);
  CHECK_OK(cv_queue_destroy(q));
}

/* Two getters at once break the promise: the second call aborts in a debug
 * build.  The first sleeps in get (so it is surely inside) when the second
 * comes; run in a child process, which must die of SIGABRT. */
static void misuse_aborts(void) {
  if (!cv__spsc_checked) {
    printf("queue_spsc: misuse check not built in (NDEBUG): skipped\n");
    return;
  }
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    cv_queue *q = make(1, NULL, NULL);
    op g;
    op_start(&g, OP_GET, q, NULL, CV_FOREVER);
    wait_sleepers(q, 1, 0);
    void *it;
    (void)cv_queue_try_get(q, &it); /* the second getter */
    _exit(0);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

int main(void) {
  order_capacity_batches();
  timeouts();
  blocking_hand_off();
  close_contract();
  shutdown_contract();
  task_done_join();
  destroy_busy();
  misuse_aborts();
  printf("queue_spsc: ok\n");
  return 0;
}
