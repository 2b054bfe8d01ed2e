/* seed_polling_queue: the seed's first pipeline (programs/1_polling_deque_queue.py)
 * in C - a mutex-guarded deque that workers poll, to show what goes wrong.
 *
 * Usage: seed_polling_queue [ITEMS]   (default 1000)
 *
 * This program deliberately does NOT use conveyor's queue.  It reproduces the
 * post's naive design so that its three flaws can be seen, and so that the
 * other seed programs can show how a blocking queue removes them:
 *   (a) busy polling: a worker that finds its queue empty sleeps 10 ms and
 *       tries again, and the main thread polls the last queue's length to
 *       learn when all is done;
 *   (b) no clean way to stop a worker: the post sets `in_queue = None` so
 *       that the next get raises AttributeError; here the worker's in_queue
 *       pointer is set to NULL, which the worker treats as its exit signal;
 *   (c) nothing bounds a queue: a fast stage before a slow one grows memory
 *       without limit (my_queue_put just keeps growing the array).
 * Like the post it prints "Processed 1000 items after polling N times"; N
 * counts every poll, the 3 x ITEMS that found an item and the empty ones.
 * (The post's worker also prints a line on every empty poll; that line is
 * left out, as it only repeats the count.)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The post's MyQueue: a deque (here a growable ring) behind one lock. */
struct my_queue {
  pthread_mutex_t lock;
  void **items;
  size_t head, count, alloc;
};

static void my_queue_init(struct my_queue *q) {
  pthread_mutex_init(&q->lock, NULL);
  q->items = NULL;
  q->head = q->count = q->alloc = 0;
}

static void my_queue_free(struct my_queue *q) {
  pthread_mutex_destroy(&q->lock);
  free(q->items);
}

/* deque.append(): never blocks, never refuses - flaw (c). */
static void my_queue_put(struct my_queue *q, void *item) {
  pthread_mutex_lock(&q->lock);
  if (q->count == q->alloc) {
    size_t n = q->alloc ? 2 * q->alloc : 16;
    void **items = malloc(n * sizeof(*items));
    if (!items) {
      fprintf(stderr, "seed_polling_queue: out of memory\n");
      exit(1);
    }
    for (size_t i = 0; i < q->count; i++)
      items[i] = q->items[(q->head + i) % q->alloc];
    free(q->items);
    q->items = items;
    q->head = 0;
    q->alloc = n;
  }
  q->items[(q->head + q->count) % q->alloc] = item;
  q->count++;
  pthread_mutex_unlock(&q->lock);
}

/* deque.popleft(): false when empty (Python raises IndexError). */
static bool my_queue_get(struct my_queue *q, void **item) {
  bool ok = false;
  pthread_mutex_lock(&q->lock);
  if (q->count > 0) {
    *item = q->items[q->head];
    q->head = (q->head + 1) % q->alloc;
    q->count--;
    ok = true;
  }
  pthread_mutex_unlock(&q->lock);
  return ok;
}

static size_t my_queue_len(struct my_queue *q) {
  pthread_mutex_lock(&q->lock);
  size_t n = q->count;
  pthread_mutex_unlock(&q->lock);
  return n;
}

/* The stages do nothing, as in the post. */
static void *download(void *item) { return item; }
static void *resize(void *item) { return item; }
static void *upload(void *item) { return item; }

struct worker {
  pthread_t thread;
  void *(*func)(void *);
  /* Set to NULL by the main thread to stop the worker: flaw (b). */
  _Atomic(struct my_queue *) in_queue;
  struct my_queue *out_queue;
  long polled_count; /* read by main only after joining the thread */
  long work_done;
};

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static void *worker_run(void *arg) {
  struct worker *w = arg;
  for (;;) {
    w->polled_count++;
    struct my_queue *in = atomic_load(&w->in_queue);
    if (!in)
      return NULL; /* the "magic exit signal" */
    void *item;
    if (!my_queue_get(in, &item)) {
      sleep_ms(10); /* no work to do: flaw (a) */
      continue;
    }
    my_queue_put(w->out_queue, w->func(item));
    w->work_done++;
  }
}

int main(int argc, char **argv) {
  long items = argc > 1 ? atol(argv[1]) : 1000;
  if (items <= 0) {
    fprintf(stderr, "usage: seed_polling_queue [ITEMS]\n");
    return 2;
  }
  struct my_queue download_queue, resize_queue, upload_queue, done_queue;
  my_queue_init(&download_queue);
  my_queue_init(&resize_queue);
  my_queue_init(&upload_queue);
  my_queue_init(&done_queue);
  struct worker threads[3] = {
      {.func = download, .in_queue = &download_queue, .out_queue = &resize_queue},
      {.func = resize, .in_queue = &resize_queue, .out_queue = &upload_queue},
      {.func = upload, .in_queue = &upload_queue, .out_queue = &done_queue},
  };
  for (int i = 0; i < 3; i++) {
    if (pthread_create(&threads[i].thread, NULL, worker_run, &threads[i]) != 0) {
      fprintf(stderr, "seed_polling_queue: pthread_create failed\n");
      return 1;
    }
  }

  /* Each item is a distinct address, as each object() is a distinct object. */
  char *objects = malloc((size_t)items);
  if (!objects)
    return 1;
  for (long i = 0; i < items; i++)
    my_queue_put(&download_queue, &objects[i]);

  /* The main thread polls too: flaw (a) again. */
  while (my_queue_len(&done_queue) < (size_t)items)
    sleep_ms(100); /* "do something useful while waiting" */

  for (int i = 0; i < 3; i++) {
    atomic_store(&threads[i].in_queue, NULL);
    pthread_join(threads[i].thread, NULL);
  }

  size_t processed = my_queue_len(&done_queue);
  long polled = 0;
  for (int i = 0; i < 3; i++)
    polled += threads[i].polled_count;
  printf("Processed %zu items after polling %ld times\n", processed, polled);

  /* Every object came through exactly once, and every worker did its share. */
  int status = 0;
  char *seen = calloc((size_t)items, 1);
  void *item;
  while (seen && my_queue_get(&done_queue, &item)) {
    long i = (char *)item - objects;
    if (i < 0 || i >= items || seen[i]++) {
      fprintf(stderr, "seed_polling_queue: item %ld delivered twice or unknown\n", i);
      status = 1;
    }
  }
  for (int i = 0; i < 3; i++) {
    if (threads[i].work_done != items) {
      fprintf(stderr, "seed_polling_queue: worker %d did %ld items, not %ld\n", i,
              threads[i].work_done, items);
      status = 1;
    }
  }
  if (!seen || polled < 3 * items)
    status = 1;
  free(seen);
  free(objects);
  my_queue_free(&download_queue);
  my_queue_free(&resize_queue);
  my_queue_free(&upload_queue);
  my_queue_free(&done_queue);
  return status;
}
