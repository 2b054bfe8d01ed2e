/* seed_bounded_buffer: back-pressure from a queue of capacity 1
 * (the seed's programs/3_bounded_buffer.py in C).
 *
 * The queue holds one item.  The producer's first put succeeds at once; its
 * second put finds the queue full and blocks until the consumer, which waits
 * 100 ms before its first get, makes room.  A fast stage before a slow one
 * therefore waits instead of piling up items in memory.
 *
 * After the Python program's output it prints what the queue's counters
 * saw, and fails unless the second put really had to wait for room.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "conveyor.h"

static void check(int rc, const char *what) {
  if (rc != CV_OK) {
    fprintf(stderr, "seed_bounded_buffer: %s: %s\n", what, cv_strerror(rc));
    exit(1);
  }
}

static cv_queue *my_queue;
static int objects[2];

static void *consumer(void *arg) {
  (void)arg;
  struct timespec wait = {0, 100 * 1000000L};
  while (nanosleep(&wait, &wait) != 0) {
  }
  void *item;
  check(cv_queue_get(my_queue, &item, CV_FOREVER), "get 1"); /* runs second */
  printf("Consumer got 1\n");
  if (item != &objects[0])
    exit(1);
  check(cv_queue_get(my_queue, &item, CV_FOREVER), "get 2"); /* runs fourth */
  printf("Consumer got 2\n");
  if (item != &objects[1])
    exit(1);
  printf("Consumer done\n");
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  cv_queue_options opts = {.capacity = 1}; /* buffer size of 1 */
  check(cv_queue_create(&my_queue, &opts), "create");
  pthread_t thread;
  if (pthread_create(&thread, NULL, consumer, NULL) != 0)
    return 1;

  check(cv_queue_put(my_queue, &objects[0], CV_FOREVER), "put 1"); /* first */
  printf("Producer put 1\n");
  check(cv_queue_put(my_queue, &objects[1], CV_FOREVER), "put 2"); /* third */
  printf("Producer put 2\n");
  printf("Producer done\n");
  pthread_join(thread, NULL);

  cv_queue_stats st;
  check(cv_queue_stats_get(my_queue, &st), "stats");
  printf("puts %llu, most queued at once %zu, puts that waited for room %llu\n",
         (unsigned long long)st.puts, st.high_water,
         (unsigned long long)st.put_waits);
  check(cv_queue_destroy(my_queue), "destroy");
  return st.puts == 2 && st.high_water == 1 && st.put_waits == 1 ? 0 : 1;
}
