/* queue_stress_timeout: waiters that time out while items arrive never strand
 * an item or another waiter - the lost wake-up a timed condition wait can
 * cause (it may consume a signal and then report a timeout).
 *
 * Part 1, one item at a time: a getter that waits forever and a getter with a
 * short timeout sleep on an empty queue; the item is put at about the moment
 * the short one times out.  Whoever the signal reaches, the item must be
 * taken promptly.  Part 2 does the same for putters on a full queue.  Part 3
 * is a free-for-all of short timeouts on a queue of one, checked for
 * exactly-once delivery.  CV_STRESS_ROUNDS (default 300) sets the rounds of
 * parts 1 and 2. */
#include <stdatomic.h>

#include "queue_util.h"

/* How long an item may sit in the queue with a getter asleep: far more than
 * a wake-up takes, even under valgrind or a sanitizer. */
#define STRANDED_MS 5000

static void wait_until(cv_queue *q, size_t size, const char *what, long round) {
  int64_t give_up = test_now_ns() + CV_MSEC(STRANDED_MS);
  while (cv_queue_size(q) != size) {
    if (test_now_ns() > give_up) {
      fprintf(stderr, "round %ld: %s: size stuck at %zu with a waiter asleep\n",
              round, what, cv_queue_size(q));
      exit(1);
    }
    test_sleep_ms(1);
  }
}

static void getters(long rounds) {
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &(cv_queue_options){.capacity = 4}));
  uint64_t rng = 11;
  op forever;
  op_start(&forever, OP_GET, q, NULL, CV_FOREVER);
  long taken_by_forever = 0, taken_by_timed = 0;
  for (long r = 0; r < rounds; r++) {
    int64_t t = CV_USEC(200 + test_rand(&rng) % 400);
    op timed;
    op_start(&timed, OP_GET, q, NULL, t);
    struct timespec ts = {0, (long)(t - CV_USEC(100) + (int64_t)(test_rand(&rng) % 200) * 1000)};
    nanosleep(&ts, NULL);
    CHECK_OK(cv_queue_put(q, IP(r + 1), CV_NOWAIT));
    /* The item must not stay queued while a getter sleeps. */
    wait_until(q, 0, "get", r);
    op_join(&timed);
    if (timed.rc == CV_OK) {
      CHECK(timed.item == IP(r + 1));
      taken_by_timed++;
    } else {
      CHECK_RC(timed.rc, CV_ETIMEDOUT);
      /* The forever getter took it: collect it and start another. */
      op_join(&forever);
      CHECK_OK(forever.rc);
      CHECK(forever.item == IP(r + 1));
      taken_by_forever++;
      op_start(&forever, OP_GET, q, NULL, CV_FOREVER);
    }
  }
  CHECK_OK(cv_queue_close(q));
  op_join(&forever);
  CHECK_RC(forever.rc, CV_ECLOSED);
  CHECK_EQ(taken_by_forever + taken_by_timed, rounds);
  printf("getters: %ld rounds, item taken by the timed getter %ld times, "
         "by the other %ld times\n", rounds, taken_by_timed, taken_by_forever);
  CHECK_OK(cv_queue_destroy(q));
}

static void putters(long rounds) {
  cv_queue_options o = {.capacity = 1};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  uint64_t rng = 13;
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  op forever;
  op_start(&forever, OP_PUT, q, IP(2), CV_FOREVER);
  intptr_t next = 3;
  void *it;
  for (long r = 0; r < rounds; r++) {
    int64_t t = CV_USEC(200 + test_rand(&rng) % 400);
    op timed;
    op_start(&timed, OP_PUT, q, IP(next), t);
    struct timespec ts = {0, (long)(t - CV_USEC(100) + (int64_t)(test_rand(&rng) % 200) * 1000)};
    nanosleep(&ts, NULL);
    CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT)); /* makes one slot */
    /* The slot must not stay free while a putter sleeps. */
    wait_until(q, 1, "put", r);
    op_join(&timed);
    if (timed.rc == CV_OK) {
      next++;
    } else {
      CHECK_RC(timed.rc, CV_ETIMEDOUT);
      op_join(&forever);
      CHECK_OK(forever.rc);
      op_start(&forever, OP_PUT, q, IP(next++), CV_FOREVER);
    }
  }
  /* Drain: the forever putter's pending item comes through last. */
  CHECK_OK(cv_queue_get(q, &it, CV_FOREVER));
  op_join(&forever);
  CHECK_OK(forever.rc);
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK_EQ(qstats(q).puts, qstats(q).gets);
  CHECK_OK(cv_queue_destroy(q));
}

/* Part 3: everyone uses short timeouts and retries. */
enum { THREADS = 3, PER = 3000 };

typedef struct free_for_all {
  cv_queue *q;
  atomic_int seen[THREADS * PER + 1];
  atomic_long got;
} free_for_all;

typedef struct ffa_arg {
  free_for_all *f;
  int id;
} ffa_arg;

static void *ffa_producer(void *arg) {
  ffa_arg *a = arg;
  uint64_t rng = 5 + (uint64_t)a->id;
  for (int k = 0; k < PER;) {
    int rc = cv_queue_put(a->f->q, IP(a->id * PER + k + 1),
                          CV_USEC(1 + test_rand(&rng) % 50));
    if (rc == CV_OK)
      k++;
    else
      CHECK_RC(rc, CV_ETIMEDOUT);
  }
  return NULL;
}

static void *ffa_consumer(void *arg) {
  ffa_arg *a = arg;
  uint64_t rng = 9 + (uint64_t)a->id;
  void *it;
  for (;;) {
    int rc = cv_queue_get(a->f->q, &it, CV_USEC(1 + test_rand(&rng) % 50));
    if (rc == CV_ECLOSED)
      return NULL;
    if (rc == CV_ETIMEDOUT)
      continue;
    CHECK_OK(rc);
    atomic_fetch_add(&a->f->seen[(intptr_t)it], 1);
    atomic_fetch_add(&a->f->got, 1);
  }
}

static void free_for_all_run(void) {
  free_for_all *f = calloc(1, sizeof(*f));
  CHECK(f);
  cv_queue_options o = {.capacity = 1};
  CHECK_OK(cv_queue_create(&f->q, &o));
  pthread_t th[2 * THREADS];
  ffa_arg args[2 * THREADS];
  for (int i = 0; i < 2 * THREADS; i++) {
    args[i] = (ffa_arg){f, i % THREADS};
    CHECK(pthread_create(&th[i], NULL, i < THREADS ? ffa_producer : ffa_consumer,
                         &args[i]) == 0);
  }
  for (int i = 0; i < THREADS; i++)
    CHECK(pthread_join(th[i], NULL) == 0);
  CHECK_OK(cv_queue_close(f->q));
  for (int i = THREADS; i < 2 * THREADS; i++)
    CHECK(pthread_join(th[i], NULL) == 0);
  CHECK_EQ(atomic_load(&f->got), THREADS * PER);
  for (int v = 1; v <= THREADS * PER; v++)
    CHECK_EQ(atomic_load(&f->seen[v]), 1);
  cv_queue_stats st = qstats(f->q);
  printf("free-for-all: %d items, %" PRIu64 " get waits, %" PRIu64
         " put waits\n", THREADS * PER, st.get_waits, st.put_waits);
  CHECK_OK(cv_queue_destroy(f->q));
  free(f);
}

static void test_main(void) {
  long rounds = test_env_long("CV_STRESS_ROUNDS", 300);
  getters(rounds);
  putters(rounds);
  free_for_all_run();
}

int main(void) {
  for_each_impl(test_main);
  printf("queue_stress_timeout: ok\n");
  return 0;
}
