/* queue_basic: put/get order, try forms and error codes in all three orders. */
#include "test.h"

static int cmp_int(const void *a, const void *b, void *arg) {
  (void)arg;
  intptr_t x = (intptr_t)a, y = (intptr_t)b;
  return (x > y) - (x < y);
}

int main(void) {
  for (int order = CV_FIFO; order <= CV_PRIORITY; order++) {
    cv_queue_options o = {.order = order, .capacity = 3, .compare = cmp_int};
    cv_queue *q;
    CHECK_OK(cv_queue_create(&q, &o));
    CHECK_OK(cv_queue_put(q, (void *)2, CV_FOREVER));
    CHECK_OK(cv_queue_put(q, (void *)1, CV_FOREVER));
    CHECK_OK(cv_queue_try_put(q, (void *)3));
    CHECK_RC(cv_queue_try_put(q, (void *)4), CV_EFULL);
    CHECK(cv_queue_full(q));
    CHECK_EQ(cv_queue_size(q), 3);
    void *it;
    CHECK_OK(cv_queue_get(q, &it, CV_FOREVER));
    CHECK_EQ((intptr_t)it, order == CV_FIFO ? 2 : order == CV_LIFO ? 3 : 1);
    CHECK_OK(cv_queue_destroy(q));
  }
  printf("queue_basic: ok\n");
  return 0;
}
