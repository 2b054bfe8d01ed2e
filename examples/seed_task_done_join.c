/* seed_task_done_join: a producer that waits until its item is processed
 * (the seed's programs/4_task_done_join.py in C).
 *
 * cv_queue_join blocks until every item put has been marked processed with
 * cv_queue_task_done, not merely taken: the producer resumes only after the
 * consumer has finished its work.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "conveyor.h"

static void check(int rc, const char *what) {
  if (rc != CV_OK) {
    fprintf(stderr, "seed_task_done_join: %s: %s\n", what, cv_strerror(rc));
    exit(1);
  }
}

static cv_queue *in_queue;
static int object;

static void *consumer(void *arg) {
  (void)arg;
  printf("Consumer waiting\n");
  void *work;
  check(cv_queue_get(in_queue, &work, CV_FOREVER), "get"); /* done second */
  printf("Consumer working\n");
  /* Doing work. */
  printf("Consumer done\n");
  check(cv_queue_task_done(in_queue), "task_done"); /* done third */
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  check(cv_queue_create(&in_queue, NULL), "create");
  pthread_t thread;
  if (pthread_create(&thread, NULL, consumer, NULL) != 0)
    return 1;

  printf("Producer putting\n");
  check(cv_queue_put(in_queue, &object, CV_FOREVER), "put"); /* done first */
  printf("Producer waiting\n");
  check(cv_queue_join(in_queue, CV_FOREVER), "join"); /* done fourth */
  printf("Producer done\n");
  pthread_join(thread, NULL);
  check(cv_queue_destroy(in_queue), "destroy");
  return 0;
}
