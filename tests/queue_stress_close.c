/* queue_stress_close: close and shutdown racing busy producers and
 * consumers - every item whose put succeeded is got or discarded, exactly
 * once ("completed or cancelled, never both nor neither"), and no item whose
 * put failed ever appears.
 *
 * CV_STRESS_ROUNDS (default 60) rounds, each ending in a close, a drain
 * shutdown or an immediate shutdown at a random moment, on bounded and
 * unbounded FIFO, LIFO and priority queues in turn. */
#include <stdatomic.h>

#include "queue_util.h"

enum { PRODUCERS = 3, CONSUMERS = 3, PER_PRODUCER = 400 };
enum { TOTAL = PRODUCERS * PER_PRODUCER };

typedef struct round_state {
  cv_queue *q;
  atomic_int accepted[TOTAL + 1];  /* put returned OK (or within *nput) */
  atomic_int got[TOTAL + 1];       /* handed to a consumer */
  atomic_int discarded[TOTAL + 1]; /* handed to the destroy callback */
  int stop_code;                   /* what the ending makes calls return */
} round_state;

typedef struct worker {
  round_state *rs;
  int id;
  pthread_t th;
} worker;

static void on_destroy(void *item, void *arg) {
  round_state *rs = arg;
  atomic_fetch_add(&rs->discarded[(intptr_t)item], 1);
}

static void *producer(void *arg) {
  worker *w = arg;
  round_state *rs = w->rs;
  uint64_t rng = 77 + (uint64_t)w->id;
  int k = 0;
  while (k < PER_PRODUCER) {
    intptr_t v = (intptr_t)w->id * PER_PRODUCER + k + 1;
    uint64_t r = test_rand(&rng);
    if (r % 3 == 0 && k + 4 <= PER_PRODUCER) {
      void *batch[4] = {IP(v), IP(v + 1), IP(v + 2), IP(v + 3)};
      size_t nput;
      int rc = cv_queue_put_many(rs->q, batch, 4, &nput, CV_FOREVER);
      for (size_t i = 0; i < nput; i++)
        atomic_fetch_add(&rs->accepted[v + (intptr_t)i], 1);
      k += (int)nput;
      if (rc != CV_OK) {
        CHECK_RC(rc, rs->stop_code);
        break;
      }
    } else {
      int rc = cv_queue_put(rs->q, IP(v), r % 3 == 1 ? CV_USEC(200) : CV_FOREVER);
      if (rc == CV_OK) {
        atomic_fetch_add(&rs->accepted[v], 1);
        k++;
      } else if (rc != CV_ETIMEDOUT) {
        CHECK_RC(rc, rs->stop_code);
        break;
      }
    }
  }
  return NULL;
}

static void *consumer(void *arg) {
  worker *w = arg;
  round_state *rs = w->rs;
  for (;;) {
    void *batch[3];
    size_t n;
    int rc = w->id % 2 ? cv_queue_get_many(rs->q, batch, 3, &n, CV_FOREVER)
                       : cv_queue_get(rs->q, &batch[0], CV_FOREVER);
    if (rc != CV_OK) {
      CHECK_RC(rc, rs->stop_code);
      break;
    }
    if (w->id % 2 == 0)
      n = 1;
    for (size_t i = 0; i < n; i++)
      atomic_fetch_add(&rs->got[(intptr_t)batch[i]], 1);
    CHECK_OK(cv_queue_task_done_n(rs->q, n));
  }
  return NULL;
}

static void test_main(void) {
  long rounds = test_env_long("CV_STRESS_ROUNDS", 60);
  uint64_t rng = 2024;
  long endings[3] = {0};
  round_state *rs = malloc(sizeof(*rs));
  CHECK(rs);
  for (long r = 0; r < rounds; r++) {
    memset(rs, 0, sizeof(*rs));
    int ending = (int)(r % 3); /* 0 close, 1 drain shutdown, 2 immediate */
    rs->stop_code = ending == 0 ? CV_ECLOSED : CV_ESHUTDOWN;
    /* Every queue shape meets every ending: bounded and unbounded FIFO,
     * LIFO, priority. */
    static const cv_queue_order orders[] = {CV_FIFO, CV_FIFO, CV_LIFO,
                                            CV_PRIORITY};
    int shape = (int)((r / 3) % 4);
    size_t cap = 1 + (size_t)(test_rand(&rng) % 16);
    cv_queue_options o = {.order = orders[shape],
                          .capacity = shape == 1 ? 0 : cap,
                          .compare = cmp_intptr,
                          .destroy = on_destroy, .destroy_arg = rs};
    CHECK_OK(cv_queue_create(&rs->q, &o));
    worker ws[PRODUCERS + CONSUMERS];
    for (int i = 0; i < PRODUCERS + CONSUMERS; i++) {
      ws[i] = (worker){rs, i < PRODUCERS ? i : i - PRODUCERS, 0};
      CHECK(pthread_create(&ws[i].th, NULL, i < PRODUCERS ? producer : consumer,
                           &ws[i]) == 0);
    }
    /* End the round at a random moment: early, mid-way, or after all. */
    test_sleep_ms((long)(test_rand(&rng) % 4));
    if (ending == 0)
      CHECK_OK(cv_queue_close(rs->q));
    else
      CHECK_OK(cv_queue_shutdown(rs->q, ending == 1 ? CV_SHUTDOWN_DRAIN
                                                    : CV_SHUTDOWN_IMMEDIATE));
    for (int i = 0; i < PRODUCERS + CONSUMERS; i++)
      CHECK(pthread_join(ws[i].th, NULL) == 0);
    /* Every accepted item was got or discarded, and done. */
    CHECK_OK(cv_queue_join(rs->q, CV_NOWAIT));
    long accepted = 0;
    for (int v = 1; v <= TOTAL; v++) {
      int a = atomic_load(&rs->accepted[v]), g = atomic_load(&rs->got[v]),
          d = atomic_load(&rs->discarded[v]);
      if (a > 1 || g + d != a || (ending != 2 && d != 0)) {
        fprintf(stderr, "round %ld (ending %d): item %d accepted %d, got %d, "
                "discarded %d\n", r, ending, v, a, g, d);
        exit(1);
      }
      accepted += a;
    }
    cv_queue_stats st = qstats(rs->q);
    CHECK_EQ(st.puts, accepted);
    CHECK_EQ(st.gets + st.discarded, accepted);
    CHECK_EQ(st.size, 0);
    if (accepted < TOTAL)
      endings[ending]++; /* the ending cut the round short */
    CHECK_OK(cv_queue_destroy(rs->q));
  }
  printf("queue_stress_close: %ld rounds; cut short by close %ld, drain %ld, "
         "immediate %ld\n", rounds, endings[0], endings[1], endings[2]);
  free(rs);
  /* Each ending must have raced live traffic at least once, or the rounds
   * proved nothing about the race. */
  if (rounds >= 30)
    CHECK(endings[0] > 0 && endings[1] > 0 && endings[2] > 0);
}

int main(void) {
  for_each_impl(test_main);
  printf("queue_stress_close: ok\n");
  return 0;
}
