/* queue_errors: invalid arguments (NULLs, capacities above the maximum,
 * negative timeouts, zero counts), the would-block codes, and the error-code
 * table behind cv_strerror() and cv_err_name(). */
#include <limits.h>

#include "queue_util.h"

static void invalid_arguments(void) {
  cv_queue *q = IP(1);
  CHECK_RC(cv_queue_create(NULL, NULL), CV_EINVAL);
  cv_queue_options bad_order = {.order = (cv_queue_order)3};
  CHECK_RC(cv_queue_create(&q, &bad_order), CV_EINVAL);
  CHECK(q == NULL); /* *out is cleared on failure */
  cv_queue_options negative = {.order = (cv_queue_order)-1};
  CHECK_RC(cv_queue_create(&q, &negative), CV_EINVAL);
  cv_queue_options no_compare = {.order = CV_PRIORITY};
  CHECK_RC(cv_queue_create(&q, &no_compare), CV_EINVAL);
  CHECK(q == NULL);
  /* Capacities above the documented maximum are refused before anything
   * is allocated, in every order (and under a sanitizer, whose allocator
   * would abort on the size rather than fail). */
  size_t too_big[] = {CV_QUEUE_MAX_CAPACITY + 1, SIZE_MAX / 2, SIZE_MAX};
  for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++) {
    for (int order = CV_FIFO; order <= CV_PRIORITY; order++) {
      cv_queue_options huge = {.order = (cv_queue_order)order,
                               .capacity = too_big[i], .compare = cmp_intptr};
      q = IP(1);
      CHECK_RC(cv_queue_create(&q, &huge), CV_EINVAL);
      CHECK(q == NULL);
    }
  }

  void *it = NULL, *items[2] = {0};
  size_t n = 99;
  CHECK_RC(cv_queue_destroy(NULL), CV_EINVAL);
  CHECK_RC(cv_queue_put(NULL, it, CV_NOWAIT), CV_EINVAL);
  CHECK_RC(cv_queue_try_put(NULL, it), CV_EINVAL);
  CHECK_RC(cv_queue_get(NULL, &it, CV_NOWAIT), CV_EINVAL);
  CHECK_RC(cv_queue_try_get(NULL, &it), CV_EINVAL);
  CHECK_RC(cv_queue_put_many(NULL, items, 2, &n, CV_NOWAIT), CV_EINVAL);
  CHECK_EQ(n, 0);
  n = 99;
  CHECK_RC(cv_queue_get_many(NULL, items, 2, &n, CV_NOWAIT), CV_EINVAL);
  CHECK_EQ(n, 0);
  CHECK_RC(cv_queue_task_done(NULL), CV_EINVAL);
  CHECK_RC(cv_queue_task_done_n(NULL, 1), CV_EINVAL);
  CHECK_RC(cv_queue_join(NULL, CV_NOWAIT), CV_EINVAL);
  CHECK_RC(cv_queue_close(NULL), CV_EINVAL);
  CHECK_RC(cv_queue_shutdown(NULL, CV_SHUTDOWN_DRAIN), CV_EINVAL);
  cv_queue_stats st;
  CHECK_RC(cv_queue_stats_get(NULL, &st), CV_EINVAL);
  CHECK_EQ(cv_queue_size(NULL), 0);
  CHECK(cv_queue_empty(NULL));
  CHECK(!cv_queue_full(NULL));
  CHECK_EQ(cv_queue_capacity(NULL), 0);
  CHECK(!cv_queue_is_closed(NULL));

  CHECK_OK(cv_queue_create(&q, NULL));
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  CHECK_RC(cv_queue_get(q, NULL, CV_NOWAIT), CV_EINVAL);
  CHECK_RC(cv_queue_try_get(q, NULL), CV_EINVAL);
  CHECK_RC(cv_queue_put_many(q, NULL, 1, &n, CV_NOWAIT), CV_EINVAL);
  CHECK_RC(cv_queue_get_many(q, NULL, 1, &n, CV_NOWAIT), CV_EINVAL);
  CHECK_RC(cv_queue_get_many(q, items, 0, &n, CV_NOWAIT), CV_EINVAL);
  CHECK_RC(cv_queue_get_many(q, items, 1, NULL, CV_NOWAIT), CV_EINVAL);
  CHECK_RC(cv_queue_shutdown(q, (cv_shutdown_mode)2), CV_EINVAL);
  CHECK_RC(cv_queue_shutdown(q, (cv_shutdown_mode)-1), CV_EINVAL);
  CHECK(!cv_queue_is_closed(q)); /* the bad calls changed nothing */
  CHECK_RC(cv_queue_stats_get(q, NULL), CV_EINVAL);
  st = qstats(q);
  CHECK_EQ(st.puts, 1);
  CHECK_EQ(st.gets, 0);
  CHECK_EQ(st.size, 1);
  CHECK_OK(cv_queue_get(q, &it, CV_NOWAIT));
  CHECK(it == IP(1));
  CHECK_OK(cv_queue_destroy(q));
}

/* A call that cannot proceed says why: would block (CV_NOWAIT) is not the
 * same as timed out (a positive timeout). */
static void would_block_codes(void) {
  cv_queue_options o = {.capacity = 1};
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &o));
  void *it, *items[3] = {IP(1), IP(2), IP(3)};
  size_t n;
  CHECK_RC(cv_queue_get(q, &it, CV_NOWAIT), CV_EEMPTY);
  CHECK_RC(cv_queue_get(q, &it, CV_USEC(1)), CV_ETIMEDOUT);
  CHECK_RC(cv_queue_get_many(q, items, 3, &n, CV_NOWAIT), CV_EEMPTY);
  CHECK_EQ(n, 0);
  CHECK_RC(cv_queue_get_many(q, items, 3, &n, CV_USEC(1)), CV_ETIMEDOUT);
  CHECK_EQ(n, 0);
  CHECK_OK(cv_queue_put(q, IP(1), CV_NOWAIT));
  CHECK_RC(cv_queue_put(q, IP(2), CV_NOWAIT), CV_EFULL);
  CHECK_RC(cv_queue_put(q, IP(2), CV_USEC(1)), CV_ETIMEDOUT);
  CHECK_RC(cv_queue_put_many(q, items, 3, &n, CV_NOWAIT), CV_EFULL);
  CHECK_EQ(n, 0);
  CHECK_RC(cv_queue_put_many(q, items, 3, &n, CV_USEC(1)), CV_ETIMEDOUT);
  CHECK_EQ(n, 0);
  CHECK_RC(cv_queue_join(q, CV_NOWAIT), CV_ETIMEDOUT);
  CHECK_RC(cv_queue_join(q, CV_USEC(1)), CV_ETIMEDOUT);
  CHECK_EQ(cv_queue_size(q), 1);
  CHECK_OK(cv_queue_get(q, &it, CV_FOREVER));
  CHECK_OK(cv_queue_task_done(q));
  CHECK_OK(cv_queue_join(q, CV_NOWAIT));
  CHECK_OK(cv_queue_join(q, CV_FOREVER));
  CHECK_OK(cv_queue_destroy(q));
}

/* Every call that takes a timeout refuses negative ones other than
 * CV_FOREVER at once (before this, -2 meant forever: a get on an empty queue
 * never returned), and both batch calls refuse a count of 0; nothing
 * changes.  On every kind of queue. */
static cv_queue_options kind_opts;

static void bad_timeouts_and_counts_one(void) {
  cv_queue *q;
  CHECK_OK(cv_queue_create(&q, &kind_opts));
  const int64_t bad[] = {-2, -1000, CV_MSEC(-5), INT64_MIN};
  void *it = IP(9), *items[2] = {IP(1), IP(2)};
  size_t n = 99;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int64_t t = bad[i];
    int64_t t0 = test_now_ns();
    CHECK_RC(cv_queue_get(q, &it, t), CV_EINVAL); /* empty: would wait */
    CHECK(it == IP(9));
    CHECK_RC(cv_queue_get_many(q, items, 2, &n, t), CV_EINVAL);
    CHECK_EQ(n, 0);
    CHECK_RC(cv_queue_put(q, IP(1), t), CV_EINVAL);
    n = 99;
    CHECK_RC(cv_queue_put_many(q, items, 2, &n, t), CV_EINVAL);
    CHECK_EQ(n, 0);
    CHECK_RC(cv_queue_join(q, t), CV_EINVAL);
    CHECK(test_now_ns() - t0 < CV_SEC(5)); /* none of them waited */
  }
  n = 99;
  CHECK_RC(cv_queue_put_many(q, items, 0, &n, CV_NOWAIT), CV_EINVAL);
  CHECK_EQ(n, 0);
  CHECK_RC(cv_queue_put_many(q, NULL, 0, NULL, CV_FOREVER), CV_EINVAL);
  n = 99;
  CHECK_RC(cv_queue_get_many(q, items, 0, &n, CV_FOREVER), CV_EINVAL);
  CHECK_EQ(n, 0);
  cv_queue_stats st = qstats(q);
  CHECK_EQ(st.puts, 0);
  CHECK_EQ(st.size, 0);
  /* The edges that are valid still are. */
  CHECK_OK(cv_queue_put(q, IP(3), CV_FOREVER));
  CHECK_RC(cv_queue_join(q, CV_NOWAIT), CV_ETIMEDOUT);
  CHECK_OK(cv_queue_get(q, &it, 1));
  CHECK(it == IP(3));
  CHECK_OK(cv_queue_task_done(q));
  CHECK_OK(cv_queue_join(q, CV_FOREVER));
  CHECK_OK(cv_queue_destroy(q));
}

/* Runs under for_each_impl: the bounded FIFO is the ring or the mutex
 * queue, and the other kinds follow. */
static void bad_timeouts_and_counts(void) {
  kind_opts = (cv_queue_options){.order = CV_FIFO, .capacity = 4};
  bad_timeouts_and_counts_one();
  kind_opts = (cv_queue_options){.order = CV_FIFO};
  bad_timeouts_and_counts_one();
  kind_opts = (cv_queue_options){.order = CV_LIFO, .capacity = 4};
  bad_timeouts_and_counts_one();
  kind_opts = (cv_queue_options){.order = CV_PRIORITY, .compare = cmp_intptr};
  bad_timeouts_and_counts_one();
}

static void error_table(void) {
  struct {
    int code;
    const char *name;
  } want[] = {
      {CV_OK, "OK"},           {CV_EFULL, "EFULL"},
      {CV_EEMPTY, "EEMPTY"},   {CV_ETIMEDOUT, "ETIMEDOUT"},
      {CV_ECLOSED, "ECLOSED"}, {CV_ESHUTDOWN, "ESHUTDOWN"},
      {CV_ECANCELED, "ECANCELED"}, {CV_EINVAL, "EINVAL"},
      {CV_ENOMEM, "ENOMEM"},   {CV_ETASKDONE, "ETASKDONE"},
      {CV_EBUSY, "EBUSY"},     {CV_ESTATE, "ESTATE"},
      {CV_EFAILED, "EFAILED"}, {CV_ESYS, "ESYS"},
      {CV_EIO, "EIO"},         {CV_ENOTFOUND, "ENOTFOUND"},
  };
  size_t n = sizeof(want) / sizeof(want[0]);
  CHECK_EQ(n, 1 - CV__ERR_MIN); /* every code is listed above */
  for (size_t i = 0; i < n; i++) {
    CHECK(want[i].code <= 0 && want[i].code >= CV__ERR_MIN);
    CHECK(strcmp(cv_err_name(want[i].code), want[i].name) == 0);
    const char *msg = cv_strerror(want[i].code);
    CHECK(msg && *msg && strcmp(msg, "unknown error") != 0);
    for (size_t j = 0; j < i; j++) {
      CHECK(want[i].code != want[j].code);
      CHECK(strcmp(msg, cv_strerror(want[j].code)) != 0);
    }
  }
  CHECK(strcmp(cv_strerror(CV_EFULL), "queue is full") == 0);
  static const int unknown[] = {1, CV__ERR_MIN - 1, INT_MIN, INT_MAX};
  for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
    CHECK(strcmp(cv_err_name(unknown[i]), "UNKNOWN") == 0);
    CHECK(strcmp(cv_strerror(unknown[i]), "unknown error") == 0);
  }
  CHECK(strcmp(cv_version_string(), CV_VERSION_STRING) == 0);
}

static void test_main(void) {
  invalid_arguments();
  would_block_codes();
  bad_timeouts_and_counts();
  error_table();
}

int main(void) {
  for_each_impl(test_main);
  printf("queue_errors: ok\n");
  return 0;
}
