/* queue_accounting_race: join and task_done give the right answers while
 * other threads put, get, task_done and shut the queue down.  Two races the
 * ring once lost, each replayed as it was found:
 *
 * join_never_early - one item is taken and never task_done, so the queue
 *   is never all done; four threads loop put/get/task_done while the main
 *   thread polls cv_queue_join(CV_NOWAIT) and stats.unfinished.  Neither may
 *   ever say "all done".  (The ring read the put count, then the done count:
 *   a put and a task_done in between made the difference 0.)
 *
 * task_done_after_immediate - four writers put without pause into 256
 *   slots, two readers get and task_done, and an immediate shutdown comes
 *   after 0-300 us.  Every task_done for an item really taken must succeed,
 *   and join must then return.  (The ring read the put count, then the
 *   discarded count: items put in between and then discarded made the count
 *   left too low, a legitimate task_done was refused and join hung.)
 *
 * Both are races: on the old ring the first failed within a few million
 * polls, the second in one round in 500 to 1000.  tests/queue_ring_accounting.c
 * replays both interleavings deterministically.  CV_RACE_JOIN_MS and
 * CV_RACE_SHUTDOWN_MS (default 500 each) bound each test's time per
 * implementation. */
#include <stdatomic.h>

#include "queue_util.h"

/* ---- join_never_early ------------------------------------------------- */

static atomic_int looping;

static void *put_get_done(void *arg) {
  cv_queue *q = arg;
  while (atomic_load_explicit(&looping, memory_order_relaxed)) {
    void *it;
    CHECK_OK(cv_queue_put(q, IP(1), CV_FOREVER));
    CHECK_OK(cv_queue_get(q, &it, CV_FOREVER));
    CHECK_OK(cv_queue_task_done(q));
  }
  return NULL;
}

static void join_never_early(void) {
  enum { LOOPERS = 4 };
  long ms = test_env_long("CV_RACE_JOIN_MS", 500);
  cv_queue *q;
  cv_queue_options o = {.order = CV_FIFO, .capacity = 64};
  CHECK_OK(cv_queue_create(&q, &o));
  void *held;
  CHECK_OK(cv_queue_put(q, IP(0), CV_NOWAIT));
  CHECK_OK(cv_queue_get(q, &held, CV_NOWAIT)); /* never task_done */
  atomic_store(&looping, 1);
  pthread_t th[LOOPERS];
  for (int i = 0; i < LOOPERS; i++)
    CHECK(pthread_create(&th[i], NULL, put_get_done, q) == 0);
  int64_t end = test_now_ns() + ms * 1000000;
  long polls = 0;
  while (test_now_ns() < end) {
    for (int i = 0; i < 256; i++, polls++) {
      int rc = cv_queue_join(q, CV_NOWAIT);
      if (rc != CV_ETIMEDOUT) {
        fprintf(stderr, "join(CV_NOWAIT) returned CV_%s after %ld polls with "
                "an item unfinished\n", cv_err_name(rc), polls);
        exit(1);
      }
      if ((i & 15) == 0 && qstats(q).unfinished == 0) {
        fprintf(stderr, "stats.unfinished 0 after %ld polls with an item "
                "unfinished\n", polls);
        exit(1);
      }
    }
  }
  atomic_store(&looping, 0);
  for (int i = 0; i < LOOPERS; i++)
    CHECK(pthread_join(th[i], NULL) == 0);
  /* The one that was never done: join still waits, then it is done. */
  CHECK_RC(cv_queue_join(q, CV_MSEC(1)), CV_ETIMEDOUT);
  CHECK_OK(cv_queue_task_done(q));
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_RC(cv_queue_task_done(q), CV_ETASKDONE);
  printf("join_never_early: %ld polls\n", polls);
  CHECK_OK(cv_queue_destroy(q));
}

/* ---- task_done_after_immediate ---------------------------------------- */

typedef struct race {
  cv_queue *q;
  atomic_long refused; /* task_done calls refused for an item taken */
  atomic_long taken;
} race;

static void *writer(void *arg) {
  race *r = arg;
  for (;;) {
    int rc = cv_queue_put(r->q, IP(7), CV_FOREVER);
    if (rc != CV_OK) {
      CHECK_RC(rc, CV_ESHUTDOWN);
      return NULL;
    }
  }
}

static void *reader(void *arg) {
  race *r = arg;
  for (;;) {
    void *it;
    int rc = cv_queue_get(r->q, &it, CV_FOREVER);
    if (rc != CV_OK) {
      CHECK_RC(rc, CV_ESHUTDOWN);
      return NULL;
    }
    atomic_fetch_add(&r->taken, 1);
    rc = cv_queue_task_done(r->q);
    if (rc != CV_OK) {
      CHECK_RC(rc, CV_ETASKDONE);
      atomic_fetch_add(&r->refused, 1);
    }
  }
}

static void task_done_after_immediate(void) {
  enum { WRITERS = 4, READERS = 2 };
  long ms = test_env_long("CV_RACE_SHUTDOWN_MS", 500);
  int64_t end = test_now_ns() + ms * 1000000;
  uint64_t rng = 2024;
  long bad = 0, hung = 0, taken = 0, rounds = 0;
  for (long round = 0; round == 0 || test_now_ns() < end; round++, rounds++) {
    race r = {0};
    cv_queue_options o = {.order = CV_FIFO, .capacity = 256};
    CHECK_OK(cv_queue_create(&r.q, &o));
    pthread_t w[WRITERS], g[READERS];
    for (int i = 0; i < WRITERS; i++)
      CHECK(pthread_create(&w[i], NULL, writer, &r) == 0);
    for (int i = 0; i < READERS; i++)
      CHECK(pthread_create(&g[i], NULL, reader, &r) == 0);
    struct timespec ts = {0, (long)(test_rand(&rng) % 301) * 1000};
    nanosleep(&ts, NULL);
    CHECK_OK(cv_queue_shutdown(r.q, CV_SHUTDOWN_IMMEDIATE));
    for (int i = 0; i < WRITERS; i++)
      CHECK(pthread_join(w[i], NULL) == 0);
    for (int i = 0; i < READERS; i++)
      CHECK(pthread_join(g[i], NULL) == 0);
    long refused = atomic_load(&r.refused);
    taken += atomic_load(&r.taken);
    int rc = cv_queue_join(r.q, CV_MSEC(100));
    if (refused)
      bad++;
    if (rc != CV_OK)
      hung++;
    if (refused || rc != CV_OK)
      fprintf(stderr, "round %ld: %ld task_done refused, join CV_%s, "
              "unfinished %zu\n", round, refused, cv_err_name(rc),
              qstats(r.q).unfinished);
    else
      CHECK_EQ(qstats(r.q).unfinished, 0);
    CHECK_OK(cv_queue_destroy(r.q));
  }
  printf("task_done_after_immediate: %ld rounds, %ld items taken, %ld with a "
         "refused task_done, %ld where join did not return\n",
         rounds, taken, bad, hung);
  CHECK_EQ(bad, 0);
  CHECK_EQ(hung, 0);
}

static void body(void) {
  join_never_early();
  task_done_after_immediate();
}

int main(void) {
  for_each_impl(body);
  return 0;
}
