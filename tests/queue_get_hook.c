/* queue_get_hook: the internal get with a hook (cv__queue_get_many_hooked,
 * what a pipeline worker takes its input with) calls the hook exactly when
 * the call is about to wait, once per call, and tries again after it: an
 * item that is there needs no hook, a wait that ends in a timeout or in an
 * item put later calls it once, an item the hook itself puts is taken
 * without sleeping, and a closed queue still reports CV_ECLOSED.  For every
 * bounded FIFO implementation: the ring (both barrier pairings), the mutex
 * queue, and the single-producer single-consumer ring. */
#include <stdatomic.h>
#include <time.h>

#include "queue_util.h"

static bool spsc; /* the next make() gives the single-producer ring */

static cv_queue *make(size_t cap) {
  cv_queue_options o = {.capacity = cap};
  if (spsc)
    o.producers = o.consumers = 1;
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  return q;
}

typedef struct counting {
  atomic_int calls;
  cv_queue *put_into; /* non-NULL: the hook puts one item here */
} counting;

static void count_hook(void *arg) {
  counting *c = arg;
  atomic_fetch_add(&c->calls, 1);
  if (c->put_into)
    CHECK_OK(cv_queue_put(c->put_into, IP(77), CV_NOWAIT));
}

static void *put_later(void *arg) {
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
  CHECK_OK(cv_queue_put(arg, IP(5), CV_FOREVER));
  return NULL;
}

static void body(void) {
  cv_queue *q = make(4);
  counting c = {0};
  cv__sleep_hook hook = {count_hook, &c};
  void *items[4];
  size_t n;

  /* Items there: taken at once, no hook. */
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  CHECK_OK(cv_queue_put(q, IP(2), CV_NOWAIT));
  CHECK_OK(cv__queue_get_many_hooked(q, items, 4, &n, CV_FOREVER, &hook));
  CHECK_EQ(n, 2);
  CHECK_EQ((intptr_t)items[0], 1);
  CHECK_EQ((intptr_t)items[1], 2);
  CHECK_EQ(atomic_load(&c.calls), 0);

  /* Nothing there, no wait allowed: no hook either. */
  CHECK_RC(cv__queue_get_many_hooked(q, items, 4, &n, CV_NOWAIT, &hook),
           CV_EEMPTY);
  CHECK_EQ(atomic_load(&c.calls), 0);

  /* A wait that times out: the hook once. */
  CHECK_RC(cv__queue_get_many_hooked(q, items, 4, &n, 10 * 1000 * 1000, &hook),
           CV_ETIMEDOUT);
  CHECK_EQ(n, 0);
  CHECK_EQ(atomic_load(&c.calls), 1);

  /* A wait that ends with an item put later: the hook once more. */
  pthread_t t;
  CHECK(pthread_create(&t, NULL, put_later, q) == 0);
  CHECK_OK(cv__queue_get_many_hooked(q, items, 4, &n, CV_FOREVER, &hook));
  CHECK(pthread_join(t, NULL) == 0);
  CHECK_EQ(n, 1);
  CHECK_EQ((intptr_t)items[0], 5);
  CHECK_EQ(atomic_load(&c.calls), 2);

  /* The hook puts an item: the call takes it without sleeping (no other
   * thread would wake it). */
  c.put_into = q;
  CHECK_OK(cv__queue_get_many_hooked(q, items, 4, &n, CV_FOREVER, &hook));
  CHECK_EQ(n, 1);
  CHECK_EQ((intptr_t)items[0], 77);
  CHECK_EQ(atomic_load(&c.calls), 3);
  c.put_into = NULL;

  /* A closed, drained queue ends the call, hook or not. */
  CHECK_OK(cv_queue_close(q));
  CHECK_RC(cv__queue_get_many_hooked(q, items, 4, &n, CV_FOREVER, &hook),
           CV_ECLOSED);
  CHECK_EQ(n, 0);

  /* A NULL hook is the plain call. */
  CHECK_RC(cv__queue_get_many_hooked(q, items, 4, &n, CV_FOREVER, NULL),
           CV_ECLOSED);
  cv_queue_destroy(q);
}

int main(void) {
  for_each_impl(body);
  if (cv__queue_have_ring) {
    spsc = true;
    body();
  }
  printf("queue_get_hook: ok\n");
  return 0;
}
