/* queue_cpython: CPython 3.13's Lib/test/test_queue.py, ported case by case
 * to the C API and run against every kind of queue.
 *
 * Each test method of the Python suite is a function here with the same
 * name (see docs/testing.md for the table, and the three that cannot
 * apply).  Python runs its queue tests on Queue, LifoQueue and
 * PriorityQueue, and its SimpleQueue tests on an unbounded FIFO queue; here
 * every test runs on each kind it applies to:
 *   ring, ring-symmetric   bounded FIFO, the lock-free ring (both pairings)
 *   locked                 bounded FIFO, the mutex queue
 *   unbounded              FIFO, capacity 0 (Python's Queue(), SimpleQueue)
 *   lifo, priority         LifoQueue, PriorityQueue (bounded when Python
 *                          gives a maxsize, else unbounded)
 * A Python Queue() without maxsize becomes a ring or locked queue of
 * DEFAULT_CAP (those are bounded by nature).  Items are small integers in
 * the pointer; Python's strings "Y", "D", ... become integers.
 *
 * Python's blocking helper starts a thread that sleeps 0.1 s and then
 * unblocks the main thread's call.  Here the helper thread waits until the
 * queue's get_waits/put_waits counter says the main thread sleeps in the
 * call (wait_sleepers), which proves the call blocked rather than hoping a
 * sleep was long enough.
 *
 * CV_CPYTHON_ONLY=name runs one test; CV_TEST_IMPL=kind one kind. */
#include <stdatomic.h>

#include "queue_util.h"

enum { QUEUE_SIZE = 5, DEFAULT_CAP = 64 };

typedef struct kind {
  const char *name;
  cv_queue_order order;
  bool bounded_fifo; /* ring or locked: always bounded */
  bool locked;
  bool symmetric;
  bool ring;
} kind;

static const kind kinds[] = {
    {"ring", CV_FIFO, true, false, false, true},
    {"ring-symmetric", CV_FIFO, true, false, true, true},
    {"locked", CV_FIFO, true, true, false, false},
    {"unbounded", CV_FIFO, false, false, false, false},
    {"lifo", CV_LIFO, false, false, false, false},
    {"priority", CV_PRIORITY, false, false, false, false},
};

static const kind *K; /* the kind under test */
static long cases;

/* A queue of the kind under test, as Python's type2test(maxsize). */
static cv_queue *make_q(size_t maxsize, cv_destroy_fn destroy, void *arg) {
  cv_queue_options o = {.order = K->order, .destroy = destroy,
                        .destroy_arg = arg};
  if (K->order == CV_PRIORITY)
    o.compare = cmp_intptr;
  if (K->bounded_fifo)
    o.capacity = maxsize ? maxsize : DEFAULT_CAP;
  else if (K->order != CV_FIFO)
    o.capacity = maxsize;
  cv__queue_force_locked = K->locked;
  cv__queue_force_symmetric = K->symmetric;
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  cv__queue_force_locked = 0;
  cv__queue_force_symmetric = 0;
  return q;
}

static cv_queue *type2test(size_t maxsize) { return make_q(maxsize, NULL, NULL); }

static bool qfull(cv_queue *q) {
  size_t cap = cv_queue_capacity(q);
  return cap > 0 && cv_queue_size(q) == cap;
}

static intptr_t get_int(cv_queue *q, int64_t timeout) {
  void *it;
  CHECK_OK(cv_queue_get(q, &it, timeout));
  return (intptr_t)it;
}

/* ---- BlockingTestMixin ------------------------------------------------ */

typedef struct trigger {
  cv_queue *q;
  bool put;         /* trigger: put `item`, or get */
  void *item;
  bool blocked_get; /* the blocking call is a get (else a put) */
  uint64_t gets0, puts0;
  atomic_int started;
  pthread_t th;
} trigger;

static void *trigger_run(void *arg) {
  trigger *t = arg;
  /* The blocking call sleeps in the queue before anything unclogs it. */
  wait_sleepers(t->q, t->gets0 + t->blocked_get, t->puts0 + !t->blocked_get);
  atomic_store(&t->started, 1);
  void *it;
  if (t->put)
    CHECK_OK(cv_queue_put(t->q, t->item, CV_FOREVER));
  else
    CHECK_OK(cv_queue_get(t->q, &it, CV_FOREVER));
  return NULL;
}

/* do_blocking_test: the main thread's call must block until the trigger
 * thread's call unclogs it, and then succeed. */
static void trigger_start(trigger *t, cv_queue *q, bool blocked_get,
                          bool put, void *item) {
  cv_queue_stats st = qstats(q);
  *t = (trigger){.q = q, .put = put, .item = item, .blocked_get = blocked_get,
                 .gets0 = st.get_waits, .puts0 = st.put_waits};
  CHECK(pthread_create(&t->th, NULL, trigger_run, t) == 0);
}

static void trigger_end(trigger *t) {
  CHECK(atomic_load(&t->started)); /* returned only after it was unclogged */
  CHECK(pthread_join(t->th, NULL) == 0);
}

static void blocking_put(cv_queue *q, void *item, int64_t timeout) {
  trigger t;
  trigger_start(&t, q, false, false, NULL);
  CHECK_OK(cv_queue_put(q, item, timeout));
  trigger_end(&t);
}

static intptr_t blocking_get(cv_queue *q, void *item, int64_t timeout) {
  trigger t;
  trigger_start(&t, q, true, true, item);
  intptr_t got = get_int(q, timeout);
  trigger_end(&t);
  return got;
}

/* ---- BaseQueueTestMixin ----------------------------------------------- */

static void basic_queue_test(cv_queue *q) {
  CHECK_EQ(cv_queue_size(q), 0);
  CHECK(cv_queue_empty(q));
  CHECK(!cv_queue_full(q));
  CHECK_OK(cv_queue_put(q, IP(111), CV_FOREVER));
  CHECK_OK(cv_queue_put(q, IP(333), CV_FOREVER));
  CHECK_OK(cv_queue_put(q, IP(222), CV_FOREVER));
  static const intptr_t want[3][3] = {
      {111, 333, 222}, {222, 333, 111}, {111, 222, 333}};
  for (int i = 0; i < 3; i++)
    CHECK_EQ(get_int(q, CV_FOREVER), want[K->order][i]);
  for (int i = 0; i < QUEUE_SIZE - 1; i++) {
    CHECK_OK(cv_queue_put(q, IP(i), CV_FOREVER));
    CHECK(cv_queue_size(q) > 0);
  }
  CHECK(!qfull(q));
  intptr_t last = 2 * QUEUE_SIZE, full = 3 * 2 * QUEUE_SIZE;
  CHECK_OK(cv_queue_put(q, IP(last), CV_FOREVER));
  CHECK(qfull(q));
  CHECK(!cv_queue_empty(q));
  CHECK(cv_queue_full(q));
  CHECK_RC(cv_queue_put(q, IP(full), CV_NOWAIT), CV_EFULL);
  CHECK_RC(cv_queue_put(q, IP(full), CV_MSEC(10)), CV_ETIMEDOUT);
  blocking_put(q, IP(full), CV_FOREVER);
  blocking_put(q, IP(full), CV_SEC(10));
  for (int i = 0; i < QUEUE_SIZE; i++)
    get_int(q, CV_FOREVER);
  CHECK_EQ(cv_queue_size(q), 0);
  void *it;
  CHECK_RC(cv_queue_get(q, &it, CV_NOWAIT), CV_EEMPTY);
  CHECK_RC(cv_queue_get(q, &it, CV_MSEC(10)), CV_ETIMEDOUT);
  CHECK_EQ(blocking_get(q, IP(77), CV_FOREVER), 77);
  CHECK_EQ(blocking_get(q, IP(78), CV_SEC(10)), 78);
}

static atomic_long cum;

static void *join_worker(void *arg) {
  cv_queue *q = arg;
  for (;;) {
    intptr_t x = get_int(q, CV_FOREVER);
    if (x < 0) {
      CHECK_OK(cv_queue_task_done(q));
      return NULL;
    }
    atomic_fetch_add(&cum, (long)x);
    CHECK_OK(cv_queue_task_done(q));
  }
}

static void queue_join_test(cv_queue *q) {
  atomic_store(&cum, 0);
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    CHECK(pthread_create(&th[i], NULL, join_worker, q) == 0);
  for (int i = 0; i < 100; i++)
    CHECK_OK(cv_queue_put(q, IP(i), CV_FOREVER));
  CHECK_OK(cv_queue_join(q, CV_FOREVER));
  CHECK_EQ(atomic_load(&cum), 4950); /* join waited for every task */
  for (int i = 0; i < 2; i++)
    CHECK_OK(cv_queue_put(q, IP(-1), CV_FOREVER));
  CHECK_OK(cv_queue_join(q, CV_FOREVER)); /* join twice */
  for (int i = 0; i < 2; i++)
    CHECK(pthread_join(th[i], NULL) == 0);
}

static void test_queue_task_done(void) {
  cv_queue *q = type2test(0);
  CHECK_RC(cv_queue_task_done(q), CV_ETASKDONE);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_queue_join(void) {
  cv_queue *q = type2test(0);
  queue_join_test(q);
  queue_join_test(q);
  CHECK_RC(cv_queue_task_done(q), CV_ETASKDONE);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_basic(void) {
  cv_queue *q = type2test(QUEUE_SIZE);
  basic_queue_test(q);
  basic_queue_test(q); /* the same instance, reused */
  CHECK_OK(cv_queue_destroy(q));
}

static void test_negative_timeout_raises_exception(void) {
  cv_queue *q = type2test(QUEUE_SIZE);
  void *it;
  CHECK_RC(cv_queue_put(q, IP(1), CV_SEC(-1)), CV_EINVAL);
  CHECK_RC(cv_queue_get(q, &it, CV_SEC(-1)), CV_EINVAL);
  CHECK_EQ(cv_queue_size(q), 0); /* nothing happened */
  CHECK_OK(cv_queue_destroy(q));
}

static void test_nowait(void) {
  cv_queue *q = type2test(QUEUE_SIZE);
  for (int i = 0; i < QUEUE_SIZE; i++)
    CHECK_OK(cv_queue_try_put(q, IP(1)));
  CHECK_RC(cv_queue_try_put(q, IP(1)), CV_EFULL);
  void *it;
  for (int i = 0; i < QUEUE_SIZE; i++)
    CHECK_OK(cv_queue_try_get(q, &it));
  CHECK_RC(cv_queue_try_get(q, &it), CV_EEMPTY);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_shutdown_empty(void) {
  cv_queue *q = type2test(0);
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_DRAIN));
  CHECK_RC(cv_queue_put(q, IP(1), CV_FOREVER), CV_ESHUTDOWN);
  void *it;
  CHECK_RC(cv_queue_get(q, &it, CV_FOREVER), CV_ESHUTDOWN);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_shutdown_nonempty(void) {
  cv_queue *q = type2test(0);
  CHECK_OK(cv_queue_put(q, IP(1), CV_FOREVER));
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_DRAIN));
  CHECK_EQ(get_int(q, CV_FOREVER), 1);
  void *it;
  CHECK_RC(cv_queue_get(q, &it, CV_FOREVER), CV_ESHUTDOWN);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_shutdown_immediate(void) {
  cv_queue *q = type2test(0);
  CHECK_OK(cv_queue_put(q, IP(1), CV_FOREVER));
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_IMMEDIATE));
  void *it;
  CHECK_RC(cv_queue_get(q, &it, CV_FOREVER), CV_ESHUTDOWN);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_shutdown_allowed_transitions(void) {
  cv_queue *q = type2test(0);
  CHECK(!cv_queue_is_closed(q));
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_DRAIN));
  CHECK(cv_queue_is_closed(q));
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_IMMEDIATE));
  CHECK(cv_queue_is_closed(q));
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_DRAIN)); /* no way back */
  void *it;
  CHECK_RC(cv_queue_get(q, &it, CV_NOWAIT), CV_ESHUTDOWN);
  CHECK_OK(cv_queue_destroy(q));
}

enum { L = 'L', O = 'O', E = 'E', W = 'W', Y = 'Y', D = 'D' };

static void shutdown_all_methods_in_one_thread(cv_shutdown_mode mode) {
  cv_queue *q = type2test(2);
  CHECK_OK(cv_queue_put(q, IP(L), CV_FOREVER));
  CHECK_OK(cv_queue_try_put(q, IP(O)));
  CHECK_OK(cv_queue_shutdown(q, mode));
  CHECK_RC(cv_queue_put(q, IP(E), CV_FOREVER), CV_ESHUTDOWN);
  CHECK_RC(cv_queue_try_put(q, IP(W)), CV_ESHUTDOWN);
  void *it;
  if (mode == CV_SHUTDOWN_IMMEDIATE) {
    CHECK_RC(cv_queue_get(q, &it, CV_FOREVER), CV_ESHUTDOWN);
    CHECK_RC(cv_queue_try_get(q, &it), CV_ESHUTDOWN);
    CHECK_RC(cv_queue_task_done(q), CV_ETASKDONE);
    CHECK_OK(cv_queue_join(q, CV_FOREVER));
  } else {
    intptr_t a = get_int(q, CV_FOREVER);
    CHECK(a == L || a == O);
    CHECK_OK(cv_queue_task_done(q));
    intptr_t b = get_int(q, CV_FOREVER);
    CHECK((b == L || b == O) && b != a);
    CHECK_OK(cv_queue_task_done(q));
    CHECK_OK(cv_queue_join(q, CV_FOREVER));
    CHECK_RC(cv_queue_get(q, &it, CV_FOREVER), CV_ESHUTDOWN);
    CHECK_RC(cv_queue_try_get(q, &it), CV_ESHUTDOWN);
    CHECK_RC(cv_queue_get(q, &it, CV_SEC(1)), CV_ESHUTDOWN);
  }
  CHECK_OK(cv_queue_destroy(q));
}

static void test_shutdown_all_methods_in_one_thread(void) {
  shutdown_all_methods_in_one_thread(CV_SHUTDOWN_DRAIN);
}

static void test_shutdown_immediate_all_methods_in_one_thread(void) {
  shutdown_all_methods_in_one_thread(CV_SHUTDOWN_IMMEDIATE);
}

/* _shutdown_all_methods_in_many_threads: 4 writers, 6 readers and, for an
 * immediate shutdown, 2 joiners meet at a barrier once every writer has put
 * half its share and every reader has taken (and finished) an item; the
 * writer that reaches the middle of its share first triggers the shutdown.
 * Every reader must end with CV_ESHUTDOWN, every task_done for an item
 * taken must succeed, and every join must return.  Python puts 64 Ki items;
 * 4 Ki here, with the bounded queues sized so that the writers reach the
 * barrier. */
enum { MANY_W = 4, MANY_R = 6, MANY_J = 2, NB_MSGS = 4096 };

typedef struct many {
  cv_queue *q;
  pthread_barrier_t start;
  atomic_int shutdown_set; /* the trigger, set once */
  atomic_int puts_true, gets_true;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool triggered;
} many;

static void *many_writer(void *arg) {
  many *m = arg;
  int n = NB_MSGS / MANY_W, when = n / 2;
  for (int i = 0; i < when / 2; i++)
    CHECK_OK(cv_queue_put(m->q, IP(i + 1), CV_FOREVER));
  pthread_barrier_wait(&m->start);
  for (int i = when / 2; i < n; i++) {
    int rc = cv_queue_put(m->q, IP(i + 1), CV_FOREVER);
    if (rc != CV_OK) {
      CHECK_RC(rc, CV_ESHUTDOWN);
      break;
    }
    if (i == when && atomic_exchange(&m->shutdown_set, 1) == 0) {
      atomic_fetch_add(&m->puts_true, 1);
      pthread_mutex_lock(&m->mu);
      m->triggered = true;
      pthread_cond_signal(&m->cond);
      pthread_mutex_unlock(&m->mu);
    }
  }
  return NULL;
}

static void *many_reader(void *arg) {
  many *m = arg;
  get_int(m->q, CV_FOREVER);
  CHECK_OK(cv_queue_task_done(m->q));
  pthread_barrier_wait(&m->start);
  for (;;) {
    void *it;
    int rc = cv_queue_try_get(m->q, &it);
    if (rc == CV_OK) {
      CHECK_OK(cv_queue_task_done(m->q)); /* it was really taken */
    } else if (rc == CV_ESHUTDOWN) {
      atomic_fetch_add(&m->gets_true, 1);
      return NULL;
    } else {
      CHECK_RC(rc, CV_EEMPTY);
    }
  }
}

static void *many_joiner(void *arg) {
  many *m = arg;
  pthread_barrier_wait(&m->start);
  CHECK_OK(cv_queue_join(m->q, CV_SEC(60))); /* returns, and not by time */
  return NULL;
}

static void shutdown_all_methods_in_many_threads(cv_shutdown_mode mode) {
  many m = {0};
  bool immediate = mode == CV_SHUTDOWN_IMMEDIATE;
  /* Python's queue is unbounded; a bounded one holds every item. */
  m.q = make_q(K->bounded_fifo ? NB_MSGS : 0, NULL, NULL);
  CHECK(pthread_mutex_init(&m.mu, NULL) == 0);
  CHECK(pthread_cond_init(&m.cond, NULL) == 0);
  unsigned parties = MANY_W + MANY_R + (immediate ? MANY_J : 0);
  CHECK(pthread_barrier_init(&m.start, NULL, parties) == 0);
  pthread_t th[MANY_W + MANY_R + MANY_J];
  int n = 0;
  for (int i = 0; i < MANY_W; i++)
    CHECK(pthread_create(&th[n++], NULL, many_writer, &m) == 0);
  for (int i = 0; i < MANY_R; i++)
    CHECK(pthread_create(&th[n++], NULL, many_reader, &m) == 0);
  if (immediate)
    for (int i = 0; i < MANY_J; i++)
      CHECK(pthread_create(&th[n++], NULL, many_joiner, &m) == 0);
  /* _shutdown_thread */
  pthread_mutex_lock(&m.mu);
  while (!m.triggered)
    pthread_cond_wait(&m.cond, &m.mu);
  pthread_mutex_unlock(&m.mu);
  CHECK_OK(cv_queue_shutdown(m.q, mode));
  bool empty_after = cv_queue_size(m.q) == 0;
  for (int i = 0; i < n; i++)
    CHECK(pthread_join(th[i], NULL) == 0);
  CHECK(atomic_load(&m.puts_true) >= 1);
  CHECK_EQ(atomic_load(&m.gets_true), MANY_R);
  if (immediate) {
    CHECK(empty_after);
    CHECK(cv_queue_empty(m.q));
  }
  /* Every item taken was finished, every other one discarded. */
  CHECK_OK(cv_queue_join(m.q, CV_NOWAIT));
  CHECK_EQ(qstats(m.q).unfinished, 0);
  pthread_barrier_destroy(&m.start);
  pthread_cond_destroy(&m.cond);
  pthread_mutex_destroy(&m.mu);
  CHECK_OK(cv_queue_destroy(m.q));
}

static void test_shutdown_all_methods_in_many_threads(void) {
  shutdown_all_methods_in_many_threads(CV_SHUTDOWN_DRAIN);
}

static void test_shutdown_immediate_all_methods_in_many_threads(void) {
  shutdown_all_methods_in_many_threads(CV_SHUTDOWN_IMMEDIATE);
}

/* Threads that wait for `go`, then make one call and record whether its
 * outcome was the expected one (Python's _get, _put, _join, ...). */
typedef struct go_op {
  cv_queue *q;
  atomic_int *go;
  int what; /* 'g' get, 'G' get expecting shutdown, 't' get + task_done,
               'P' put expecting shutdown, 'j' join */
  intptr_t item;
  int result; /* 1 as expected, 0 not, -1 not run */
  pthread_t th;
} go_op;

static void *go_run(void *arg) {
  go_op *g = arg;
  if (g->what != 'j')
    while (!atomic_load(g->go))
      sched_yield();
  void *it;
  int rc;
  switch (g->what) {
  case 'g':
    rc = cv_queue_get(g->q, &it, CV_FOREVER);
    g->result = rc == CV_OK;
    if (rc != CV_OK)
      CHECK_RC(rc, CV_ESHUTDOWN);
    break;
  case 'G':
    g->result = cv_queue_get(g->q, &it, CV_FOREVER) == CV_ESHUTDOWN;
    break;
  case 't':
    rc = cv_queue_get(g->q, &it, CV_FOREVER);
    g->result = rc == CV_OK && cv_queue_task_done(g->q) == CV_OK;
    break;
  case 'P':
    g->result = cv_queue_put(g->q, IP(g->item), CV_FOREVER) == CV_ESHUTDOWN;
    break;
  default:
    g->result = cv_queue_join(g->q, CV_SEC(60)) == CV_OK;
  }
  return NULL;
}

static void go_start(go_op *g, cv_queue *q, atomic_int *go, int what,
                     intptr_t item) {
  *g = (go_op){.q = q, .go = go, .what = what, .item = item, .result = -1};
  CHECK(pthread_create(&g->th, NULL, go_run, g) == 0);
}

static void go_join(go_op *g, int n) {
  for (int i = 0; i < n; i++)
    CHECK(pthread_join(g[i].th, NULL) == 0);
}

static void shutdown_get(cv_shutdown_mode mode) {
  cv_queue *q = type2test(2);
  atomic_int go = 0;
  CHECK_OK(cv_queue_put(q, IP(Y), CV_FOREVER));
  CHECK_OK(cv_queue_put(q, IP(D), CV_FOREVER));
  go_op g[3];
  int n = mode == CV_SHUTDOWN_IMMEDIATE ? 2 : 3;
  for (int i = 0; i < n; i++)
    go_start(&g[i], q, &go, mode == CV_SHUTDOWN_IMMEDIATE ? 'G' : 'g', 0);
  CHECK_OK(cv_queue_shutdown(q, mode));
  atomic_store(&go, 1);
  go_join(g, n);
  /* immediate: both saw the shutdown; drain: two took Y and D, one saw
   * the shutdown */
  int ok = 0;
  for (int i = 0; i < n; i++)
    ok += g[i].result;
  CHECK_EQ(ok, 2);
  if (mode == CV_SHUTDOWN_DRAIN)
    CHECK_EQ(qstats(q).gets, 2);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_shutdown_get(void) { shutdown_get(CV_SHUTDOWN_DRAIN); }
static void test_shutdown_immediate_get(void) {
  shutdown_get(CV_SHUTDOWN_IMMEDIATE);
}

/* Python's _shutdown_put calls shutdown() without its `immediate` argument
 * in both variants; here the immediate variant shuts down immediately. */
static void shutdown_put(cv_shutdown_mode mode) {
  cv_queue *q = type2test(2);
  atomic_int go = 0;
  CHECK_OK(cv_queue_put(q, IP(Y), CV_FOREVER));
  CHECK_OK(cv_queue_put(q, IP(D), CV_FOREVER));
  go_op g[2];
  go_start(&g[0], q, &go, 'P', E);
  go_start(&g[1], q, &go, 'P', W);
  CHECK_OK(cv_queue_shutdown(q, mode));
  atomic_store(&go, 1);
  go_join(g, 2);
  CHECK_EQ(g[0].result, 1);
  CHECK_EQ(g[1].result, 1);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_shutdown_put(void) { shutdown_put(CV_SHUTDOWN_DRAIN); }
static void test_shutdown_immediate_put(void) {
  shutdown_put(CV_SHUTDOWN_IMMEDIATE);
}

static void shutdown_join(cv_shutdown_mode mode) {
  cv_queue *q = type2test(0);
  atomic_int go = 0;
  CHECK_OK(cv_queue_put(q, IP(Y), CV_FOREVER));
  size_t nb = cv_queue_size(q);
  go_op g[3];
  int n = 0;
  go_start(&g[n++], q, &go, 'j', 0);
  go_start(&g[n++], q, &go, 'j', 0);
  go_op t[1];
  if (mode == CV_SHUTDOWN_DRAIN)
    for (size_t i = 0; i < nb; i++)
      go_start(&t[i], q, &go, 't', 0);
  CHECK_OK(cv_queue_shutdown(q, mode));
  atomic_store(&go, 1);
  go_join(g, n);
  if (mode == CV_SHUTDOWN_DRAIN)
    go_join(t, (int)nb);
  CHECK_EQ(g[0].result, 1);
  CHECK_EQ(g[1].result, 1);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_shutdown_immediate_join(void) {
  shutdown_join(CV_SHUTDOWN_IMMEDIATE);
}
static void test_shutdown_join(void) { shutdown_join(CV_SHUTDOWN_DRAIN); }

static void shutdown_put_join(cv_shutdown_mode mode) {
  cv_queue *q = type2test(2);
  atomic_int go = 0;
  CHECK_OK(cv_queue_put(q, IP(Y), CV_FOREVER));
  go_op g[2];
  go_start(&g[0], q, &go, 'P', E);
  go_start(&g[1], q, &go, 'j', 0);
  CHECK_EQ(qstats(q).unfinished, 1);
  CHECK_OK(cv_queue_shutdown(q, mode));
  atomic_store(&go, 1);
  void *it;
  if (mode == CV_SHUTDOWN_IMMEDIATE) {
    CHECK_RC(cv_queue_try_get(q, &it), CV_ESHUTDOWN);
  } else {
    CHECK_EQ(get_int(q, CV_FOREVER), Y);
    CHECK_OK(cv_queue_task_done(q));
  }
  go_join(g, 2);
  CHECK_EQ(g[0].result, 1);
  CHECK_EQ(g[1].result, 1);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_shutdown_immediate_put_join(void) {
  shutdown_put_join(CV_SHUTDOWN_IMMEDIATE);
}
static void test_shutdown_put_join(void) {
  shutdown_put_join(CV_SHUTDOWN_DRAIN);
}

static void test_shutdown_get_task_done_join(void) {
  cv_queue *q = type2test(2);
  atomic_int go = 0;
  CHECK_OK(cv_queue_put(q, IP(Y), CV_FOREVER));
  CHECK_OK(cv_queue_put(q, IP(D), CV_FOREVER));
  CHECK_EQ(qstats(q).unfinished, cv_queue_size(q));
  go_op g[4];
  go_start(&g[0], q, &go, 't', 0);
  go_start(&g[1], q, &go, 't', 0);
  go_start(&g[2], q, &go, 'j', 0);
  go_start(&g[3], q, &go, 'j', 0);
  atomic_store(&go, 1);
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_DRAIN));
  go_join(g, 4);
  for (int i = 0; i < 4; i++)
    CHECK_EQ(g[i].result, 1);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_shutdown_pending_get(void) {
  cv_queue *q = type2test(0);
  op g;
  op_start(&g, OP_GET, q, NULL, CV_FOREVER);
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_DRAIN));
  int64_t give_up = test_now_ns() + CV_SEC(10);
  while (!op_finished(&g) && test_now_ns() < give_up)
    test_sleep_ms(1);
  CHECK(op_finished(&g)); /* the pending get woke up */
  op_join(&g);
  CHECK_RC(g.rc, CV_ESHUTDOWN);
  CHECK_OK(cv_queue_destroy(q));
}

/* ---- BaseSimpleQueueTest (FIFO kinds) --------------------------------- */

#define SENTINEL INTPTR_MAX /* last in every order, though only FIFO runs */

typedef struct feed_state {
  cv_queue *q;
  pthread_mutex_t mu;
  intptr_t next, end; /* inputs next..end-1, popped in order */
  uint64_t rng;
  int consume; /* 0 blocking, 1 non-blocking with a pause, 2 timed */
  intptr_t *results;
  atomic_long nresults;
} feed_state;

static void *feed(void *arg) {
  feed_state *f = arg;
  for (;;) {
    pthread_mutex_lock(&f->mu);
    intptr_t v = f->next < f->end ? f->next++ : -1;
    uint64_t r = test_rand(&f->rng);
    pthread_mutex_unlock(&f->mu);
    if (v < 0) {
      CHECK_OK(cv_queue_put(f->q, IP(SENTINEL), CV_FOREVER));
      return NULL;
    }
    CHECK_OK(cv_queue_put(f->q, IP(v), CV_FOREVER));
    if (r % 2) {
      struct timespec ts = {0, (long)(r >> 32) % 1000000};
      nanosleep(&ts, NULL); /* up to 1 ms, half the time */
    }
  }
}

static void *consume(void *arg) {
  feed_state *f = arg;
  for (;;) {
    void *it;
    int rc;
    for (;;) {
      if (f->consume == 0) {
        rc = cv_queue_get(f->q, &it, CV_FOREVER);
      } else if (f->consume == 1) {
        rc = cv_queue_get(f->q, &it, CV_NOWAIT);
        if (rc == CV_EEMPTY) {
          struct timespec ts = {0, 10000};
          nanosleep(&ts, NULL);
          continue;
        }
      } else {
        rc = cv_queue_get(f->q, &it, CV_USEC(10));
        if (rc == CV_ETIMEDOUT)
          continue;
      }
      CHECK_OK(rc);
      break;
    }
    if ((intptr_t)it == SENTINEL)
      return NULL;
    f->results[atomic_fetch_add(&f->nresults, 1)] = (intptr_t)it;
  }
}

static int cmp_long(const void *a, const void *b) {
  intptr_t x = *(const intptr_t *)a, y = *(const intptr_t *)b;
  return (x > y) - (x < y);
}

/* run_threads: n feeders and n consumers; returns the results in order of
 * arrival.  Checks what Python's does: no failure, queue empty after. */
static intptr_t *run_threads(int n, cv_queue *q, intptr_t ninputs,
                             int consume_how) {
  feed_state f = {.q = q, .next = 0, .end = ninputs, .rng = 42,
                  .consume = consume_how};
  f.results = calloc((size_t)ninputs + 1, sizeof(intptr_t));
  CHECK(f.results != NULL);
  CHECK(pthread_mutex_init(&f.mu, NULL) == 0);
  pthread_t *th = calloc(2 * (size_t)n, sizeof(pthread_t));
  CHECK(th != NULL);
  for (int i = 0; i < n; i++)
    CHECK(pthread_create(&th[i], NULL, feed, &f) == 0);
  for (int i = 0; i < n; i++)
    CHECK(pthread_create(&th[n + i], NULL, consume, &f) == 0);
  for (int i = 0; i < 2 * n; i++)
    CHECK(pthread_join(th[i], NULL) == 0);
  free(th);
  pthread_mutex_destroy(&f.mu);
  CHECK(cv_queue_empty(q));
  CHECK_EQ(cv_queue_size(q), 0);
  CHECK_EQ(atomic_load(&f.nresults), ninputs);
  return f.results;
}

static void check_sorted_inputs(intptr_t *results, intptr_t n) {
  qsort(results, (size_t)n, sizeof(intptr_t), cmp_long);
  for (intptr_t i = 0; i < n; i++)
    CHECK_EQ(results[i], i);
  free(results);
}

static void test_simple_basic(void) {
  cv_queue *q = type2test(0);
  CHECK(cv_queue_empty(q));
  CHECK_EQ(cv_queue_size(q), 0);
  CHECK_OK(cv_queue_put(q, IP(1), CV_FOREVER));
  CHECK(!cv_queue_empty(q));
  CHECK_EQ(cv_queue_size(q), 1);
  CHECK_OK(cv_queue_put(q, IP(2), CV_FOREVER));
  CHECK_OK(cv_queue_try_put(q, IP(3)));
  CHECK_OK(cv_queue_put(q, IP(4), CV_FOREVER));
  CHECK(!cv_queue_empty(q));
  CHECK_EQ(cv_queue_size(q), 4);
  CHECK_EQ(get_int(q, CV_FOREVER), 1);
  CHECK_EQ(cv_queue_size(q), 3);
  void *it;
  CHECK_OK(cv_queue_try_get(q, &it));
  CHECK(it == IP(2));
  CHECK_EQ(cv_queue_size(q), 2);
  CHECK_EQ(get_int(q, CV_NOWAIT), 3);
  CHECK(!cv_queue_empty(q));
  CHECK_EQ(cv_queue_size(q), 1);
  CHECK_EQ(get_int(q, CV_MSEC(100)), 4);
  CHECK(cv_queue_empty(q));
  CHECK_EQ(cv_queue_size(q), 0);
  CHECK_RC(cv_queue_get(q, &it, CV_NOWAIT), CV_EEMPTY);
  CHECK_RC(cv_queue_get(q, &it, CV_MSEC(1)), CV_ETIMEDOUT);
  CHECK_RC(cv_queue_try_get(q, &it), CV_EEMPTY);
  CHECK(cv_queue_empty(q));
  CHECK_EQ(cv_queue_size(q), 0);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_simple_negative_timeout_raises_exception(void) {
  cv_queue *q = type2test(0);
  CHECK_OK(cv_queue_put(q, IP(1), CV_FOREVER));
  void *it;
  CHECK_RC(cv_queue_get(q, &it, CV_SEC(-1)), CV_EINVAL);
  CHECK_EQ(cv_queue_size(q), 1);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_order(void) {
  cv_queue *q = type2test(0);
  intptr_t *r = run_threads(1, q, 100, 0);
  for (intptr_t i = 0; i < 100; i++)
    CHECK_EQ(r[i], i); /* one producer, one consumer: in order */
  free(r);
  CHECK_OK(cv_queue_destroy(q));
}

static void many_threads(int how, intptr_t n) {
  cv_queue *q = type2test(0);
  check_sorted_inputs(run_threads(50, q, n, how), n);
  CHECK_OK(cv_queue_destroy(q));
}

static void test_many_threads(void) { many_threads(0, 10000); }
static void test_many_threads_nonblock(void) { many_threads(1, 10000); }
static void test_many_threads_timeout(void) { many_threads(2, 1000); }

/* The queue lets go of an item as soon as it leaves: the caller may free
 * it at once, and nothing in the queue touches it again (ASan and valgrind
 * would see a use after free; the destroy callback, a double free). */
static atomic_int destroyed;
static void count_destroy(void *item, void *arg) {
  (void)arg;
  free(item);
  atomic_fetch_add(&destroyed, 1);
}

static void test_references(void) {
  enum { N = 20 };
  atomic_store(&destroyed, 0);
  cv_queue *q = make_q(0, count_destroy, NULL);
  for (int i = 0; i < N; i++) {
    int *c = malloc(sizeof(int));
    CHECK(c != NULL);
    *c = i;
    CHECK_OK(cv_queue_put(q, c, CV_FOREVER));
  }
  for (int i = 0; i < N; i++) {
    void *it;
    CHECK_OK(cv_queue_get(q, &it, CV_FOREVER));
    free(it);
  }
  CHECK_OK(cv_queue_destroy(q));
  CHECK_EQ(atomic_load(&destroyed), 0);
}

/* bpo-14976: put() may be called reentrantly, from a callback the queue
 * runs.  The one callback a queue runs outside its lock is destroy, during
 * an immediate shutdown: from there put, get, size and stats must answer
 * (no deadlock), and every discarded item must arrive. */
static cv_queue *self_q;
static int reentered;

static void reenter(void *item, void *arg) {
  (void)arg;
  void *it;
  CHECK_RC(cv_queue_put(self_q, item, CV_FOREVER), CV_ESHUTDOWN);
  CHECK_RC(cv_queue_get(self_q, &it, CV_FOREVER), CV_ESHUTDOWN);
  (void)cv_queue_size(self_q);
  (void)qstats(self_q);
  reentered++;
}

static void test_reentrancy(void) {
  enum { N = 10000 };
  cv_queue *q = self_q = make_q(N, reenter, NULL);
  reentered = 0;
  for (intptr_t i = 0; i < N; i++)
    CHECK_OK(cv_queue_put(q, IP(i), CV_FOREVER));
  CHECK_OK(cv_queue_shutdown(q, CV_SHUTDOWN_IMMEDIATE));
  CHECK_EQ(reentered, N);
  CHECK_OK(cv_queue_destroy(q));
}

/* ---- the table -------------------------------------------------------- */

enum { BOUNDED = 1, UNBOUNDED = 2, FIFO_ONLY = 4 };
#define ALL (BOUNDED | UNBOUNDED)

typedef struct tcase {
  const char *name;
  void (*fn)(void);
  unsigned kinds;
} tcase;

static const tcase table[] = {
    {"test_queue_task_done", test_queue_task_done, ALL},
    {"test_queue_join", test_queue_join, ALL},
    {"test_basic", test_basic, BOUNDED},
    {"test_negative_timeout_raises_exception",
     test_negative_timeout_raises_exception, ALL},
    {"test_nowait", test_nowait, BOUNDED},
    {"test_shutdown_empty", test_shutdown_empty, ALL},
    {"test_shutdown_nonempty", test_shutdown_nonempty, ALL},
    {"test_shutdown_immediate", test_shutdown_immediate, ALL},
    {"test_shutdown_allowed_transitions", test_shutdown_allowed_transitions,
     ALL},
    {"test_shutdown_all_methods_in_one_thread",
     test_shutdown_all_methods_in_one_thread, ALL},
    {"test_shutdown_immediate_all_methods_in_one_thread",
     test_shutdown_immediate_all_methods_in_one_thread, ALL},
    {"test_shutdown_all_methods_in_many_threads",
     test_shutdown_all_methods_in_many_threads, ALL},
    {"test_shutdown_immediate_all_methods_in_many_threads",
     test_shutdown_immediate_all_methods_in_many_threads, ALL},
    {"test_shutdown_get", test_shutdown_get, ALL},
    {"test_shutdown_immediate_get", test_shutdown_immediate_get, ALL},
    {"test_shutdown_put", test_shutdown_put, ALL},
    {"test_shutdown_immediate_put", test_shutdown_immediate_put, ALL},
    {"test_shutdown_immediate_join", test_shutdown_immediate_join, ALL},
    {"test_shutdown_join", test_shutdown_join, ALL},
    {"test_shutdown_immediate_put_join", test_shutdown_immediate_put_join,
     ALL},
    {"test_shutdown_put_join", test_shutdown_put_join, ALL},
    {"test_shutdown_get_task_done_join", test_shutdown_get_task_done_join,
     ALL},
    {"test_shutdown_pending_get", test_shutdown_pending_get, ALL},
    {"SimpleQueue.test_basic", test_simple_basic, ALL | FIFO_ONLY},
    {"SimpleQueue.test_negative_timeout_raises_exception",
     test_simple_negative_timeout_raises_exception, ALL | FIFO_ONLY},
    {"SimpleQueue.test_order", test_order, ALL | FIFO_ONLY},
    {"SimpleQueue.test_many_threads", test_many_threads, ALL | FIFO_ONLY},
    {"SimpleQueue.test_many_threads_nonblock", test_many_threads_nonblock,
     ALL | FIFO_ONLY},
    {"SimpleQueue.test_many_threads_timeout", test_many_threads_timeout,
     ALL | FIFO_ONLY},
    {"SimpleQueue.test_references", test_references, ALL},
    {"CSimpleQueueTest.test_reentrancy", test_reentrancy, ALL},
};

static bool applies(const tcase *t, const kind *k) {
  bool bounded = k->bounded_fifo || k->order != CV_FIFO;
  if (k->ring && !cv__queue_have_ring)
    return false;
  if ((t->kinds & FIFO_ONLY) && k->order != CV_FIFO)
    return false;
  /* Fullness needs a bound: LIFO and priority queues get one from the
   * test's maxsize, the unbounded FIFO never has one. */
  if (!(t->kinds & UNBOUNDED) && !bounded)
    return false;
  return true;
}

int main(void) {
  const char *only = getenv("CV_CPYTHON_ONLY");
  const char *impl = getenv("CV_TEST_IMPL");
  int ntests = (int)(sizeof(table) / sizeof(table[0]));
  for (int i = 0; i < ntests; i++) {
    const tcase *t = &table[i];
    if (only && *only && strcmp(only, t->name) != 0)
      continue;
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
      K = &kinds[k];
      if (impl && *impl && strcmp(impl, K->name) != 0)
        continue;
      if (!applies(t, K))
        continue;
      t->fn();
      cases++;
    }
  }
  printf("queue_cpython: %d test methods, %ld cases passed\n", ntests, cases);
  return 0;
}
