/* queue_stress_spsc: the single-producer single-consumer ring under load.
 *
 *   exactly once   one producer, one consumer, every mix of single and batch
 *                  calls, blocking and non-blocking, at capacities 1, 2, 3, 7
 *                  and 1024: every item arrives once, in order (count, sum,
 *                  sum of squares and a per-item seen counter).
 *   relay          the producer's and the consumer's roles pass between two
 *                  threads each (never overlapping): still exactly once.
 *   close race     a third thread closes (or shuts down, drain or immediate)
 *                  at a random moment: every item whose put succeeded is got
 *                  or discarded, exactly once; the getter ends with the right
 *                  code; join returns once every got item is task_done.
 *   join           join(NOWAIT) never reports "all done" while one item is
 *                  taken and never task_done, however puts, gets and
 *                  task_done calls interleave; stats.unfinished never 0.
 *
 * Sizes from the environment: SPSC_ITEMS (default 200000), SPSC_ROUNDS (close
 * races, default 200). */
#include <stdatomic.h>

#include "queue_util.h"

static long items_n;

static cv_queue *make(size_t cap, cv_destroy_fn destroy, void *arg) {
  cv_queue_options o = {.capacity = cap, .producers = 1, .consumers = 1,
                        .destroy = destroy, .destroy_arg = arg};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  return q;
}

/* ---- exactly once ------------------------------------------------------ */

typedef struct stream {
  cv_queue *q;
  long n;
  int mode;                 /* which mix of calls (see producer/consumer) */
  pthread_mutex_t role[2];  /* relay: who may act as producer / consumer */
  long next_put, next_get;  /* relay: shared progress, under role[i] */
  unsigned char *seen;
  uint64_t count, sum, sumsq;
} stream;

/* Puts values next_put+1.. as the mode says; returns after `budget` items or
 * the end.  Called with role[0] held in the relay. */
static void produce(stream *s, long budget, uint64_t *rng) {
  void *buf[16];
  while (s->next_put < s->n && budget > 0) {
    int how = s->mode == 3 ? (int)(test_rand(rng) % 3) : s->mode;
    if (how == 0) {
      CHECK_OK(cv_queue_put(s->q, IP(s->next_put + 1), CV_FOREVER));
      s->next_put++, budget--;
    } else if (how == 1) {
      size_t k = (size_t)(test_rand(rng) % 16) + 1, done;
      if ((long)k > s->n - s->next_put)
        k = (size_t)(s->n - s->next_put);
      for (size_t i = 0; i < k; i++)
        buf[i] = IP(s->next_put + 1 + (long)i);
      CHECK_OK(cv_queue_put_many(s->q, buf, k, &done, CV_FOREVER));
      CHECK_EQ(done, k);
      s->next_put += (long)k, budget -= (long)k;
    } else {
      int rc = cv_queue_try_put(s->q, IP(s->next_put + 1));
      if (rc == CV_OK)
        s->next_put++, budget--;
      else
        CHECK_RC(rc, CV_EFULL);
    }
  }
}

static void take(stream *s, void *it) {
  long v = (long)(intptr_t)it;
  CHECK(v >= 1 && v <= s->n);
  CHECK_EQ(v, s->next_get + 1); /* one producer: FIFO order */
  CHECK_EQ(s->seen[v - 1], 0);
  s->seen[v - 1] = 1;
  s->next_get = v;
  s->count++;
  s->sum += (uint64_t)v;
  s->sumsq += (uint64_t)v * (uint64_t)v;
}

static void consume(stream *s, long budget, uint64_t *rng) {
  void *buf[16];
  while (s->next_get < s->n && budget > 0) {
    int how = s->mode == 3 ? (int)(test_rand(rng) % 3) : s->mode;
    if (how == 0) {
      void *it;
      CHECK_OK(cv_queue_get(s->q, &it, CV_FOREVER));
      take(s, it), budget--;
    } else if (how == 1) {
      size_t got;
      CHECK_OK(cv_queue_get_many(s->q, buf, (size_t)(test_rand(rng) % 16) + 1,
                                 &got, CV_FOREVER));
      for (size_t i = 0; i < got; i++)
        take(s, buf[i]);
      budget -= (long)got;
    } else {
      void *it;
      int rc = cv_queue_try_get(s->q, &it);
      if (rc == CV_OK)
        take(s, it), budget--;
      else
        CHECK_RC(rc, CV_EEMPTY);
    }
  }
}

static stream *cur;

static void *producer(void *arg) {
  uint64_t rng = 1 + (uintptr_t)arg;
  produce(cur, cur->n, &rng);
  return NULL;
}

static void *consumer(void *arg) {
  uint64_t rng = 7 + (uintptr_t)arg;
  consume(cur, cur->n, &rng);
  return NULL;
}

/* Relay: two threads take turns as the producer (and two as the consumer),
 * a few dozen items at a time, under a mutex: one side's calls never
 * overlap, though its thread changes. */
static void *relay(void *arg) {
  uintptr_t side = (uintptr_t)arg & 1;
  uint64_t rng = 11 + (uintptr_t)arg;
  for (;;) {
    pthread_mutex_lock(&cur->role[side]);
    bool more = side == 0 ? cur->next_put < cur->n : cur->next_get < cur->n;
    if (more) {
      if (side == 0)
        produce(cur, (long)(test_rand(&rng) % 64) + 1, &rng);
      else
        consume(cur, (long)(test_rand(&rng) % 64) + 1, &rng);
    }
    pthread_mutex_unlock(&cur->role[side]);
    if (!more)
      return NULL;
  }
}

static void run_stream(size_t cap, int mode, bool relayed) {
  stream s = {.n = items_n, .mode = mode};
  s.q = make(cap, NULL, NULL);
  s.seen = calloc((size_t)s.n, 1);
  CHECK(s.seen != NULL);
  pthread_mutex_init(&s.role[0], NULL);
  pthread_mutex_init(&s.role[1], NULL);
  cur = &s;
  pthread_t t[4];
  int nt = relayed ? 4 : 2;
  for (int i = 0; i < nt; i++)
    CHECK(pthread_create(&t[i], NULL,
                         relayed ? relay : (i == 0 ? producer : consumer),
                         (void *)(uintptr_t)i) == 0);
  for (int i = 0; i < nt; i++)
    CHECK(pthread_join(t[i], NULL) == 0);
  uint64_t n = (uint64_t)s.n;
  CHECK_EQ(s.count, n);
  CHECK_EQ(s.sum, n * (n + 1) / 2);
  uint64_t sq = 0;
  for (uint64_t v = 1; v <= n; v++)
    sq += v * v;
  CHECK_EQ(s.sumsq, sq);
  cv_queue_stats st = qstats(s.q);
  CHECK_EQ(st.puts, n);
  CHECK_EQ(st.gets, n);
  CHECK_EQ(st.size, 0);
  CHECK(st.high_water >= 1 && st.high_water <= cap);
  CHECK_OK(cv_queue_task_done_n(s.q, (size_t)n));
  CHECK_OK(cv_queue_join(s.q, CV_NOWAIT));
  CHECK_OK(cv_queue_destroy(s.q));
  pthread_mutex_destroy(&s.role[0]);
  pthread_mutex_destroy(&s.role[1]);
  free(s.seen);
}

/* ---- close races ------------------------------------------------------- */

typedef struct race {
  cv_queue *q;
  long put_ok;        /* items whose put returned CV_OK (values 1..put_ok) */
  int put_rc, get_rc; /* how each side ended */
  long got, got_sum;
  atomic_long discarded, discarded_sum;
  int batch;          /* 0: single calls, 1: batches */
} race;

static void race_destroy(void *item, void *arg) {
  race *r = arg;
  atomic_fetch_add(&r->discarded, 1);
  atomic_fetch_add(&r->discarded_sum, (long)(intptr_t)item);
}

static void *race_producer(void *arg) {
  race *r = arg;
  long v = 0;
  for (;;) {
    if (r->batch) {
      void *buf[5];
      for (int i = 0; i < 5; i++)
        buf[i] = IP(v + 1 + i);
      size_t done;
      int rc = cv_queue_put_many(r->q, buf, 5, &done, CV_FOREVER);
      v += (long)done;
      if (rc != CV_OK) {
        r->put_rc = rc;
        break;
      }
    } else {
      int rc = cv_queue_put(r->q, IP(v + 1), CV_FOREVER);
      if (rc != CV_OK) {
        r->put_rc = rc;
        break;
      }
      v++;
    }
  }
  r->put_ok = v;
  return NULL;
}

static void *race_consumer(void *arg) {
  race *r = arg;
  long prev = 0;
  for (;;) {
    void *buf[7];
    size_t n = 1;
    int rc = r->batch ? cv_queue_get_many(r->q, buf, 7, &n, CV_FOREVER)
                      : cv_queue_get(r->q, &buf[0], CV_FOREVER);
    if (rc != CV_OK) {
      r->get_rc = rc;
      return NULL;
    }
    for (size_t i = 0; i < n; i++) {
      long v = (long)(intptr_t)buf[i];
      CHECK_EQ(v, prev + 1);
      prev = v;
      r->got++;
      r->got_sum += v;
    }
    CHECK_OK(cv_queue_task_done_n(r->q, n));
  }
}

static void close_race(int how, int batch, size_t cap, uint64_t *rng) {
  race r = {.batch = batch};
  atomic_init(&r.discarded, 0);
  atomic_init(&r.discarded_sum, 0);
  r.q = make(cap, race_destroy, &r);
  pthread_t p, c;
  CHECK(pthread_create(&c, NULL, race_consumer, &r) == 0);
  CHECK(pthread_create(&p, NULL, race_producer, &r) == 0);
  test_sleep_ms((long)(test_rand(rng) % 3));
  if (how == 0)
    CHECK_OK(cv_queue_close(r.q));
  else
    CHECK_OK(cv_queue_shutdown(r.q, how == 1 ? CV_SHUTDOWN_DRAIN
                                             : CV_SHUTDOWN_IMMEDIATE));
  CHECK(pthread_join(p, NULL) == 0);
  CHECK(pthread_join(c, NULL) == 0);
  CHECK_RC(r.put_rc, how == 0 ? CV_ECLOSED : CV_ESHUTDOWN);
  CHECK_RC(r.get_rc, how == 0 ? CV_ECLOSED : CV_ESHUTDOWN);
  long lost = atomic_load(&r.discarded);
  if (how != 2)
    CHECK_EQ(lost, 0);
  CHECK_EQ(r.got + lost, r.put_ok);
  CHECK_EQ(r.got_sum + atomic_load(&r.discarded_sum), r.put_ok * (r.put_ok + 1) / 2);
  cv_queue_stats st = qstats(r.q);
  CHECK_EQ(st.puts, (uint64_t)r.put_ok);
  CHECK_EQ(st.gets, (uint64_t)r.got);
  CHECK_EQ(st.discarded, (uint64_t)lost);
  CHECK_EQ(st.size, 0);
  CHECK_EQ(st.unfinished, 0);
  CHECK_OK(cv_queue_join(r.q, CV_NOWAIT));
  CHECK(cv_queue_is_closed(r.q));
  CHECK_OK(cv_queue_destroy(r.q));
}

/* ---- join never early -------------------------------------------------- */

static atomic_bool join_stop;

static void *join_producer(void *arg) {
  cv_queue *q = arg;
  while (!atomic_load(&join_stop))
    (void)cv_queue_put(q, IP(1), CV_MSEC(1));
  return NULL;
}

static void *join_consumer(void *arg) {
  cv_queue *q = arg;
  void *it;
  while (!atomic_load(&join_stop))
    if (cv_queue_get(q, &it, CV_MSEC(1)) == CV_OK)
      CHECK_OK(cv_queue_task_done(q));
  return NULL;
}

static void join_never_early(void) {
  cv_queue *q = make(4, NULL, NULL);
  void *it;
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT)); /* taken, never task_done */
  atomic_store(&join_stop, false);
  pthread_t p, c;
  CHECK(pthread_create(&p, NULL, join_producer, q) == 0);
  CHECK(pthread_create(&c, NULL, join_consumer, q) == 0);
  for (long i = 0; i < items_n; i++) {
    CHECK_RC(cv_queue_join(q, CV_NOWAIT), CV_ETIMEDOUT);
    CHECK(qstats(q).unfinished >= 1);
  }
  atomic_store(&join_stop, true);
  CHECK(pthread_join(p, NULL) == 0);
  CHECK(pthread_join(c, NULL) == 0);
  while (cv_queue_try_get(q, &it) == CV_OK)
    CHECK_OK(cv_queue_task_done(q));
  CHECK_EQ(qstats(q).unfinished, 1);
  CHECK_OK(cv_queue_task_done(q));
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_OK(cv_queue_destroy(q));
}

int main(void) {
  items_n = test_env_long("SPSC_ITEMS", 200000);
  long rounds = test_env_long("SPSC_ROUNDS", 200);
  static const size_t caps[] = {1, 2, 3, 7, 1024};
  for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++)
    for (int mode = 0; mode < 4; mode++)
      run_stream(caps[c], mode, false);
  run_stream(3, 3, true);
  run_stream(1024, 3, true);
  uint64_t rng = 42;
  for (long i = 0; i < rounds; i++)
    close_race((int)(i % 3), (int)((i / 3) % 2), i % 5 == 0 ? 1 : 16, &rng);
  join_never_early();
  printf("queue_stress_spsc: ok (%ld items per stream, %ld close races)\n",
         items_n, rounds);
  return 0;
}
