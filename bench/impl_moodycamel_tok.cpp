/* bench/impl_moodycamel_tok.cpp - the bq interface on moodycamel's
 * BlockingConcurrentQueue<void *> used the fast way its documentation
 * recommends: every thread puts through a ProducerToken and takes through a
 * ConsumerToken of its own.  Unbounded, like the token-less row.
 *
 * Tokens belong to one thread and one queue, and must go before the queue
 * does.  Each queue keeps the tokens made for it (destroyed with it); a
 * thread finds its own through a small thread-local table keyed by the
 * queue's serial number, which is never reused, so a table entry of a queue
 * already destroyed can never be mistaken for a live one. */
#include "bench.h"

#include <concurrentqueue/blockingconcurrentqueue.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace {
typedef moodycamel::BlockingConcurrentQueue<void *> mc_queue;

std::atomic<unsigned long> serials{1};

struct tok_queue {
  mc_queue q;
  unsigned long serial;
  std::mutex lock; /* guards the token lists */
  std::vector<std::unique_ptr<moodycamel::ProducerToken>> ptoks;
  std::vector<std::unique_ptr<moodycamel::ConsumerToken>> ctoks;
  explicit tok_queue(size_t capacity) : q(capacity), serial(serials++) {}
};

struct tok_entry {
  unsigned long serial;
  moodycamel::ProducerToken *p;
  moodycamel::ConsumerToken *c;
};
thread_local tok_entry table[8];

/* This thread's entry for t; a new one replaces the entry of the oldest
 * queue (a thread that used more than 8 queues at once would make a second
 * token for a queue it had been evicted from: wasteful, still correct). */
tok_entry &entry(tok_queue *t) {
  tok_entry *oldest = &table[0];
  for (tok_entry &e : table) {
    if (e.serial == t->serial)
      return e;
    if (e.serial < oldest->serial)
      oldest = &e;
  }
  *oldest = tok_entry{t->serial, nullptr, nullptr};
  return *oldest;
}

moodycamel::ProducerToken &ptok(tok_queue *t) {
  tok_entry &e = entry(t);
  if (!e.p) {
    std::lock_guard<std::mutex> g(t->lock);
    t->ptoks.emplace_back(new moodycamel::ProducerToken(t->q));
    e.p = t->ptoks.back().get();
  }
  return *e.p;
}

moodycamel::ConsumerToken &ctok(tok_queue *t) {
  tok_entry &e = entry(t);
  if (!e.c) {
    std::lock_guard<std::mutex> g(t->lock);
    t->ctoks.emplace_back(new moodycamel::ConsumerToken(t->q));
    e.c = t->ctoks.back().get();
  }
  return *e.c;
}
} // namespace

extern "C" {
const char *const bq_impl_name = "moodycamel-tok";
const bool bq_impl_bounded = false;
const char *const bq_impl_batch = "native";

bq *bq_create(size_t capacity, int producers, int consumers) {
  (void)producers, (void)consumers;
  return reinterpret_cast<bq *>(new tok_queue(capacity));
}

void bq_destroy(bq *q) {
  tok_queue *t = reinterpret_cast<tok_queue *>(q);
  t->ptoks.clear(); /* tokens before their queue */
  t->ctoks.clear();
  delete t;
}

void bq_put(bq *q, void *item) {
  tok_queue *t = reinterpret_cast<tok_queue *>(q);
  if (!t->q.enqueue(ptok(t), item))
    bench_die("moodycamel-tok: enqueue failed");
}

void *bq_get(bq *q) {
  tok_queue *t = reinterpret_cast<tok_queue *>(q);
  void *item;
  t->q.wait_dequeue(ctok(t), item);
  return item;
}

void bq_put_many(bq *q, void *const *items, size_t n) {
  tok_queue *t = reinterpret_cast<tok_queue *>(q);
  if (!t->q.enqueue_bulk(ptok(t), items, n))
    bench_die("moodycamel-tok: enqueue_bulk failed");
}

size_t bq_get_many(bq *q, void **items, size_t max) {
  tok_queue *t = reinterpret_cast<tok_queue *>(q);
  return t->q.wait_dequeue_bulk(ctok(t), items, max);
}
}
