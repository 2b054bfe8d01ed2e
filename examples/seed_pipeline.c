/* seed_pipeline: download -> resize -> upload with a pool of threads per stage
 * (the seed's programs/6_worker_pools_pipeline.py in C).
 *
 * Usage: seed_pipeline [ITEMS [DOWNLOADERS RESIZERS UPLOADERS [STAGE_US]]]
 *        defaults: 1000 items, 3 / 4 / 5 threads, stages that take no time.
 * STAGE_US makes every stage call sleep that many microseconds, standing in
 * for the blocking I/O that makes more threads per stage pay off.
 *
 * As in the post, start_threads() starts COUNT workers on one input queue and
 * stop_threads() stops them.  The post's stop_threads puts one sentinel per
 * thread, joins the queue, then joins the threads; here one cv_queue_close
 * stops all of a stage's threads (each getter drains what is left, then gets
 * CV_ECLOSED), so stop_threads closes, joins the queue, and joins the threads.
 * Closing stage by stage is safe because a worker puts its result on the next
 * queue before it marks its input item done: once a stage's queue is joined,
 * everything it will ever produce is already in the next queue.
 *
 * Each item is a `struct photo` that records the stages it went through; at
 * the end the program checks that every photo went through the three stages
 * in order, exactly once, and prints "1000 items finished" as the post does.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "conveyor.h"

static void check(int rc, const char *what) {
  if (rc != CV_OK) {
    fprintf(stderr, "seed_pipeline: %s: %s\n", what, cv_strerror(rc));
    exit(1);
  }
}

struct photo {
  long id;
  int stage; /* stages done: 0 none, 1 downloaded, 2 resized, 3 uploaded */
};

static long stage_us; /* simulated I/O per stage call */
static atomic_long stage_errors; /* items that reached a stage out of order */

static void *advance(void *item, int from) {
  if (stage_us > 0) {
    struct timespec ts = {stage_us / 1000000, (stage_us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0) {
    }
  }
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

struct pool {
  long count;
  struct stoppable_worker *threads;
};

static struct pool start_threads(long count, void *(*func)(void *),
                                 cv_queue *in_queue, cv_queue *out_queue) {
  struct pool p = {count, calloc((size_t)count, sizeof(*p.threads))};
  if (!p.threads)
    exit(1);
  for (long i = 0; i < count; i++) {
    p.threads[i] = (struct stoppable_worker){.func = func, .in_queue = in_queue,
                                             .out_queue = out_queue};
    if (pthread_create(&p.threads[i].thread, NULL, stoppable_worker_run,
                       &p.threads[i]) != 0) {
      fprintf(stderr, "seed_pipeline: pthread_create failed\n");
      exit(1);
    }
  }
  return p;
}

static void stop_threads(cv_queue *closable_queue, struct pool *p) {
  check(cv_queue_close(closable_queue), "close");
  check(cv_queue_join(closable_queue, CV_FOREVER), "join");
  for (long i = 0; i < p->count; i++)
    pthread_join(p->threads[i].thread, NULL);
  free(p->threads);
}

int main(int argc, char **argv) {
  long items = argc > 1 ? atol(argv[1]) : 1000;
  long counts[3] = {3, 4, 5};
  for (int i = 0; i < 3 && argc > 2 + i; i++)
    counts[i] = atol(argv[2 + i]);
  stage_us = argc > 5 ? atol(argv[5]) : 0;
  if (items <= 0 || counts[0] <= 0 || counts[1] <= 0 || counts[2] <= 0 ||
      stage_us < 0) {
    fprintf(stderr, "usage: seed_pipeline [ITEMS [DOWNLOADERS RESIZERS "
                    "UPLOADERS [STAGE_US]]]\n");
    return 2;
  }

  cv_queue *download_queue, *resize_queue, *upload_queue, *done_queue;
  check(cv_queue_create(&download_queue, NULL), "create");
  check(cv_queue_create(&resize_queue, NULL), "create");
  check(cv_queue_create(&upload_queue, NULL), "create");
  check(cv_queue_create(&done_queue, NULL), "create");

  struct pool download_threads =
      start_threads(counts[0], download, download_queue, resize_queue);
  struct pool resize_threads =
      start_threads(counts[1], resize, resize_queue, upload_queue);
  struct pool upload_threads =
      start_threads(counts[2], upload, upload_queue, done_queue);

  struct photo *photos = calloc((size_t)items, sizeof(*photos));
  if (!photos)
    return 1;
  for (long i = 0; i < items; i++) {
    photos[i].id = i;
    check(cv_queue_put(download_queue, &photos[i], CV_FOREVER), "put");
  }

  stop_threads(download_queue, &download_threads);
  stop_threads(resize_queue, &resize_threads);
  stop_threads(upload_queue, &upload_threads);

  printf("%zu items finished\n", cv_queue_size(done_queue));

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
    fprintf(stderr, "seed_pipeline: items lost, repeated or out of order\n");
  return status;
}
