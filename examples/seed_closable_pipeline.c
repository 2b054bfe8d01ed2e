/* seed_closable_pipeline: download -> resize -> upload, one thread per stage,
 * stopped by closing the queues (the seed's programs/5_closable_queue_pipeline.py
 * in C).
 *
 * Usage: seed_closable_pipeline [ITEMS]   (default 1000)
 *
 * The post builds a ClosableQueue whose close() puts a sentinel, and a
 * StoppableWorker that applies its function to every item of its input queue
 * until the sentinel.  conveyor's queue has the half-close built in:
 * cv_queue_close makes puts fail, and getters drain what is left and then get
 * CV_ECLOSED, which is the worker's cue to return.  As in the post, the main
 * thread closes each stage's input queue and joins it (waits until every item
 * in it was task_done, i.e. passed on to the next stage) before closing the
 * next one.
 *
 * Each item is a `struct photo` that records which stages have seen it; at
 * the end the program checks that every photo went through the three stages
 * in order, exactly once, and prints "1000 items finished" as the post does.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "conveyor.h"

static void check(int rc, const char *what) {
  if (rc != CV_OK) {
    fprintf(stderr, "seed_closable_pipeline: %s: %s\n", what, cv_strerror(rc));
    exit(1);
  }
}

struct photo {
  long id;
  int stage; /* stages done: 0 none, 1 downloaded, 2 resized, 3 uploaded */
};

/* Items that reached a stage out of order; must stay 0. */
static atomic_long stage_errors;

static void *advance(void *item, int from) {
  struct photo *p = item;
  if (p->stage != from)
    atomic_fetch_add(&stage_errors, 1);
  p->stage = from + 1;
  return p;
}

static void *download(void *item) { return advance(item, 0); }
static void *resize(void *item) { return advance(item, 1); }
static void *upload(void *item) { return advance(item, 2); }

struct stoppable_worker {
  pthread_t thread;
  void *(*func)(void *);
  cv_queue *in_queue;
  cv_queue *out_queue;
};

static void *stoppable_worker_run(void *arg) {
  struct stoppable_worker *w = arg;
  void *item;
  int rc;
  while ((rc = cv_queue_get(w->in_queue, &item, CV_FOREVER)) == CV_OK) {
    void *result = w->func(item);
    check(cv_queue_put(w->out_queue, result, CV_FOREVER), "put");
    check(cv_queue_task_done(w->in_queue), "task_done");
  }
  if (rc != CV_ECLOSED)
    check(rc, "get");
  return NULL; /* closed and drained: the thread exits */
}

int main(int argc, char **argv) {
  long items = argc > 1 ? atol(argv[1]) : 1000;
  if (items <= 0) {
    fprintf(stderr, "usage: seed_closable_pipeline [ITEMS]\n");
    return 2;
  }
  cv_queue *download_queue, *resize_queue, *upload_queue, *done_queue;
  check(cv_queue_create(&download_queue, NULL), "create");
  check(cv_queue_create(&resize_queue, NULL), "create");
  check(cv_queue_create(&upload_queue, NULL), "create");
  check(cv_queue_create(&done_queue, NULL), "create");
  struct stoppable_worker threads[3] = {
      {.func = download, .in_queue = download_queue, .out_queue = resize_queue},
      {.func = resize, .in_queue = resize_queue, .out_queue = upload_queue},
      {.func = upload, .in_queue = upload_queue, .out_queue = done_queue},
  };
  for (int i = 0; i < 3; i++) {
    if (pthread_create(&threads[i].thread, NULL, stoppable_worker_run,
                       &threads[i]) != 0)
      return 1;
  }

  struct photo *photos = calloc((size_t)items, sizeof(*photos));
  if (!photos)
    return 1;
  for (long i = 0; i < items; i++) {
    photos[i].id = i;
    check(cv_queue_put(download_queue, &photos[i], CV_FOREVER), "put");
  }

  check(cv_queue_close(download_queue), "close");
  check(cv_queue_join(download_queue, CV_FOREVER), "join");
  check(cv_queue_close(resize_queue), "close");
  check(cv_queue_join(resize_queue, CV_FOREVER), "join");
  check(cv_queue_close(upload_queue), "close");
  check(cv_queue_join(upload_queue, CV_FOREVER), "join");
  printf("%zu items finished\n", cv_queue_size(done_queue));

  for (int i = 0; i < 3; i++)
    pthread_join(threads[i].thread, NULL);

  /* Every photo arrived exactly once, through every stage in order. */
  int status = atomic_load(&stage_errors) == 0 ? 0 : 1;
  char *seen = calloc((size_t)items, 1);
  void *item;
  long finished = 0;
  while (seen && cv_queue_try_get(done_queue, &item) == CV_OK) {
    struct photo *p = item;
    if (p->stage != 3 || seen[p->id]++)
      status = 1;
    finished++;
  }
  if (!seen || finished != items)
    status = 1;
  free(seen);
  check(cv_queue_destroy(download_queue), "destroy");
  check(cv_queue_destroy(resize_queue), "destroy");
  check(cv_queue_destroy(upload_queue), "destroy");
  check(cv_queue_destroy(done_queue), "destroy");
  free(photos);
  if (status)
    fprintf(stderr, "seed_closable_pipeline: items lost, repeated or out of order\n");
  return status;
}
