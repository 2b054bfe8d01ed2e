/* queue_destroy: destroy hands every item still queued to the destroy
 * callback exactly once, and refuses with CV_EBUSY while a thread is blocked
 * in the queue. */
#include "queue_util.h"

typedef struct owned {
  int id;
  int *destroyed; /* counter per id, outlives the item */
} owned;

static int destroy_arg_ok;

static void free_owned(void *item, void *arg) {
  if (arg == &destroy_arg_ok)
    destroy_arg_ok++;
  owned *o = item;
  o->destroyed[o->id]++;
  free(o);
}

/* Items are heap objects owned by the queue: whatever is left at destroy is
 * freed through the callback (valgrind and ASan check that nothing leaks),
 * what was got is the caller's and is not touched. */
static void frees_what_is_left(cv_queue_order order, size_t capacity) {
  enum { N = 300 };
  int destroyed[N] = {0};
  destroy_arg_ok = 0;
  cv_queue_options o = {.order = order, .capacity = capacity,
                        .compare = cmp_intptr, .destroy = free_owned,
                        .destroy_arg = &destroy_arg_ok};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  for (int i = 0; i < N; i++) {
    owned *it = malloc(sizeof(*it));
    CHECK(it);
    *it = (owned){i, destroyed};
    CHECK_OK(cv_queue_put(q, it, CV_NOWAIT));
  }
  int got[100];
  for (int i = 0; i < 100; i++) {
    void *it;
    CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
    got[i] = ((owned *)it)->id;
    free(it);
  }
  CHECK_OK(cv_queue_destroy(q));
  CHECK_EQ(destroy_arg_ok, N - 100);
  for (int i = 0; i < 100; i++)
    destroyed[got[i]] -= 10; /* got, so never destroyed */
  for (int i = 0; i < N; i++) {
    if (destroyed[i] != 1 && destroyed[i] != -10) {
      fprintf(stderr, "item %d destroyed %d times\n", i, destroyed[i]);
      exit(1);
    }
  }
}

/* Destroy never frees a queue a thread is blocked in; once the thread is
 * released, destroy succeeds. */
static void busy_while_blocked(void) {
  cv_queue_options o = {.capacity = 1};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));

  op g;
  op_start(&g, OP_GET, q, NULL, CV_SEC(60));
  wait_sleepers(q, 1, 0);
  CHECK_RC(cv_queue_destroy(q), CV_EBUSY);
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT)); /* the queue still works */
  op_join(&g);
  CHECK_OK(g.rc);
  CHECK(g.item == IP(1));

  CHECK_OK(cv_queue_put(q, IP(2), CV_NOWAIT));
  op p;
  op_start(&p, OP_PUT, q, IP(3), CV_SEC(60));
  wait_sleepers(q, 1, 1);
  CHECK_RC(cv_queue_destroy(q), CV_EBUSY);
  CHECK_OK(cv_queue_close(q));
  op_join(&p);
  CHECK_RC(p.rc, CV_ECLOSED);

  /* (A blocked joiner is refused the same way, but no counter says when a
   * joiner is asleep, and trying destroy too early would free the queue
   * under it.) */
  CHECK_OK(cv_queue_destroy(q)); /* item 2 is still queued: dropped */
}

static void test_main(void) {
  for (int order = CV_FIFO; order <= CV_PRIORITY; order++) {
    frees_what_is_left(order, 0);
    frees_what_is_left(order, 1000);
  }
  busy_while_blocked();
}

int main(void) {
  for_each_impl(test_main);
  printf("queue_destroy: ok\n");
  return 0;
}
