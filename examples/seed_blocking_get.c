/* seed_blocking_get: a get that sleeps until an item arrives
 * (the seed's programs/2_blocking_get.py in C).
 *
 * The consumer thread calls cv_queue_get with CV_FOREVER on an empty queue:
 * it sleeps on a condition variable, using no CPU, until the main thread puts
 * an item.  No polling, unlike seed_polling_queue.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "conveyor.h"

static void check(int rc, const char *what) {
  if (rc != CV_OK) {
    fprintf(stderr, "seed_blocking_get: %s: %s\n", what, cv_strerror(rc));
    exit(1);
  }
}

static cv_queue *my_queue;
static int object; /* the item: its address, as Python's object() */

static void *consumer(void *arg) {
  (void)arg;
  printf("Consumer waiting\n");
  void *item;
  check(cv_queue_get(my_queue, &item, CV_FOREVER), "get"); /* runs after put */
  if (item != &object) {
    fprintf(stderr, "seed_blocking_get: got %p, not the item put\n", item);
    exit(1);
  }
  printf("Consumer done\n");
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  check(cv_queue_create(&my_queue, NULL), "create"); /* unbounded FIFO */
  pthread_t thread;
  if (pthread_create(&thread, NULL, consumer, NULL) != 0)
    return 1;

  printf("Producer putting\n");
  check(cv_queue_put(my_queue, &object, CV_FOREVER), "put"); /* runs before get */
  printf("Producer done\n");
  pthread_join(thread, NULL);
  check(cv_queue_destroy(my_queue), "destroy");
  return 0;
}
